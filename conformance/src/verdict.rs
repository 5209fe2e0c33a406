//! Verdicts and failures (conf-spec.md, "Verdicts").

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clause::Strength;

/// The outcome of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// Every check held.
    #[serde(rename = "PASS")]
    Pass,
    /// Every must-check held; a should-check (a documented reading) did not.
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    /// A must-check failed.
    #[serde(rename = "FAIL")]
    Fail,
    /// Not run: edition not selected or a needed capability not claimed.
    #[serde(rename = "SKIP")]
    Skip,
    /// A setup call failed or the target became unreachable mid-case.
    #[serde(rename = "SETUP-ERROR")]
    SetupError,
}

impl Verdict {
    /// The verdict as printed.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
            Verdict::SetupError => "SETUP-ERROR",
        }
    }

    /// Whether the verdict counts as passed (PASS, NON-STRICT).
    pub const fn passed(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::NonStrict)
    }

    /// Whether the verdict counts as failed (FAIL, SETUP-ERROR).
    pub const fn failed(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::SetupError)
    }

    /// The verdict a run of checks earns: FAIL on any must failure, else NON-STRICT on any
    /// should failure, else PASS.
    pub fn from_failures(failures: &[Failure]) -> Verdict {
        if failures.iter().any(|f| f.strength == Strength::Must) {
            Verdict::Fail
        } else if failures.iter().any(|f| f.strength == Strength::Should) {
            Verdict::NonStrict
        } else {
            Verdict::Pass
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One check that did not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The clause the check belongs to (an automatic clause, or the case's clauses joined by `,`).
    pub clause: String,
    /// Must (FAIL), should (NON-STRICT) or info.
    pub strength: Strength,
    /// Where: `setup[0]`, `step[2]`, `step[3] readback`.
    pub at: String,
    /// What did not hold.
    pub message: String,
    /// The expected value, when there is one (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    /// The actual value, when there is one (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(strength: Strength) -> Failure {
        Failure {
            clause: "X".into(),
            strength,
            at: "step[0]".into(),
            message: String::new(),
            expected: None,
            actual: None,
        }
    }

    #[test]
    fn must_fails_should_is_non_strict_info_passes() {
        assert_eq!(Verdict::from_failures(&[]), Verdict::Pass);
        assert_eq!(
            Verdict::from_failures(&[failure(Strength::Info)]),
            Verdict::Pass
        );
        assert_eq!(
            Verdict::from_failures(&[failure(Strength::Should)]),
            Verdict::NonStrict
        );
        let both = [failure(Strength::Should), failure(Strength::Must)];
        assert_eq!(Verdict::from_failures(&both), Verdict::Fail);
        assert_eq!(
            serde_json::to_value(Verdict::NonStrict).unwrap(),
            "NON-STRICT"
        );
        assert!(Verdict::SetupError.failed() && Verdict::NonStrict.passed());
        assert!(!Verdict::Skip.passed() && !Verdict::Skip.failed());
    }
}
