//! The exclusive rate-limit bursts: many copies of one request at once, the tally of the codes
//! seen, and the invariants over the accepted copies.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use tim_model::ErrorCode;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Abort, CaseRun};
use crate::case::{Expectation, RESULTS_FIELD, STORED_ACCEPTED};
use crate::check;
use crate::clause::{auto, Strength};
use crate::report::ExchangeKind;
use crate::target::{Body, Reply, Request};
use crate::template::TemplateError;
use crate::verdict::Failure;

impl CaseRun<'_> {
    /// Sends every copy of a burst at once (in flight: enough for three times the quota at the
    /// target's measured round trip, [`in_flight`]) and checks the tally; for
    /// `import_group_msg`, the automatic invariants over the accepted copies (in `MsgSeq` order),
    /// which enter the ledger, and `stored` (with a read-back against the ledger). The transcript
    /// shows one exchange: the first copy and the codes seen; the reads are not recorded, as the
    /// number of copies accepted depends on timing.
    pub(super) async fn repeat_step(
        &mut self,
        at: &str,
        burst: Burst,
        exp: &Expectation,
    ) -> Result<(), Abort> {
        let n = burst.bodies.len();
        let quota = self.shared.limits.requests_per_second;
        let mut set = JoinSet::new();
        let started = Instant::now();
        // The first copy alone: its round trip (with the earlier calls') sizes the rest.
        let mut first = None;
        if let Some(body) = burst.bodies.first() {
            let req = Request {
                body: body.clone(),
                ..burst.req.clone()
            };
            first = Some(self.shared.http.send(&req).await);
        }
        let rtt = started
            .elapsed()
            .as_secs_f64()
            .max(self.shared.http.median_latency().unwrap_or(0.0));
        let gate = Arc::new(Semaphore::new(in_flight(n, quota, rtt)));
        for (i, body) in burst.bodies.iter().enumerate().skip(1) {
            let req = Request {
                body: body.clone(),
                ..burst.req.clone()
            };
            let (http, gate) = (self.shared.http.clone(), Arc::clone(&gate));
            set.spawn(async move {
                let _p = gate.acquire_owned().await;
                (i, http.send(&req).await)
            });
        }
        let mut replies: Vec<Option<Reply>> = vec![None; n];
        let mut counts: std::collections::BTreeMap<i64, u64> = Default::default();
        let mut bad_http = Vec::new();
        let firsts = first.map(|r| (0, r));
        let mut rest = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(x) = r {
                rest.push(x);
            }
        }
        let mut lost: Vec<String> = Vec::new();
        for (i, reply) in firsts.into_iter().chain(rest) {
            let reply = match reply {
                Ok(r) => r,
                Err(e) => {
                    lost.push(e.0);
                    continue;
                }
            };
            if reply.http != exp.http.unwrap_or(200) {
                bad_http.push(reply.http);
            }
            let code = reply
                .body
                .get("ErrorCode")
                .and_then(Value::as_i64)
                .unwrap_or(-1);
            *counts.entry(code).or_default() += 1;
            replies[i] = Some(reply);
        }
        // Calls that got no answer (the client's timeout, a connection error) may or may not have
        // been processed: what the group gained cannot be judged exactly. All of them: the target
        // went away (SETUP-ERROR); some: SKIP, saying why.
        if lost.len() == n {
            return Err(Abort::Setup(format!(
                "target unreachable mid-case: no call of the burst got an answer: {}",
                lost[0]
            )));
        }
        if let Some(e) = lost.first() {
            return Err(Abort::Skip(format!(
                "{} of {n} calls of the burst got no answer from here (first: {e}); what the \
                 target stored cannot be judged",
                lost.len()
            )));
        }
        let achieved = n as f64 / started.elapsed().as_secs_f64().max(1e-6);
        let limited = i64::from(ErrorCode::RATE_LIMITED.0);
        let wants_limit = exp.min_count.iter().any(|(c, m)| *c == limited && *m > 0);
        if let Some(q) = quota.filter(|_| wants_limit && !counts.contains_key(&limited)) {
            if achieved < 1.5 * f64::from(q) {
                return Err(Abort::Skip(format!(
                    "could not exceed the quota from here: {n} calls went out at {achieved:.0}/s \
                     (quota {q}/s, round trip {:.0} ms); a FAIL needs at least 1.5 times the quota",
                    rtt * 1000.0
                )));
            }
        }
        let seen: Vec<i64> = counts.keys().copied().collect();
        let summary = Reply {
            http: 200,
            body: json!({ "repeat": n, "codes_seen": seen }),
            is_json: true,
        };
        let ex = self
            .redactor
            .exchange(&self.vars, ExchangeKind::Burst, &burst.req, &summary);
        self.transcript.push(ex);
        let mut f = Vec::new();
        if !bad_http.is_empty() {
            // The HTTP status is the automatic GW-HTTP-200 check, whatever the step cites.
            let statuses = Failure {
                clause: auto::HTTP_200.to_owned(),
                strength: Strength::Must,
                at: at.to_owned(),
                message: format!("{} responses had another HTTP status", bad_http.len()),
                expected: Some(json!(exp.http.unwrap_or(200))),
                actual: Some(json!(bad_http)),
            };
            f.push(statuses);
        }
        let clauses = self.case_clauses();
        let mut fail = |message: String, expected: Value, actual: Value| {
            f.push(Failure {
                clause: clauses.clone(),
                strength: Strength::Must,
                at: at.to_owned(),
                message,
                expected: Some(expected),
                actual: Some(actual),
            })
        };
        if let Some(codes) = &exp.codes {
            let odd: Vec<i64> = seen
                .iter()
                .copied()
                .filter(|c| !codes.contains(c))
                .collect();
            if !odd.is_empty() {
                fail(
                    "responses carried unexpected ErrorCodes".into(),
                    json!(codes),
                    json!(counts),
                );
            }
        }
        for (code, min) in &exp.min_count {
            let got = counts.get(code).copied().unwrap_or(0);
            if got < *min {
                fail(
                    format!("ErrorCode {code} seen {got} times, expected at least {min}"),
                    json!(min),
                    json!(got),
                );
            }
        }
        self.push_failures(f);
        let Some(alias) = burst.alias.clone().filter(|_| burst.imports) else {
            return Ok(());
        };
        let known = self.vars.ledger.entries(&alias).len();
        let f = self.burst_invariants(&burst, &replies, &alias, at);
        self.push_failures(f);
        let accepted = (self.vars.ledger.entries(&alias).len() - known) as i64;
        if let (Some(want), Some(before)) = (&exp.stored, burst.before) {
            let want = match self.vars.expand(want)? {
                Value::String(s) if s == STORED_ACCEPTED => accepted,
                v => v.as_i64().ok_or_else(|| {
                    TemplateError(format!(
                        "stored must be an integer or \"{STORED_ACCEPTED}\""
                    ))
                })?,
            };
            let history = self.quiet_history(&alias).await?.unwrap_or_default();
            let f = check::readback(&history, &self.vars.ledger, &alias, None, at);
            self.push_failures(f);
            let gained = history.len() as i64 - before;
            if gained != want {
                let f = vec![Failure {
                    clause: self.case_clauses(),
                    strength: Strength::Must,
                    at: at.to_owned(),
                    message: format!(
                        "the group gained {gained} messages; {accepted} were accepted (Result 0 in an OK answer)"
                    ),
                    expected: Some(json!(want)),
                    actual: Some(json!(gained)),
                }];
                self.push_failures(f);
            }
        }
        Ok(())
    }

    /// The automatic import invariants over the OK answers of a burst: one result per message in
    /// each, and, over all accepted messages in `MsgSeq` order, contiguous numbering and
    /// `MsgTime` = `SendTime`; the accepted messages enter the ledger.
    pub(super) fn burst_invariants(
        &mut self,
        burst: &Burst,
        replies: &[Option<Reply>],
        alias: &str,
        at: &str,
    ) -> Vec<Failure> {
        let mut f = Vec::new();
        let mut accepted: Vec<(Value, Value)> = Vec::new();
        for (body, reply) in burst.bodies.iter().zip(replies) {
            let (Body::Json(body), Some(reply)) = (body, reply) else {
                continue;
            };
            if reply.http != 200 || !check::is_ok(reply) {
                continue;
            }
            let Some(msgs) = body.get("MsgList").and_then(Value::as_array).cloned() else {
                continue;
            };
            let results = check::import_results(reply);
            if let Some(x) = check::one_per_msg(msgs.len(), results.len(), at) {
                if !f.iter().any(|y: &Failure| y.clause == auto::ONE_PER_MSG) {
                    f.push(x);
                }
                continue;
            }
            for (m, r) in msgs.into_iter().zip(results) {
                if r.get("Result").and_then(Value::as_i64) == Some(0) {
                    accepted.push((m, r));
                }
            }
        }
        accepted.sort_by_key(|(_, r)| r.get("MsgSeq").and_then(Value::as_u64));
        let (msgs, results): (Vec<Value>, Vec<Value>) = accepted.into_iter().unzip();
        let merged = Reply {
            http: 200,
            body: json!({ "ActionStatus": "OK", "ErrorCode": 0, RESULTS_FIELD: results }),
            is_json: true,
        };
        let at = format!("{at} (accepted copies by MsgSeq)");
        f.extend(check::import_invariants(
            &msgs,
            &merged,
            alias,
            &mut self.vars.ledger,
            &at,
        ));
        f
    }
}

