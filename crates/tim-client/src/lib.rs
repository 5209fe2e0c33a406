//! Async client for the `group_open_http_svc` APIs (placeholder while the crate is built).
