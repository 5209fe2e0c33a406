//! Integration tests of `tim-migrate`'s offline half: ordering, `Random`s, checkpoints and the CLI.

mod checkpoint;
mod cli;
mod prepare;
mod random;
mod rejects;
mod support;
