//! The human report: a table of cases, then each failure with the redacted request, response,
//! difference and a curl line, then clause coverage. The caller prints the summary line last.

use std::fmt::Write as _;

use super::{CaseReport, SuiteReport};
use crate::clause::Strength;
use crate::verdict::Verdict;

/// The report as text (without the final `N passed, N failed` line).
pub fn render(report: &SuiteReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tim-conformance: {} (edition {})",
        report.target_url, report.edition
    );
    if let Some(c) = &report.clock {
        let _ = writeln!(out, "{}", c.describe());
    }
    let width = report.cases.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &report.cases {
        let mut extra = String::new();
        if let Some(r) = &c.reading {
            extra = format!(" [reading: {r}]");
        }
        if let Some(n) = &c.note {
            extra = format!(" ({n})");
        }
        let _ = writeln!(
            out,
            "{:<11} {:<width$}  {}{extra}",
            c.verdict.name(),
            c.id,
            c.title
        );
    }
    for c in report
        .cases
        .iter()
        .filter(|c| !c.failures.is_empty() || c.verdict == Verdict::SetupError)
    {
        let _ = writeln!(out, "\n=== {} {}: {}", c.verdict, c.id, c.title);
        out.push_str(&case_details(c));
    }
    let must: Vec<_> = report
        .clauses
        .iter()
        .filter(|c| c.strength == Strength::Must)
        .collect();
    let covered = must.iter().filter(|c| c.verdict.is_some()).count();
    let failing: Vec<&str> = report
        .clauses
        .iter()
        .filter(|c| c.verdict.is_some_and(|v| v.failed()))
        .map(|c| c.id.as_str())
        .collect();
    let t = report.tally();
    let _ = writeln!(
        out,
        "\nclauses: {covered}/{} must clauses exercised; failing: {}",
        must.len(),
        if failing.is_empty() {
            "none".to_owned()
        } else {
            failing.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "{} PASS, {} NON-STRICT, {} FAIL, {} SKIP, {} SETUP-ERROR in {:.1} s",
        t.pass, t.non_strict, t.fail, t.skip, t.setup_error, report.duration
    );
    out
}

/// One case's failures and transcript, redacted.
pub fn case_details(c: &CaseReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "clauses: {}", c.clauses.join(", "));
    if let Some(n) = &c.note {
        let _ = writeln!(out, "note: {n}");
    }
    for f in &c.failures {
        let _ = writeln!(
            out,
            "- [{} {}] {}: {}",
            f.strength.name(),
            f.clause,
            f.at,
            f.message
        );
        if let Some(e) = &f.expected {
            let _ = writeln!(out, "    expected: {e}");
        }
        if let Some(a) = &f.actual {
            let _ = writeln!(out, "    actual:   {a}");
        }
    }
    for (i, x) in c.transcript.iter().enumerate() {
        let _ = writeln!(out, "  #{i} {:?} {} {}", x.kind, x.method, x.path);
        let _ = writeln!(out, "     request:  {}", x.body);
        let _ = writeln!(out, "     response: HTTP {} {}", x.http, x.response);
        let _ = writeln!(out, "     {}", x.curl);
    }
    out
}
