//! The reference server's control plane under `/_tim/`: wire types shared by the server, the
//! typed client (`tim_client::control`) and the `tim-server control` CLI.
//!
//! Not part of Tencent's API: routes for people who test their own clients against the
//! stand-in (reset, state dump and load, readings at run time, fault injection, a request
//! journal). Every route takes the API's own query (`sdkappid`, `identifier`, `usersig`) and
//! only the app's admin may use it. Bodies are JSON; errors come in the API's envelope.

use serde::{Deserialize, Serialize};

use crate::edition::{Edition, Limits, LimitsPatch};
use crate::endpoint::Command;
use crate::error_code::ErrorCode;

/// Prefix of every control route.
pub const CONTROL_PREFIX: &str = "/_tim/";

/// One control route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /_tim/health`: [`Health`].
    Health,
    /// `POST /_tim/reset`: [`ResetRequest`] → the envelope.
    Reset,
    /// `GET /_tim/state[?GroupId=…&kind=…]` (JSON Lines out), `POST /_tim/state` (JSON Lines in) → [`LoadReport`].
    State,
    /// `GET|PUT /_tim/config`: [`ConfigView`] / [`ConfigPatch`].
    Config,
    /// `GET|POST|PATCH|DELETE /_tim/faults`: lists of [`FaultRule`].
    Faults,
    /// `GET /_tim/requests?limit=N`: [`Journal`].
    Requests,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 6] = [
        Route::Health,
        Route::Reset,
        Route::State,
        Route::Config,
        Route::Faults,
        Route::Requests,
    ];

    /// The route's name, the last path segment.
    pub const fn name(self) -> &'static str {
        match self {
            Route::Health => "health",
            Route::Reset => "reset",
            Route::State => "state",
            Route::Config => "config",
            Route::Faults => "faults",
            Route::Requests => "requests",
        }
    }

    /// The path, e.g. `/_tim/faults`.
    pub fn path(self) -> String {
        format!("{CONTROL_PREFIX}{}", self.name())
    }

    /// The route a path names, if any.
    pub fn from_path(path: &str) -> Option<Route> {
        let name = path.strip_prefix(CONTROL_PREFIX)?;
        Route::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// `GET /_tim/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The server accepts API calls.
    pub ready: bool,
    /// `"sqlite"`, `"memory"` or `"postgres"`.
    pub store: String,
    /// The edition whose limits are in force.
    pub edition: Edition,
    /// The seed of every random choice (faults, generated IDs and `Random`s).
    pub seed: u64,
}

/// `POST /_tim/reset`: `{}` resets the whole app, `{"GroupIdList":[…]}` only those groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The groups to remove; absent means everything.
    #[serde(
        rename = "GroupIdList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub group_id_list: Option<Vec<String>>,
}

/// The answer of `POST /_tim/reset` (besides the envelope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetReport {
    /// Groups removed.
    #[serde(rename = "GroupsRemoved", default)]
    pub groups_removed: u64,
}

/// Which lines `GET /_tim/state?kind=…` dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateKind {
    /// Groups, members and messages, group by group (each line tells its kind by its fields).
    #[default]
    All,
    /// `import_group` bodies (`tim-migrate --groups`).
    Groups,
    /// `{"GroupId","Member_Account",…}` lines (`tim-migrate --members`).
    Members,
    /// `{"GroupId","From_Account","SendTime","Random","MsgBody",…}` lines (`tim-migrate --messages`).
    Messages,
}

impl StateKind {
    /// The query value.
    pub const fn name(self) -> &'static str {
        match self {
            StateKind::All => "all",
            StateKind::Groups => "groups",
            StateKind::Members => "members",
            StateKind::Messages => "messages",
        }
    }
}

/// The answer of `POST /_tim/state` (besides the envelope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Groups created.
    #[serde(rename = "Groups", default)]
    pub groups: u64,
    /// Members added.
    #[serde(rename = "Members", default)]
    pub members: u64,
    /// Messages stored.
    #[serde(rename = "Messages", default)]
    pub messages: u64,
}

