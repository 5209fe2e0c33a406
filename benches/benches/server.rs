//! In-process handler throughput of the reference server: `import_group_msg` with a full seed
//! batch (20 messages) through the whole stack (router, gateway with UserSig verification,
//! decode, validation, store commit, envelope), for both stores, against a bare axum JSON
//! handler as the baseline. Rate limiting is off: this measures the server, not the quota.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use criterion::{Criterion, Throughput};
use serde_json::{json, Value};
use tim_model::usersig::sign;
use tim_model::{Command, CommonQuery, Edition};
use tim_server::clock::ManualClock;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN};
use tim_server::store::memory::MemoryStore;
use tim_server::store::sqlite::SqliteStore;
use tim_server::store::Store;
use tower::ServiceExt;

use tim_benches::{CREATE_TIME, NOW};

/// A custom group ID (server-assigned `@TGS#…` IDs cannot be chosen by `import_group`).
const GROUP_ID: &str = "bench-group";

fn config() -> ServerConfig {
    let mut limits = Edition::Seed.limits();
    limits.requests_per_second = None;
    ServerConfig {
        limits,
        restricted_words: vec!["forbidden".into()],
        ..ServerConfig::development(DataLocation::Memory)
    }
}

fn uri(command: Command) -> String {
    let cfg = config();
    let sig = sign(cfg.sdkappid, &cfg.secret_key, DEV_ADMIN, 86_400, NOW);
    let q = CommonQuery::new(cfg.sdkappid, DEV_ADMIN, &sig, 1);
    format!("{}?{}", command.path(), q.to_query_string())
}

async fn send(router: &Router, uri: &str, body: &[u8]) -> Value {
    let req = Request::post(uri).body(Body::from(body.to_vec())).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The shared 20-message seed batch, made repeatable: one `SendTime` for all (equal times are
/// accepted) and no `Random` (so no message is a duplicate): every iteration stores 20 messages.
fn batch_body() -> Vec<u8> {
    let mut req = tim_benches::import_batch(20);
    req.group_id = GROUP_ID.to_owned();
    for m in &mut req.msg_list {
        m.send_time = tim_benches::FIRST_SEND_TIME;
        m.random = None;
    }
    serde_json::to_vec(&req).unwrap()
}

fn bench_server(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<(&str, Arc<dyn Store>)> = vec![
        ("memory", Arc::new(MemoryStore::new())),
        (
            "sqlite",
            Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap()),
        ),
    ];
    let import_uri = uri(Command::ImportGroupMsg);
    let body = batch_body();
    let mut g = c.benchmark_group("server/import_group_msg_20");
    g.throughput(Throughput::Elements(20));
    g.sample_size(30);

    // Baseline: a bare axum handler that parses the same JSON and answers a fixed envelope
    // (shared with the load driver).
    let baseline = tim_benches::baseline::router();
    g.bench_function("axum_json_baseline", |b| {
        b.to_async(&rt).iter(|| async {
            let req = Request::post(&import_uri)
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            let resp = baseline.clone().oneshot(req).await.unwrap();
            axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap()
        })
    });

    for (name, store) in stores {
        let clock = Arc::new(ManualClock::new(NOW));
        let router = tim_server::app(&config(), store, clock, Some(1));
        let setup = json!({"GroupId": GROUP_ID, "Type": "Public", "Name": "bench", "CreateTime": CREATE_TIME});
        let created = rt.block_on(send(
            &router,
            &uri(Command::ImportGroup),
            &serde_json::to_vec(&setup).unwrap(),
        ));
        assert_eq!(created["ErrorCode"], 0, "{created}");
        let first = rt.block_on(send(&router, &import_uri, &body));
        assert_eq!(first["ErrorCode"], 0, "{first}");
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let v = send(&router, &import_uri, &body).await;
                debug_assert_eq!(v["ErrorCode"], 0);
                v
            })
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_server(&mut c);
    c.final_summary();
}
