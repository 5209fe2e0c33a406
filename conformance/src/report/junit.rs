//! JUnit XML for CI: one `<testcase>` per case, FAIL and SETUP-ERROR as failures/errors, SKIP
//! as skipped. (Owner: the REPORTS helper; this is the minimal working version.)

use std::fmt::Write as _;

use super::SuiteReport;
use crate::verdict::Verdict;

/// The report as JUnit XML.
pub fn render(report: &SuiteReport) -> String {
    let t = report.tally();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"tim-conformance ({})\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        report.edition,
        report.cases.len(),
        t.fail,
        t.setup_error,
        t.skip,
        report.duration
    );
    for c in &report.cases {
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\">",
            esc(&c.clauses.join(",")),
            esc(&c.id)
        );
        let detail: String = c
            .failures
            .iter()
            .map(|f| {
                format!(
                    "[{}] {} {}: {}\n",
                    f.strength.name(),
                    f.clause,
                    f.at,
                    f.message
                )
            })
            .collect();
        match c.verdict {
            Verdict::Fail => {
                let _ = write!(
                    out,
                    "<failure message=\"{}\">{}</failure>",
                    esc(&c.title),
                    esc(&detail)
                );
            }
            Verdict::SetupError => {
                let _ = write!(
                    out,
                    "<error message=\"{}\">{}</error>",
                    esc(c.note.as_deref().unwrap_or("")),
                    esc(&detail)
                );
            }
            Verdict::Skip => {
                let _ = write!(
                    out,
                    "<skipped message=\"{}\"/>",
                    esc(c.note.as_deref().unwrap_or(""))
                );
            }
            Verdict::NonStrict => {
                let _ = write!(out, "<system-out>NON-STRICT\n{}</system-out>", esc(&detail));
            }
            Verdict::Pass => {}
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}

/// Escapes XML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
