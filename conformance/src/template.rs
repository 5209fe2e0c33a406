//! Placeholders (`${...}`), `$messages` and `$text` (conf-spec.md, "Placeholders").
//!
//! A string that is exactly one placeholder becomes a typed JSON value (a number for times,
//! limits, seqs and the sdkappid; a string for IDs and names); inside a longer string the value is
//! interpolated as text. Every time value produced is remembered as an *anchor* (`now-3600`,
//! `g.create+61`) so that redaction can name it instead of hiding it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map as JsonMap, Value};
use tim_model::Limits;

use crate::ledger::Ledger;

/// A placeholder or directive that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

/// A group alias of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVar {
    /// The group's ID on the target.
    pub id: String,
    /// Its `CreateTime` as the case set it (or the case start when the target chose it).
    pub create: Option<i64>,
    /// Whether the target assigned the ID (redacted as `[group#n]`).
    pub server_assigned: bool,
}

/// Longest custom group ID (digest §4.1).
const MAX_GROUP_ID: usize = 48;
/// Longest account name (digest §4.1).
const MAX_ACCOUNT: usize = 32;

/// Every value a case's placeholders can name, plus the state they depend on.
#[derive(Debug, Clone)]
pub struct Vars {
    /// The run ID (six base-36 characters).
    pub run: String,
    /// The case ID.
    pub case_id: String,
    /// The runner clock at case start, or after the last `wait_ms` step: Unix seconds.
    pub now: i64,
    /// Earlier values of `now` (before each `wait_ms` step), oldest first.
    pub earlier_nows: Vec<i64>,
    /// The edition's limits.
    pub limits: Limits,
    /// The admin identifier.
    pub admin: String,
    /// The target's SDKAppID.
    pub sdkappid: u64,
    /// Group aliases.
    pub groups: BTreeMap<String, GroupVar>,
    /// Per-run account names, by name.
    pub users: BTreeMap<String, String>,
    /// The case ledger.
    pub ledger: Ledger,
    /// Time anchors: value → (base expression, offset).
    pub anchors: BTreeMap<i64, (String, i64)>,
    /// Messages generated so far by `$messages` (the index of derived `Random`s).
    pub generated: u64,
    /// Every `Random` the case sent (the others in read-back are server-generated).
    pub sent_randoms: BTreeSet<i64>,
    /// The restricted word the target was configured with (`${restricted_word}`).
    pub restricted_word: Option<String>,
}

impl Vars {
    /// Fresh variables for one case.
    pub fn new(
        run: &str,
        case_id: &str,
        now: i64,
        limits: Limits,
        admin: &str,
        sdkappid: u64,
    ) -> Vars {
        Vars {
            run: run.to_owned(),
            case_id: case_id.to_owned(),
            now,
            earlier_nows: Vec::new(),
            limits,
            admin: admin.to_owned(),
            sdkappid,
            groups: BTreeMap::new(),
            users: BTreeMap::new(),
            ledger: Ledger::default(),
            anchors: BTreeMap::new(),
            generated: 0,
            sent_randoms: BTreeSet::new(),
            restricted_word: None,
        }
    }

    /// Reads the clock again after a pause: `${now}` becomes `now`; the earlier value is kept
    /// for redaction (times near any of them are `[now~]`).
    pub fn rebase_now(&mut self, now: i64) {
        self.earlier_nows.push(self.now);
        self.now = now;
    }

    /// Whether `t` is within `before` seconds before and `after` seconds after the case start
    /// or any later `now`.
    pub fn near_now(&self, t: i64, before: i64, after: i64) -> bool {
        self.earlier_nows
            .iter()
            .chain(std::iter::once(&self.now))
            .any(|n| (n - before..=n + after).contains(&t))
    }

    /// The unique custom group ID of `alias` in this run and case: `cf<run>-<casehash>-<alias>`.
    pub fn group_id_for(&self, alias: &str) -> String {
        let mut id = format!("cf{}-{}-{alias}", self.run, short_hash(&self.case_id));
        id.truncate(MAX_GROUP_ID);
        id
    }

    /// The group of `alias`, declared on first use (a never-created ID for an alias without setup).
    pub fn group(&mut self, alias: &str) -> &GroupVar {
        let id = self.group_id_for(alias);
        self.groups.entry(alias.to_owned()).or_insert(GroupVar {
            id,
            create: None,
            server_assigned: false,
        })
    }

