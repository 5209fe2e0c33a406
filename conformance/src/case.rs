//! Case files (`cases/<id>.toml`): setup through the public API, the requests under test, and what
//! their responses must show. The serde types mirror conf-spec.md exactly (`deny_unknown_fields`);
//! [`Case::validate`] adds the rules serde cannot express.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tim_model::{Command, Edition};

use crate::clause::all_editions;

/// A JSON object as written in a case file.
pub type Map = BTreeMap<String, Value>;

/// A capability a case needs from the runner or the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// The target was configured with a restricted word and the runner got `--restricted-word W`.
    RestrictedWord,
    /// The case runs alone after every other case, unpaced (rate-limit cases).
    Exclusive,
}

/// One case: a stable ID, the clauses it covers, setup, and the steps under test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Stable, never-reused kebab-case ID; equal to the file stem.
    pub id: String,
    /// One line saying what the case shows.
    pub title: String,
    /// Clause IDs the case covers.
    pub clauses: Vec<String>,
    /// Editions the case applies to (default: both).
    #[serde(default = "all_editions")]
    pub editions: Vec<Edition>,
    /// Capabilities the case needs.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// Setup calls (public API only); any failure is SETUP-ERROR.
    #[serde(default)]
    pub setup: Vec<Setup>,
    /// The requests under test and the runner-side checks, in order.
    #[serde(default)]
    pub step: Vec<Step>,
}

/// A setup call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Which API to call.
    pub call: SetupCall,
    /// The group alias the call creates or works on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The request body (placeholders allowed); `GroupId` is filled from `group` when absent.
    #[serde(default = "empty_object")]
    pub body: Value,
    /// `create_group`/`import_group` without a custom ID: record the returned `GroupId` under `group`.
    #[serde(default)]
    pub server_id: bool,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// The APIs a setup may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupCall {
    /// `import_group`.
    ImportGroup,
    /// `create_group`.
    CreateGroup,
    /// `destroy_group`.
    DestroyGroup,
    /// `import_group_member`.
    ImportGroupMember,
    /// `import_group_msg`.
    ImportGroupMsg,
    /// `set_unread_msg_num`.
    SetUnreadMsgNum,
}

impl SetupCall {
    /// The model's command for this call.
    pub fn command(self) -> Command {
        match self {
            SetupCall::ImportGroup => Command::ImportGroup,
            SetupCall::CreateGroup => Command::CreateGroup,
            SetupCall::DestroyGroup => Command::DestroyGroup,
            SetupCall::ImportGroupMember => Command::ImportGroupMember,
            SetupCall::ImportGroupMsg => Command::ImportGroupMsg,
            SetupCall::SetUnreadMsgNum => Command::SetUnreadMsgNum,
        }
    }
}

/// The longest pause a `wait_ms` step may ask for (the suite must stay fast).
pub const MAX_WAIT_MS: u64 = 5_000;

/// A step: a request (`call` or `path`), a runner-side check (`check`) or a pause (`wait_ms`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The command to call (`import_group_msg`, …, or any other name under `group_open_http_svc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// A raw path instead of `call` (e.g. an unknown service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The HTTP method (default POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Query overrides (default: a valid admin query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryOverrides>,
    /// The JSON body (placeholders and `$messages`/`$text` allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A raw body sent byte-for-byte after interpolation, instead of `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Send this many copies at once (exclusive rate-limit cases); a number or a placeholder.
    /// `expect` then takes `codes` (every response's ErrorCode is one of them), `min_count` and
    /// `stored` (a count, or `"accepted"`). Each copy's body is expanded anew, so `$messages`
    /// gives every copy its own `Random`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Value>,
    /// A runner-side check instead of a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckKind>,
    /// A pause instead of a request: sleep this many milliseconds, then read the runner clock
    /// again (`${now}` after a wait is the clock after it). Nothing is sent or recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// The group alias a check reads; on a request, the group `stored` counts (default: from `GroupId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `readback`: the number of stored messages expected (overrides the ledger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Value>,
    /// MUST-level expectations: any mismatch is a FAIL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Map>,
    /// SHOULD-level expectations: a mismatch is NON-STRICT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should: Option<Map>,
    /// Alternative readings the documents allow; the step passes if any of them matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reading: Vec<Reading>,
    /// The clauses this step's expectations check: a subset of the case's `clauses` (default:
    /// all of them). A failure of the step is charged to these only, so the clause x mutant
    /// matrix of the self-check is exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<String>,
}

