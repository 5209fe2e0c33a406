//! The suite report: what every case did, and the renderers (text, JSON, JUnit, HTML).

pub mod html;
pub mod json;
pub mod junit;
pub mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tim_model::Edition;

use crate::clause::{Clause, Strength};
use crate::verdict::{Failure, Verdict};

/// The result of one suite run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// The edition the run claimed.
    pub edition: Edition,
    /// The target's base URL.
    pub target_url: String,
    /// The target's clock offset as estimated before the cases ran (`None`: no estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<crate::clock::ClockEstimate>,
    /// Start time, Unix seconds.
    pub started: i64,
    /// Wall-clock duration in seconds.
    pub duration: f64,
    /// Every selected case, in suite order.
    pub cases: Vec<CaseReport>,
    /// Per clause: the cases that cover it and their worst verdict.
    pub clauses: Vec<ClauseCoverage>,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseReport {
    /// Case ID.
    pub id: String,
    /// Case title.
    pub title: String,
    /// Clauses the case covers.
    pub clauses: Vec<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// The documented reading the target chose, when a step offered several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
    /// Why a SKIP or SETUP-ERROR happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Every check that did not hold.
    pub failures: Vec<Failure>,
    /// Every request and response, redacted.
    pub transcript: Vec<Exchange>,
    /// Wall-clock seconds the case took (0 when it did not run).
    #[serde(default)]
    pub duration: f64,
}

/// What a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeKind {
    /// A setup call.
    Setup,
    /// A request under test.
    Step,
    /// A runner-side read (read-back, group info, stored count).
    Check,
    /// A burst (`repeat`): the first copy's request and the runner's tally of the answers
    /// (`repeat`, `codes_seen`); not compared with the reference server.
    Burst,
}

/// One request and its response, redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// What the request was for.
    pub kind: ExchangeKind,
    /// HTTP method.
    pub method: String,
    /// Path and redacted query.
    pub path: String,
    /// The body: JSON, or a string for raw bodies.
    pub body: Value,
    /// HTTP status.
    pub http: u16,
    /// The response: JSON, or a string when it was not JSON.
    pub response: Value,
    /// A curl line that repeats the request (target URL as `$TIM_TARGET`, usersig as
    /// `$TIM_USERSIG`, random as `$RANDOM`; redacted IDs must be filled in by hand).
    pub curl: String,
    /// The documented reading (`[[step.reading]]`) this step's response matched, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
}

/// How one clause fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClauseCoverage {
    /// Clause ID.
    pub id: String,
    /// Its strength.
    pub strength: Strength,
    /// Where the statement comes from.
    #[serde(default)]
    pub source: String,
    /// The statement.
    #[serde(default)]
    pub text: String,
    /// Where our documented reading is (`should` clauses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
    /// Cases (run in this edition) that cite it.
    pub cases: Vec<String>,
    /// The worst verdict among them (`None`: no case ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// PASS.
    pub pass: usize,
    /// NON-STRICT.
    pub non_strict: usize,
    /// FAIL.
    pub fail: usize,
    /// SKIP.
    pub skip: usize,
    /// SETUP-ERROR.
    pub setup_error: usize,
}

impl Tally {
    /// PASS + NON-STRICT.
    pub fn passed(&self) -> usize {
        self.pass + self.non_strict
    }

    /// FAIL + SETUP-ERROR.
    pub fn failed(&self) -> usize {
        self.fail + self.setup_error
    }
}

impl SuiteReport {
    /// Counts per verdict.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for c in &self.cases {
            match c.verdict {
                Verdict::Pass => t.pass += 1,
                Verdict::NonStrict => t.non_strict += 1,
                Verdict::Fail => t.fail += 1,
                Verdict::Skip => t.skip += 1,
                Verdict::SetupError => t.setup_error += 1,
            }
        }
        t
    }

    /// Whether no case failed (FAIL or SETUP-ERROR).
    pub fn ok(&self) -> bool {
        self.tally().failed() == 0
    }

    /// The last line of every run: `N passed, N failed`.
    pub fn summary_line(&self) -> String {
        let t = self.tally();
        format!("{} passed, {} failed", t.passed(), t.failed())
    }
}

/// Clause coverage of `cases` for `clauses` that apply to `edition`.
pub fn coverage(clauses: &[Clause], cases: &[CaseReport], edition: Edition) -> Vec<ClauseCoverage> {
    // A case counts for the clauses it cites and for those its failures are charged to (the
    // automatic checks cite their own).
    let mut by_clause: BTreeMap<&str, Vec<&CaseReport>> = BTreeMap::new();
    for c in cases {
        let mut ids: Vec<&str> = c.clauses.iter().map(String::as_str).collect();
        ids.extend(c.failures.iter().flat_map(|f| f.clause.split(',')));
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            by_clause.entry(id).or_default().push(c);
        }
    }
    clauses
        .iter()
        .filter(|c| c.editions.contains(&edition))
        .map(|cl| {
            let ran: Vec<&CaseReport> = by_clause
                .get(cl.id.as_str())
                .map(|v| {
                    v.iter()
                        .copied()
                        .filter(|c| c.verdict != Verdict::Skip)
                        .collect()
                })
                .unwrap_or_default();
            ClauseCoverage {
                id: cl.id.clone(),
                strength: cl.strength,
                source: cl.source.clone(),
                text: cl.text.clone(),
                reading: cl.reading.clone(),
                cases: ran.iter().map(|c| c.id.clone()).collect(),
                verdict: ran
                    .iter()
                    .map(|c| verdict_for(c, &cl.id))
                    .max_by_key(|v| severity(*v)),
            }
        })
        .collect()
}

/// What `case` says of `clause`: FAIL or NON-STRICT only when a failure of that strength is
/// charged to the clause (a step cites the clauses it checks), else PASS; SETUP-ERROR as it is.
fn verdict_for(case: &CaseReport, clause: &str) -> Verdict {
    let charged = |s: Strength| {
        case.failures
            .iter()
            .any(|f| f.strength == s && f.clause.split(',').any(|x| x == clause))
    };
    match case.verdict {
        Verdict::Fail | Verdict::NonStrict if charged(Strength::Must) => Verdict::Fail,
        Verdict::Fail | Verdict::NonStrict if charged(Strength::Should) => Verdict::NonStrict,
        Verdict::Fail | Verdict::NonStrict => Verdict::Pass,
        v => v,
    }
}

fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Skip => 0,
        Verdict::Pass => 1,
        Verdict::NonStrict => 2,
        Verdict::SetupError => 3,
        Verdict::Fail => 4,
    }
}
