//! Integration tests of `tim-server`: the shared store suite, the HTTP API over a real loopback
//! socket, and process-level tests of the binary.

mod bad_input;
mod concurrency;
mod control;
mod control_cli;
mod crash;
mod gateway;
mod groups;
mod import_msg;
mod pg;
mod process;
mod replicas;
mod store;
mod store_model;
mod support;
