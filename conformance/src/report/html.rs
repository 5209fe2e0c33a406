//! One self-contained HTML page: summary, clause coverage, each failure with request, response
//! and difference. (Owner: the REPORTS helper; this is the minimal working version.)

use std::fmt::Write as _;

use super::junit::esc;
use super::SuiteReport;

/// The report as one HTML page.
pub fn render(report: &SuiteReport) -> String {
    let mut out = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>tim-conformance</title></head><body>\n");
    let _ = writeln!(
        out,
        "<h1>tim-conformance: {} ({})</h1><p>{}</p>",
        esc(&report.target_url),
        report.edition,
        esc(&report.summary_line())
    );
    out.push_str("<h2>Cases</h2><table><tr><th>verdict</th><th>case</th><th>title</th></tr>\n");
    for c in &report.cases {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.verdict,
            esc(&c.id),
            esc(&c.title)
        );
    }
    out.push_str("</table><h2>Clauses</h2><table><tr><th>clause</th><th>strength</th><th>verdict</th><th>cases</th></tr>\n");
    for c in &report.clauses {
        let v = c.verdict.map_or("(none)", |v| v.name());
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{v}</td><td>{}</td></tr>",
            esc(&c.id),
            c.strength.name(),
            esc(&c.cases.join(", "))
        );
    }
    out.push_str("</table><h2>Failures</h2>\n");
    for c in report.cases.iter().filter(|c| !c.failures.is_empty()) {
        let _ = writeln!(
            out,
            "<h3>{} {}</h3><pre>{}</pre>",
            c.verdict,
            esc(&c.id),
            esc(&super::text::case_details(c))
        );
    }
    out.push_str("</body></html>\n");
    out
}
