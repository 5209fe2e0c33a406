//! Expectations files: known failures with reasons. A listed case that fails is reported but does
//! not fail the run; a listed case that now passes is stale and fails the run.
//! (Owner: the REPORTS helper; this is the minimal working version.)
//!
//! Format (TOML):
//! ```toml
//! [[expected]]
//! case = "igm-batch-over-limit"
//! reason = "we allow 25 messages"
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::SuiteReport;

/// One known failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// The case ID.
    pub case: String,
    /// Why it fails.
    pub reason: String,
}

/// A whole expectations file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The known failures.
    #[serde(default)]
    pub expected: Vec<Expected>,
}

/// The file cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("expectations file {path}: {message}")]
pub struct ExpectationsError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// How a report compares with the expectations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Failing cases that are listed (tolerated).
    pub known: Vec<String>,
    /// Listed cases that passed: stale entries (fail the run).
    pub stale: Vec<String>,
    /// Failing cases that are not listed (fail the run).
    pub unexpected: Vec<String>,
}

impl Applied {
    /// Whether the run is acceptable: no unexpected failure and no stale entry.
    pub fn ok(&self) -> bool {
        self.stale.is_empty() && self.unexpected.is_empty()
    }
}

impl Expectations {
    /// Reads an expectations file.
    pub fn load(path: &Path) -> Result<Expectations, ExpectationsError> {
        let err = |message: String| ExpectationsError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        toml::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// Compares `report` with the expectations.
    pub fn apply(&self, report: &SuiteReport) -> Applied {
        let listed = |id: &str| self.expected.iter().any(|e| e.case == id);
        let mut a = Applied::default();
        for c in &report.cases {
            if c.verdict.failed() {
                if listed(&c.id) {
                    a.known.push(c.id.clone());
                } else {
                    a.unexpected.push(c.id.clone());
                }
            } else if c.verdict.passed() && listed(&c.id) {
                a.stale.push(c.id.clone());
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CaseReport;
    use crate::verdict::Verdict;
    use tim_model::Edition;

    fn case(id: &str, verdict: Verdict) -> CaseReport {
        CaseReport {
            id: id.into(),
            title: String::new(),
            clauses: Vec::new(),
            verdict,
            reading: None,
            note: None,
            failures: Vec::new(),
            transcript: Vec::new(),
        }
    }

    #[test]
    fn known_stale_and_unexpected() {
        let report = SuiteReport {
            edition: Edition::Seed,
            target_url: String::new(),
            started: 0,
            duration: 0.0,
            cases: vec![
                case("a", Verdict::Fail),
                case("b", Verdict::Pass),
                case("c", Verdict::SetupError),
                case("d", Verdict::Skip),
            ],
            clauses: Vec::new(),
        };
        let e: Expectations = toml::from_str(
            "[[expected]]\ncase = \"a\"\nreason = \"x\"\n[[expected]]\ncase = \"b\"\nreason = \"y\"\n[[expected]]\ncase = \"d\"\nreason = \"z\"\n",
        )
        .unwrap();
        let a = e.apply(&report);
        assert_eq!(a.known, ["a"]);
        assert_eq!(a.stale, ["b"]);
        assert_eq!(a.unexpected, ["c"]);
        assert!(!a.ok());
        assert!(toml::from_str::<Expectations>("[[expected]]\ncase = \"a\"\n").is_err());
    }
}
