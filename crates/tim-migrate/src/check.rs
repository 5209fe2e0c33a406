//! `tim-migrate check`: offline validation of the whole input with the model's rules.
//!
//! Messages are validated one at a time with [`tim_model::validate::validate_import`] (a request of
//! one message against a snapshot of its group built from the groups file), so every rule the
//! server applies to a message (structure, element types of the edition, `From_Account`, `Random`
//! range, `SendTime` strictly after the group's `CreateTime` and not in the future, size) is the
//! model's own. Group-level rules are reported once per group: unknown groups, group types the
//! edition cannot import into, missing `CreateTime`. Across messages: duplicate `SourceId`s of a
//! group and supplied `Random`s that collide within the duplicate window (found while ordering the
//! input with [`crate::prepare`]). Members: unknown group, account syntax, `JoinTime` before the
//! group's `CreateTime` or in the future, negative `UnreadMsgNum`.
//!
//! Memory: the ordering's bound ([`crate::prepare`]), plus 16 bytes per message that has a
//! `SourceId` (a 64-bit digest and the line; two different IDs share a digest with probability
//! about n²/2⁶⁵), plus the groups file.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tim_model::api::import_group::{
    APPLY_JOIN_OPTIONS, FACE_URL_MAX_BYTES, INTRODUCTION_MAX_BYTES, NAME_MAX_BYTES,
    NOTIFICATION_MAX_BYTES,
};
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::validate::{validate_import, Context, GroupSnapshot, Rule};
use tim_model::{ids, GroupType, Limits};

use crate::input::{self, GroupLine, Groups, InputError, LineError, MemberReader};
use crate::prepare::{PrepareError, PrepareOptions, Prepared};

/// Settings of a check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The limits of the target edition.
    pub limits: Limits,
    /// The current time, Unix seconds (`SendTime` and `JoinTime` must not be later).
    pub now: i64,
    /// Most problems listed per file (the count goes on).
    pub max_problems: usize,
    /// How the messages are ordered.
    pub prepare: PrepareOptions,
    /// Round trip of one `import_group_msg` call, for the forecast ([`Forecast`]).
    pub rtt: std::time::Duration,
}

/// Which input a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// `--groups`.
    Groups,
    /// `--messages`.
    Messages,
    /// `--members`.
    Members,
}

/// One problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckProblem {
    /// The input.
    #[serde(skip)]
    pub input: InputKind,
    /// The file as the user named it.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// JSON path in the line (`.` for the whole line).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do, when there is more to say than the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl std::fmt::Display for CheckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.path, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

impl From<LineError> for CheckProblem {
    fn from(e: LineError) -> Self {
        CheckProblem {
            input: InputKind::Messages,
            file: e.file,
            line: e.line,
            path: e.path,
            message: e.message,
            hint: Some(e.hint).filter(|h| !h.is_empty()),
        }
    }
}

/// Statistics of the input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckStats {
    /// The edition checked against.
    pub edition: String,
    /// Lines in the groups file.
    pub groups_in_file: u64,
    /// Groups that have messages.
    pub groups: u64,
    /// Messages.
    pub messages: u64,
    /// Members.
    pub members: u64,
    /// Messages per `import_group_msg` request in this edition.
    pub msgs_per_request: u64,
    /// Requests needed: per group `ceil(messages / msgs_per_request)`, summed.
    pub requests: u64,
    /// The request quota per second, if any.
    pub requests_per_second: Option<u32>,
    /// Minimum import time at the quota, in seconds (`requests / requests_per_second`).
    pub min_seconds: Option<f64>,
    /// How long the import should take.
    pub forecast: Forecast,
}

/// How long an import takes, at least: the quota bounds the whole import, and the round trip
/// bounds each group (its batches go one at a time, so a group needs one round trip a batch).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// All requests at the quota, in seconds (none without a quota).
    pub quota_seconds: Option<f64>,
    /// The group with the most messages (the first by `GroupId` among equals).
    pub largest_group: Option<String>,
    /// Its messages.
    pub largest_group_messages: u64,
    /// Its requests (`ceil(messages / msgs_per_request)`).
    pub largest_group_requests: u64,
    /// The round trip assumed, in milliseconds.
    pub rtt_ms: f64,
    /// The largest group alone: one request per round trip, in seconds.
    pub largest_group_seconds: f64,
    /// The forecast: the larger of the two bounds, in seconds.
    pub seconds: f64,
}

