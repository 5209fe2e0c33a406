//! One self-contained HTML page: summary (target, edition, date, counts, duration), every case,
//! clause coverage, and each case that did not PASS with its clauses, the chosen reading, every
//! failed check (expected vs actual, and where they differ), the redacted transcript and the
//! curl lines (usersig elided by the runner).
//!
//! Inline CSS, no external resource; a few lines of inline JavaScript filter the tables by
//! verdict and the page works without them. Every value from the run goes through [`esc`].

use std::fmt::Write as _;

use serde_json::Value;

use super::junit::{area, headline, visible};
use super::{CaseReport, ClauseCoverage, Exchange, SuiteReport};
use crate::expectations::Applied;
use crate::verdict::{Failure, Verdict};

/// The report as one HTML page.
pub fn render(report: &SuiteReport) -> String {
    render_with(report, None)
}

/// The report as one HTML page, with known failures and stale entries from `expectations`.
pub fn render_with(report: &SuiteReport, expectations: Option<&Applied>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!(
        "tim-conformance: {} ({})",
        report.target_url, report.edition
    );
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    summary(&mut out, report, expectations);
    cases_table(&mut out, report, expectations);
    clauses_table(&mut out, &report.clauses);
    details(&mut out, report, expectations);
    let _ = write!(out, "<script>{JS}</script>\n</body></html>\n");
    out
}

