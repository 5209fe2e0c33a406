//! The `tim-migrate` importer as a library (placeholder while the crate is built).