impl Forecast {
    /// The forecast for groups of `(GroupId, messages)`, `per` messages a request, a quota of
    /// `rps` requests a second, and a round trip of `rtt`.
    pub fn new<'a>(
        groups: impl IntoIterator<Item = (&'a str, u64)>,
        per: u64,
        rps: Option<u32>,
        rtt: std::time::Duration,
    ) -> Forecast {
        let per = per.max(1);
        let mut requests = 0u64;
        let mut largest: Option<(&str, u64)> = None;
        for (id, n) in groups {
            requests += n.div_ceil(per);
            if largest.is_none_or(|(lid, ln)| n > ln || (n == ln && id < lid)) {
                largest = Some((id, n));
            }
        }
        let quota_seconds = rps
            .filter(|r| *r > 0)
            .map(|r| requests as f64 / f64::from(r));
        let (name, messages) = largest.map_or((None, 0), |(id, n)| (Some(id.to_owned()), n));
        let group_requests = messages.div_ceil(per);
        let largest_group_seconds = group_requests as f64 * rtt.as_secs_f64();
        Forecast {
            seconds: quota_seconds.unwrap_or(0.0).max(largest_group_seconds),
            quota_seconds,
            largest_group: name,
            largest_group_messages: messages,
            largest_group_requests: group_requests,
            rtt_ms: rtt.as_secs_f64() * 1000.0,
            largest_group_seconds,
        }
    }

    /// One line: `forecast: …`.
    pub fn render(&self) -> String {
        // Whole seconds, or milliseconds under 10 s (a small input's forecast is not 0).
        let d = |secs: f64| {
            let t = if secs < 10.0 {
                std::time::Duration::from_millis((secs * 1000.0).ceil() as u64)
            } else {
                std::time::Duration::from_secs(secs.ceil() as u64)
            };
            humantime::format_duration(t).to_string()
        };
        let mut s = String::from("forecast: ");
        match self.quota_seconds {
            Some(q) => s.push_str(&format!("{} at the quota", d(q))),
            None => s.push_str("no quota"),
        }
        if let Some(g) = &self.largest_group {
            s.push_str(&format!(
                "; the largest group, {g:?} ({} messages, {} requests), alone needs {} at {} ms a round trip (one batch per round trip)",
                self.largest_group_messages,
                self.largest_group_requests,
                d(self.largest_group_seconds),
                self.rtt_ms
            ));
        }
        s.push_str(&format!("; expect at least {}", d(self.seconds)));
        if self.largest_group_seconds >= 60.0
            && self
                .quota_seconds
                .is_some_and(|q| self.largest_group_seconds > q)
        {
            s.push_str(
                " (the largest group sets the pace: run the import near the server's region for a shorter round trip)",
            );
        }
        s
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// `true` when no problem was found.
    pub ok: bool,
    /// Number of problems, all of them.
    pub problem_count: u64,
    /// The problems listed (at most `max_problems` per file), by file then line.
    pub problems: Vec<CheckProblem>,
    /// Statistics.
    pub stats: CheckStats,
}

impl CheckReport {
    /// The human rendering: one line per problem, then a summary.
    pub fn render_human(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for p in &self.problems {
            let _ = writeln!(s, "{p}");
        }
        let shown = self.problems.len() as u64;
        if self.problem_count > shown {
            let _ = writeln!(
                s,
                "… and {} more problems (raise --max-problems to list them)",
                self.problem_count - shown
            );
        }
        let st = &self.stats;
        let _ = writeln!(
            s,
            "{} groups with messages ({} in the groups file), {} messages, {} members",
            st.groups, st.groups_in_file, st.messages, st.members
        );
        let _ = write!(
            s,
            "{} requests needed ({} messages per request, {} edition)",
            st.requests, st.msgs_per_request, st.edition
        );
        match (st.requests_per_second, st.min_seconds) {
            (Some(rps), Some(secs)) => {
                let _ = writeln!(
                    s,
                    "; at least {} at {rps} requests/s",
                    humantime::format_duration(std::time::Duration::from_secs(secs.ceil() as u64))
                );
            }
            _ => s.push('\n'),
        }
        let _ = writeln!(s, "{}", st.forecast.render());
        if self.ok {
            s.push_str("ok: no problems found\n");
        } else {
            let _ = writeln!(s, "{} problems found", self.problem_count);
        }
        s
    }
}

/// Why a check could not run (as opposed to problems found in the input).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// An input file could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The messages could not be ordered.
    #[error(transparent)]
    Prepare(PrepareError),
}

