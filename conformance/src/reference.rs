//! Comparison with the reference server's snapshots (`tests/snapshots/<edition>__<case>.snap`):
//! where a passing case's responses differ from the reference in a field the reference has, the
//! report carries a **note** (strength info, like Autobahn's INFORMATIONAL), never a verdict: the
//! reference transcript is one conformant answer, not the contract. NON-STRICT comes only from
//! should clauses. Free text (`ErrorInfo`) and `RequestId` are never compared, extra fields and
//! key order are ignored, and lists whose order the documents do not fix are compared as sets
//! (only `ImportMsgResult`, one result per message in order, and `RspMsgList`, newest first, are
//! ordered).

use std::path::Path;

use serde_json::{json, Value};
use tim_model::Edition;

use crate::clause::Strength;
use crate::report::{CaseReport, ExchangeKind};
use crate::verdict::Failure;

/// The pseudo-clause of reference differences.
pub const CLAUSE: &str = "REFERENCE-SNAPSHOT";

/// The snapshot view of a case: its verdict, reading and transcript without curl lines.
pub fn snapshot_view(c: &CaseReport) -> Value {
    let transcript: Vec<Value> = c
        .transcript
        .iter()
        .map(|x| {
            let mut v = json!({
                "kind": x.kind,
                "request": format!("{} {}", x.method, x.path),
                "body": x.body,
                "http": x.http,
                "response": x.response,
            });
            if let Some(r) = &x.reading {
                v["reading"] = json!(r);
            }
            v
        })
        .collect();
    json!({ "id": c.id, "verdict": c.verdict, "reading": c.reading, "transcript": transcript })
}

/// The snapshot name of a case in an edition: `<edition>__<case-id>`.
pub fn snapshot_name(edition: Edition, case_id: &str) -> String {
    format!("{edition}__{case_id}")
}

/// Reads the snapshot view of `case_id` from `dir` (`None` when absent or unreadable).
pub fn load(dir: &Path, edition: Edition, case_id: &str) -> Option<Value> {
    let text =
        std::fs::read_to_string(dir.join(format!("{}.snap", snapshot_name(edition, case_id))))
            .ok()?;
    // An insta snapshot: a `---` header block, then the JSON content.
    let body = text.strip_prefix("---\n")?.split_once("\n---\n")?.1;
    serde_json::from_str(body).ok()
}

/// Fields never compared: free text the documents do not fix, and per-request IDs.
const NOT_COMPARED: [&str; 2] = ["ErrorInfo", "RequestId"];

/// Lists whose order the documents fix.
const ORDERED: [&str; 2] = ["ImportMsgResult", "RspMsgList"];

/// The differences between a case's responses and the reference's, as info-level notes.
///
/// From the first step whose response matched another documented reading than the reference's
/// (`[[step.reading]]`), the case's exchanges are not compared: the target chose another reading
/// the documents allow, and what follows may differ as a consequence (the report names it).
pub fn compare(reference: &Value, case: &CaseReport) -> Vec<Failure> {
    let mut out = Vec::new();
    let empty = Vec::new();
    let refs = reference
        .get("transcript")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let diverged = refs
        .iter()
        .zip(&case.transcript)
        .position(|(r, x)| r.get("reading").and_then(Value::as_str) != x.reading.as_deref());
    let refs = &refs[..diverged.unwrap_or(refs.len())];
    if diverged.is_none() && refs.len() != case.transcript.len() {
        out.push(Failure {
            clause: CLAUSE.into(),
            strength: Strength::Info,
            at: "transcript".into(),
            message: format!(
                "{} exchanges, the reference server had {}",
                case.transcript.len(),
                refs.len()
            ),
            expected: Some(json!(refs.len())),
            actual: Some(json!(case.transcript.len())),
        });
    }
    for (i, (r, x)) in refs.iter().zip(&case.transcript).enumerate() {
        if x.kind == ExchangeKind::Burst {
            // The runner's tally of a burst: which codes show up depends on timing and on
            // choices the documents allow (e.g. strict time order refuses some copies).
            continue;
        }
        let mut diffs = Vec::new();
        if let Some(h) = r.get("http") {
            diff(h, Some(&json!(x.http)), "http", &mut diffs);
        }
        if let Some(resp) = r.get("response") {
            diff(resp, Some(&x.response), "", &mut diffs);
        }
        for (path, expected, actual) in diffs {
            out.push(Failure {
                clause: CLAUSE.into(),
                strength: Strength::Info,
                at: format!("exchange #{i}"),
                message: format!("{path} differs from the reference server"),
                expected: Some(expected),
                actual,
            });
        }
    }
    out
}

