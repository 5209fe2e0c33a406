//! Redaction of transcripts: deterministic and identity-keeping (conf-spec.md). Group IDs become
//! `[group:g]` (or `[group#1]` when the target chose them), run-derived accounts `[user:a]`, times
//! the anchor that produced them (`[now-3600]`, `[g.create+60]`) or `[time]`, usersigs
//! `[usersig]`, `RequestId` `[request-id]`, server-generated `MsgRandom` `[random#1]`. The same
//! run twice gives the same transcript.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use tim_model::envelope::query;

use crate::report::{Exchange, ExchangeKind};
use crate::target::{Body, Reply, Request};
use crate::template::Vars;

/// Keys whose integer values are Unix times.
const TIME_KEYS: &[&str] = &[
    "SendTime",
    "MsgTime",
    "CreateTime",
    "JoinTime",
    "MsgTimeStamp",
    "LastMsgTime",
    "LastInfoTime",
    "LastSendMsgTime",
    "ShutUpUntil",
];

/// Per-case redaction state (numbering of server-generated values).
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    randoms: BTreeMap<i64, usize>,
    secrets: BTreeSet<String>,
}

impl Redactor {
    /// Remembers a secret (a usersig) that must never appear in output.
    pub fn hide(&mut self, secret: &str) {
        if secret.len() >= 8 {
            self.secrets.insert(secret.to_owned());
        }
    }

    /// The redacted exchange of `req` and `reply`.
    pub fn exchange(
        &mut self,
        vars: &Vars,
        kind: ExchangeKind,
        req: &Request,
        reply: &Reply,
    ) -> Exchange {
        let query = self.query(vars, &req.query);
        let path = if query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{query}", req.path)
        };
        let (body, body_text) = match &req.body {
            Body::Json(v) => {
                let v = self.value(vars, v, None);
                let text = v.to_string();
                (v, text)
            }
            Body::Raw(s) => {
                let s = self.text(vars, s);
                (Value::String(s.clone()), s)
            }
        };
        let response = self.value(vars, &reply.body, None);
        let curl_query = path
            .replace(
                &format!("{}=[usersig]", query::USERSIG),
                &format!("{}=$TIM_USERSIG", query::USERSIG),
            )
            .replace(
                &format!("{}=[random]", query::RANDOM),
                &format!("{}=$RANDOM", query::RANDOM),
            );
        let curl = format!(
            "curl -sS -X {} \"$TIM_TARGET{}\" -H 'content-type: application/json' --data-raw {}",
            req.method,
            curl_query.replace('"', "%22"),
            shell_quote(&body_text)
        );
        Exchange {
            kind,
            method: req.method.clone(),
            path,
            body,
            http: reply.http,
            response,
            curl,
            reading: None,
        }
    }

    /// The redacted query string.
    pub fn query(&mut self, vars: &Vars, q: &[(String, String)]) -> String {
        q.iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    query::USERSIG if !v.is_empty() => "[usersig]".to_owned(),
                    query::RANDOM if v.parse::<u64>().is_ok() => "[random]".to_owned(),
                    _ => self.names(vars, v),
                };
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Redacts a JSON value; `key` is the object key it sits under.
    pub fn value(&mut self, vars: &Vars, v: &Value, key: Option<&str>) -> Value {
        match v {
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    out.insert(k.clone(), self.value(vars, x, Some(k)));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(vars, x, key)).collect()),
            Value::String(s) => match key {
                Some("RequestId") => Value::String("[request-id]".into()),
                _ => Value::String(self.text(vars, s)),
            },
            Value::Number(n) => match (key, n.as_i64()) {
                (Some(k), Some(t)) if TIME_KEYS.contains(&k) && t != 0 => {
                    Value::String(time_label(vars, t))
                }
                (Some("MsgRandom"), Some(r)) if !sent_random(vars, r) => {
                    let next = self.randoms.len() + 1;
                    let n = *self.randoms.entry(r).or_insert(next);
                    Value::String(format!("[random#{n}]"))
                }
                (_, Some(n)) if sdkappid_label(vars, n).is_some() => {
                    Value::String(sdkappid_label(vars, n).unwrap_or_default().into())
                }
                _ => v.clone(),
            },
            other => other.clone(),
        }
    }

    /// Redacts a text: secrets, group IDs, accounts and ten-digit times inside it.
    pub fn text(&mut self, vars: &Vars, s: &str) -> String {
        redact_times_in_text(vars, &self.names(vars, s))
    }

    /// Redacts secrets, group IDs and accounts inside a text.
    fn names(&self, vars: &Vars, s: &str) -> String {
        let mut out = s.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[usersig]");
            }
        }
        let mut names: Vec<(String, String)> = Vec::new();
        let mut server = 0;
        for (alias, g) in &vars.groups {
            let label = if g.server_assigned {
                server += 1;
                format!("[group#{server}]")
            } else {
                format!("[group:{alias}]")
            };
            names.push((g.id.clone(), label));
        }
        for (name, acct) in &vars.users {
            names.push((acct.clone(), format!("[user:{name}]")));
        }
        names.sort_by_key(|(id, _)| std::cmp::Reverse(id.len()));
        for (id, label) in names {
            if !id.is_empty() && out.contains(id.as_str()) {
                out = out.replace(id.as_str(), &label);
            }
        }
        out
    }
}

