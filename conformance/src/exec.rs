//! Executing one case: setup through the public API, the steps under test, the runner-side
//! checks, and the verdict. Every request goes through [`CaseRun::send`]: pacing, signing,
//! recording the redacted exchange.

use serde_json::{json, Value};
use tim_model::{Command, ErrorCode, Limits};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use std::sync::Arc;

use crate::case::{Case, CheckKind, Expectation, SetupCall, Step, RESULTS_FIELD, STORED_ACCEPTED};
use crate::check;
use crate::clause::{auto, Strength};
use crate::pace::Pacer;
use crate::redact::Redactor;
use crate::report::{CaseReport, Exchange, ExchangeKind};
use crate::target::{Body, Http, Reply, Request, TransportError};
use crate::template::{GroupVar, TemplateError, Vars};
use crate::verdict::{Failure, Verdict};

/// What every case of a run shares.
pub(crate) struct Shared {
    pub(crate) http: Http,
    pub(crate) pacer: Pacer,
    pub(crate) run: String,
    pub(crate) limits: Limits,
    pub(crate) restricted_word: Option<String>,
}

pub(crate) fn skipped(case: &Case, why: String) -> CaseReport {
    CaseReport {
        id: case.id.clone(),
        title: case.title.clone(),
        clauses: case.clauses.clone(),
        verdict: Verdict::Skip,
        reading: None,
        note: Some(why),
        failures: Vec::new(),
        transcript: Vec::new(),
        duration: 0.0,
    }
}

/// Runs a case and records its wall-clock time in the report.
pub(crate) async fn timed(case: impl std::future::Future<Output = CaseReport>) -> CaseReport {
    let clock = std::time::Instant::now();
    let mut report = case.await;
    report.duration = clock.elapsed().as_secs_f64();
    report
}

pub(crate) fn setup_error(
    case: &Case,
    why: String,
    failures: Vec<Failure>,
    transcript: Vec<Exchange>,
) -> CaseReport {
    CaseReport {
        verdict: Verdict::SetupError,
        note: Some(why),
        failures,
        transcript,
        ..skipped(case, String::new())
    }
}

/// The runner clock, Unix seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Why a case stopped early.
enum Abort {
    /// Setup failed or the target went away: SETUP-ERROR.
    Setup(String),
    /// A placeholder could not be resolved: the case file is wrong (reported as SETUP-ERROR).
    Template(TemplateError),
}

impl From<TemplateError> for Abort {
    fn from(e: TemplateError) -> Self {
        Abort::Template(e)
    }
}

impl From<TransportError> for Abort {
    fn from(e: TransportError) -> Self {
        Abort::Setup(format!("target unreachable mid-case: {}", e.0))
    }
}

/// The state of one running case.
struct CaseRun<'a> {
    shared: &'a Shared,
    case: &'a Case,
    paced: bool,
    vars: Vars,
    redactor: Redactor,
    transcript: Vec<Exchange>,
    failures: Vec<Failure>,
    reading: Option<String>,
    requests: u32,
    /// Requests are sent but not recorded (the reads behind a burst's `stored`, whose content
    /// depends on timing: the transcript must be the same in every run).
    quiet: bool,
    /// Where the case is (`setup[0]`, `step[2]`): what a missed deadline names.
    at: String,
}

/// The longest a case may take, setup and read-backs included: a slow or silent target gets a
/// SETUP-ERROR naming the step it was stuck in, so a run always ends with its last line. The
/// slowest case against the reference server takes a few seconds (pauses of up to 5 s, bursts,
/// pacing); one request may take up to 15 s (the HTTP client's timeout).
pub(crate) const CASE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(90);