/// A runner-side check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Page `group_msg_get_simple` and compare with the case ledger.
    Readback,
    /// `get_group_info` and compare the named fields.
    GroupInfo,
}

/// One documented reading of a silent spot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The reading's name, reported when the target chose it.
    pub name: String,
    /// Expectations, with the same keys as `expect`.
    #[serde(flatten)]
    pub fields: Map,
}

/// How a step's query string differs from the valid admin query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryOverrides {
    /// Which UserSig to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usersig: Option<SigOverride>,
    /// `"missing"`, `"unknown"` (an app the target does not know) or a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdkappid: Option<Value>,
    /// `"missing"` or a name (placeholders allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// `"missing"` or a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<Value>,
    /// `"missing"` or a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contenttype: Option<String>,
    /// Extra parameters appended to the query.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Value>,
}

/// UserSig variants (conf-spec.md, "Query overrides").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SigOverride {
    /// A valid sig of the admin.
    #[default]
    Valid,
    /// A sig of the admin that expired an hour ago.
    Expired,
    /// `usersig=` with an empty value.
    Empty,
    /// No `usersig` parameter.
    Missing,
    /// A valid sig cut in half.
    Truncated,
    /// Signed with another key.
    BadHmac,
    /// Signed with the right key for sdkappid + 1.
    ForeignApp,
    /// A valid sig of another user, sent with identifier = admin.
    ForeignIdentifier,
    /// Identifier and sig of a non-admin account.
    NotAdmin,
}

/// A parsed `expect`/`should`/reading table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectation {
    /// Expected HTTP status. In `expect` it also sets the status the automatic HTTP-200 and
    /// envelope checks expect; given only in `should`, those automatic checks become should-level
    /// (for requests outside the API proper: unknown paths, other methods; digest §7 Q19).
    pub http: Option<u16>,
    /// Messages the group gained (import_group_msg, via read-back); number or placeholder, or
    /// [`STORED_ACCEPTED`] on a repeat step.
    pub stored: Option<Value>,
    /// A substring `ErrorInfo` must contain.
    pub error_info_contains: Option<String>,
    /// With `repeat`: every response's `ErrorCode` is one of these.
    pub codes: Option<Vec<i64>>,
    /// With `repeat`: at least this many responses carry each code.
    pub min_count: BTreeMap<i64, u64>,
    /// `group_info`: members (matched by `Member_Account`) and their fields.
    pub members: Option<Vec<Value>>,
    /// Response (or group) fields and their expected values; `results` is `ImportMsgResult`.
    pub fields: Map,
}

/// `stored = "accepted"` (expect of a repeat step): the group gained exactly the messages the OK
/// answers accepted (`Result 0` with a new `MsgSeq`), so a refused copy stored nothing.
pub const STORED_ACCEPTED: &str = "accepted";

/// The field `results` stands for.
pub const RESULTS_FIELD: &str = "ImportMsgResult";

impl Expectation {
    /// Parses a table; unknown lowercase keys are errors (typos must not pass silently).
    pub fn parse(map: &Map) -> Result<Expectation, String> {
        let mut e = Expectation::default();
        for (k, v) in map {
            match k.as_str() {
                "http" => {
                    e.http = Some(
                        v.as_u64()
                            .and_then(|n| u16::try_from(n).ok())
                            .ok_or_else(|| format!("http must be a status code, not {v}"))?,
                    )
                }
                "stored" => e.stored = Some(v.clone()),
                "ErrorInfo_contains" => {
                    e.error_info_contains = Some(
                        v.as_str()
                            .ok_or("ErrorInfo_contains must be a string")?
                            .to_owned(),
                    )
                }
                "codes" => {
                    e.codes = Some(
                        v.as_array()
                            .and_then(|a| a.iter().map(Value::as_i64).collect())
                            .ok_or("codes must be a list of integers")?,
                    )
                }
                "min_count" => {
                    let m = v.as_object().ok_or("min_count must be a table")?;
                    for (code, n) in m {
                        let code: i64 = code
                            .parse()
                            .map_err(|_| format!("min_count key {code:?} is not a code"))?;
                        let n = n.as_u64().ok_or("min_count values must be counts")?;
                        e.min_count.insert(code, n);
                    }
                }
                "members" => {
                    e.members = Some(v.as_array().ok_or("members must be a list")?.clone())
                }
                "results" => {
                    e.fields.insert(RESULTS_FIELD.to_owned(), v.clone());
                }
                k if k.starts_with(|c: char| c.is_ascii_uppercase()) => {
                    e.fields.insert(k.to_owned(), v.clone());
                }
                other => return Err(format!("unknown expectation key {other:?}")),
            }
        }
        Ok(e)
    }
}