impl From<PrepareError> for CheckError {
    fn from(e: PrepareError) -> Self {
        match e {
            PrepareError::Input(i) => CheckError::Input(i),
            other => CheckError::Prepare(other),
        }
    }
}

struct Collector {
    max: usize,
    counts: HashMap<InputKind, u64>,
    total: u64,
    list: Vec<CheckProblem>,
}

impl Collector {
    fn push(&mut self, p: CheckProblem) {
        self.total += 1;
        let c = self.counts.entry(p.input).or_insert(0);
        *c += 1;
        if *c as usize <= self.max {
            self.list.push(p);
        }
    }
}

struct GroupInfo {
    line: u64,
    group_type: GroupType,
    create_time: Option<i64>,
    importable: bool,
}

struct Unknown {
    first_line: u64,
    count: u64,
}

impl Unknown {
    /// Counts one more line naming the unknown group `group_id` (the first one is remembered).
    fn note(unknown: &mut BTreeMap<String, Unknown>, group_id: &str, line: u64) {
        unknown
            .entry(group_id.to_owned())
            .or_insert(Unknown {
                first_line: line,
                count: 0,
            })
            .count += 1;
    }

    /// The problem reported once per unknown group, at the first line that names it.
    fn problem(
        &self,
        input: InputKind,
        file: &str,
        gid: &str,
        groups_file: Option<&str>,
    ) -> CheckProblem {
        problem(
            input,
            file,
            self.first_line,
            "GroupId",
            format!(
                "group {gid:?} is not in the groups file {}; {} line(s) name it, this is the first",
                groups_file.unwrap_or_default(),
                self.count
            ),
            Some("add the group to the groups file or correct the GroupId"),
        )
    }
}

