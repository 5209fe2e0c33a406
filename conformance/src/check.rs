//! Checks: expectations (`expect`, `should`, readings), the automatic invariants of every
//! response and every `import_group_msg` answer, and the comparisons behind `readback` and
//! `group_info`. Pure functions over JSON; the HTTP side is in `run.rs`.

use serde_json::{json, Value};

use crate::case::{Expectation, RESULTS_FIELD};
use crate::clause::{auto, Strength};
use crate::ledger::{Ledger, LedgerEntry};
use crate::target::Reply;
use crate::verdict::Failure;

/// A mismatch found while comparing an expected value with an actual one.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// JSON path of the mismatch.
    pub path: String,
    /// What was expected there.
    pub expected: Value,
    /// What was there (`None`: absent).
    pub actual: Option<Value>,
}

impl Mismatch {
    fn describe(&self) -> String {
        match &self.actual {
            Some(a) => format!("{}: expected {}, got {a}", self.path, self.expected),
            None => format!("{}: expected {}, absent", self.path, self.expected),
        }
    }
}

/// Compares `expected` with `actual`: objects as subsets (extra fields and key order ignored),
/// arrays element-wise with the same length, numbers numerically, and a list against a scalar
/// as "any of".
pub fn match_value(expected: &Value, actual: Option<&Value>, path: &str, out: &mut Vec<Mismatch>) {
    let miss = |out: &mut Vec<Mismatch>| {
        out.push(Mismatch {
            path: path.to_owned(),
            expected: expected.clone(),
            actual: actual.cloned(),
        })
    };
    let Some(actual) = actual else {
        return miss(out);
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(_)) => {
            for (k, x) in e {
                match_value(x, actual.get(k), &join(path, k), out);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return miss(out);
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                match_value(x, Some(y), &format!("{path}[{i}]"), out);
            }
        }
        (Value::Array(e), scalar) => {
            if !e.iter().any(|x| scalar_eq(x, scalar)) {
                miss(out)
            }
        }
        (e, a) => {
            if !scalar_eq(e, a) {
                miss(out)
            }
        }
    }
}

fn scalar_eq(e: &Value, a: &Value) -> bool {
    match (e, a) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => e == a,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The mismatches of a response against an expectation (`stored` is judged by the caller).
pub fn expectation_mismatches(exp: &Expectation, reply: &Reply) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(h) = exp.http {
        if h != reply.http {
            out.push(Mismatch {
                path: "http".into(),
                expected: json!(h),
                actual: Some(json!(reply.http)),
            });
        }
    }
    for (k, v) in &exp.fields {
        match_value(v, reply.body.get(k), k, &mut out);
    }
    if let Some(sub) = &exp.error_info_contains {
        let info = reply.body.get("ErrorInfo").and_then(Value::as_str);
        if !info.is_some_and(|i| i.contains(sub.as_str())) {
            out.push(Mismatch {
                path: "ErrorInfo".into(),
                expected: json!(format!("… {sub} …")),
                actual: reply.body.get("ErrorInfo").cloned(),
            });
        }
    }
    out
}

/// Turns mismatches into failures of `clause` at `strength`.
pub fn failures(
    mismatches: &[Mismatch],
    clause: &str,
    strength: Strength,
    at: &str,
) -> Vec<Failure> {
    mismatches
        .iter()
        .map(|m| Failure {
            clause: clause.to_owned(),
            strength,
            at: at.to_owned(),
            message: m.describe(),
            expected: Some(m.expected.clone()),
            actual: m.actual.clone(),
        })
        .collect()
}

fn failure(
    clause: &str,
    at: &str,
    message: String,
    expected: Option<Value>,
    actual: Option<Value>,
) -> Failure {
    Failure {
        clause: clause.to_owned(),
        strength: Strength::Must,
        at: at.to_owned(),
        message,
        expected,
        actual,
    }
}

