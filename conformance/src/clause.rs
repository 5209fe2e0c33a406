//! The clause registry (`clauses.toml`): every testable statement, with a stable ID, its source
//! and a strength.

use serde::{Deserialize, Serialize};
use tim_model::Edition;

/// How binding a clause is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// Stated by the documents: a mismatch is a FAIL.
    Must,
    /// Our documented reading of a silent or ambiguous spot: a mismatch is NON-STRICT.
    Should,
    /// Informational: never fails a case.
    Info,
}

impl Strength {
    /// The strength as written in `clauses.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Strength::Must => "must",
            Strength::Should => "should",
            Strength::Info => "info",
        }
    }
}

/// Both editions, the default of every `editions` list.
pub(crate) fn all_editions() -> Vec<Edition> {
    vec![Edition::Seed, Edition::Current]
}

/// One testable statement of the documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// Stable UPPER-KEBAB ID with an area prefix (`IGM-`, `GW-`, `SIG-`, `RATE-`, `GRP-`, `READ-`).
    pub id: String,
    /// Where the statement comes from (seed section, digest section, open question).
    pub source: String,
    /// How binding the statement is.
    pub strength: Strength,
    /// Editions the statement applies to (default: both).
    #[serde(default = "all_editions")]
    pub editions: Vec<Edition>,
    /// The statement itself.
    pub text: String,
    /// Where our documented reading is (required for `should`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
}

/// The shape of `clauses.toml`: a list of `[[clause]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClauseFile {
    #[serde(default)]
    pub(crate) clause: Vec<Clause>,
}

/// Clause IDs the runner checks on its own, on every response it applies to (conf-spec.md).
pub mod auto {
    /// Every API-level outcome is HTTP 200.
    pub const HTTP_200: &str = "GW-HTTP-200";
    /// Every response is the JSON envelope (`ActionStatus`, `ErrorCode`; OK iff 0).
    pub const ENVELOPE: &str = "GW-ENVELOPE";
    /// One `ImportMsgResult` entry per message, in order.
    pub const ONE_PER_MSG: &str = "IGM-RESP-ONE-PER-MSG";
    /// New messages get `MsgSeq` = previous + 1, continuing across batches.
    pub const SEQ_CONTIGUOUS: &str = "IGM-SEQ-CONTIGUOUS";
    /// `MsgTime` equals the `SendTime` sent.
    pub const MSGTIME: &str = "IGM-RESP-MSGTIME";
    /// Read-back through `group_msg_get_simple` equals what was sent, in order.
    pub const READ_EQUALS_SENT: &str = "READ-EQUALS-SENT";
    /// Paging with `ReqMsgSeq` = smallest − 1 walks back: every page the runner reads holds only
    /// messages at or below the `ReqMsgSeq` it asked for.
    pub const PAGING: &str = "READ-NEWEST-FIRST";

    /// Every automatic clause ID.
    pub const ALL: [&str; 7] = [
        HTTP_200,
        ENVELOPE,
        ONE_PER_MSG,
        SEQ_CONTIGUOUS,
        MSGTIME,
        READ_EQUALS_SENT,
        PAGING,
    ];
}