fn problem(
    input: InputKind,
    file: &str,
    line: u64,
    path: impl Into<String>,
    message: impl Into<String>,
    hint: Option<&str>,
) -> CheckProblem {
    CheckProblem {
        input,
        file: file.to_owned(),
        line,
        path: path.into(),
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

fn check_group(g: &GroupLine, line: u64, file: &str, opts: &CheckOptions, out: &mut Collector) {
    let p = &g.request.profile;
    let mut push = |path: &str, message: String, hint: Option<&str>| {
        out.push(problem(InputKind::Groups, file, line, path, message, hint));
    };
    if let Err(e) = ids::check_custom_group_id(&g.group_id, &p.group_type) {
        push("GroupId", e.to_string(), None);
    }
    if !opts.limits.can_import_into(&p.group_type) {
        push(
            "Type",
            format!(
                "messages cannot be imported into a group of type {} ({} edition)",
                p.group_type, opts.limits.edition
            ),
            Some(importable_hint(&opts.limits).as_str()),
        );
    }
    let lens = [
        ("Name", Some(p.name.as_str()), NAME_MAX_BYTES),
        (
            "Introduction",
            p.introduction.as_deref(),
            INTRODUCTION_MAX_BYTES,
        ),
        (
            "Notification",
            p.notification.as_deref(),
            NOTIFICATION_MAX_BYTES,
        ),
        ("FaceUrl", p.face_url.as_deref(), FACE_URL_MAX_BYTES),
    ];
    if p.name.is_empty() {
        push("Name", "Name is empty".into(), None);
    }
    for (field, v, max) in lens {
        if let Some(v) = v.filter(|v| v.len() > max) {
            push(
                field,
                format!("{field} is {} bytes; at most {max} are allowed", v.len()),
                None,
            );
        }
    }
    if let Some(o) = p.apply_join_option.as_deref() {
        if !APPLY_JOIN_OPTIONS.contains(&o) {
            push(
                "ApplyJoinOption",
                format!(
                    "ApplyJoinOption {o:?} is not one of {}",
                    APPLY_JOIN_OPTIONS.join(", ")
                ),
                None,
            );
        }
    }
    match g.request.create_time {
        Some(ct) if ct < 0 => push("CreateTime", format!("CreateTime {ct} is negative"), None),
        Some(ct) if ct > opts.now => push(
            "CreateTime",
            format!("CreateTime {ct} is in the future (now is {})", opts.now),
            None,
        ),
        _ => {}
    }
}

fn rule_hint(rule: Rule) -> Option<&'static str> {
    match rule {
        Rule::SendTime => {
            Some("correct the SendTime, or the group's CreateTime in the groups file")
        }
        Rule::MsgTooLong => Some(
            "shorten the message (its size is the compact JSON of MsgBody plus CloudCustomData)",
        ),
        Rule::GroupIdSyntax => Some("group IDs are printable ASCII, at most 48 bytes"),
        _ => None,
    }
}

fn importable_hint(limits: &Limits) -> String {
    let names: Vec<&str> = limits
        .import_group_types
        .iter()
        .map(GroupType::as_str)
        .collect();
    format!("use one of {}", names.join(", "))
}

fn source_digest(group_id: &str, source_id: &str) -> u64 {
    let d = Sha256::new()
        .chain_update((group_id.len() as u64).to_le_bytes())
        .chain_update(group_id)
        .chain_update(source_id)
        .finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Checks the inputs; `Err` only when a file cannot be read (exit 2), problems go in the report.
pub fn run(paths: &input::InputPaths, opts: &CheckOptions) -> Result<CheckReport, CheckError> {
    let mut out = Collector {
        max: opts.max_problems,
        counts: HashMap::new(),
        total: 0,
        list: Vec::new(),
    };
    let limits = &opts.limits;

    // Groups.
    let mut groups: Option<HashMap<String, GroupInfo>> = None;
    let mut groups_in_file = 0;
    let groups_file = paths.groups.as_deref().map(input::display_path);
    if let Some(path) = &paths.groups {
        let file = groups_file.as_deref().unwrap_or_default();
        let (records, errors) = input::read_all::<Groups>(path)?;
        for e in errors {
            out.push(CheckProblem {
                input: InputKind::Groups,
                ..e.into()
            });
        }
        let mut map = HashMap::new();
        for rec in records {
            groups_in_file += 1;
            check_group(&rec.value, rec.line, file, opts, &mut out);
            let importable = limits.can_import_into(&rec.value.request.profile.group_type);
            if let Some(prev) = map.get(&rec.value.group_id).map(|g: &GroupInfo| g.line) {
                out.push(problem(
                    InputKind::Groups,
                    file,
                    rec.line,
                    "GroupId",
                    format!(
                        "group {:?} is already defined on line {prev}",
                        rec.value.group_id
                    ),
                    Some("define each group once"),
                ));
                continue;
            }
            map.insert(
                rec.value.group_id,
                GroupInfo {
                    line: rec.line,
                    group_type: rec.value.request.profile.group_type,
                    create_time: rec.value.request.create_time,
                    importable,
                },
            );
        }
        groups = Some(map);
    }

    // Messages: validated as they are read, while being ordered.
    let msg_file = input::display_path(&paths.messages);
    let mut unknown: BTreeMap<String, Unknown> = BTreeMap::new();
    let mut sources: Vec<(u64, u64)> = Vec::new();
    let fallback = GroupSnapshot {
        group_type: limits
            .import_group_types
            .first()
            .cloned()
            .unwrap_or(GroupType::Public),
        create_time: i64::MIN,
        last_msg_time: None,
    };
    let mut req = ImportGroupMsgRequest::new(String::new(), Vec::with_capacity(1));
    let prepared = Prepared::build_with(&paths.messages, &opts.prepare, |r| {
        let rec = match r {
            Ok(rec) => rec,
            Err(e) => {
                out.push(e.clone().into());
                return Ok(());
            }
        };
        let m = &rec.value;
        let mut snapshot = fallback.clone();
        if let Some(map) = &groups {
            match map.get(&m.group_id) {
                None => Unknown::note(&mut unknown, &m.group_id, rec.line),
                Some(g) => {
                    if g.importable {
                        snapshot.group_type = g.group_type.clone();
                    }
                    if let Some(ct) = g.create_time {
                        snapshot.create_time = ct;
                    }
                }
            }
        }
        if let Some(s) = &m.source_id {
            sources.push((source_digest(&m.group_id, s), rec.line));
        }
        req.group_id.clone_from(&m.group_id);
        req.msg_list.clear();
        req.msg_list.push(m.msg.clone());
        let ctx = Context {
            limits,
            group: Some(&snapshot),
            restricted_words: &[],
            now: opts.now,
            duplicates: &[],
        };
        for p in validate_import(&req, ctx) {
            let path = p
                .path
                .strip_prefix("MsgList[0].")
                .unwrap_or(&p.path)
                .to_owned();
            let message = p.message.replace("MsgList[0].", "");
            out.push(problem(
                InputKind::Messages,
                &msg_file,
                rec.line,
                path,
                message,
                rule_hint(p.rule),
            ));
        }
        Ok(())
    })?;
    for (gid, u) in &unknown {
        out.push(u.problem(InputKind::Messages, &msg_file, gid, groups_file.as_deref()));
    }
    if let Some(map) = &groups {
        let gfile = groups_file.as_deref().unwrap_or_default();
        for g in prepared.groups() {
            if let Some(info) = map.get(&g.group_id) {
                if info.create_time.is_none() {
                    out.push(problem(
                        InputKind::Groups,
                        gfile,
                        info.line,
                        "CreateTime",
                        format!(
                            "CreateTime is missing: the server would set it to the import time, so all {} messages of the group (the first sent at {}) would be rejected",
                            g.count, g.first_send_time
                        ),
                        Some("set CreateTime to a time before the group's first message"),
                    ));
                }
            }
        }
    }
    sources.sort_unstable();
    for w in sources.windows(2) {
        if w[0].0 == w[1].0 {
            out.push(problem(
                InputKind::Messages,
                &msg_file,
                w[1].1,
                "SourceId",
                format!("SourceId is also used on line {} of the same group", w[0].1),
                Some("give every message of a group its own SourceId, or remove one of the two lines"),
            ));
        }
    }
    drop(sources);
    let window = limits.dedup_window_secs;
    for c in prepared.collisions() {
        let k = &c.collision;
        out.push(problem(
            InputKind::Messages,
            &msg_file,
            k.second,
            "Random",
            format!(
                "Random {} is also used on line {} of group {:?}, {} s earlier (within the {window} s duplicate window): the server would drop this message as a duplicate",
                k.random, k.first, c.group_id, k.distance_secs
            ),
            Some("give one of the two messages another Random, or leave Random out and let tim-migrate derive one"),
        ));
    }
    // Collisions beyond the kept list are counted without detail.
    out.total += prepared
        .collision_count()
        .saturating_sub(prepared.collisions().len() as u64);

    // Members.
    let mut members = 0;
    if let Some(path) = &paths.members {
        let file = input::display_path(path);
        let mut unknown_m: BTreeMap<String, Unknown> = BTreeMap::new();
        for r in MemberReader::open(path)? {
            let rec = match r {
                Ok(rec) => rec,
                Err(InputError::Line(e)) => {
                    out.push(CheckProblem {
                        input: InputKind::Members,
                        ..e.into()
                    });
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            members += 1;
            let m = &rec.value;
            let mut push = |path: &str, message: String, hint: Option<&str>| {
                out.push(problem(
                    InputKind::Members,
                    &file,
                    rec.line,
                    path,
                    message,
                    hint,
                ));
            };
            if let Err(e) = ids::check_account(&m.member.member_account) {
                push("Member_Account", e.to_string(), None);
            }
            if let Some(n) = m.member.unread_msg_num.filter(|n| *n < 0) {
                push(
                    "UnreadMsgNum",
                    format!("UnreadMsgNum {n} is negative"),
                    None,
                );
            }
            let create_time = match &groups {
                Some(map) => match map.get(&m.group_id) {
                    Some(g) => g.create_time,
                    None => {
                        Unknown::note(&mut unknown_m, &m.group_id, rec.line);
                        None
                    }
                },
                None => None,
            };
            if let Some(jt) = m.member.join_time {
                if let Some(ct) = create_time.filter(|ct| jt < *ct) {
                    push(
                        "JoinTime",
                        format!("JoinTime {jt} is before the group's CreateTime {ct}"),
                        Some("a member cannot join before the group was created"),
                    );
                } else if jt > opts.now {
                    push(
                        "JoinTime",
                        format!("JoinTime {jt} is in the future (now is {})", opts.now),
                        None,
                    );
                }
            }
        }
        for (gid, u) in &unknown_m {
            out.push(u.problem(InputKind::Members, &file, gid, groups_file.as_deref()));
        }
    }

    let per = limits.msgs_per_request.max(1) as u64;
    let requests: u64 = prepared
        .groups()
        .iter()
        .map(|g| g.count.div_ceil(per))
        .sum();
    let stats = CheckStats {
        edition: limits.edition.to_string(),
        groups_in_file,
        groups: prepared.groups().len() as u64,
        messages: prepared.stats().messages,
        members,
        msgs_per_request: per,
        requests,
        requests_per_second: limits.requests_per_second,
        min_seconds: limits
            .requests_per_second
            .map(|r| requests as f64 / f64::from(r)),
        forecast: Forecast::new(
            prepared
                .groups()
                .iter()
                .map(|g| (g.group_id.as_str(), g.count)),
            per,
            limits.requests_per_second,
            opts.rtt,
        ),
    };
    let mut problems = out.list;
    problems.sort_by_key(|p| (p.input, p.line));
    Ok(CheckReport {
        ok: out.total == 0,
        problem_count: out.total,
        problems,
        stats,
    })
}

#[cfg(test)]
mod forecast_tests {
    use super::Forecast;
    use std::time::Duration;

    #[test]
    fn quota_and_largest_group() {
        // 20 a request: 41 messages are 3 requests, 200,000 are 10,000; 10,003 requests in all.
        let f = Forecast::new(
            [("a", 41), ("big", 200_000), ("c", 0)],
            20,
            Some(100),
            Duration::from_millis(50),
        );
        assert_eq!(f.quota_seconds, Some(100.03));
        assert_eq!(f.largest_group.as_deref(), Some("big"));
        assert_eq!(f.largest_group_messages, 200_000);
        assert_eq!(f.largest_group_requests, 10_000);
        assert!((f.largest_group_seconds - 500.0).abs() < 1e-9);
        assert!((f.seconds - 500.0).abs() < 1e-9);
        let line = f.render();
        assert!(line.contains("1m 41s at the quota"), "{line}");
        assert!(
            line.contains("\"big\" (200000 messages, 10000 requests), alone needs 8m 20s at 50 ms"),
            "{line}"
        );
        assert!(line.contains("sets the pace"), "{line}");
    }

    #[test]
    fn the_quota_bounds_many_small_groups() {
        let groups: Vec<(String, u64)> = (0..1000).map(|i| (format!("g{i:04}"), 7)).collect();
        let f = Forecast::new(
            groups.iter().map(|(g, n)| (g.as_str(), *n)),
            7,
            Some(200),
            Duration::from_millis(50),
        );
        assert_eq!(f.quota_seconds, Some(5.0));
        // Ties go to the first GroupId.
        assert_eq!(f.largest_group.as_deref(), Some("g0000"));
        assert_eq!(f.largest_group_requests, 1);
        assert!((f.largest_group_seconds - 0.05).abs() < 1e-9);
        assert_eq!(f.seconds, 5.0);
        assert!(!f.render().contains("sets the pace"));
    }

    #[test]
    fn no_groups_no_quota() {
        let f = Forecast::new([], 20, None, Duration::from_millis(50));
        assert_eq!(f.quota_seconds, None);
        assert_eq!(f.largest_group, None);
        assert_eq!(f.seconds, 0.0);
    }
}