fn diff(
    reference: &Value,
    actual: Option<&Value>,
    path: &str,
    out: &mut Vec<(String, Value, Option<Value>)>,
) {
    match (reference, actual) {
        (Value::Object(r), Some(Value::Object(a))) => {
            for (k, v) in r
                .iter()
                .filter(|(k, _)| !NOT_COMPARED.contains(&k.as_str()))
            {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff(v, a.get(k), &p, out);
            }
        }
        (Value::Array(r), Some(Value::Array(a)))
            if r.len() == a.len()
                && !ORDERED.iter().any(|o| path.ends_with(o))
                && same_set(r, a) => {}
        (Value::Array(r), Some(Value::Array(a))) if r.len() == a.len() => {
            for (i, (x, y)) in r.iter().zip(a).enumerate() {
                diff(x, Some(y), &format!("{path}[{i}]"), out);
            }
        }
        (r, a) if a != Some(r) => out.push((
            if path.is_empty() {
                "response".into()
            } else {
                path.to_owned()
            },
            r.clone(),
            a.cloned(),
        )),
        _ => {}
    }
}

/// Whether `a` holds the elements of `r` in some order (each matched once), compared as `diff`
/// compares them (fields of `r` only, free text ignored).
fn same_set(r: &[Value], a: &[Value]) -> bool {
    let mut used = vec![false; a.len()];
    r.iter().all(|x| {
        let hit = a.iter().enumerate().position(|(j, y)| {
            let mut d = Vec::new();
            diff(x, Some(y), "", &mut d);
            !used[j] && d.is_empty()
        });
        hit.map(|j| used[j] = true).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Exchange;
    use crate::verdict::Verdict;

    fn case(response: Value) -> CaseReport {
        CaseReport {
            id: "c".into(),
            title: String::new(),
            clauses: Vec::new(),
            verdict: Verdict::Pass,
            reading: None,
            note: None,
            failures: Vec::new(),
            duration: 0.0,
            transcript: vec![Exchange {
                kind: ExchangeKind::Step,
                method: "POST".into(),
                path: "/p".into(),
                body: json!({}),
                http: 200,
                response,
                curl: String::new(),
                reading: None,
            }],
        }
    }

    #[test]
    fn fields_the_reference_has_count_extra_fields_and_request_id_do_not() {
        let reference = snapshot_view(&case(
            json!({"ActionStatus": "FAIL", "ErrorCode": 10004, "ErrorInfo": "MsgList too long", "RequestId": "[request-id]"}),
        ));
        let same = case(
            json!({"ErrorInfo": "MsgList too long", "ErrorCode": 10004, "ActionStatus": "FAIL", "Extra": 1}),
        );
        assert!(compare(&reference, &same).is_empty());
        // Free text is never compared.
        let worded =
            case(json!({"ActionStatus": "FAIL", "ErrorCode": 10004, "ErrorInfo": "too many"}));
        assert!(compare(&reference, &worded).is_empty());
        // Another code is a note, not a verdict.
        let other = case(json!({"ActionStatus": "FAIL", "ErrorCode": 10015}));
        let d = compare(&reference, &other);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].strength, Strength::Info);
        assert!(d[0].message.starts_with("ErrorCode"));
        assert_eq!(Verdict::from_failures(&d), Verdict::Pass);
    }

    #[test]
    fn unordered_lists_compare_as_sets_ordered_ones_in_order() {
        let members = |a: &str, b: &str| json!({"ErrorCode": 0, "MemberList": [{"Member_Account": a, "Result": 1}, {"Member_Account": b, "Result": 1}]});
        let reference = snapshot_view(&case(members("x", "y")));
        assert!(compare(&reference, &case(members("y", "x"))).is_empty());
        assert_eq!(compare(&reference, &case(members("y", "z"))).len(), 2);
        let results = |a: u64, b: u64| json!({"ErrorCode": 0, "ImportMsgResult": [{"Result": 0, "MsgSeq": a}, {"Result": 0, "MsgSeq": b}]});
        let reference = snapshot_view(&case(results(1, 2)));
        assert_eq!(compare(&reference, &case(results(2, 1))).len(), 2);
    }

    #[test]
    fn from_a_step_with_another_reading_on_nothing_is_compared() {
        let mut r = case(json!({"ActionStatus": "FAIL", "ErrorCode": 10004}));
        r.transcript[0].reading = Some("request-level".into());
        r.transcript.push(r.transcript[0].clone());
        let reference = snapshot_view(&r);
        let mut other = case(json!({"ActionStatus": "OK", "ErrorCode": 0}));
        other.transcript[0].reading = Some("per-message".into());
        assert!(compare(&reference, &other).is_empty());
        other.transcript[0].reading = Some("request-level".into());
        assert_eq!(compare(&reference, &other).len(), 3);
    }
}