/// `GET /_tim/config`: the seed and the limits and readings in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The seed of every random choice.
    pub seed: u64,
    /// The limits and readings in force (the TOML `[limits]` keys, and every other limit).
    pub limits: Limits,
}

/// `PUT /_tim/config`: what to change; absent keys keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    /// Start again from this edition's documented limits (before `limits` applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<Edition>,
    /// A new seed: the random generators start again from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Limits and readings to change (the TOML `[limits]` keys).
    #[serde(default)]
    pub limits: LimitsPatch,
}

/// One fault rule: which calls it matches and what it does to them.
///
/// Rules are tried in order; the first whose filters match and whose dice roll succeeds applies,
/// and its `count` (if any) goes down by one. A rule whose count reached 0 no longer matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The API command name (`import_group_msg`, …); absent matches every command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Only calls on this group (the body's `GroupId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Only calls on groups whose ID starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_prefix: Option<String>,
    /// Chance that a matching call is hit, 0.0–1.0 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// How many calls the rule hits before it retires; absent means no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Hits left (in answers only; ignored in requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    /// What happens to a hit call.
    pub effect: FaultEffect,
}

impl FaultRule {
    /// A rule hitting every call of `command` with `effect`.
    pub fn new(command: Command, effect: FaultEffect) -> FaultRule {
        FaultRule {
            command: Some(command.name().to_owned()),
            group_id: None,
            group_prefix: None,
            probability: None,
            count: None,
            remaining: None,
            effect,
        }
    }

    /// This rule with a count.
    pub fn times(mut self, count: u64) -> FaultRule {
        self.count = Some(count);
        self
    }

    /// This rule with a probability.
    pub fn with_probability(mut self, p: f64) -> FaultRule {
        self.probability = Some(p);
        self
    }

    /// This rule for one group.
    pub fn on_group(mut self, group_id: impl Into<String>) -> FaultRule {
        self.group_id = Some(group_id.into());
        self
    }

    /// This rule for the groups whose ID starts with `prefix`.
    pub fn on_group_prefix(mut self, prefix: impl Into<String>) -> FaultRule {
        self.group_prefix = Some(prefix.into());
        self
    }

    /// Whether two rules are the same rule, ignoring `remaining` (what `DELETE` compares).
    pub fn same_rule(&self, other: &FaultRule) -> bool {
        FaultRule {
            remaining: None,
            ..self.clone()
        } == FaultRule {
            remaining: None,
            ..other.clone()
        }
    }

    /// Every reason the rule cannot be used, each as one sentence.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = &self.command {
            if Command::from_name(c).is_none() {
                let known: Vec<&str> = Command::ALL.iter().map(|c| c.name()).collect();
                out.push(format!(
                    "command {c:?} is not an API command (one of {})",
                    known.join(", ")
                ));
            }
        }
        if self.group_id.is_some() && self.group_prefix.is_some() {
            out.push("give group_id or group_prefix, not both".to_owned());
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                out.push(format!("probability {p} is not between 0 and 1"));
            }
        }
        out.extend(self.effect.problems());
        out
    }
}

/// The answer of every `/_tim/faults` method: the rule list now in force, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultList {
    /// The rules, with `remaining` for those with a `count`.
    pub rules: Vec<FaultRule>,
}

/// An error code (and optional text) that a fault answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultError {
    /// The code.
    #[serde(rename = "ErrorCode")]
    pub error_code: ErrorCode,
    /// The text; a default names the fault.
    #[serde(rename = "ErrorInfo", default, skip_serializing_if = "Option::is_none")]
    pub error_info: Option<String>,
}

/// One message of a batch failing alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFault {
    /// The message's index in `MsgList` (from 0).
    pub index: usize,
    /// Its `Result` (e.g. 80001).
    #[serde(rename = "Result")]
    pub result: ErrorCode,
}