pub(crate) async fn run_case(shared: &Shared, case: &Case, paced: bool) -> CaseReport {
    let t = shared.http.target();
    let mut vars = Vars::new(
        &shared.run,
        &case.id,
        unix_now(),
        shared.limits.clone(),
        &t.identifier,
        t.sdkappid,
    );
    vars.restricted_word = shared.restricted_word.clone();
    let mut cr = CaseRun {
        shared,
        case,
        paced,
        vars,
        redactor: Redactor::default(),
        transcript: Vec::new(),
        failures: Vec::new(),
        reading: None,
        requests: 0,
        quiet: false,
        at: "the case start".into(),
    };
    let outcome = match tokio::time::timeout(CASE_DEADLINE, cr.go()).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Abort::Setup(format!(
            "the case did not end within its deadline of {} s: stopped in {}",
            CASE_DEADLINE.as_secs(),
            cr.at
        ))),
    };
    let CaseRun {
        transcript,
        failures,
        reading,
        ..
    } = cr;
    match outcome {
        Ok(()) => CaseReport {
            id: case.id.clone(),
            title: case.title.clone(),
            clauses: case.clauses.clone(),
            verdict: Verdict::from_failures(&failures),
            reading,
            note: None,
            failures,
            transcript,
            duration: 0.0,
        },
        Err(Abort::Setup(why)) => setup_error(case, why, failures, transcript),
        Err(Abort::Template(e)) => {
            setup_error(case, format!("case file error: {e}"), failures, transcript)
        }
    }
}

