//! The JSON report: the [`SuiteReport`] as serde writes it.

use super::SuiteReport;

/// The report as pretty-printed JSON.
pub fn render(report: &SuiteReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}