    /// The alias whose group has ID `id`.
    pub fn alias_of(&self, id: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|(_, g)| g.id == id)
            .map(|(a, _)| a.as_str())
    }

    /// The per-run account name of `name`: `u<run>-<name>`.
    pub fn user(&mut self, name: &str) -> String {
        let mut acct = format!("u{}-{name}", self.run);
        acct.truncate(MAX_ACCOUNT);
        self.users.entry(name.to_owned()).or_insert(acct).clone()
    }

    fn anchor(&mut self, value: i64, base: &str, offset: i64) {
        self.anchors
            .entry(value)
            .or_insert_with(|| (base.to_owned(), offset));
    }

    /// The anchor label of a time value (`now-3600`, `g.create+60`), if one was produced.
    pub fn anchor_label(&self, value: i64) -> Option<String> {
        self.anchors.get(&value).map(|(base, off)| match off {
            0 => base.clone(),
            o if *o > 0 => format!("{base}+{o}"),
            o => format!("{base}{o}"),
        })
    }

    /// Expands every placeholder and directive in `v`.
    pub fn expand(&mut self, v: &Value) -> Result<Value, TemplateError> {
        Ok(match v {
            Value::String(s) => self.expand_str(s)?,
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.expand(x)).collect::<Result<_, _>>()?)
            }
            Value::Object(o) if o.len() == 1 && o.contains_key("$messages") => {
                self.messages(&o["$messages"])?
            }
            Value::Object(o) if o.len() == 1 && o.contains_key("$text") => {
                self.text(&o["$text"])?
            }
            Value::Object(o) => {
                let mut out = JsonMap::new();
                for (k, x) in o {
                    out.insert(k.clone(), self.expand(x)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// Interpolates every placeholder of `s` as text (for raw bodies and query values).
    pub fn interpolate(&mut self, s: &str) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                return err(format!("unclosed placeholder in {s:?}"));
            };
            match self.resolve(&rest[start + 2..start + end])? {
                Value::String(x) => out.push_str(&x),
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn expand_str(&mut self, s: &str) -> Result<Value, TemplateError> {
        if let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            if !inner.contains("${") && !inner.contains('}') {
                return self.resolve(inner);
            }
        }
        Ok(Value::String(self.interpolate(s)?))
    }

    /// Resolves one placeholder expression (without `${` and `}`).
    pub fn resolve(&mut self, expr: &str) -> Result<Value, TemplateError> {
        let split = expr
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(expr.len());
        let (base, ops) = expr.split_at(split);
        let offset = |n: i64| apply_ops(n, ops, expr);
        let (head, field) = base.split_once('.').unwrap_or((base, ""));
        match (head, field) {
            ("now", "") => {
                let v = offset(self.now)?;
                self.anchor(v, "now", v - self.now);
                Ok(json!(v))
            }
            ("limit", name) => {
                let l = &self.limits;
                let n = match name {
                    "batch" => l.msgs_per_request as i64,
                    "msg_bytes" => l.msg_max_bytes as i64,
                    "rate" => l.requests_per_second.map_or(0, i64::from),
                    "members" => l.members_per_request as i64,
                    "page" => l.history_page_max as i64,
                    "dedup_window" => l.dedup_window_secs,
                    "group_info_ids" => l.group_info_max_ids as i64,
                    other => return err(format!("unknown limit {other:?} in ${{{expr}}}")),
                };
                Ok(json!(offset(n)?))
            }
            ("admin", "") => no_ops(ops, expr).map(|()| json!(self.admin)),
            ("sdkappid", "") => Ok(json!(offset(self.sdkappid as i64)?)),
            ("run", "") => no_ops(ops, expr).map(|()| json!(self.run)),
            ("restricted_word", "") => match &self.restricted_word {
                Some(w) => no_ops(ops, expr).map(|()| json!(w)),
                None => err("${restricted_word} needs --restricted-word"),
            },
            ("user", name) if valid_name(name) => {
                no_ops(ops, expr)?;
                Ok(json!(self.user(name)))
            }
            (alias, field) if valid_name(alias) => self.group_field(alias, field, ops, expr),
            _ => err(format!("unknown placeholder ${{{expr}}}")),
        }
    }

    fn group_field(
        &mut self,
        alias: &str,
        field: &str,
        ops: &str,
        expr: &str,
    ) -> Result<Value, TemplateError> {
        match field {
            "" | "id" => {
                no_ops(ops, expr)?;
                Ok(json!(self.group(alias).id))
            }
            "create" => {
                let Some(c) = self.group(alias).create else {
                    return err(format!(
                        "${{{expr}}}: group {alias:?} has no known CreateTime"
                    ));
                };
                let v = apply_ops(c, ops, expr)?;
                self.anchor(v, &format!("{alias}.create"), v - c);
                Ok(json!(v))
            }
            "next" => Ok(json!(apply_ops(
                self.ledger.next_seq(alias) as i64,
                ops,
                expr
            )?)),
            "last_time" => {
                let Some(t) = self.ledger.last_time(alias) else {
                    return err(format!("${{{expr}}}: group {alias:?} has no messages yet"));
                };
                let v = apply_ops(t, ops, expr)?;
                if let Some((base, off)) = self.anchors.get(&t).cloned() {
                    self.anchor(v, &base, off + (v - t));
                }
                Ok(json!(v))
            }
            other => err(format!("unknown group field {other:?} in ${{{expr}}}")),
        }
    }

    fn int(&mut self, v: Option<&Value>, what: &str) -> Result<Option<i64>, TemplateError> {
        match v {
            None => Ok(None),
            Some(v) => match self.expand(v)? {
                Value::Number(n) if n.is_i64() => Ok(n.as_i64()),
                other => err(format!("{what} must be an integer, not {other}")),
            },
        }
    }

    /// `$messages`: a MsgList of text messages (conf-spec.md).
    fn messages(&mut self, spec: &Value) -> Result<Value, TemplateError> {
        let Some(o) = spec.as_object() else {
            return err("$messages takes a table");
        };
        for k in o.keys() {
            if !["count", "start", "step", "from", "text", "random", "bytes"].contains(&k.as_str())
            {
                return err(format!("unknown $messages key {k:?}"));
            }
        }
        let count = self
            .int(o.get("count"), "$messages.count")?
            .ok_or_else(|| TemplateError("$messages needs count".into()))?;
        let start = self
            .int(o.get("start"), "$messages.start")?
            .ok_or_else(|| TemplateError("$messages needs start".into()))?;
        let step = self.int(o.get("step"), "$messages.step")?.unwrap_or(1);
        let bytes = self.int(o.get("bytes"), "$messages.bytes")?;
        let from = match o.get("from") {
            Some(f) => match self.expand(f)? {
                Value::String(s) => s,
                other => return err(format!("$messages.from must be a string, not {other}")),
            },
            None => self.user("a"),
        };
        let text = o
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("m{i}")
            .to_owned();
        let random = match o.get("random").and_then(Value::as_str).unwrap_or("auto") {
            "auto" => true,
            "none" => false,
            other => {
                return err(format!(
                    "$messages.random must be auto or none, not {other:?}"
                ))
            }
        };
        let start_anchor = self.anchors.get(&start).cloned();
        let mut list = Vec::new();
        for i in 0..count.max(0) {
            let t = start + i * step;
            if let Some((base, off)) = &start_anchor {
                self.anchor(t, base, off + i * step);
            }
            let mut body_text = text.replace("{i}", &i.to_string());
            if let Some(n) = bytes {
                body_text = pad_to(&body_text, n)?;
            }
            let mut m = JsonMap::new();
            m.insert("From_Account".into(), json!(from));
            m.insert("SendTime".into(), json!(t));
            if random {
                m.insert("Random".into(), json!(self.derived_random()));
            }
            m.insert("MsgBody".into(), text_body(&body_text));
            list.push(Value::Object(m));
        }
        Ok(Value::Array(list))
    }

    /// A `Random` derived from (case, index): deterministic, so transcripts repeat exactly.
    fn derived_random(&mut self) -> u32 {
        let i = self.generated;
        self.generated += 1;
        (fnv1a(format!("{}#{i}", self.case_id).as_bytes()) % u64::from(u32::MAX)) as u32
    }

    /// `$text`: a string of `bytes` ASCII bytes.
    fn text(&mut self, spec: &Value) -> Result<Value, TemplateError> {
        let Some(o) = spec.as_object() else {
            return err("$text takes a table");
        };
        if o.keys().any(|k| k != "bytes") {
            return err("$text takes only bytes");
        }
        let n = self.int(o.get("bytes"), "$text.bytes")?.unwrap_or(0);
        Ok(json!(filler(n.max(0) as usize)))
    }
}

/// A text message body: one `TIMTextElem`.
pub fn text_body(text: &str) -> Value {
    json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }])
}

