//! The `tim-migrate` importer as a library: read, check and order the inputs offline.
pub mod input;
pub mod prepare;
pub mod random;
