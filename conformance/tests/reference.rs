//! The suite against the in-process reference server, in both editions: every case PASSes, two
//! runs give identical transcripts, and each case's redacted transcript is an insta snapshot
//! (`tests/snapshots/<edition>__<case-id>.snap`).

use serde_json::{json, Value};
use tim_conformance::report::text;
use tim_conformance::{
    run, CaseReport, SecretKey, Suite, SuiteOptions, SuiteReport, Target, Verdict,
};
use tim_model::Edition;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::EmbeddedServer;

/// The restricted word the reference server is configured with.
const WORD: &str = "forbiddenword";

async fn run_twice(suite: &Suite, edition: Edition) -> (SuiteReport, SuiteReport) {
    let mut config = ServerConfig::development(DataLocation::Memory);
    config.limits = edition.limits();
    config.restricted_words = vec![WORD.to_owned()];
    let server = EmbeddedServer::start(config)
        .await
        .expect("reference server starts");
    let target = Target {
        base_url: server.url(),
        sdkappid: DEV_SDKAPPID,
        identifier: DEV_ADMIN.to_owned(),
        secret_key: SecretKey::new(DEV_SECRET_KEY),
    };
    let opts = SuiteOptions {
        edition,
        restricted_word: Some(WORD.to_owned()),
        ..SuiteOptions::default()
    };
    let first = run(suite, &target, &opts).await.expect("the suite runs");
    let second = run(suite, &target, &opts)
        .await
        .expect("the suite runs again");
    (first, second)
}

/// What a snapshot holds: the verdict, the reading and the transcript without curl lines.
fn snapshot_view(c: &CaseReport) -> Value {
    let transcript: Vec<Value> = c
        .transcript
        .iter()
        .map(|x| json!({ "kind": x.kind, "request": format!("{} {}", x.method, x.path), "body": x.body, "http": x.http, "response": x.response }))
        .collect();
    json!({ "id": c.id, "verdict": c.verdict, "reading": c.reading, "transcript": transcript })
}

fn assert_all_pass(report: &SuiteReport) {
    let bad: Vec<&CaseReport> = report
        .cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skip))
        .collect();
    let details: String = bad
        .iter()
        .map(|c| format!("\n=== {} {}\n{}", c.verdict, c.id, text::case_details(c)))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} cases did not PASS in {}:{details}",
        bad.len(),
        report.cases.len(),
        report.edition
    );
    assert!(report.cases.iter().any(|c| c.verdict == Verdict::Pass));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_server_passes_every_case_in_both_editions() {
    let suite = Suite::load_default().unwrap_or_else(|e| panic!("{e}"));
    let ((seed1, seed2), (cur1, cur2)) = tokio::join!(
        run_twice(&suite, Edition::Seed),
        run_twice(&suite, Edition::Current)
    );
    for (first, second) in [(&seed1, &seed2), (&cur1, &cur2)] {
        eprintln!(
            "{}: {} in {:.1} s, then {:.1} s",
            first.edition,
            first.summary_line(),
            first.duration,
            second.duration
        );
        assert_all_pass(first);
        assert_all_pass(second);
        for (a, b) in first.cases.iter().zip(&second.cases) {
            assert_eq!(
                snapshot_view(a),
                snapshot_view(b),
                "two runs of {} differ in {}",
                a.id,
                first.edition
            );
        }
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for report in [&seed1, &cur1] {
            for c in report.cases.iter().filter(|c| c.verdict != Verdict::Skip) {
                insta::assert_json_snapshot!(
                    format!("{}__{}", report.edition, c.id),
                    snapshot_view(c)
                );
            }
        }
    });
}
