//! JUnit XML for CI, written with `quick-junit` (nextest's own writer).
//!
//! One `<testsuite>` per run (edition), one `<testcase>` per case, `classname`
//! `tim-conformance.<edition>.<area>` (the case ID's prefix: `igm`, `gw`, `sig`, `rate`, `grp`,
//! `read`) so CI tools group cases by area. Verdicts map as follows:
//!
//! | verdict | JUnit |
//! |---|---|
//! | PASS | passed |
//! | NON-STRICT | passed; `<system-out>` says which documented reading differed |
//! | FAIL | `<failure type="FAIL">`: message = first must-check, text = checks, transcript, curl |
//! | SETUP-ERROR | `<error type="SETUP-ERROR">` |
//! | SKIP | `<skipped>` with the reason |
//!
//! With an expectations file, a known failure becomes `<skipped type="KNOWN-FAIL">` (like
//! pytest's xfail) and a stale entry becomes `<failure type="STALE">`. Text is redacted by the
//! runner already; control characters are shown as `\u{..}` escapes (XML 1.0 cannot carry them).

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{text, CaseReport, SuiteReport};
use crate::expectations::Applied;
use crate::verdict::Verdict;

/// One run to put in the XML: a report and, optionally, how it compares with an expectations
/// file.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The run.
    pub report: &'a SuiteReport,
    /// Its comparison with the expectations file, if one was given.
    pub expectations: Option<&'a Applied>,
}

/// The report as JUnit XML.
pub fn render(report: &SuiteReport) -> String {
    render_with(report, None)
}

/// The report as JUnit XML, with known failures and stale entries from `expectations`.
pub fn render_with(report: &SuiteReport, expectations: Option<&Applied>) -> String {
    render_runs(&[Run {
        report,
        expectations,
    }])
}

/// Several runs (e.g. both editions) as one JUnit document, one `<testsuite>` each.
pub fn render_runs(runs: &[Run<'_>]) -> String {
    let mut xml = Report::new("tim-conformance");
    let total: f64 = runs.iter().map(|r| r.report.duration).sum();
    xml.set_time(seconds(total));
    if let Some(first) = runs.iter().map(|r| r.report.started).min() {
        if let Some(t) = timestamp(first) {
            xml.set_timestamp(t);
        }
    }
    for run in runs {
        xml.add_test_suite(suite(run));
    }
    // Serializing into memory fails only on an I/O error, which a Vec does not raise.
    xml.to_string()
        .expect("serializing JUnit XML into memory cannot fail")
}

fn suite(run: &Run<'_>) -> TestSuite {
    let r = run.report;
    let mut s = TestSuite::new(format!("tim-conformance ({})", r.edition));
    s.set_time(seconds(r.duration));
    if let Some(t) = timestamp(r.started) {
        s.set_timestamp(t);
    }
    s.add_property(Property::new("target", visible(&r.target_url)));
    s.add_property(Property::new("edition", r.edition.name()));
    s.add_property(Property::new("summary", r.summary_line()));
    if let Some(a) = run.expectations {
        s.add_property(Property::new("expectations", visible(&a.path)));
    }
    for c in &r.cases {
        s.add_test_case(case(r, c, run.expectations));
    }
    s
}

fn case(r: &SuiteReport, c: &CaseReport, expectations: Option<&Applied>) -> TestCase {
    let details = || visible(&text::case_details(c));
    let listed = expectations.and_then(|a| a.status(&c.id));
    let status = match (c.verdict, listed) {
        (Verdict::Fail | Verdict::SetupError, Some(("known", l))) => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("KNOWN-FAIL").set_message(visible(&format!(
                "known {} (expectations line {}): {}",
                c.verdict, l.line, l.reason
            )));
            s.set_description(details());
            s
        }
        (Verdict::Pass | Verdict::NonStrict, Some(("stale", l))) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("STALE").set_message(visible(&format!(
                "stale expectation: the case is {} now; remove the entry at line {} (reason was: {})",
                c.verdict, l.line, l.reason
            )));
            s
        }
        (Verdict::Pass | Verdict::NonStrict, _) => TestCaseStatus::success(),
        (Verdict::Fail, _) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("FAIL")
                .set_message(visible(&headline(c)))
                .set_description(details());
            s
        }
        (Verdict::SetupError, _) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            let note = c.note.as_deref().unwrap_or("setup failed");
            s.set_type("SETUP-ERROR")
                .set_message(visible(note))
                .set_description(details());
            s
        }
        (Verdict::Skip, _) => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("SKIP")
                .set_message(visible(c.note.as_deref().unwrap_or("not run")));
            s
        }
    };
    let mut t = TestCase::new(visible(&c.id), status);
    t.set_classname(format!("tim-conformance.{}.{}", r.edition, area(&c.id)));
    t.set_time(seconds(c.duration));
    t.add_property(Property::new("verdict", c.verdict.name()));
    t.add_property(Property::new("title", visible(&c.title)));
    t.add_property(Property::new("clauses", visible(&c.clauses.join(","))));
    if let Some(reading) = &c.reading {
        t.add_property(Property::new("reading", visible(reading)));
    }
    if c.verdict == Verdict::NonStrict {
        t.set_system_out(format!(
            "NON-STRICT: every must-check held; a documented reading (should) differed.\n{}",
            details()
        ));
    }
    t
}

/// The area of a case: its ID up to the first `-` (`igm`, `gw`, `sig`, `rate`, `grp`, `read`).
pub fn area(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// One line saying why a case failed: its first must-level failure (else its first failure),
/// and how many more there are.
pub fn headline(c: &CaseReport) -> String {
    let first = c
        .failures
        .iter()
        .find(|f| f.strength == crate::Strength::Must)
        .or_else(|| c.failures.first());
    match first {
        None => c.note.clone().unwrap_or_else(|| c.title.clone()),
        Some(f) => {
            let mut line = format!("[{}] {}: {}", f.clause, f.at, f.message);
            if c.failures.len() > 1 {
                line.push_str(&format!(" (and {} more)", c.failures.len() - 1));
            }
            line
        }
    }
}

/// `s` with every control character but tab, newline and carriage return written as a
/// `\u{..}` escape, so XML 1.0 and HTML can carry it and a reader sees it.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\t' | '\n' | '\r' => out.push(ch),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

fn timestamp(unix: i64) -> Option<DateTime<FixedOffset>> {
    DateTime::from_timestamp(unix, 0).map(|t| t.fixed_offset())
}
