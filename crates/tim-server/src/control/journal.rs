//! The request journal: the last API calls, for `GET /_tim/requests`. Never a UserSig, a key or
//! a body: the path, the command, the group, the identifier, the codes and the fault applied.

use std::collections::VecDeque;
use std::sync::Mutex;

use tim_model::control::JournalEntry;

/// How many calls the journal keeps.
pub const JOURNAL_CAPACITY: usize = 1000;

/// The last [`JOURNAL_CAPACITY`] API calls.
#[derive(Debug, Default)]
pub struct Journal {
    inner: Mutex<(u64, VecDeque<JournalEntry>)>,
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Journal {
        Journal::default()
    }

    /// Records a call; its `seq` is set here.
    pub fn record(&self, mut entry: JournalEntry) {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (next, entries) = &mut *guard;
        *next += 1;
        entry.seq = *next;
        if entries.len() == JOURNAL_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The newest `limit` calls, newest first.
    pub fn newest(&self, limit: usize) -> Vec<JournalEntry> {
        let guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.1.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> JournalEntry {
        JournalEntry {
            seq: 0,
            at_ms: 0,
            path: path.to_owned(),
            command: None,
            group_id: None,
            identifier: None,
            http_status: Some(200),
            error_code: None,
            results: None,
            fault: None,
            elapsed_us: 0,
        }
    }

    #[test]
    fn keeps_the_newest_first_and_bounded() {
        let j = Journal::new();
        for i in 0..JOURNAL_CAPACITY + 5 {
            j.record(entry(&format!("/p{i}")));
        }
        let all = j.newest(usize::MAX);
        assert_eq!(all.len(), JOURNAL_CAPACITY);
        assert_eq!(all[0].seq, (JOURNAL_CAPACITY + 5) as u64);
        assert_eq!(all[0].path, format!("/p{}", JOURNAL_CAPACITY + 4));
        assert_eq!(j.newest(2).len(), 2);
    }
}
