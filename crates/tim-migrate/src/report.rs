//! The import summary: a plain serde struct (written with `--report`) and its human rendering.
//! Rates are computed by the caller.

use std::fmt::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Counts of messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// Messages in the input.
    pub total: u64,
    /// Imported by this run (new `MsgSeq`).
    pub imported: u64,
    /// Recognised by the server as already imported (a re-sent batch, or a resumed run).
    pub duplicates: u64,
    /// Messages sent for the first time that the server answered as duplicates of a message it
    /// already held (its `MsgSeq` below the group's position before the batch): the server may
    /// have dropped them as repeats of another message's `Random`. Counted apart from
    /// `duplicates`, logged with their line, and the import ends with exit 1; `verify` tells.
    #[serde(default)]
    pub duplicates_unexpected: u64,
    /// Refused by the server (see the rejects file).
    pub rejected: u64,
    /// Skipped because the checkpoint already confirmed them (`--resume`).
    pub skipped: u64,
}

/// Counts of groups or members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// In the input.
    pub total: u64,
    /// Done by this run.
    pub done: u64,
    /// Failed.
    pub failed: u64,
    /// Groups whose message import stopped because the server holds messages of another writer
    /// (or a late copy of this import's own): the other groups went on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stopped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The summary of one `tim-migrate import` run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The edition followed (`seed` or `current`).
    pub edition: String,
    /// Messages per `import_group_msg` request in use (the edition's limit).
    #[serde(default)]
    pub messages_per_request: u64,
    /// Groups.
    pub groups: Counts,
    /// Messages.
    pub messages: MessageCounts,
    /// Members.
    pub members: Counts,
    /// API requests sent (all APIs, retries included).
    pub requests: u64,
    /// Requests answered with a rate-limit error (60007 and friends).
    pub rate_limited: u64,
    /// `import_group_msg` requests per second during the message phase (the quota is per API).
    pub requests_per_second: f64,
    /// The pacing rate in use, in requests per second per API (the edition's quota, or `--rate`),
    /// if any.
    pub quota_per_second: Option<u32>,
    /// `requests_per_second / quota_per_second` (0–1), if there is a quota.
    pub quota_share: Option<f64>,
    /// Messages confirmed per second during the message phase.
    pub messages_per_second: f64,
    /// Wall-clock duration of the run, in seconds.
    pub elapsed_secs: f64,
    /// Whether the run was interrupted (Ctrl-C) before the end; `--resume` continues it.
    pub interrupted: bool,
}

impl ImportReport {
    /// The human rendering, a few aligned lines.
    pub fn render_human(&self) -> String {
        let mut s = String::new();
        let m = &self.messages;
        let elapsed = Duration::from_millis((self.elapsed_secs * 1000.0).round() as u64);
        let _ = write!(
            s,
            "edition:  {} ({} messages a request",
            self.edition, self.messages_per_request
        );
        match self.quota_per_second {
            Some(q) => {
                let _ = writeln!(s, ", at most {q} requests/s per API)");
            }
            None => s.push_str(", not paced)\n"),
        }
        let _ = writeln!(
            s,
            "groups:   {} ({} created, {} failed)",
            self.groups.total, self.groups.done, self.groups.failed
        );
        if self.groups.stopped > 0 {
            let _ = writeln!(
                s,
                "stopped:  {} groups hold messages this import did not send (another writer, or a late copy): see the log, verify them, then --resume",
                self.groups.stopped
            );
        }
        let _ = writeln!(
            s,
            "messages: {} ({} imported, {} duplicates, {} rejected, {} skipped as already confirmed)",
            m.total, m.imported, m.duplicates, m.rejected, m.skipped
        );
        if m.duplicates_unexpected > 0 {
            let _ = writeln!(
                s,
                "          {} of the duplicates were never sent before: the server may have dropped them (see the log; run verify)",
                m.duplicates_unexpected
            );
        }
        let _ = writeln!(
            s,
            "members:  {} ({} imported, {} failed)",
            self.members.total, self.members.done, self.members.failed
        );
        let _ = write!(
            s,
            "requests: {} in {} (import_group_msg at {:.1}/s",
            self.requests,
            humantime::format_duration(elapsed),
            self.requests_per_second
        );
        if let (Some(q), Some(share)) = (self.quota_per_second, self.quota_share) {
            let _ = write!(s, ", {:.1}% of the {q}/s quota", share * 100.0);
        }
        let _ = writeln!(
            s,
            "; {} rate-limited), {:.0} messages/s",
            self.rate_limited, self.messages_per_second
        );
        if self.interrupted {
            s.push_str("interrupted: run again with --resume to continue\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_figure() {
        let r = ImportReport {
            edition: "seed".into(),
            messages_per_request: 20,
            groups: Counts {
                total: 3,
                done: 3,
                failed: 0,
                stopped: 1,
            },
            messages: MessageCounts {
                total: 100,
                imported: 97,
                duplicates: 1,
                rejected: 2,
                skipped: 0,
                duplicates_unexpected: 1,
            },
            members: Counts {
                total: 5,
                done: 5,
                failed: 0,
                stopped: 0,
            },
            requests: 12,
            rate_limited: 0,
            requests_per_second: 99.5,
            quota_per_second: Some(100),
            quota_share: Some(0.995),
            messages_per_second: 1990.0,
            elapsed_secs: 1.5,
            interrupted: true,
        };
        let h = r.render_human();
        assert!(
            h.starts_with(
                "edition:  seed (20 messages a request, at most 100 requests/s per API)\n"
            ),
            "{h}"
        );
        assert!(
            h.contains("messages: 100 (97 imported, 1 duplicates, 2 rejected"),
            "{h}"
        );
        assert!(h.contains("12 in 1s 500ms (import_group_msg at 99.5/s, 99.5% of the 100/s quota; 0 rate-limited), 1990 messages/s"), "{h}");
        assert!(h.contains("--resume"), "{h}");
        assert!(
            h.contains("1 of the duplicates were never sent before"),
            "{h}"
        );
        let back: ImportReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