impl CaseRun<'_> {
    async fn go(&mut self) -> Result<(), Abort> {
        for (i, setup) in self.case.setup.iter().enumerate() {
            self.at = format!("setup[{i}]");
            self.setup(i, setup).await?;
        }
        for (i, step) in self.case.step.iter().enumerate() {
            self.at = match step.check {
                Some(CheckKind::Readback) => format!("step[{i}] readback"),
                Some(CheckKind::GroupInfo) => format!("step[{i}] group_info"),
                None => format!("step[{i}]"),
            };
            if let Some(ms) = step.wait_ms {
                // A pause: nothing is sent or recorded (the transcript stays deterministic), and
                // `${now}` is the runner clock after it.
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                self.vars.rebase_now(unix_now());
                continue;
            }
            match step.check {
                None => self.request_step(i, step).await?,
                Some(CheckKind::Readback) => self.readback_step(i, step).await?,
                Some(CheckKind::GroupInfo) => self.group_info_step(i, step).await?,
            }
        }
        Ok(())
    }

    fn case_clauses(&self) -> String {
        self.case.clauses.join(",")
    }

    /// Builds, paces, sends and records one request.
    async fn send(
        &mut self,
        kind: ExchangeKind,
        path: String,
        method: &str,
        query: Option<&crate::case::QueryOverrides>,
        body: Body,
    ) -> Result<(Request, Reply), Abort> {
        self.requests += 1;
        let req = self.build_request(path, method, query, body, self.requests)?;
        if self.paced {
            self.shared.pacer.until_ready(&req.path).await;
        }
        let reply = self.shared.http.send(&req).await?;
        if !self.quiet {
            let ex = self.redactor.exchange(&self.vars, kind, &req, &reply);
            self.transcript.push(ex);
        }
        Ok((req, reply))
    }

    /// A request with the query for `overrides` (its usersig and Randoms remembered).
    fn build_request(
        &mut self,
        path: String,
        method: &str,
        overrides: Option<&crate::case::QueryOverrides>,
        body: Body,
        random: u32,
    ) -> Result<Request, TemplateError> {
        let query = self.shared.http.query(overrides, &mut self.vars, random)?;
        self.note_query(&query);
        if let Body::Json(v) = &body {
            self.note_randoms(v);
        }
        Ok(Request {
            method: method.to_owned(),
            path,
            query,
            body,
        })
    }

    /// Remembers the usersig of a query, so that no text of the report can show it.
    fn note_query(&mut self, q: &[(String, String)]) {
        for (k, v) in q {
            if k == tim_model::envelope::query::USERSIG {
                self.redactor.hide(v);
            }
        }
    }

    /// Remembers the `Random`s a body sends (read-back shows them; others are server-generated).
    fn note_randoms(&mut self, body: &Value) {
        for m in body
            .get("MsgList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = m.get("Random").and_then(Value::as_i64) {
                self.vars.sent_randoms.insert(r);
            }
        }
    }

    async fn call(
        &mut self,
        kind: ExchangeKind,
        cmd: Command,
        body: Value,
    ) -> Result<Reply, Abort> {
        Ok(self
            .send(kind, cmd.path(), "POST", None, Body::Json(body))
            .await?
            .1)
    }

    async fn setup(&mut self, i: usize, s: &crate::case::Setup) -> Result<(), Abort> {
        let at = format!("setup[{i}]");
        let mut body = self.vars.expand(&s.body)?;
        let cmd = s.call.command();
        if let (Some(alias), Some(obj)) = (&s.group, body.as_object_mut()) {
            if !obj.contains_key("GroupId") && !s.server_id {
                let id = self.vars.group(alias).id.clone();
                obj.insert("GroupId".into(), json!(id));
            }
        }
        if matches!(s.call, SetupCall::ImportGroup | SetupCall::CreateGroup) {
            if let Some(alias) = &s.group {
                let create = body
                    .get("CreateTime")
                    .and_then(Value::as_i64)
                    .unwrap_or(self.vars.now);
                let id = self.vars.group(alias).id.clone();
                self.vars.groups.insert(
                    alias.clone(),
                    GroupVar {
                        id,
                        create: Some(create),
                        server_assigned: false,
                    },
                );
            }
        }
        let (req, reply) = self
            .send(
                ExchangeKind::Setup,
                cmd.path(),
                "POST",
                None,
                Body::Json(body.clone()),
            )
            .await?;
        if reply.http != 200 || !check::is_ok(&reply) {
            let e = self
                .transcript
                .last()
                .map(|e| e.response.clone())
                .unwrap_or_default();
            return Err(Abort::Setup(format!(
                "{at} {} failed: {}",
                cmd.name(),
                compact(&e)
            )));
        }
        let alias = s.group.clone().or_else(|| {
            body.get("GroupId")
                .and_then(Value::as_str)
                .and_then(|id| self.vars.alias_of(id))
                .map(str::to_owned)
        });
        match s.call {
            SetupCall::ImportGroup | SetupCall::CreateGroup if s.server_id => {
                let (Some(alias), Some(id)) =
                    (&s.group, reply.body.get("GroupId").and_then(Value::as_str))
                else {
                    return Err(Abort::Setup(format!("{at}: the response has no GroupId")));
                };
                if let Some(g) = self.vars.groups.get_mut(alias) {
                    g.id = id.to_owned();
                    g.server_assigned = true;
                }
                // Redact the answer again, now that the ID has a name.
                self.transcript.pop();
                let ex = self
                    .redactor
                    .exchange(&self.vars, ExchangeKind::Setup, &req, &reply);
                self.transcript.push(ex);
            }
            SetupCall::DestroyGroup => {
                if let Some(a) = alias {
                    self.vars.ledger.forget(&a);
                }
            }
            SetupCall::ImportGroupMsg => {
                if let Some(a) = alias {
                    self.import_checks(&body, &reply, &a, &at);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The automatic invariants of an OK import answer.
    fn import_checks(&mut self, body: &Value, reply: &Reply, alias: &str, at: &str) {
        if reply.http != 200 || !check::is_ok(reply) {
            return;
        }
        let msgs = body
            .get("MsgList")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let f = check::import_invariants(&msgs, reply, alias, &mut self.vars.ledger, at);
        self.push_failures(f);
    }

    fn push_failures(&mut self, f: Vec<Failure>) {
        for mut x in f {
            x.expected = x
                .expected
                .map(|v| self.redactor.value(&self.vars, &v, None));
            x.actual = x.actual.map(|v| self.redactor.value(&self.vars, &v, None));
            x.message = self.redactor.text(&self.vars, &x.message);
            self.failures.push(x);
        }
    }

    async fn request_step(&mut self, i: usize, step: &Step) -> Result<(), Abort> {
        let at = format!("step[{i}]");
        let exp = step.expectation().map_err(TemplateError)?;
        let should = step.should_expectation().map_err(TemplateError)?;
        let path = step.request_path().unwrap_or_default();
        let method = step.method.clone().unwrap_or_else(|| "POST".into());
        let body = self.step_body(step)?;
        let group_alias = step.group.clone().or_else(|| match &body {
            Body::Json(v) => v
                .get("GroupId")
                .and_then(Value::as_str)
                .and_then(|id| self.vars.alias_of(id))
                .map(str::to_owned),
            Body::Raw(_) => None,
        });
        if let Some(n) = &step.repeat {
            let n = self.vars.expand(n)?.as_u64().unwrap_or(0);
            // Each copy's body is expanded anew: `$messages` gives every copy its own Randoms.
            let mut bodies = vec![body];
            for _ in 1..n {
                bodies.push(self.step_body(step)?);
            }
            for b in &bodies[1..] {
                if let Body::Json(v) = b {
                    self.note_randoms(v);
                }
            }
            let before = match (&exp.stored, &group_alias) {
                (Some(_), Some(alias)) => Some(
                    self.quiet_history(alias)
                        .await?
                        .map_or(0, |h| h.len() as i64),
                ),
                (Some(_), None) => {
                    return Err(TemplateError(format!(
                        "{at}: stored needs a group (GroupId or group =)"
                    ))
                    .into())
                }
                (None, _) => None,
            };
            let first = bodies[0].clone();
            let req = self.build_request(path, &method, step.query.as_ref(), first, 0)?;
            let burst = Burst {
                req,
                bodies,
                alias: group_alias,
                imports: step.command() == Some(Command::ImportGroupMsg),
                before,
            };
            return self.repeat_step(&at, burst, &exp).await;
        }
        // `stored` may be asked for in `expect` (must), `should`, or a reading (which then matches
        // only when the count does): count the group's messages around the request.
        let wants_stored = exp.stored.is_some()
            || should.stored.is_some()
            || step.reading.iter().any(|r| r.fields.contains_key("stored"));
        let before = match (wants_stored, &group_alias) {
            (true, Some(alias)) => {
                let n = self.history(alias).await?.map_or(0, |h| h.len() as i64);
                Some((alias.clone(), n))
            }
            (true, None) => {
                return Err(TemplateError(format!(
                    "{at}: stored needs a group (GroupId or group =)"
                ))
                .into())
            }
            (false, _) => None,
        };
        let (req, reply) = self
            .send(ExchangeKind::Step, path, &method, step.query.as_ref(), body)
            .await?;
        let exchange = self.transcript.len() - 1;
        let gained = match &before {
            Some((alias, n)) => Some(self.history(alias).await?.map_or(0, |h| h.len() as i64) - n),
            None => None,
        };
        let exp = self.expand_expectation(&exp)?;
        let should = self.expand_expectation(&should)?;
        // The automatic HTTP-200 and envelope checks are must-level, unless the case moves the
        // status to `should` (`should.http` without `expect.http`): outside the API proper (unknown
        // paths, other methods) the documents only recommend an envelope (digest §7 Q19).
        let (status, strength) = match (exp.http, should.http) {
            (None, Some(h)) => (h, Strength::Should),
            (h, _) => (h.unwrap_or(200), Strength::Must),
        };
        let mut f = check::envelope(&reply, status, &at);
        f.iter_mut().for_each(|x| x.strength = strength);
        for (e, strength) in [(&exp, Strength::Must), (&should, Strength::Should)] {
            let mut m = check::expectation_mismatches(e, &reply);
            m.extend(stored_mismatch(e, gained)?);
            f.extend(check::failures(&m, &self.case_clauses(), strength, &at));
        }
        if !step.reading.is_empty() {
            let unmatched = self.readings(step, &reply, gained, &at)?;
            if unmatched.is_empty() {
                self.transcript[exchange].reading = self.reading.clone();
            }
            f.extend(unmatched);
        }
        self.push_failures(f);
        if step.command() == Some(Command::ImportGroupMsg) {
            if let (Body::Json(b), Some(alias)) = (&req.body, &group_alias) {
                self.import_checks(b, &reply, alias, &at);
            }
        }
        if step.command() == Some(Command::DestroyGroup) && check::is_ok(&reply) {
            if let Some(a) = &group_alias {
                self.vars.ledger.forget(a);
            }
        }
        Ok(())
    }

    fn expand_expectation(&mut self, e: &Expectation) -> Result<Expectation, TemplateError> {
        let mut e = e.clone();
        for v in e.fields.values_mut() {
            *v = self.vars.expand(v)?;
        }
        if let Some(v) = &e.stored {
            e.stored = Some(self.vars.expand(v)?);
        }
        if let Some(m) = &e.members {
            e.members = Some(
                m.iter()
                    .map(|x| self.vars.expand(x))
                    .collect::<Result<_, _>>()?,
            );
        }
        Ok(e)
    }

    /// Readings: passes when any matches; records which.
    fn readings(
        &mut self,
        step: &Step,
        reply: &Reply,
        gained: Option<i64>,
        at: &str,
    ) -> Result<Vec<Failure>, TemplateError> {
        let mut why = Vec::new();
        for r in &step.reading {
            let exp =
                self.expand_expectation(&Expectation::parse(&r.fields).map_err(TemplateError)?)?;
            let mut m = check::expectation_mismatches(&exp, reply);
            m.extend(stored_mismatch(&exp, gained)?);
            if m.is_empty() {
                self.reading = Some(r.name.clone());
                return Ok(Vec::new());
            }
            why.push(format!(
                "{}: {}",
                r.name,
                m.iter()
                    .map(|x| x.path.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(vec![Failure {
            clause: self.case_clauses(),
            strength: Strength::Must,
            at: at.to_owned(),
            message: format!("no documented reading matches ({})", why.join("; ")),
            expected: Some(json!(step
                .reading
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>())),
            actual: Some(reply.body.clone()),
        }])
    }

    /// The body of a request step, its placeholders expanded.
    fn step_body(&mut self, step: &Step) -> Result<Body, TemplateError> {
        Ok(match (&step.body, &step.raw) {
            (_, Some(raw)) => Body::Raw(self.vars.interpolate(raw)?),
            (Some(b), None) => Body::Json(self.vars.expand(b)?),
            (None, None) => Body::Json(json!({})),
        })
    }

    /// Sends every copy of a burst at once (at most 32 in flight) and checks the tally; for
    /// `import_group_msg`, the automatic invariants over the accepted copies (in `MsgSeq` order),
    /// which enter the ledger, and `stored` (with a read-back against the ledger). The transcript
    /// shows one exchange: the first copy and the codes seen; the reads are not recorded, as the
    /// number of copies accepted depends on timing.
    async fn repeat_step(
        &mut self,
        at: &str,
        burst: Burst,
        exp: &Expectation,
    ) -> Result<(), Abort> {
        let n = burst.bodies.len();
        let mut set = JoinSet::new();
        let gate = Arc::new(Semaphore::new(32));
        for (i, body) in burst.bodies.iter().enumerate() {
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
        while let Some(r) = set.join_next().await {
            let Ok((i, reply)) = r else { continue };
            let reply = reply?;
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
        if !bad_http.is_empty() {
            fail(
                format!("{} responses had another HTTP status", bad_http.len()),
                json!(exp.http.unwrap_or(200)),
                json!(bad_http),
            );
        }
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
    fn burst_invariants(
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
            let msgs = body
                .get("MsgList")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
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

    /// [`Self::history`] without recording the reads in the transcript.
    async fn quiet_history(&mut self, alias: &str) -> Result<Option<Vec<Value>>, Abort> {
        self.quiet = true;
        let h = self.history(alias).await;
        self.quiet = false;
        h
    }

    /// Every stored message of `alias`, newest first (`None`: the group does not exist, 10010).
    async fn history(&mut self, alias: &str) -> Result<Option<Vec<Value>>, Abort> {
        let id = self.vars.group(alias).id.clone();
        let page = self.shared.limits.history_page_max.max(1);
        let mut all: Vec<Value> = Vec::new();
        let mut next: Option<u64> = None;
        let at = self.at.clone();
        loop {
            let mut body = json!({ "GroupId": id, "ReqMsgNumber": page });
            if let Some(s) = next {
                body["ReqMsgSeq"] = json!(s);
            }
            let reply = self
                .call(ExchangeKind::Check, Command::GroupMsgGetSimple, body)
                .await?;
            if reply.body.get("ErrorCode").and_then(Value::as_i64)
                == Some(i64::from(ErrorCode::GROUP_NOT_FOUND.0))
            {
                return Ok(None);
            }
            if !check::is_ok(&reply) {
                return Err(Abort::Setup(format!(
                    "read-back of {alias} failed: {}",
                    compact(&reply.body)
                )));
            }
            let list = reply
                .body
                .get("RspMsgList")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let step = check::next_page(next, &list, &at);
            all.extend(list);
            match step {
                check::PageNext::Next(s) => next = Some(s),
                check::PageNext::Done => break,
                check::PageNext::Stuck(f) => {
                    self.push_failures(vec![f]);
                    break;
                }
            }
        }
        Ok(Some(all))
    }

    async fn readback_step(&mut self, i: usize, step: &Step) -> Result<(), Abort> {
        let at = format!("step[{i}] readback");
        let alias = step.group.clone().unwrap_or_default();
        let count = match &step.count {
            Some(c) => Some(
                self.vars
                    .expand(c)?
                    .as_u64()
                    .ok_or_else(|| TemplateError("count must be an integer".into()))?
                    as usize,
            ),
            None => None,
        };
        let history = self.history(&alias).await?.unwrap_or_default();
        let f = check::readback(&history, &self.vars.ledger, &alias, count, &at);
        self.push_failures(f);
        Ok(())
    }

    async fn group_info_step(&mut self, i: usize, step: &Step) -> Result<(), Abort> {
        let at = format!("step[{i}] group_info");
        let alias = step.group.clone().unwrap_or_default();
        let id = self.vars.group(&alias).id.clone();
        let exp = self.expand_expectation(&step.expectation().map_err(TemplateError)?)?;
        let should = self.expand_expectation(&step.should_expectation().map_err(TemplateError)?)?;
        let reply = self
            .call(
                ExchangeKind::Check,
                Command::GetGroupInfo,
                json!({ "GroupIdList": [id] }),
            )
            .await?;
        if !check::is_ok(&reply) {
            return Err(Abort::Setup(format!(
                "get_group_info of {alias} failed: {}",
                compact(&reply.body)
            )));
        }
        let group = reply
            .body
            .get("GroupInfo")
            .and_then(|g| g.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        let clauses = self.case_clauses();
        let mut f = check::failures(
            &check::group_info_mismatches(&exp, &group),
            &clauses,
            Strength::Must,
            &at,
        );
        f.extend(check::failures(
            &check::group_info_mismatches(&should, &group),
            &clauses,
            Strength::Should,
            &at,
        ));
        self.push_failures(f);
        Ok(())
    }
}

/// The copies of a `repeat` step.
struct Burst {
    /// The request of the first copy (the transcript shows it).
    req: Request,
    /// Each copy's body.
    bodies: Vec<Body>,
    /// The group the burst imports into, if known.
    alias: Option<String>,
    /// Whether the copies are `import_group_msg` calls.
    imports: bool,
    /// Messages the group held before the burst (when `stored` is asked for).
    before: Option<i64>,
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

/// `stored` of an expanded expectation against the messages the group gained.
fn stored_mismatch(
    e: &Expectation,
    gained: Option<i64>,
) -> Result<Option<check::Mismatch>, TemplateError> {
    let (Some(want), Some(gained)) = (&e.stored, gained) else {
        return Ok(None);
    };
    let want = want
        .as_i64()
        .ok_or_else(|| TemplateError("stored must be an integer".into()))?;
    Ok((want != gained).then(|| check::Mismatch {
        path: "stored".into(),
        expected: json!(want),
        actual: Some(json!(gained)),
    }))
}
