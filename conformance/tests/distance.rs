//! Issue 17, item 2 (distance): the rate-limit bursts adapt to the target's round trip, and a
//! target the runner cannot push over its quota is SKIP, not FAIL.
//!
//! - A distant target (every `import_group_msg` answered after 400 ms, by the reference server's
//!   own delay fault): 32 calls in flight would reach 80/s, under the seed quota of 100/s, and a
//!   correct server would never have to refuse one. The burst sizes its in-flight calls from the
//!   measured round trip and still exceeds the quota: both rate cases PASS.
//! - A target that handles one call at a time, 20 ms each (at most 50/s): no burst can exceed
//!   the quota from here, so the rate cases are SKIP with the reason, not FAIL.

use std::sync::Arc;

use serde_json::json;
use tim_conformance::report::text;
use tim_conformance::{run, SecretKey, Suite, SuiteOptions, SuiteReport, Target, Verdict};
use tim_model::{usersig, Edition};
use tim_server::clock::SystemClock;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::store::memory::MemoryStore;

fn target(base_url: String) -> Target {
    Target {
        base_url,
        sdkappid: DEV_SDKAPPID,
        identifier: DEV_ADMIN.to_owned(),
        secret_key: SecretKey::new(DEV_SECRET_KEY),
    }
}

/// Arms the reference server's control plane: every `import_group_msg` waits `ms` first.
async fn delay_imports(base_url: &str, ms: u64) {
    let now = tim_server::clock::Clock::now(&SystemClock);
    let sig = usersig::sign(
        DEV_SDKAPPID,
        &SecretKey::new(DEV_SECRET_KEY),
        DEV_ADMIN,
        3600,
        now,
    );
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("{base_url}/_tim/faults"))
        .query(&[
            ("sdkappid", DEV_SDKAPPID.to_string()),
            ("identifier", DEV_ADMIN.to_owned()),
            ("usersig", sig),
            ("random", "1".to_owned()),
            ("contenttype", "json".to_owned()),
        ])
        .json(&json!([{ "command": "import_group_msg", "effect": { "delay_ms": ms } }]))
        .send()
        .await
        .expect("the control plane answers")
        .json()
        .await
        .expect("a JSON answer");
    assert_eq!(reply["rules"].as_array().map(Vec::len), Some(1), "{reply}");
}

/// The rate-limit cases, seed edition (100 requests/s).
async fn rate_cases(target: &Target) -> SuiteReport {
    let suite = Suite::load_default().unwrap_or_else(|e| panic!("{e}"));
    let opts = SuiteOptions {
        edition: Edition::Seed,
        filter: Some("rate-burst".to_owned()),
        ..SuiteOptions::default()
    };
    let report = run(&suite, target, &opts).await.expect("the suite runs");
    assert_eq!(report.cases.len(), 2, "both burst cases ran");
    report
}

fn verdicts(report: &SuiteReport) -> String {
    report
        .cases
        .iter()
        .map(|c| format!("\n=== {} {}\n{}", c.verdict, c.id, text::case_details(c)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distant_target_is_still_pushed_over_its_quota() {
    let mut config = ServerConfig::development(DataLocation::Memory);
    config.limits = Edition::Seed.limits();
    let server = tim_server::EmbeddedServer::start(config)
        .await
        .expect("reference server starts");
    delay_imports(&server.url(), 400).await;
    let report = rate_cases(&target(server.url())).await;
    assert!(
        report.cases.iter().all(|c| c.verdict == Verdict::Pass),
        "{}",
        verdicts(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_cannot_be_pushed_over_its_quota_is_skipped_not_failed() {
    let mut config = ServerConfig::development(DataLocation::Memory);
    config.limits = Edition::Seed.limits();
    // One call at a time (a single-threaded server), 20 ms each: at most 50 calls/s.
    let router = tim_server::app(
        &config,
        Arc::new(MemoryStore::new()),
        Arc::new(SystemClock),
        Some(3),
    )
    .layer(tower::limit::ConcurrencyLimitLayer::new(1));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    delay_imports(&url, 20).await;
    let report = rate_cases(&target(url)).await;
    server.abort();
    for c in &report.cases {
        assert_eq!(c.verdict, Verdict::Skip, "{}", verdicts(&report));
        let note = c.note.as_deref().unwrap_or_default();
        assert!(
            note.starts_with("could not exceed the quota from here"),
            "{}: {note}",
            c.id
        );
    }
}
