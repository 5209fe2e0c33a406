//! The case ledger: per group alias, every message the target confirmed as newly stored, in
//! `MsgSeq` order. Read-back and `${g.next}`/`${g.last_time}` are judged against it.

use std::collections::BTreeMap;

use serde_json::Value;

/// One message the target confirmed with `Result 0` and a new `MsgSeq`.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// The `MsgSeq` the target assigned.
    pub seq: u64,
    /// `From_Account` as sent.
    pub from: String,
    /// `SendTime` as sent.
    pub send_time: i64,
    /// `Random` as sent (`None` when the request had none).
    pub random: Option<i64>,
    /// `MsgBody` as sent.
    pub body: Value,
}

/// Every group's confirmed messages, by alias.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    groups: BTreeMap<String, Vec<LedgerEntry>>,
}

impl Ledger {
    /// The confirmed messages of `alias`, oldest first.
    pub fn entries(&self, alias: &str) -> &[LedgerEntry] {
        self.groups.get(alias).map_or(&[], Vec::as_slice)
    }

    /// The newest confirmed `MsgSeq` of `alias` (0 for a fresh group).
    pub fn last_seq(&self, alias: &str) -> u64 {
        self.entries(alias).last().map_or(0, |e| e.seq)
    }

    /// The `MsgSeq` the next new message of `alias` must get.
    pub fn next_seq(&self, alias: &str) -> u64 {
        self.last_seq(alias) + 1
    }

    /// The newest `SendTime` of `alias`, if it has messages.
    pub fn last_time(&self, alias: &str) -> Option<i64> {
        self.entries(alias).iter().map(|e| e.send_time).max()
    }

    /// The confirmed message of `alias` with `MsgSeq` `seq`, if any.
    pub fn entry(&self, alias: &str, seq: u64) -> Option<&LedgerEntry> {
        self.entries(alias).iter().find(|e| e.seq == seq)
    }

    /// Records a newly confirmed message.
    pub fn record(&mut self, alias: &str, entry: LedgerEntry) {
        self.groups.entry(alias.to_owned()).or_default().push(entry);
    }

    /// Forgets a group (after `destroy_group`).
    pub fn forget(&mut self, alias: &str) {
        self.groups.remove(alias);
    }
}