/// GW-HTTP-200 and GW-ENVELOPE on any response: HTTP 200 (unless the step expects another
/// status), a JSON object with `ActionStatus` OK|FAIL and an integer `ErrorCode`, OK iff 0.
pub fn envelope(reply: &Reply, expected_http: u16, at: &str) -> Vec<Failure> {
    let mut out = Vec::new();
    if expected_http == 200 && reply.http != 200 {
        out.push(failure(
            auto::HTTP_200,
            at,
            format!("HTTP status {} instead of 200", reply.http),
            Some(json!(200)),
            Some(json!(reply.http)),
        ));
    }
    if expected_http != 200 {
        return out;
    }
    let status = reply.body.get("ActionStatus").and_then(Value::as_str);
    let code = reply.body.get("ErrorCode").and_then(Value::as_i64);
    let problem = if !reply.is_json || !reply.body.is_object() {
        Some("the body is not a JSON object".to_owned())
    } else {
        match (status, code) {
            (Some("OK"), Some(0)) | (Some("FAIL"), Some(1..)) => None,
            (Some(s), Some(c)) if s == "OK" || s == "FAIL" => Some(format!(
                "ActionStatus {s} does not agree with ErrorCode {c}"
            )),
            (Some(s), _) if s != "OK" && s != "FAIL" => {
                Some(format!("ActionStatus {s:?} is neither OK nor FAIL"))
            }
            (None, _) => Some("ActionStatus is missing".to_owned()),
            _ => Some("ErrorCode is missing or not an integer".to_owned()),
        }
    };
    if let Some(p) = problem {
        out.push(failure(
            auto::ENVELOPE,
            at,
            p,
            None,
            Some(reply.body.clone()),
        ));
    }
    out
}

/// Whether a reply is an OK envelope.
pub fn is_ok(reply: &Reply) -> bool {
    reply.body.get("ErrorCode").and_then(Value::as_i64) == Some(0)
}

