//! Expectations files: a target's known failures, each with a reason.
//!
//! A listed case that fails (FAIL or SETUP-ERROR) is reported as *known* and does not fail the
//! run; a listed case that now passes (PASS or NON-STRICT) is *stale* and fails the run, so the
//! file never hides a fix; a failing case that is not listed is *unexpected* and fails the run.
//! An entry may be limited to one edition. Entries naming a case the suite does not have (or a
//! case that does not apply to the entry's edition) are an error naming the file and line: a
//! typo must not silently tolerate nothing.
//!
//! Format (TOML):
//! ```toml
//! [[expected]]
//! case = "igm-batch-over-limit"
//! reason = "we accept 25 messages a request (our ticket 12)"
//! edition = "seed"            # optional: only when the run claims this edition
//! ```

use std::fmt::{self, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use tim_model::Edition;

use crate::report::SuiteReport;
use crate::verdict::Verdict;
use crate::Suite;

/// One known failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// The case ID.
    pub case: String,
    /// Why it fails (must not be empty).
    pub reason: String,
    /// The edition the entry is limited to (`None`: every edition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<Edition>,
    /// The 1-based line of the entry's `case` key in its file (0 when built in code).
    #[serde(skip)]
    pub line: usize,
}

impl Expected {
    /// Whether the entry applies to a run of `edition`.
    pub fn applies_to(&self, edition: Edition) -> bool {
        self.edition.is_none_or(|e| e == edition)
    }
}

/// A whole expectations file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectations {
    /// Where the entries came from (for messages).
    #[serde(skip)]
    pub path: String,
    /// The known failures.
    #[serde(default)]
    pub expected: Vec<Expected>,
}

/// The file cannot be read or parsed, or an entry is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ExpectationsError {
    /// The file.
    pub path: String,
    /// The 1-based line, when the problem is one entry.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ExpectationsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "expectations file {}:{line}: {}",
                self.path, self.message
            ),
            None => write!(f, "expectations file {}: {}", self.path, self.message),
        }
    }
}

/// The file's shape as parsed, with spans for line numbers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    expected: Vec<RawExpected>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpected {
    case: toml::Spanned<String>,
    reason: String,
    #[serde(default)]
    edition: Option<Edition>,
}

impl Expectations {
    /// Reads an expectations file and checks every entry against `suite`.
    pub fn load(path: &Path, suite: &Suite) -> Result<Expectations, ExpectationsError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ExpectationsError {
            path: name.clone(),
            line: None,
            message: e.to_string(),
        })?;
        Expectations::parse(&name, &text, suite)
    }

    /// Parses the text of an expectations file called `path` and checks every entry against
    /// `suite`: the case exists, applies to the entry's edition, has a reason, and is listed
    /// once per edition.
    pub fn parse(path: &str, text: &str, suite: &Suite) -> Result<Expectations, ExpectationsError> {
        let err = |line: Option<usize>, message: String| ExpectationsError {
            path: path.to_owned(),
            line,
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            err(line, e.message().trim_end().to_owned())
        })?;
        let mut expected: Vec<Expected> = Vec::with_capacity(raw.expected.len());
        for r in raw.expected {
            let line = line_of(text, r.case.span().start);
            let entry = Expected {
                case: r.case.into_inner(),
                reason: r.reason,
                edition: r.edition,
                line,
            };
            let Some(case) = suite.cases.iter().find(|c| c.id == entry.case) else {
                return Err(err(
                    Some(line),
                    format!("unknown case {:?}: the suite has no such case", entry.case),
                ));
            };
            if let Some(e) = entry.edition {
                if !case.applies_to(e) {
                    return Err(err(
                        Some(line),
                        format!("case {:?} does not apply to edition {e}", entry.case),
                    ));
                }
            }
            if entry.reason.trim().is_empty() {
                return Err(err(
                    Some(line),
                    format!("case {:?}: the reason is empty", entry.case),
                ));
            }
            if let Some(prev) = expected.iter().find(|p| {
                p.case == entry.case
                    && (p.edition.is_none()
                        || entry.edition.is_none()
                        || p.edition == entry.edition)
            }) {
                return Err(err(
                    Some(line),
                    format!(
                        "case {:?} is already listed on line {}",
                        entry.case, prev.line
                    ),
                ));
            }
            expected.push(entry);
        }
        Ok(Expectations {
            path: path.to_owned(),
            expected,
        })
    }

    /// The entry for `case` in a run of `edition`.
    pub fn entry(&self, case: &str, edition: Edition) -> Option<&Expected> {
        self.expected
            .iter()
            .find(|e| e.case == case && e.applies_to(edition))
    }

    /// Compares `report` with the expectations.
    pub fn apply(&self, report: &SuiteReport) -> Applied {
        let mut a = Applied {
            path: self.path.clone(),
            edition: report.edition,
            ..Applied::default()
        };
        for c in &report.cases {
            let entry = self.entry(&c.id, report.edition);
            let listed = |e: &Expected| Listed {
                case: c.id.clone(),
                verdict: c.verdict,
                reason: e.reason.clone(),
                line: e.line,
            };
            match entry {
                Some(e) if c.verdict.failed() => a.known.push(listed(e)),
                Some(e) if c.verdict.passed() => a.stale.push(listed(e)),
                Some(e) => a.not_run.push(listed(e)),
                None if c.verdict.failed() => a.unexpected.push((c.id.clone(), c.verdict)),
                None => {}
            }
        }
        a
    }
}

