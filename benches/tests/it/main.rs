//! The load driver against real servers on 127.0.0.1: the reference server (in process, and the
//! `tim-load` binary end to end) and the bare baseline. No timing is asserted: only counts,
//! outcomes and the report's shape.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use tim_benches::load::{
    run_compared, run_phase, start_baseline, start_reference, Load, LoadError, PhaseStats,
    ReferenceOptions, Store, Target,
};
use tim_model::usersig::SecretKey;
use tim_model::Edition;

/// Few groups keep setup short; the schedule still never runs out of free groups.
const GROUPS: usize = 8;

fn reference(edition: Edition, store: Store, restricted: &[&str]) -> ReferenceOptions {
    ReferenceOptions {
        edition,
        store,
        rate_limit: edition.limits().requests_per_second,
        restricted_words: restricted.iter().map(|w| w.to_string()).collect(),
    }
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_run_against_the_reference_server_has_no_errors() {
    for (edition, store) in [
        (Edition::Seed, Store::Sqlite),
        (Edition::Current, Store::Memory),
    ] {
        let server = start_reference(&reference(edition, store, &[])).unwrap();
        let stats = run_phase(
            server.target(),
            edition,
            GROUPS,
            Load::Rate(20.0),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        let batch = edition.limits().msgs_per_request as u64;
        assert_eq!(stats.errors, counts(&[]), "{edition}");
        assert_eq!((stats.requests, stats.ok_requests), (20, 20), "{edition}");
        assert_eq!(stats.messages, 20 * batch, "{edition}");
        server.stop().unwrap();
    }
}

/// Ten requests in one second against a reference server that restricts "budget" (in message
/// `i` when `i % 3 == 0`, so in every seed batch of 20).
async fn run_against_restricted_words(edition: Edition) -> PhaseStats {
    let server = start_reference(&reference(edition, Store::Memory, &["budget"])).unwrap();
    run_phase(
        server.target(),
        edition,
        GROUPS,
        Load::Rate(10.0),
        Duration::from_secs(1),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn api_level_errors_are_counted_by_code() {
    // Seed: each request fails whole.
    let stats = run_against_restricted_words(Edition::Seed).await;
    assert_eq!(stats.errors, counts(&[("80001", 10)]));
    assert_eq!(
        (stats.requests, stats.ok_requests, stats.messages),
        (10, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn per_message_errors_are_counted_by_code() {
    // Current: only those messages fail. Ten batches of 7 are messages 0..70, 24 of them with i % 3 == 0.
    let stats = run_against_restricted_words(Edition::Current).await;
    assert_eq!(stats.errors, counts(&[("80001 (message)", 24)]));
    assert_eq!((stats.requests, stats.ok_requests), (10, 10));
    assert_eq!(stats.messages, 70 - 24);
}

#[tokio::test(flavor = "multi_thread")]
async fn transport_failures_are_counted_by_kind() {
    // A server that creates groups but fails every import with HTTP 500 (a fault the reference
    // server does not show).
    let app = Router::new()
        .route(
            "/v4/group_open_http_svc/import_group",
            post(|| async { r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"# }),
        )
        .route(
            "/v4/group_open_http_svc/import_group_msg",
            post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let target = Target {
        base_url: format!("http://{addr}"),
        sdkappid: 1,
        identifier: "admin".into(),
        secret_key: SecretKey::new("k"),
    };
    let stats = run_phase(
        target,
        Edition::Seed,
        GROUPS,
        Load::Rate(5.0),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(stats.errors, counts(&[("transport: HTTP 500", 5)]));
    assert_eq!(stats.ok_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_target_fails_the_setup() {
    // Bind and drop: the port is very likely closed afterwards.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = Target {
        base_url: format!("http://{addr}"),
        sdkappid: 1,
        identifier: "admin".into(),
        secret_key: SecretKey::new("k"),
    };
    let err = run_phase(
        target,
        Edition::Seed,
        1,
        Load::Rate(1.0),
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, LoadError::Setup { reason, .. } if reason == "transport: connect"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn max_run_drives_the_baseline_without_errors() {
    let baseline = start_baseline().unwrap();
    let stats = run_phase(
        baseline.target(),
        Edition::Seed,
        GROUPS,
        Load::Max { connections: 4 },
        Duration::from_millis(300),
    )
    .await
    .unwrap();
    assert!(stats.requests > 0);
    assert_eq!(stats.errors, counts(&[]));
    assert_eq!(stats.messages, 20 * stats.ok_requests);
}

#[tokio::test(flavor = "multi_thread")]
async fn compared_run_measures_the_server_and_the_baseline_in_turns() {
    let mut options = reference(Edition::Current, Store::Memory, &[]);
    options.rate_limit = None;
    let server = start_reference(&options).unwrap();
    let baseline = start_baseline().unwrap();
    // 2.5 s in turns of 2 s: two slices of 1.25 s each.
    let (target, base) = run_compared(
        server.target(),
        baseline.target(),
        Edition::Current,
        GROUPS,
        2,
        Duration::from_millis(2500),
    )
    .await
    .unwrap();
    for stats in [&target, &base] {
        assert!(stats.ok_requests > 0, "{stats:?}");
        assert_eq!(stats.errors, counts(&[]));
        assert_eq!(stats.messages, 7 * stats.ok_requests);
        assert!(stats.elapsed_secs >= 2.5, "{stats:?}");
    }
}

/// The binary end to end, against a reference server it is pointed at with `--target`: with the
/// right key (from `TIM_SECRET_KEY`) zero errors and the JSON report written; with a wrong one
/// (`--secret-key`) a setup failure. Neither key, nor a UserSig, is ever printed.
#[test]
fn binary_reports_json_and_never_prints_the_secret() {
    let wrong_key = "load-test-secret-5bd2850fff3e";
    let mut options = reference(Edition::Seed, Store::Memory, &[]);
    options.rate_limit = None;
    let server = start_reference(&options).unwrap();
    let target = server.target();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = Command::new(env!("CARGO_BIN_EXE_tim-load"))
        .args(["--target", &target.base_url, "--sdkappid"])
        .arg(target.sdkappid.to_string())
        .args(["--identifier", &target.identifier])
        .args(["--rate", "10", "--duration", "1s", "--groups", "4"])
        .arg("--json")
        .arg(&json)
        .arg("--fail-on-error")
        .env("TIM_SECRET_KEY", tim_server::config::DEV_SECRET_KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("req/s"), "{stdout}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(tim_server::config::DEV_SECRET_KEY), "{text}");
        assert!(!text.contains("usersig"), "{text}");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["requests"], 10);
    assert_eq!(report["errors"], serde_json::json!({}));
    assert!(report["latency_ms"]["p99"].is_number());

    // A wrong key: setup fails (exit 2) with the error code, and neither key shows.
    let out = Command::new(env!("CARGO_BIN_EXE_tim-load"))
        .args(["--target", &target.base_url, "--sdkappid"])
        .arg(target.sdkappid.to_string())
        .args([
            "--identifier",
            &target.identifier,
            "--secret-key",
            wrong_key,
        ])
        .args(["--duration", "1s", "--groups", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ErrorCode 70009"), "{stderr}");
    assert!(!stderr.contains(wrong_key), "{stderr}");
    server.stop().unwrap();
}