/// The `ImportMsgResult` entries of a reply (empty when absent).
pub fn import_results(reply: &Reply) -> Vec<Value> {
    reply
        .body
        .get(RESULTS_FIELD)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// IGM-RESP-ONE-PER-MSG: a failure unless `results` entries answer `sent` messages.
pub fn one_per_msg(sent: usize, results: usize, at: &str) -> Option<Failure> {
    (sent != results).then(|| {
        failure(
            auto::ONE_PER_MSG,
            at,
            format!("{sent} messages sent, {results} ImportMsgResult entries"),
            Some(json!(sent)),
            Some(json!(results)),
        )
    })
}

/// The automatic invariants of an OK `import_group_msg` answer to `msgs` (conf-spec.md,
/// "Ledger and automatic invariants"); new messages are recorded in `ledger` under `alias`.
pub fn import_invariants(
    msgs: &[Value],
    reply: &Reply,
    alias: &str,
    ledger: &mut Ledger,
    at: &str,
) -> Vec<Failure> {
    let mut out = Vec::new();
    let results = import_results(reply);
    if let Some(f) = one_per_msg(msgs.len(), results.len(), at) {
        out.push(f);
        return out;
    }
    for (i, (m, r)) in msgs.iter().zip(&results).enumerate() {
        if r.get("Result").and_then(Value::as_i64) != Some(0) {
            continue;
        }
        // A repeated `Random` (of an earlier message of the group or of this batch) is a
        // duplicate: answering it `Result 0` without a `MsgSeq` (or with 0) is open (digest Q6);
        // whether it was stored is judged by `stored` and the read-back, not here.
        let random = m.get("Random").and_then(Value::as_i64);
        let repeated = random.is_some()
            && (ledger.entries(alias).iter().any(|e| e.random == random)
                || msgs[..i]
                    .iter()
                    .any(|x| x.get("Random").and_then(Value::as_i64) == random));
        let seq = r.get("MsgSeq").and_then(Value::as_u64);
        if repeated && seq.is_none_or(|s| s == 0) {
            continue;
        }
        let Some(seq) = seq else {
            out.push(failure(
                auto::SEQ_CONTIGUOUS,
                at,
                format!("ImportMsgResult[{i}].MsgSeq is missing"),
                None,
                Some(r.clone()),
            ));
            continue;
        };
        if let Some(original) = ledger.entry(alias, seq) {
            // A duplicate (same supplied Random) is answered with the original's MsgSeq; any
            // other message that gets an existing MsgSeq was numbered twice.
            let random = m.get("Random").and_then(Value::as_i64);
            if random.is_none() || random != original.random {
                out.push(failure(
                    auto::SEQ_CONTIGUOUS,
                    at,
                    format!(
                        "ImportMsgResult[{i}].MsgSeq {seq} was already given to another message"
                    ),
                    Some(json!(ledger.next_seq(alias))),
                    Some(json!(seq)),
                ));
            }
            continue;
        }
        let want = ledger.next_seq(alias);
        if seq != want {
            out.push(failure(
                auto::SEQ_CONTIGUOUS,
                at,
                format!("ImportMsgResult[{i}].MsgSeq is {seq}, expected {want} (previous + 1)"),
                Some(json!(want)),
                Some(json!(seq)),
            ));
        }
        let send_time = m
            .get("SendTime")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let msg_time = r.get("MsgTime").and_then(Value::as_i64);
        if msg_time != Some(send_time) {
            out.push(failure(
                auto::MSGTIME,
                at,
                format!("ImportMsgResult[{i}].MsgTime differs from the SendTime sent"),
                Some(json!(send_time)),
                r.get("MsgTime").cloned(),
            ));
        }
        ledger.record(
            alias,
            LedgerEntry {
                seq,
                from: m
                    .get("From_Account")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                send_time,
                random: m.get("Random").and_then(Value::as_i64),
                body: m.get("MsgBody").cloned().unwrap_or(Value::Null),
            },
        );
    }
    out
}

/// What the history pager does after reading a page.
#[derive(Debug, Clone, PartialEq)]
pub enum PageNext {
    /// The walk reached `MsgSeq` 1 or an empty page: stop.
    Done,
    /// Ask next for the messages at or below this `MsgSeq`.
    Next(u64),
    /// The page did not move back (it holds a message above the `ReqMsgSeq` asked for, e.g. a
    /// server that ignores `ReqMsgSeq` and always answers the newest page): stop, and fail the
    /// paging clause instead of reading the same page forever.
    Stuck(Failure),
}

/// The pager's next move after `page` (its `RspMsgList`), read with `ReqMsgSeq = asked`
/// (`None`: the first page, without `ReqMsgSeq`). Every `Next` is strictly below `asked`, so a
/// walk always ends.
pub fn next_page(asked: Option<u64>, page: &[Value], at: &str) -> PageNext {
    use tim_model::api::group_msg_get_simple::{HistoryWalk, PageStep};
    let seqs: Vec<u64> = page
        .iter()
        .filter_map(|m| m.get("MsgSeq").and_then(Value::as_u64))
        .collect();
    // The workspace's one pager ([`HistoryWalk`]), resumed at `asked`.
    let mut walk = HistoryWalk::resumed(asked, 0);
    match walk.advance(seqs.iter().copied()) {
        PageStep::Done => PageNext::Done,
        PageStep::Next => walk.req_msg_seq().map_or(PageNext::Done, PageNext::Next),
        PageStep::Stuck { asked, got } => PageNext::Stuck(failure(
            auto::PAGING,
            at,
            format!(
                "group_msg_get_simple with ReqMsgSeq {asked} answered MsgSeq {got}: the page did not move back, paging stopped"
            ),
            Some(json!(format!("MsgSeq <= {asked}"))),
            Some(json!(seqs)),
        )),
    }
}

/// READ-EQUALS-SENT: `history` (as read, newest first) against the ledger of `alias`;
/// `count` overrides the expected number of messages.
pub fn readback(
    history: &[Value],
    ledger: &Ledger,
    alias: &str,
    count: Option<usize>,
    at: &str,
) -> Vec<Failure> {
    let clause = auto::READ_EQUALS_SENT;
    let mut out = Vec::new();
    let seqs: Vec<Option<u64>> = history
        .iter()
        .map(|m| m.get("MsgSeq").and_then(Value::as_u64))
        .collect();
    if seqs
        .windows(2)
        .any(|w| !matches!((w[0], w[1]), (Some(a), Some(b)) if a > b))
    {
        out.push(failure(
            clause,
            at,
            "read-back is not newest first by MsgSeq".into(),
            None,
            Some(json!(seqs)),
        ));
    }
    let entries = ledger.entries(alias);
    let want = count.unwrap_or(entries.len());
    if history.len() != want {
        out.push(failure(
            clause,
            at,
            format!(
                "read-back holds {} messages, expected {want}",
                history.len()
            ),
            Some(json!(entries.iter().map(|e| e.seq).collect::<Vec<_>>())),
            Some(json!(seqs)),
        ));
        if count.is_none() {
            return out;
        }
    }
    for m in history.iter().rev() {
        let seq = m.get("MsgSeq").and_then(Value::as_u64);
        let Some(e) = entries.iter().find(|e| Some(e.seq) == seq) else {
            if count.is_none() {
                out.push(failure(
                    clause,
                    at,
                    format!("read-back has MsgSeq {seq:?} that was never confirmed"),
                    None,
                    Some(m.clone()),
                ));
            }
            continue;
        };
        let mut mism = Vec::new();
        let p = format!("MsgSeq {}", e.seq);
        match_value(
            &json!(e.from),
            m.get("From_Account"),
            &format!("{p}.From_Account"),
            &mut mism,
        );
        match_value(
            &json!(e.send_time),
            m.get("MsgTimeStamp"),
            &format!("{p}.MsgTimeStamp"),
            &mut mism,
        );
        if m.get("MsgBody") != Some(&e.body) {
            mism.push(Mismatch {
                path: format!("{p}.MsgBody"),
                expected: e.body.clone(),
                actual: m.get("MsgBody").cloned(),
            });
        }
        if let Some(r) = e.random {
            match_value(
                &json!(r),
                m.get("MsgRandom"),
                &format!("{p}.MsgRandom"),
                &mut mism,
            );
        }
        out.extend(failures(&mism, clause, Strength::Must, at));
    }
    out
}

/// The mismatches of a `get_group_info` entry against a `group_info` expectation: group fields
/// as subsets, `members` matched by `Member_Account`.
pub fn group_info_mismatches(exp: &Expectation, group: &Value) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (k, v) in &exp.fields {
        match_value(v, group.get(k), k, &mut out);
    }
    if let Some(members) = &exp.members {
        let list = group
            .get("MemberList")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for m in members {
            let acct = m.get("Member_Account");
            let path = format!(
                "MemberList[{}]",
                acct.map(Value::to_string).unwrap_or_default()
            );
            let found = list.iter().find(|x| x.get("Member_Account") == acct);
            match_value(m, found, &path, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(v: Value) -> Reply {
        Reply {
            http: 200,
            body: v,
            is_json: true,
        }
    }

    #[test]
    fn subset_and_any_of() {
        let mut out = Vec::new();
        match_value(
            &json!({"a": 1, "b": [10004, 10007]}),
            Some(&json!({"a": 1.0, "b": 10007, "c": 3})),
            "",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        match_value(
            &json!([{"Result": 0}]),
            Some(&json!([{"Result": 0}, {"Result": 0}])),
            "r",
            &mut out,
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_duplicate_may_be_answered_without_a_msg_seq_but_a_new_message_may_not() {
        let msgs = vec![
            json!({"From_Account": "a", "SendTime": 10, "Random": 7, "MsgBody": []}),
            json!({"From_Account": "a", "SendTime": 10, "Random": 7, "MsgBody": []}),
            json!({"From_Account": "a", "SendTime": 11, "Random": 8, "MsgBody": []}),
        ];
        let mut ledger = Ledger::default();
        // The repeat of Random 7 in the batch: Result 0 with MsgSeq 0 (dropped, digest Q6).
        let dropped = reply(
            json!({"ActionStatus": "OK", "ErrorCode": 0, "ImportMsgResult": [
            {"Result": 0, "MsgSeq": 1, "MsgTime": 10},
            {"Result": 0, "MsgSeq": 0, "MsgTime": 10},
            {"Result": 0, "MsgSeq": 2, "MsgTime": 11}]}),
        );
        let f = import_invariants(&msgs, &dropped, "g", &mut ledger, "s");
        assert!(f.is_empty(), "{f:?}");
        // The same answer for a message whose Random is new is a numbering defect.
        let mut ledger = Ledger::default();
        let fresh = vec![msgs[0].clone(), msgs[2].clone()];
        let zero = reply(
            json!({"ActionStatus": "OK", "ErrorCode": 0, "ImportMsgResult": [
            {"Result": 0, "MsgSeq": 1, "MsgTime": 10},
            {"Result": 0, "MsgSeq": 0, "MsgTime": 11}]}),
        );
        let f = import_invariants(&fresh, &zero, "g", &mut ledger, "s");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].clause, auto::SEQ_CONTIGUOUS);
    }

    #[test]
    fn invariants_catch_gaps_and_times() {
        let msgs = vec![
            json!({"From_Account": "a", "SendTime": 10, "MsgBody": []}),
            json!({"From_Account": "a", "SendTime": 11, "MsgBody": []}),
        ];
        let mut ledger = Ledger::default();
        let ok = reply(
            json!({"ActionStatus": "OK", "ErrorCode": 0, "ImportMsgResult": [
            {"Result": 0, "MsgSeq": 1, "MsgTime": 10}, {"Result": 0, "MsgSeq": 2, "MsgTime": 11}]}),
        );
        assert!(import_invariants(&msgs, &ok, "g", &mut ledger, "s").is_empty());
        let gap = reply(
            json!({"ActionStatus": "OK", "ErrorCode": 0, "ImportMsgResult": [
            {"Result": 0, "MsgSeq": 4, "MsgTime": 10}, {"Result": 0, "MsgSeq": 5, "MsgTime": 12}]}),
        );
        let f = import_invariants(&msgs, &gap, "g", &mut ledger, "s");
        let clauses: Vec<_> = f.iter().map(|f| f.clause.as_str()).collect();
        assert_eq!(clauses, [auto::SEQ_CONTIGUOUS, auto::MSGTIME]);
        let reused = reply(
            json!({"ActionStatus": "OK", "ErrorCode": 0, "ImportMsgResult": [
            {"Result": 0, "MsgSeq": 1, "MsgTime": 10}, {"Result": 0, "MsgSeq": 6, "MsgTime": 11}]}),
        );
        let f = import_invariants(&msgs, &reused, "g", &mut ledger, "s");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("already given"));
        let mut dup = msgs[0].clone();
        dup["Random"] = json!(7);
        let mut ledger = Ledger::default();
        let one = |seq: u64| {
            reply(
                json!({"ActionStatus": "OK", "ErrorCode": 0, "ImportMsgResult": [
            {"Result": 0, "MsgSeq": seq, "MsgTime": 10}]}),
            )
        };
        assert!(
            import_invariants(std::slice::from_ref(&dup), &one(1), "g", &mut ledger, "s")
                .is_empty()
        );
        assert!(
            import_invariants(std::slice::from_ref(&dup), &one(1), "g", &mut ledger, "s")
                .is_empty()
        );
        assert_eq!(ledger.entries("g").len(), 1);
        assert!(!envelope(
            &reply(json!({"ActionStatus": "OK", "ErrorCode": 5})),
            200,
            "s"
        )
        .is_empty());
    }

    fn page(seqs: &[u64]) -> Vec<Value> {
        seqs.iter().map(|s| json!({ "MsgSeq": s })).collect()
    }

    #[test]
    fn the_pager_walks_back_to_one_and_stops_on_a_page_that_does_not_move_back() {
        // A well-behaved target: 45 messages, pages of 20.
        assert_eq!(
            next_page(None, &page(&(26..=45).rev().collect::<Vec<_>>()), "r"),
            PageNext::Next(25)
        );
        assert_eq!(
            next_page(Some(25), &page(&(6..=25).rev().collect::<Vec<_>>()), "r"),
            PageNext::Next(5)
        );
        assert_eq!(
            next_page(Some(5), &page(&[5, 4, 3, 2, 1]), "r"),
            PageNext::Done
        );
        assert_eq!(next_page(None, &[], "r"), PageNext::Done);
        assert_eq!(next_page(Some(7), &[json!({})], "r"), PageNext::Done);
        // A target that ignores ReqMsgSeq answers the newest page again: the pager stops and
        // fails the paging clause at must level instead of asking forever.
        let newest = page(&(26..=45).rev().collect::<Vec<_>>());
        match next_page(Some(25), &newest, "step[1] readback") {
            PageNext::Stuck(f) => {
                assert_eq!(f.clause, auto::PAGING);
                assert_eq!(f.strength, Strength::Must);
                assert_eq!(f.at, "step[1] readback");
                assert!(f.message.contains("did not move back"), "{}", f.message);
            }
            other => panic!("expected Stuck, got {other:?}"),
        }
        // One message above the asked seq is enough to stop.
        assert!(matches!(
            next_page(Some(10), &page(&[11, 10, 9]), "r"),
            PageNext::Stuck(_)
        ));
    }
}
