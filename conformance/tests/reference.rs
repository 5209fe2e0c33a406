//! The suite against the in-process reference server, in both editions: every case PASSes, two
//! runs give identical transcripts, and each case's redacted transcript is an insta snapshot
//! (`tests/snapshots/<edition>__<case-id>.snap`).

use tim_conformance::reference::{snapshot_name, snapshot_view};
use tim_conformance::report::text;
use tim_conformance::{
    run, CaseReport, SecretKey, Suite, SuiteOptions, SuiteReport, Target, Verdict,
};
use tim_model::Edition;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::EmbeddedServer;

/// The restricted word the reference server is configured with.
const WORD: &str = "forbiddenword";

/// The reference server for `edition` (memory store, development credentials, [`WORD`]) and a
/// target pointing at it.
async fn reference(edition: Edition) -> (EmbeddedServer, Target) {
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
    (server, target)
}

async fn run_twice(suite: &Suite, edition: Edition) -> (SuiteReport, SuiteReport) {
    let (_server, target) = reference(edition).await;
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
                    snapshot_name(report.edition, &c.id),
                    snapshot_view(c)
                );
            }
        }
    });
}

/// A case whose expectation is wrong FAILs with the difference; the reports hold no secret; and a
/// run compared with the reference snapshots is PASS throughout (not NON-STRICT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_expectation_fails_and_reports_hold_no_secret() {
    let mut suite = Suite::load_default().unwrap_or_else(|e| panic!("{e}"));
    let (_server, target) = reference(Edition::Seed).await;
    let opts = SuiteOptions {
        restricted_word: Some(WORD.to_owned()),
        reference: Some(Suite::default_dir().join("tests").join("snapshots")),
        ..SuiteOptions::default()
    };
    let compared = run(&suite, &target, &opts).await.expect("the suite runs");
    assert_all_pass(&compared);

    suite.cases.retain(|c| c.id == "igm-batch-over-limit");
    let expect = suite.cases[0].step[0]
        .expect
        .as_mut()
        .expect("the case has an expect table");
    expect.insert("ActionStatus".into(), serde_json::json!("OK"));
    let report = run(&suite, &target, &SuiteOptions::default())
        .await
        .expect("the suite runs");
    let case = &report.cases[0];
    assert_eq!(case.verdict, Verdict::Fail);
    assert!(
        case.failures
            .iter()
            .any(|f| f.at == "step[0]" && f.message.starts_with("ActionStatus")),
        "{:?}",
        case.failures
    );
    assert_eq!(report.summary_line(), "0 passed, 1 failed");

    let json = tim_conformance::report::json::render(&report).unwrap();
    let text = text::render(&report);
    for out in [&json, &text] {
        assert!(!out.contains(DEV_SECRET_KEY));
        // A usersig is base64 of a zlib stream: it starts with `eJ`.
        assert!(!out.contains("usersig=eJ"), "a usersig leaked");
        assert!(out.contains("usersig=[usersig]") && out.contains("usersig=$TIM_USERSIG"));
    }
    assert!(!format!("{target:?}").contains(DEV_SECRET_KEY));
}