impl Step {
    /// Whether the step sends a request (rather than running a check or waiting).
    pub fn is_request(&self) -> bool {
        self.call.is_some() || self.path.is_some()
    }

    /// Whether the step only waits (`wait_ms`).
    pub fn is_wait(&self) -> bool {
        self.wait_ms.is_some()
    }

    /// The parsed `expect` table (empty when absent).
    pub fn expectation(&self) -> Result<Expectation, String> {
        self.expect
            .as_ref()
            .map_or(Ok(Expectation::default()), Expectation::parse)
    }

    /// The parsed `should` table (empty when absent).
    pub fn should_expectation(&self) -> Result<Expectation, String> {
        self.should
            .as_ref()
            .map_or(Ok(Expectation::default()), Expectation::parse)
    }

    /// The request path: the command's path, or `path` as written.
    pub fn request_path(&self) -> Option<String> {
        match (&self.call, &self.path) {
            (Some(c), None) => Some(match Command::from_name(c) {
                Some(cmd) => cmd.path(),
                None => format!(
                    "/{}/{}/{c}",
                    tim_model::endpoint::API_VERSION,
                    tim_model::endpoint::GROUP_SERVICE
                ),
            }),
            (None, Some(p)) => Some(p.clone()),
            _ => None,
        }
    }

    /// The command the request step calls, if it is a known one.
    pub fn command(&self) -> Option<Command> {
        self.call.as_deref().and_then(Command::from_name)
    }
}

impl Case {
    /// Whether the case applies to `edition`.
    pub fn applies_to(&self, edition: Edition) -> bool {
        self.editions.contains(&edition)
    }

    /// Whether the case needs `need`.
    pub fn needs(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }

    /// Checks what serde cannot: step kinds, expectation keys, ID syntax. Returns every problem.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !is_kebab(&self.id) {
            problems.push(format!("id {:?} is not kebab-case", self.id));
        }
        if self.clauses.is_empty() {
            problems.push("cites no clause".to_owned());
        }
        if self.editions.is_empty() {
            problems.push("applies to no edition".to_owned());
        }
        if self.step.is_empty() {
            problems.push("has no step".to_owned());
        }
        for (i, s) in self.setup.iter().enumerate() {
            if s.group.is_none() && s.body.get("GroupId").is_none() {
                problems.push(format!("setup[{i}]: no group alias and no GroupId"));
            }
            if s.server_id && s.group.is_none() {
                problems.push(format!("setup[{i}]: server_id needs a group alias"));
            }
        }
        for (i, s) in self.step.iter().enumerate() {
            let at = format!("step[{i}]");
            if let Some(ms) = s.wait_ms {
                let only_wait = Step {
                    wait_ms: Some(ms),
                    ..Step::default()
                };
                if *s != only_wait {
                    problems.push(format!("{at}: a wait_ms step takes nothing else"));
                }
                if ms == 0 || ms > MAX_WAIT_MS {
                    problems.push(format!("{at}: wait_ms must be 1..={MAX_WAIT_MS}"));
                }
                continue;
            }
            let req = s.is_request();
            match (req, s.check) {
                (true, Some(_)) => problems.push(format!("{at}: both a request and a check")),
                (false, None) => {
                    problems.push(format!("{at}: neither call/path, check nor wait_ms"))
                }
                _ => {}
            }
            if s.call.is_some() && s.path.is_some() {
                problems.push(format!("{at}: both call and path"));
            }
            if s.body.is_some() && s.raw.is_some() {
                problems.push(format!("{at}: both body and raw"));
            }
            if s.check.is_some()
                && (s.body.is_some() || s.raw.is_some() || s.query.is_some() || s.repeat.is_some())
            {
                problems.push(format!("{at}: a check takes no body, raw, query or repeat"));
            }
            if s.check.is_some() && s.group.is_none() {
                problems.push(format!("{at}: a check needs a group alias"));
            }
            if s.repeat.is_some() && !self.needs(Need::Exclusive) {
                problems.push(format!(
                    "{at}: repeat is only for needs = [\"exclusive\"] cases"
                ));
            }
            for (name, table) in [("expect", &s.expect), ("should", &s.should)] {
                if let Some(t) = table {
                    if let Err(e) = Expectation::parse(t) {
                        problems.push(format!("{at}.{name}: {e}"));
                    }
                    let accepted = t.get("stored").and_then(Value::as_str) == Some(STORED_ACCEPTED);
                    if accepted && (s.repeat.is_none() || name != "expect") {
                        problems.push(format!(
                            "{at}.{name}: stored = \"{STORED_ACCEPTED}\" is only for expect of a repeat step"
                        ));
                    }
                }
            }
            let stored_elsewhere = s.should.as_ref().is_some_and(|t| t.contains_key("stored"))
                || s.reading.iter().any(|r| r.fields.contains_key("stored"));
            if s.repeat.is_some() && stored_elsewhere {
                problems.push(format!("{at}: a repeat step judges stored only in expect"));
            }
            for (j, r) in s.reading.iter().enumerate() {
                if let Err(e) = Expectation::parse(&r.fields) {
                    problems.push(format!("{at}.reading[{j}] ({}): {e}", r.name));
                }
            }
            for c in s.clauses.iter().filter(|c| !self.clauses.contains(c)) {
                problems.push(format!("{at}: clause {c} is not among the case's clauses"));
            }
        }
        problems
    }
}

