//! Issue 17, item 2 (clocks): a correct server whose clock is a minute and a half behind the
//! runner's passes. The runner estimates the offset from the HTTP `Date` header before the cases,
//! reports it, and dates `${now}` in the target's time; without that, the time-edge cases (a
//! SendTime a minute ahead must be refused, one a second ago accepted) would fail a correct server.

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use tim_conformance::report::text;
use tim_conformance::{run, SecretKey, Suite, SuiteOptions, Target, Verdict};
use tim_model::Edition;
use tim_server::clock::{Clock, SystemClock};
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::store::memory::MemoryStore;

/// How far behind the runner the target's clock is, in seconds.
const BEHIND: i64 = 90;

/// The system clock, `BEHIND` seconds late.
struct Late;

impl Clock for Late {
    fn now(&self) -> i64 {
        SystemClock.now() - BEHIND
    }
}

/// The reference server on the late clock, its `Date` header from the same clock (as a real
/// host with a wrong clock sends it).
async fn late_server(edition: Edition) -> (Target, tokio::task::JoinHandle<()>) {
    let mut config = ServerConfig::development(DataLocation::Memory);
    config.limits = edition.limits();
    let router = tim_server::app(
        &config,
        Arc::new(MemoryStore::new()),
        Arc::new(Late),
        Some(7),
    )
    .layer(axum::middleware::map_response(
        |mut resp: axum::response::Response| async move {
            let t = chrono::DateTime::from_timestamp(Late.now(), 0).expect("a valid time");
            let date = t.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            if let Ok(v) = HeaderValue::from_str(&date) {
                resp.headers_mut().insert(header::DATE, v);
            }
            resp
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let target = Target {
        base_url: format!("http://{addr}"),
        sdkappid: DEV_SDKAPPID,
        identifier: DEV_ADMIN.to_owned(),
        secret_key: SecretKey::new(DEV_SECRET_KEY),
    };
    (target, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_late_clock_passes_and_the_offset_is_reported() {
    let suite = Suite::load_default().unwrap_or_else(|e| panic!("{e}"));
    let (target, server) = late_server(Edition::Seed).await;
    let opts = SuiteOptions {
        edition: Edition::Seed,
        ..SuiteOptions::default()
    };
    let report = run(&suite, &target, &opts).await.expect("the suite runs");
    server.abort();
    let clock = report.clock.expect("the offset was estimated");
    assert!(
        (clock.offset + BEHIND as f64).abs() <= clock.uncertainty + 0.01,
        "estimated {clock:?}, the server is {BEHIND} s behind"
    );
    assert_eq!(clock.shift, -BEHIND, "{clock:?}");
    assert!(
        text::render(&report).contains("${now} shifted by -90 s"),
        "the report names the shift"
    );
    let failed: String = report
        .cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::SetupError))
        .map(|c| format!("\n=== {} {}\n{}", c.verdict, c.id, text::case_details(c)))
        .collect();
    assert!(
        failed.is_empty(),
        "a correct server with a late clock failed:{failed}"
    );
    // The time-edge cases ran (their margins exceed the estimate's error): they were judged.
    for id in ["igm-time-future-minute", "igm-time-recent"] {
        let c = report
            .cases
            .iter()
            .find(|c| c.id == id)
            .expect("case exists");
        assert_eq!(c.verdict, Verdict::Pass, "{id}: {:?}", c.note);
    }
}