/// Pads `text` so the compact JSON of its text body is exactly `bytes` bytes (digest §7 Q8 reading).
fn pad_to(text: &str, bytes: i64) -> Result<String, TemplateError> {
    let base = text_body(text).to_string().len() as i64;
    if base > bytes {
        return err(format!(
            "$messages.bytes {bytes} is below the body's own size {base}"
        ));
    }
    Ok(format!("{text}{}", filler((bytes - base) as usize)))
}

fn filler(n: usize) -> String {
    "abcdefghijklmnopqrstuvwxyz"
        .chars()
        .cycle()
        .take(n)
        .collect()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn no_ops(ops: &str, expr: &str) -> Result<(), TemplateError> {
    if ops.is_empty() {
        Ok(())
    } else {
        err(format!("${{{expr}}} takes no arithmetic"))
    }
}

/// Applies `+N`, `-N`, `*N` operators left to right.
fn apply_ops(mut v: i64, ops: &str, expr: &str) -> Result<i64, TemplateError> {
    let mut rest = ops;
    while let Some(op) = rest.chars().next() {
        let digits: String = rest[1..].chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse::<i64>() else {
            return err(format!("bad arithmetic in ${{{expr}}}"));
        };
        v = match op {
            '+' => v + n,
            '-' => v - n,
            '*' => v * n,
            _ => return err(format!("bad operator {op:?} in ${{{expr}}}")),
        };
        rest = &rest[1 + digits.len()..];
    }
    Ok(v)
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Six base-36 characters of a string's hash.
pub(crate) fn short_hash(s: &str) -> String {
    base36(fnv1a(s.as_bytes()), 6)
}

/// The last `len` base-36 digits of `n`.
pub(crate) fn base36(mut n: u64, len: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tim_model::Edition;

    fn vars() -> Vars {
        let mut v = Vars::new(
            "abc123",
            "igm-x",
            1_700_000_000,
            Edition::Seed.limits(),
            "admin",
            1400000000,
        );
        v.group("g");
        v.groups.get_mut("g").unwrap().create = Some(1_699_900_000);
        v
    }

    #[test]
    fn typed_and_interpolated() {
        let mut v = vars();
        assert_eq!(
            v.expand(&json!("${now-3600}")).unwrap(),
            json!(1_699_996_400)
        );
        assert_eq!(v.expand(&json!("${limit.batch+1}")).unwrap(), json!(21));
        assert_eq!(v.expand(&json!("${limit.rate*2}")).unwrap(), json!(200));
        assert_eq!(
            v.expand(&json!("${g}")).unwrap(),
            json!(v.group_id_for("g"))
        );
        assert_eq!(v.expand(&json!("${g.next}")).unwrap(), json!(1));
        assert_eq!(
            v.expand(&json!("id=${g}!")).unwrap(),
            json!(format!("id={}!", v.group_id_for("g")))
        );
        assert_eq!(v.anchor_label(1_699_996_400).as_deref(), Some("now-3600"));
        assert!(v.expand(&json!("${nope.x}")).is_err());
        assert!(v.expand(&json!("${limit.nope}")).is_err());
        assert!(v.expand(&json!("${h.create}")).is_err());
    }

    #[test]
    fn now_after_a_wait_is_the_new_clock_and_both_are_near_now() {
        let mut v = vars();
        v.rebase_now(1_700_000_003);
        assert_eq!(v.expand(&json!("${now-1}")).unwrap(), json!(1_700_000_002));
        assert!(v.near_now(1_699_999_999, 2, 5) && v.near_now(1_700_000_008, 2, 5));
        assert!(!v.near_now(1_699_999_997, 2, 5) && !v.near_now(1_700_000_009, 2, 5));
    }

    #[test]
    fn messages_and_text() {
        let mut v = vars();
        let list = v
            .expand(&json!({"$messages": {"count": 3, "start": "${g.create+60}", "bytes": 100}}))
            .unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[2]["SendTime"], json!(1_699_900_062));
        assert_eq!(list[0]["MsgBody"].to_string().len(), 100);
        assert_ne!(list[0]["Random"], list[1]["Random"]);
        assert_eq!(
            v.anchor_label(1_699_900_062).as_deref(),
            Some("g.create+62")
        );
        assert_eq!(
            v.expand(&json!({"$text": {"bytes": 5}})).unwrap(),
            json!("abcde")
        );
        assert!(v.group_id_for("g").len() <= 48);
    }
}