/// Whether `s` is lowercase kebab-case (`a-z`, `0-9`, single dashes inside).
pub(crate) fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Resolves every placeholder of `case` as if it ran in `edition` (groups from setup, one
/// message each, a restricted word claimed). Returns every problem; used by the lint.
pub fn dry_run(case: &Case, edition: Edition) -> Vec<String> {
    use crate::ledger::LedgerEntry;
    use crate::template::{GroupVar, Vars};
    let now = 1_700_000_000;
    let mut vars = Vars::new(
        "lint00",
        &case.id,
        now,
        edition.limits(),
        "admin",
        1_400_000_000,
    );
    vars.restricted_word = Some("restricted".into());
    let mut problems = Vec::new();
    let mut note = |what: String, r: Result<Value, crate::template::TemplateError>| {
        if let Err(e) = r {
            problems.push(format!("{what}: {e}"));
        }
    };
    for (i, s) in case.setup.iter().enumerate() {
        if let Some(alias) = &s.group {
            let id = vars.group_id_for(alias);
            vars.groups.entry(alias.clone()).or_insert(GroupVar {
                id,
                create: Some(now - 86_400),
                server_assigned: s.server_id,
            });
            if vars.ledger.entries(alias).is_empty() {
                let entry = LedgerEntry {
                    seq: 1,
                    from: "a".into(),
                    send_time: now - 3600,
                    random: None,
                    body: Value::Null,
                };
                vars.ledger.record(alias, entry);
            }
        }
        note(format!("setup[{i}].body"), vars.expand(&s.body));
    }
    for (i, s) in case.step.iter().enumerate() {
        let at = format!("step[{i}]");
        for (name, v) in [
            ("body", &s.body),
            ("repeat", &s.repeat),
            ("count", &s.count),
        ] {
            if let Some(v) = v {
                note(format!("{at}.{name}"), vars.expand(v));
            }
        }
        if let Some(raw) = &s.raw {
            note(
                format!("{at}.raw"),
                vars.interpolate(raw).map(Value::String),
            );
        }
        if let Some(q) = &s.query {
            note(
                format!("{at}.query"),
                vars.expand(&serde_json::to_value(q).unwrap_or_default()),
            );
        }
        let tables = [s.expect.as_ref(), s.should.as_ref()]
            .into_iter()
            .flatten()
            .chain(s.reading.iter().map(|r| &r.fields));
        for t in tables {
            note(
                format!("{at} expectations"),
                vars.expand(&serde_json::to_value(t).unwrap_or_default()),
            );
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(steps: &str) -> Case {
        toml::from_str(&format!(
            "id = \"igm-x\"\ntitle = \"t\"\nclauses = [\"IGM-X\"]\n{steps}"
        ))
        .unwrap()
    }

    #[test]
    fn a_wait_step_takes_nothing_else_and_a_bounded_time() {
        let ok = case("[[step]]\nwait_ms = 2100\n[[step]]\ncheck = \"readback\"\ngroup = \"g\"\n");
        assert!(ok.step[0].is_wait() && !ok.step[0].is_request());
        assert_eq!(ok.validate(), Vec::<String>::new());
        let mixed = case("[[step]]\nwait_ms = 10\ncall = \"import_group_msg\"\n");
        assert_eq!(
            mixed.validate(),
            vec!["step[0]: a wait_ms step takes nothing else"]
        );
        let long = case("[[step]]\nwait_ms = 60000\n");
        assert_eq!(long.validate(), vec!["step[0]: wait_ms must be 1..=5000"]);
    }
}