/// What a fault does: at most one outcome (`error`, `applied_then_error`, `lose_reply`,
/// `http_status`, `message_result`), optionally after a delay (`delay_ms` or `delay_ms_range`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEffect {
    /// Refused with this error; nothing is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FaultError>,
    /// The call is applied, then answered with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_then_error: Option<FaultError>,
    /// The call is applied, then the connection is closed with no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lose_reply: Option<bool>,
    /// A gateway page with this HTTP status; nothing is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The page's body (with `http_status`; default a short HTML page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// One message of an `import_group_msg` batch fails alone with this `Result`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_result: Option<MessageFault>,
    /// Wait this long before acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Wait a time drawn uniformly from `[lo, hi]` ms before acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms_range: Option<[u64; 2]>,
}

impl FaultEffect {
    /// Refused with `code`, nothing done.
    pub fn error(code: ErrorCode) -> FaultEffect {
        FaultEffect {
            error: Some(FaultError {
                error_code: code,
                error_info: None,
            }),
            ..FaultEffect::default()
        }
    }

    /// Applied, then answered with `code`.
    pub fn applied_then_error(code: ErrorCode) -> FaultEffect {
        FaultEffect {
            applied_then_error: Some(FaultError {
                error_code: code,
                error_info: None,
            }),
            ..FaultEffect::default()
        }
    }

    /// Applied, then the connection closed with no answer.
    pub fn lose_reply() -> FaultEffect {
        FaultEffect {
            lose_reply: Some(true),
            ..FaultEffect::default()
        }
    }

    /// A gateway page with `status`, nothing done.
    pub fn http_status(status: u16) -> FaultEffect {
        FaultEffect {
            http_status: Some(status),
            ..FaultEffect::default()
        }
    }

    /// Message `index` fails alone with `result`.
    pub fn message_result(index: usize, result: ErrorCode) -> FaultEffect {
        FaultEffect {
            message_result: Some(MessageFault { index, result }),
            ..FaultEffect::default()
        }
    }

    /// Only a delay of `ms`.
    pub fn delay_ms(ms: u64) -> FaultEffect {
        FaultEffect {
            delay_ms: Some(ms),
            ..FaultEffect::default()
        }
    }

    /// Only a delay drawn from `[lo, hi]` ms.
    pub fn delay_ms_range(lo: u64, hi: u64) -> FaultEffect {
        FaultEffect {
            delay_ms_range: Some([lo, hi]),
            ..FaultEffect::default()
        }
    }

    /// This effect after a delay of `ms`.
    pub fn after_ms(mut self, ms: u64) -> FaultEffect {
        self.delay_ms = Some(ms);
        self
    }