/// A case named by an expectations entry, with the verdict it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// The case ID.
    pub case: String,
    /// Its verdict in this run.
    pub verdict: Verdict,
    /// The entry's reason.
    pub reason: String,
    /// The entry's line in the file.
    pub line: usize,
}

/// How a report compares with the expectations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The expectations file.
    pub path: String,
    /// The edition of the run.
    pub edition: Edition,
    /// Failing cases that are listed (tolerated).
    pub known: Vec<Listed>,
    /// Listed cases that passed: stale entries (fail the run).
    pub stale: Vec<Listed>,
    /// Failing cases that are not listed (fail the run), with their verdicts.
    pub unexpected: Vec<(String, Verdict)>,
    /// Listed cases that were skipped in this run (neither known nor stale).
    pub not_run: Vec<Listed>,
}

impl Applied {
    /// Whether the run is acceptable: no unexpected failure and no stale entry.
    pub fn ok(&self) -> bool {
        self.stale.is_empty() && self.unexpected.is_empty()
    }

    /// The entry that covers `case`, with how it fared: `"known"`, `"stale"` or `"not run"`.
    pub fn status(&self, case: &str) -> Option<(&'static str, &Listed)> {
        self.known
            .iter()
            .find(|l| l.case == case)
            .map(|l| ("known", l))
            .or_else(|| {
                self.stale
                    .iter()
                    .find(|l| l.case == case)
                    .map(|l| ("stale", l))
            })
            .or_else(|| {
                self.not_run
                    .iter()
                    .find(|l| l.case == case)
                    .map(|l| ("not run", l))
            })
    }

    /// Whether `case` failed without an entry.
    pub fn is_unexpected(&self, case: &str) -> bool {
        self.unexpected.iter().any(|(c, _)| c == case)
    }

    /// The text report's expectations section: one line per listed or unexpected case, then a
    /// count line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nexpectations {} (edition {}):",
            self.path, self.edition
        );
        for l in &self.known {
            let _ = writeln!(
                out,
                "  known       {:<11} {}: {}",
                l.verdict.name(),
                l.case,
                l.reason
            );
        }
        for l in &self.stale {
            let _ = writeln!(
                out,
                "  STALE       {:<11} {}: stale expectation, the case passes now; remove the entry at line {} (reason was: {})",
                l.verdict.name(),
                l.case,
                l.line,
                l.reason
            );
        }
        for (c, v) in &self.unexpected {
            let _ = writeln!(out, "  unexpected  {:<11} {c}: not in the file", v.name());
        }
        for l in &self.not_run {
            let _ = writeln!(
                out,
                "  not run     {:<11} {}: {}",
                l.verdict.name(),
                l.case,
                l.reason
            );
        }
        let _ = writeln!(
            out,
            "expectations: {} known, {} stale, {} unexpected{}",
            self.known.len(),
            self.stale.len(),
            self.unexpected.len(),
            if self.ok() { "" } else { " => the run fails" }
        );
        out
    }
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}