/// The copies of a `repeat` step.
pub(super) struct Burst {
    /// The request of the first copy (the transcript shows it).
    pub(super) req: Request,
    /// Each copy's body.
    pub(super) bodies: Vec<Body>,
    /// The group the burst imports into, if known.
    pub(super) alias: Option<String>,
    /// Whether the copies are `import_group_msg` calls.
    pub(super) imports: bool,
    /// Messages the group held before the burst (when `stored` is asked for).
    pub(super) before: Option<i64>,
}

/// Copies in flight at once: enough to send at three times `quota` when each call takes `rtt`
/// seconds (a distant target needs more in flight than a local one), at least 32, at most 512,
/// never more than the `n` copies.
pub(super) fn in_flight(n: usize, quota: Option<u32>, rtt: f64) -> usize {
    let want = quota.map_or(32.0, |q| (3.0 * f64::from(q) * rtt).ceil());
    (want as usize).clamp(32, 512).min(n).max(1)
}

#[cfg(test)]
mod tests {
    use super::in_flight;

    #[test]
    fn in_flight_grows_with_the_round_trip() {
        // Local: the floor of 32.
        assert_eq!(in_flight(300, Some(100), 0.001), 32);
        // 200 ms away at 100/s: 60 in flight send 300/s.
        assert_eq!(in_flight(300, Some(100), 0.2), 60);
        // Very far: capped, and never more than the copies.
        assert_eq!(in_flight(2000, Some(200), 5.0), 512);
        assert_eq!(in_flight(10, Some(200), 5.0), 10);
        assert_eq!(in_flight(0, None, 0.0), 1);
    }
}