    /// Every reason the effect cannot be used.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let outcomes = [
            self.error.is_some(),
            self.applied_then_error.is_some(),
            self.lose_reply == Some(true),
            self.http_status.is_some(),
            self.message_result.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count();
        let delays =
            usize::from(self.delay_ms.is_some()) + usize::from(self.delay_ms_range.is_some());
        if outcomes > 1 {
            out.push("an effect has at most one of error, applied_then_error, lose_reply, http_status, message_result".to_owned());
        }
        if delays > 1 {
            out.push("give delay_ms or delay_ms_range, not both".to_owned());
        }
        if outcomes == 0 && delays == 0 {
            out.push("the effect does nothing: give error, applied_then_error, lose_reply, http_status, message_result or a delay".to_owned());
        }
        if let Some([lo, hi]) = self.delay_ms_range {
            if lo > hi {
                out.push(format!("delay_ms_range [{lo}, {hi}] is empty"));
            }
        }
        let longest = self
            .delay_ms
            .or(self.delay_ms_range.map(|[_, hi]| hi))
            .unwrap_or(0);
        if longest > MAX_DELAY_MS {
            out.push(format!("delays are at most {MAX_DELAY_MS} ms"));
        }
        if let Some(s) = self.http_status {
            if !(100..=599).contains(&s) {
                out.push(format!("http_status {s} is not an HTTP status"));
            }
        }
        if self.body.is_some() && self.http_status.is_none() {
            out.push("body goes with http_status".to_owned());
        }
        for e in [&self.error, &self.applied_then_error]
            .into_iter()
            .flatten()
        {
            if e.error_code == ErrorCode::OK {
                out.push("an error effect needs a non-zero ErrorCode".to_owned());
            }
        }
        out
    }

    /// A short name of the effect for the journal and logs, e.g. `lose_reply` or `error 10002`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ms) = self.delay_ms {
            parts.push(format!("delay {ms} ms"));
        }
        if let Some([lo, hi]) = self.delay_ms_range {
            parts.push(format!("delay {lo}-{hi} ms"));
        }
        if let Some(e) = &self.error {
            parts.push(format!("error {}", e.error_code));
        }
        if let Some(e) = &self.applied_then_error {
            parts.push(format!("applied_then_error {}", e.error_code));
        }
        if self.lose_reply == Some(true) {
            parts.push("lose_reply".to_owned());
        }
        if let Some(s) = self.http_status {
            parts.push(format!("http_status {s}"));
        }
        if let Some(m) = &self.message_result {
            parts.push(format!("message_result [{}] {}", m.index, m.result));
        }
        parts.join(", ")
    }
}

/// Longest delay a fault may ask for (one minute).
pub const MAX_DELAY_MS: u64 = 60_000;

/// `GET /_tim/requests?limit=N`: the newest calls first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The calls, newest first.
    pub requests: Vec<JournalEntry>,
}

/// One API call as the journal keeps it: never a UserSig or key, never a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position since the server started (1, 2, …).
    pub seq: u64,
    /// When it arrived, Unix milliseconds.
    pub at_ms: i64,
    /// The path (no query).
    pub path: String,
    /// The command, when the path names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The body's `GroupId`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The identifier of the query, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// HTTP status answered; `None` when the reply was lost on purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The envelope's `ErrorCode`, when an envelope was answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// `import_group_msg`: each message's `Result`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<ErrorCode>>,
    /// The fault applied, described (see [`FaultEffect::describe`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Time from arrival to answer, in microseconds.
    pub elapsed_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip() {
        for r in Route::ALL {
            assert_eq!(Route::from_path(&r.path()), Some(r));
        }
        assert_eq!(Route::from_path("/_tim/nope"), None);
        assert_eq!(Route::from_path("/v4/x"), None);
    }

    #[test]
    fn rules_parse_and_check() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"command":"import_group_msg","group_prefix":"mig-","probability":0.5,"count":3,
                "effect":{"lose_reply":true,"delay_ms_range":[10,20]}}"#,
        )
        .unwrap();
        assert!(rule.problems().is_empty(), "{:?}", rule.problems());
        assert_eq!(rule.effect.describe(), "delay 10-20 ms, lose_reply");
        let bad: FaultRule = serde_json::from_str(
            r#"{"command":"nope","group_id":"a","group_prefix":"b","probability":2,
                "effect":{"error":{"ErrorCode":10002},"lose_reply":true}}"#,
        )
        .unwrap();
        assert_eq!(bad.problems().len(), 4, "{:?}", bad.problems());
        assert!(serde_json::from_str::<FaultRule>(r#"{"effect":{"lose":true}}"#).is_err());
        let empty = FaultRule::new(Command::ImportGroupMsg, FaultEffect::default());
        assert_eq!(empty.problems().len(), 1);
    }

    #[test]
    fn same_rule_ignores_remaining() {
        let a = FaultRule::new(Command::ImportGroupMsg, FaultEffect::lose_reply()).times(2);
        let mut b = a.clone();
        b.remaining = Some(1);
        assert!(a.same_rule(&b));
        assert!(!a.same_rule(&a.clone().times(3)));
    }
}
