//! Executing one case: setup through the public API, the steps under test, the runner-side
//! checks, and the verdict. Every request goes through [`CaseRun::send`]: pacing, signing,
//! recording the redacted exchange.
//!
//! By job: [`setup`] (the setup calls and the ledger), [`steps`] (request steps, readings,
//! read-back and group-info checks), [`burst`] (the exclusive rate-limit bursts), [`read`] (the
//! history pager behind every read-back).

mod burst;
mod read;
mod setup;
mod steps;

use serde_json::Value;
use tim_model::{Command, Limits};

use crate::case::{Case, CheckKind};
use crate::pace::Pacer;
use crate::redact::Redactor;
use crate::report::{CaseReport, Exchange, ExchangeKind};
use crate::target::{Body, Http, Reply, Request, TransportError};
use crate::template::{TemplateError, Vars};
use crate::verdict::{Failure, Verdict};

/// What every case of a run shares.
pub(crate) struct Shared {
    pub(crate) http: Http,
    pub(crate) pacer: Pacer,
    pub(crate) run: String,
    pub(crate) limits: Limits,
    pub(crate) restricted_word: Option<String>,
    /// Seconds added to the runner clock for `${now}`: the target's clock offset, rounded, when
    /// it is off by more than a second ([`crate::clock`]).
    pub(crate) clock_shift: i64,
}

impl Shared {
    /// `${now}`: the runner clock, shifted to the target's.
    pub(crate) fn now(&self) -> i64 {
        unix_now() + self.clock_shift
    }
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
    /// The case cannot be judged from here (e.g. the quota could not be exceeded): SKIP.
    Skip(String),
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
    /// The clauses the current step cites (`clauses` of the step; empty: the case's).
    cited: Vec<String>,
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
        shared.now(),
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
        cited: Vec::new(),
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
        Err(Abort::Skip(why)) => CaseReport {
            transcript,
            ..skipped(case, why)
        },
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
            self.cited.clone_from(&step.clauses);
            self.at = match step.check {
                Some(CheckKind::Readback) => format!("step[{i}] readback"),
                Some(CheckKind::GroupInfo) => format!("step[{i}] group_info"),
                None => format!("step[{i}]"),
            };
            if let Some(ms) = step.wait_ms {
                // A pause: nothing is sent or recorded (the transcript stays deterministic), and
                // `${now}` is the runner clock after it.
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                self.vars.rebase_now(self.shared.now());
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

    /// The clauses a failure of the current step is charged to: the step's own `clauses`, or
    /// else every clause of the case.
    fn case_clauses(&self) -> String {
        if self.cited.is_empty() {
            self.case.clauses.join(",")
        } else {
            self.cited.join(",")
        }
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
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}