/// Escapes text for HTML element content and quoted attribute values; control characters
/// become visible `\u{..}` escapes.
pub fn esc(s: &str) -> String {
    let s = visible(s);
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn summary(out: &mut String, r: &SuiteReport, expectations: Option<&Applied>) {
    let t = r.tally();
    let date = chrono::DateTime::from_timestamp(r.started, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| r.started.to_string());
    let ok = match expectations {
        Some(a) => a.ok(),
        None => r.ok(),
    };
    let _ = write!(
        out,
        "<header><h1>tim-conformance report</h1>\
         <p class=\"outcome {}\">{}</p><table class=\"kv\">\
         <tr><th>target</th><td><code>{}</code></td></tr>\
         <tr><th>edition</th><td>{}</td></tr>\
         <tr><th>started</th><td>{}</td></tr>\
         <tr><th>duration</th><td>{:.1} s</td></tr>\
         <tr><th>cases</th><td>{}</td></tr>",
        if ok { "ok" } else { "bad" },
        if ok {
            "conforms: no unexpected failure"
        } else {
            "does not conform: see the failures below"
        },
        esc(&r.target_url),
        r.edition,
        esc(&date),
        r.duration,
        r.cases.len()
    );
    if let Some(a) = expectations {
        let _ = write!(
            out,
            "<tr><th>expectations</th><td><code>{}</code>: {} known, {} stale, {} unexpected</td></tr>",
            esc(&a.path),
            a.known.len(),
            a.stale.len(),
            a.unexpected.len()
        );
    }
    out.push_str("</table><p class=\"counts\">");
    for (v, n) in [
        (Verdict::Pass, t.pass),
        (Verdict::NonStrict, t.non_strict),
        (Verdict::Fail, t.fail),
        (Verdict::Skip, t.skip),
        (Verdict::SetupError, t.setup_error),
    ] {
        let _ = write!(
            out,
            "<label class=\"v {}\"><input type=\"checkbox\" data-filter=\"{}\" checked> {} {}</label> ",
            class(v),
            v.name(),
            n,
            v.name()
        );
    }
    out.push_str("</p>");
    let attention: Vec<String> = r
        .cases
        .iter()
        .filter(|c| has_details(c, expectations))
        .map(|c| {
            let tag = match expectations {
                Some(a) if a.is_unexpected(&c.id) => "unexpected",
                Some(a) => a.status(&c.id).map_or("", |(s, _)| s),
                None => "",
            };
            format!(
                "<li>{} <a href=\"#{}\"><code>{}</code></a> {}</li>",
                badge(c.verdict),
                anchor(&c.id),
                esc(&c.id),
                tag
            )
        })
        .collect();
    if !attention.is_empty() {
        let _ = write!(
            out,
            "<p>Cases that did not pass:</p><ul class=\"attention\">{}</ul>",
            attention.concat()
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"line\"><code>{}</code></p></header>",
        esc(&r.summary_line())
    );
}

fn cases_table(out: &mut String, r: &SuiteReport, expectations: Option<&Applied>) {
    out.push_str(
        "<section><h2>Cases</h2><table class=\"list\"><thead><tr><th>verdict</th><th>case</th>\
         <th>title</th><th>clauses</th><th>reading / note</th><th>time</th></tr></thead><tbody>\n",
    );
    for c in &r.cases {
        let id = if has_details(c, expectations) {
            format!("<a href=\"#{0}\">{1}</a>", anchor(&c.id), esc(&c.id))
        } else {
            esc(&c.id)
        };
        let mut note = String::new();
        if let Some(reading) = &c.reading {
            let _ = write!(note, "reading: <b>{}</b> ", esc(reading));
        }
        if let Some(n) = &c.note {
            note.push_str(&esc(n));
        }
        if let Some(tag) = expectation_tag(c, expectations) {
            note.push(' ');
            note.push_str(&tag);
        }
        let _ = writeln!(
            out,
            "<tr data-verdict=\"{}\"><td>{}</td><td><code>{id}</code></td><td>{}</td><td>{}</td>\
             <td>{note}</td><td class=\"num\">{:.2}</td></tr>",
            c.verdict.name(),
            badge(c.verdict),
            esc(&c.title),
            clause_links(&c.clauses),
            c.duration
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn clauses_table(out: &mut String, clauses: &[ClauseCoverage]) {
    let must: Vec<&ClauseCoverage> = clauses
        .iter()
        .filter(|c| c.strength == crate::Strength::Must)
        .collect();
    let exercised = must.iter().filter(|c| c.verdict.is_some()).count();
    let _ = writeln!(
        out,
        "<section><h2>Clause coverage</h2><p>{exercised} of {} <i>must</i> clauses exercised \
         in this run; {} clauses in this edition.</p><table class=\"list\"><thead><tr>\
         <th>clause</th><th>strength</th><th>source</th><th>statement</th><th>verdict</th>\
         <th>cases</th></tr></thead><tbody>",
        must.len(),
        clauses.len()
    );
    for c in clauses {
        let verdict = c
            .verdict
            .map_or_else(|| "<span class=\"v none\">no case</span>".to_owned(), badge);
        let cases: Vec<String> = c
            .cases
            .iter()
            .map(|id| format!("<code>{}</code>", esc(id)))
            .collect();
        let mut statement = esc(&c.text);
        if let Some(reading) = &c.reading {
            let _ = write!(statement, "<br><small>reading: {}</small>", esc(reading));
        }
        let _ = writeln!(
            out,
            "<tr id=\"clause-{}\" data-verdict=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td>\
             <td>{statement}</td><td>{verdict}</td><td>{}</td></tr>",
            anchor(&c.id),
            c.verdict.map_or("", Verdict::name),
            esc(&c.id),
            c.strength.name(),
            esc(&c.source),
            cases.join(" ")
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn details(out: &mut String, r: &SuiteReport, expectations: Option<&Applied>) {
    out.push_str("<section><h2>Cases that did not pass</h2>\n");
    let mut any = false;
    for c in r.cases.iter().filter(|c| has_details(c, expectations)) {
        any = true;
        let _ = write!(
            out,
            "<article id=\"{}\" data-verdict=\"{}\"><h3>{} <code>{}</code> {}</h3><table class=\"kv\">\
             <tr><th>area</th><td>{}</td></tr><tr><th>clauses</th><td>{}</td></tr>",
            anchor(&c.id),
            c.verdict.name(),
            badge(c.verdict),
            esc(&c.id),
            esc(&c.title),
            esc(area(&c.id)),
            clause_links(&c.clauses)
        );
        if let Some(reading) = &c.reading {
            let _ = write!(
                out,
                "<tr><th>reading chosen</th><td>{}</td></tr>",
                esc(reading)
            );
        }
        if let Some(n) = &c.note {
            let _ = write!(out, "<tr><th>note</th><td>{}</td></tr>", esc(n));
        }
        if let Some(tag) = expectation_tag(c, expectations) {
            let _ = write!(out, "<tr><th>expectations</th><td>{tag}</td></tr>");
        }
        if !c.failures.is_empty() {
            let _ = write!(
                out,
                "<tr><th>summary</th><td>{}</td></tr>",
                esc(&headline(c))
            );
        }
        out.push_str("</table>\n");
        for f in &c.failures {
            failure(out, f);
        }
        if !c.transcript.is_empty() {
            let _ = writeln!(
                out,
                "<details{}><summary>transcript: {} request(s), redacted</summary>",
                if c.verdict.failed() { " open" } else { "" },
                c.transcript.len()
            );
            for (i, x) in c.transcript.iter().enumerate() {
                exchange(out, i, x);
            }
            out.push_str("</details>\n");
        }
        out.push_str("</article>\n");
    }
    if !any {
        out.push_str("<p>Every case passed.</p>\n");
    }
    out.push_str("</section>\n");
}

fn failure(out: &mut String, f: &Failure) {
    // A check of the case's own expectations names all its clauses, joined by `,`.
    let clause_ids: Vec<String> = f.clause.split(',').map(|c| c.trim().to_owned()).collect();
    let _ = write!(
        out,
        "<div class=\"failure {}\"><p><b>{}</b> {} at <code>{}</code>: {}</p>",
        f.strength.name(),
        f.strength.name(),
        clause_links(&clause_ids),
        esc(&f.at),
        esc(&f.message)
    );
    if f.expected.is_some() || f.actual.is_some() {
        let shown = |v: &Option<Value>| v.as_ref().map_or_else(|| "(none)".to_owned(), pretty);
        let _ = write!(
            out,
            "<div class=\"diff\"><div><h4>expected</h4><pre>{}</pre></div>\
             <div><h4>actual</h4><pre>{}</pre></div></div>",
            esc(&shown(&f.expected)),
            esc(&shown(&f.actual))
        );
        if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
            let mut lines = Vec::new();
            differences(e, a, "", &mut lines);
            if (e.is_object() || e.is_array()) && !lines.is_empty() {
                let _ = write!(
                    out,
                    "<p>difference:</p><ul class=\"delta\">{}</ul>",
                    lines
                        .iter()
                        .map(|l| format!("<li><code>{}</code></li>", esc(l)))
                        .collect::<String>()
                );
            }
        }
    }
    out.push_str("</div>\n");
}

fn exchange(out: &mut String, i: usize, x: &Exchange) {
    let _ = writeln!(
        out,
        "<div class=\"exchange\"><p>#{i} <i>{:?}</i> <code>{} {}</code> &rarr; HTTP {}</p>\
         <div class=\"diff\"><div><h4>request</h4><pre>{}</pre></div>\
         <div><h4>response</h4><pre>{}</pre></div></div><pre class=\"curl\">{}</pre></div>",
        x.kind,
        esc(&x.method),
        esc(&x.path),
        x.http,
        esc(&pretty(&x.body)),
        esc(&pretty(&x.response)),
        esc(&x.curl)
    );
}

/// Every place where `actual` differs from `expected` (keys of `expected` only: the checks
/// never require the absence of extra fields), as `path: expected X, actual Y` lines.
pub fn differences(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    let at = if path.is_empty() { "(value)" } else { path };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(av) => differences(ev, av, &p, out),
                    None => out.push(format!("{p}: expected {ev}, actual missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{at}: expected {} entries, actual {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                differences(ev, av, &format!("{path}[{i}]"), out);
            }
        }
        (e, a) if e != a => out.push(format!("{at}: expected {e}, actual {a}")),
        _ => {}
    }
}

fn has_details(c: &CaseReport, expectations: Option<&Applied>) -> bool {
    matches!(
        c.verdict,
        Verdict::Fail | Verdict::NonStrict | Verdict::SetupError
    ) || expectations.is_some_and(|a| matches!(a.status(&c.id), Some(("stale", _))))
}

fn expectation_tag(c: &CaseReport, expectations: Option<&Applied>) -> Option<String> {
    let a = expectations?;
    if a.is_unexpected(&c.id) {
        return Some("<span class=\"tag bad\">unexpected</span>".to_owned());
    }
    let (status, l) = a.status(&c.id)?;
    let class = if status == "stale" { "bad" } else { "known" };
    Some(format!(
        "<span class=\"tag {class}\">{status}</span> <small>line {}: {}</small>",
        l.line,
        esc(&l.reason)
    ))
}

fn clause_links(ids: &[String]) -> String {
    ids.iter()
        .map(|id| {
            format!(
                "<a href=\"#clause-{}\"><code>{}</code></a>",
                anchor(id),
                esc(id)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn badge(v: Verdict) -> String {
    format!("<span class=\"v {}\">{}</span>", class(v), v.name())
}

fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::NonStrict => "nonstrict",
        Verdict::Fail => "fail",
        Verdict::Skip => "skip",
        Verdict::SetupError => "setup",
    }
}

/// An `id` attribute value: IDs are kebab-case already; anything else becomes `_`.
fn anchor(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn pretty(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

const CSS: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}\
h1{font-size:1.5em;margin:0 0 .3em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}\
h3{font-size:1.05em}h4{margin:.2em 0;font-size:.85em;color:#555}\
code,pre{font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}\
pre{background:#f6f6f6;border:1px solid #ddd;padding:.5em;overflow-x:auto;white-space:pre-wrap;word-break:break-all;margin:.2em 0}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;vertical-align:top;text-align:left}\
table.kv th{background:#f3f3f3;font-weight:600}table.list{width:100%}table.list thead th{background:#eee;position:sticky;top:0}\
td.num{text-align:right}.v{display:inline-block;padding:0 .4em;border-radius:3px;font-weight:600;font-size:.85em;white-space:nowrap}\
.pass{background:#d8f5d8;color:#185c18}.nonstrict{background:#fff1c2;color:#6a4d00}.fail{background:#fbd3d3;color:#8a1010}\
.skip{background:#e6e6e6;color:#555}.setup{background:#f0d9f7;color:#5e1a78}.none{background:#fff;color:#999;border:1px dashed #bbb}\
.outcome{font-weight:700;padding:.3em .6em;display:inline-block;border-radius:4px}.outcome.ok{background:#d8f5d8}.outcome.bad{background:#fbd3d3}\
.counts label{margin-right:.4em;cursor:pointer}.tag{padding:0 .3em;border-radius:3px;font-size:.85em}\
.tag.bad{background:#8a1010;color:#fff}.tag.known{background:#ddd}\
article{border:1px solid #ccc;border-left:4px solid #999;padding:.2em .8em .6em;margin:1em 0}\
article[data-verdict=FAIL]{border-left-color:#c22}article[data-verdict=NON-STRICT]{border-left-color:#d9a400}\
article[data-verdict=SETUP-ERROR]{border-left-color:#8a3bb0}\
.failure{margin:.6em 0;padding:.3em .6em;background:#fff8f8;border:1px solid #f0c8c8}.failure.should{background:#fffbea;border-color:#eedc9a}\
.diff{display:flex;gap:.6em}.diff>div{flex:1;min-width:0}.exchange{margin:.5em 0}pre.curl{background:#f0f4ff}\
ul.delta{margin:.2em 0}table.list td:nth-child(2) code{white-space:nowrap}\
ul.attention{columns:3;margin:.2em 0}";

const JS: &str = "\
document.querySelectorAll('input[data-filter]').forEach(function(box){\
box.addEventListener('change',function(){\
var hidden={};document.querySelectorAll('input[data-filter]').forEach(function(b){if(!b.checked)hidden[b.dataset.filter]=1;});\
document.querySelectorAll('[data-verdict]').forEach(function(el){el.hidden=!!hidden[el.dataset.verdict];});});});";