/// SDKAppIDs this short are left alone: redacting them would hide ordinary small numbers.
const SDKAPPID_MIN: u64 = 100_000;

/// `[sdkappid]` for the target's SDKAppID, `[sdkappid+1]` for the one foreign-app UserSigs and
/// unknown-app requests use (so a target with another SDKAppID shows the same transcript).
fn sdkappid_label(vars: &Vars, n: i64) -> Option<&'static str> {
    let app = vars.sdkappid;
    if app < SDKAPPID_MIN || n <= 0 {
        return None;
    }
    match n as u64 {
        x if x == app => Some("[sdkappid]"),
        x if x == app + 1 => Some("[sdkappid+1]"),
        _ => None,
    }
}

fn sent_random(vars: &Vars, r: i64) -> bool {
    vars.sent_randoms.contains(&r)
}

/// Times this close to the case start or a later `now` (after a `wait_ms` step; seconds before,
/// after) are all `[now~]`: a time the
/// target chose (a default `CreateTime`) may fall on either side of a second boundary, and
/// must not take the label of an anchor by chance.
const NOW_WINDOW: (i64, i64) = (2, 5);

/// `[now~]` near the case start, else `[anchor]` for a time the case produced, else `[time]`.
fn time_label(vars: &Vars, t: i64) -> String {
    if vars.near_now(t, NOW_WINDOW.0, NOW_WINDOW.1) {
        return "[now~]".to_owned();
    }
    match vars.anchor_label(t) {
        Some(l) => format!("[{l}]"),
        None => "[time]".to_owned(),
    }
}

/// How far from the case's `now` a ten-digit number inside a text is taken for a time: three years.
const TEXT_TIME_SPAN: i64 = 3 * 365 * 86_400;

/// Replaces every run of digits that is the SDKAppID (or SDKAppID + 1) with `[sdkappid]`
/// (`[sdkappid+1]`), and every run of exactly ten digits that is an anchor, or a Unix time within
/// [`TEXT_TIME_SPAN`] of now, with its label (other numbers stay).
fn redact_times_in_text(vars: &Vars, s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let run = &s[start..i];
            if let Some(label) = run
                .parse::<i64>()
                .ok()
                .and_then(|n| sdkappid_label(vars, n))
            {
                out.push_str(label);
                continue;
            }
            match (run.len(), run.parse::<i64>()) {
                (10, Ok(t))
                    if vars.anchor_label(t).is_some() || (t - vars.now).abs() < TEXT_TIME_SPAN =>
                {
                    out.push_str(&time_label(vars, t))
                }
                _ => out.push_str(run),
            }
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tim_model::Edition;

    #[test]
    fn identity_keeping() {
        let mut vars = Vars::new(
            "r00001",
            "c",
            1_700_000_000,
            Edition::Seed.limits(),
            "admin",
            1,
        );
        let g = vars.expand(&json!("${g}")).unwrap();
        let t = vars.expand(&json!("${now-60}")).unwrap();
        let near = vars.expand(&json!("${now+1}")).unwrap();
        let u = vars.expand(&json!("${user.a}")).unwrap();
        let mut r = Redactor::default();
        let v = json!({"GroupId": g, "SendTime": t, "From_Account": u, "MsgTime": 1_600_000_000,
            "RequestId": "x", "MsgRandom": 7, "CreateTime": near, "JoinTime": 1_700_000_000, "ErrorInfo": format!("group {} at 1699999940", g.as_str().unwrap())});
        let red = r.value(&vars, &v, None);
        let mut app = Vars::new(
            "r00001",
            "c",
            1_700_000_000,
            Edition::Seed.limits(),
            "a",
            1_700_000_001,
        );
        let info = json!({"ErrorInfo": "expected 1700000001, found 1700000002; sdkappid=1700000001&x=1", "Appid": 1_700_000_002u64, "MsgSeq": 1});
        assert_eq!(
            r.value(&app, &info, None),
            json!({"ErrorInfo": "expected [sdkappid], found [sdkappid+1]; sdkappid=[sdkappid]&x=1", "Appid": "[sdkappid+1]", "MsgSeq": 1})
        );
        app.sdkappid = 1;
        assert_eq!(
            r.value(&app, &json!({"MsgSeq": 1, "N": 2}), None),
            json!({"MsgSeq": 1, "N": 2})
        );
        assert_eq!(
            red,
            json!({"GroupId": "[group:g]", "SendTime": "[now-60]", "From_Account": "[user:a]",
                "MsgTime": "[time]", "RequestId": "[request-id]", "CreateTime": "[now~]", "JoinTime": "[now~]", "MsgRandom": "[random#1]",
                "ErrorInfo": "group [group:g] at [now-60]"})
        );
    }
}
