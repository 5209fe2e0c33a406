//! Counters of what a client sent, shared by its clones.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tim_model::Command;

/// Counters of what the client sent, for progress displays and reports.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) by_command: [AtomicU64; Command::ALL.len()],
    pub(crate) retries: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// HTTP requests sent (every attempt counts).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Answers that were rate-limit errors (60007 and its kin).
    pub rate_limited: u64,
    /// Requests sent per command, in the order of [`Command::ALL`].
    pub by_command: [u64; Command::ALL.len()],
}

impl StatsSnapshot {
    /// Requests sent to `command` (every attempt counts).
    pub fn requests_for(&self, command: Command) -> u64 {
        Command::ALL
            .iter()
            .position(|c| *c == command)
            .map_or(0, |i| self.by_command[i])
    }
}

impl Stats {
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            by_command: std::array::from_fn(|i| self.by_command[i].load(Ordering::Relaxed)),
        }
    }
}
