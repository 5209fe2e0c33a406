//! Integration tests of `tim-migrate`: ordering, `Random`s, checkpoints, the CLI, and end to end
//! against the reference server.

mod checkpoint;
mod cli;
mod e2e;
mod editions;
mod prepare;
mod random;
mod rejects;
mod resume;
mod stopping;
mod support;
mod verify;
