//! Concurrent importers against the in-process server, on both backends: `MsgSeq` stays gap-free
//! and duplicate-free, every acknowledged message is read back once, and the ordering rules are
//! evaluated against fresh state (behaviour.md "Storage and durability").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use rstest::rstest;
use serde_json::{json, Value};
use tim_model::edition::Edition;
use tim_model::Command;

use crate::support::{code, history, next_msg_seq, text_msg_r, Backend, Opts, TestServer, NOW};

const CLIENTS: u32 = 16;
const BATCHES: u32 = 10;

async fn server(backend: Backend, edition: Edition) -> Arc<TestServer> {
    Arc::new(
        TestServer::with(Opts {
            backend,
            edition,
            rate_limit: None,
            ..Opts::default()
        })
        .await,
    )
}

/// A unique `Random` per (client, batch, message).
fn random(client: u32, batch: u32, i: u32) -> u32 {
    client * 1_000_000 + batch * 1_000 + i
}

/// One acknowledged message: its `Random`, `SendTime` and `MsgSeq`.
type Acked = (u32, i64, u64);

/// Checks the invariants of a group after concurrent imports: `acked` seqs are exactly
/// `1..=NextMsgSeq-1`, each read back once with its random and time, `SendTime` non-decreasing
/// in `MsgSeq` order, and none of `refused` stored.
async fn check_group(s: &TestServer, group: &str, acked: &[Acked], refused: &BTreeSet<u32>) {
    let n = next_msg_seq(s, group).await - 1;
    let seqs: BTreeSet<u64> = acked.iter().map(|a| a.2).collect();
    assert_eq!(
        seqs.len(),
        acked.len(),
        "no MsgSeq is given to two messages"
    );
    assert_eq!(
        seqs,
        (1..=n).collect(),
        "acknowledged MsgSeqs are exactly 1..={n}"
    );
    let stored = history(s, group).await;
    assert_eq!(stored.len() as u64, n, "every message read back once");
    let by_random: BTreeMap<u32, (i64, u64)> = acked.iter().map(|&(r, t, q)| (r, (t, q))).collect();
    let mut last_time = i64::MIN;
    for (k, m) in stored.iter().enumerate() {
        let seq = m["MsgSeq"].as_u64().unwrap();
        assert_eq!(seq, k as u64 + 1, "{m}");
        let r = m["MsgRandom"].as_u64().unwrap() as u32;
        let t = m["MsgTimeStamp"].as_i64().unwrap();
        assert_eq!(
            by_random.get(&r),
            Some(&(t, seq)),
            "stored message matches its acknowledgement: {m}"
        );
        assert!(!refused.contains(&r), "a refused message is stored: {m}");
        assert!(
            t >= last_time,
            "SendTime is non-decreasing in MsgSeq order at seq {seq}: {t} < {last_time}"
        );
        last_time = t;
    }
}

/// Every client sends `BATCHES` full batches into one group; all messages carry the same
/// `SendTime`, so every batch must be accepted.
#[rstest]
#[case::memory(Backend::Memory)]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_group_equal_times(#[case] backend: Backend) {
    let s = server(backend, Edition::Seed).await;
    let per_batch = s.config.limits.msgs_per_request as u32;
    let create = NOW - 1_000_000;
    let group = s.group("shared", "Public", create).await;
    let t = create + 1_000;
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (s, group) = (s.clone(), group.clone());
        tasks.spawn(async move {
            let mut acked = Vec::new();
            for b in 0..BATCHES {
                let msgs: Vec<Value> = (0..per_batch)
                    .map(|i| {
                        text_msg_r(
                            &format!("user{client}"),
                            t,
                            random(client, b, i),
                            "same time",
                        )
                    })
                    .collect();
                let v = s
                    .call(
                        Command::ImportGroupMsg,
                        json!({"GroupId": group, "MsgList": msgs}),
                    )
                    .await;
                assert_eq!(code(&v), 0, "client {client} batch {b}: {v}");
                for (i, r) in v["ImportMsgResult"].as_array().unwrap().iter().enumerate() {
                    assert_eq!(r["Result"], 0, "{v}");
                    acked.push((
                        random(client, b, i as u32),
                        t,
                        r["MsgSeq"].as_u64().unwrap(),
                    ));
                }
            }
            acked
        });
    }
    let mut acked = Vec::new();
    while let Some(r) = tasks.join_next().await {
        acked.extend(r.unwrap());
    }
    eprintln!(
        "{backend:?}: {} messages imported concurrently in {:?}",
        acked.len(),
        started.elapsed()
    );
    assert_eq!(acked.len(), (CLIENTS * BATCHES * per_batch) as usize);
    check_group(&s, &group, &acked, &BTreeSet::new()).await;
}

/// Clients draw their batches' times from one shared, increasing clock just before sending; a
/// batch that reaches the server after a later one breaks the "not before the group's newest
/// message" rule. Whatever is acknowledged must still be gap-free and time-ordered, and whatever
/// is refused must be absent.
#[rstest]
#[case::memory_seed(Backend::Memory, Edition::Seed)]
#[case::sqlite_seed(Backend::Sqlite, Edition::Seed)]
#[case::memory_current(Backend::Memory, Edition::Current)]
#[case::sqlite_current(Backend::Sqlite, Edition::Current)]
#[case::postgres_seed(Backend::Postgres, Edition::Seed)]
#[case::postgres_current(Backend::Postgres, Edition::Current)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_group_racing_times(#[case] backend: Backend, #[case] edition: Edition) {
    let s = server(backend, edition).await;
    let per_batch = s.config.limits.msgs_per_request as u32;
    let create = NOW - 1_000_000;
    let group = s.group("racing", "Public", create).await;
    let clock = Arc::new(AtomicI64::new(create + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (s, group, clock) = (s.clone(), group.clone(), clock.clone());
        tasks.spawn(async move {
            let mut acked = Vec::new();
            let mut refused = Vec::new();
            for b in 0..BATCHES {
                let t0 = clock.fetch_add(i64::from(per_batch), Ordering::SeqCst);
                let msgs: Vec<Value> = (0..per_batch)
                    .map(|i| text_msg_r("dave", t0 + i64::from(i), random(client, b, i), "racing"))
                    .collect();
                let v = s
                    .call(
                        Command::ImportGroupMsg,
                        json!({"GroupId": group, "MsgList": msgs}),
                    )
                    .await;
                match code(&v) {
                    0 => {
                        for (i, r) in v["ImportMsgResult"].as_array().unwrap().iter().enumerate() {
                            let (rnd, t) = (random(client, b, i as u32), t0 + i as i64);
                            assert_eq!(r["MsgTime"], t, "{v}");
                            match r["Result"].as_u64().unwrap() {
                                0 => acked.push((rnd, t, r["MsgSeq"].as_u64().unwrap())),
                                10004 => {
                                    assert_eq!(
                                        r["MsgSeq"], 0,
                                        "a failed message has no MsgSeq: {v}"
                                    );
                                    refused.push(rnd);
                                }
                                other => panic!("unexpected Result {other}: {v}"),
                            }
                        }
                    }
                    10004 => {
                        assert_eq!(
                            edition,
                            Edition::Seed,
                            "the current edition fails messages alone: {v}"
                        );
                        let info = v["ErrorInfo"].as_str().unwrap();
                        assert!(info.contains("SendTime") && info.contains("newest"), "{v}");
                        assert!(v.get("ImportMsgResult").is_none(), "{v}");
                        refused.extend((0..per_batch).map(|i| random(client, b, i)));
                    }
                    other => panic!("unexpected ErrorCode {other}: {v}"),
                }
            }
            (acked, refused)
        });
    }
    let (mut acked, mut refused) = (Vec::new(), BTreeSet::new());
    while let Some(r) = tasks.join_next().await {
        let (a, f) = r.unwrap();
        acked.extend(a);
        refused.extend(f);
    }
    eprintln!(
        "{backend:?}/{edition}: {} messages acknowledged, {} refused",
        acked.len(),
        refused.len()
    );
    assert!(!acked.is_empty());
    assert_eq!(
        acked.len() + refused.len(),
        (CLIENTS * BATCHES * per_batch) as usize
    );
    check_group(&s, &group, &acked, &refused).await;
}

/// Every client imports into its own group at the same time.
#[rstest]
#[case::memory(Backend::Memory)]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn different_groups(#[case] backend: Backend) {
    let s = server(backend, Edition::Seed).await;
    let per_batch = s.config.limits.msgs_per_request as u32;
    let create = NOW - 1_000_000;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let s = s.clone();
        tasks.spawn(async move {
            let group = s.group(&format!("own-{client}"), "Private", create).await;
            let mut acked = Vec::new();
            for b in 0..BATCHES {
                let t0 = create + 1 + i64::from(b * per_batch);
                let msgs: Vec<Value> = (0..per_batch)
                    .map(|i| text_msg_r("erin", t0 + i64::from(i), random(client, b, i), "own"))
                    .collect();
                let v = s
                    .call(
                        Command::ImportGroupMsg,
                        json!({"GroupId": group, "MsgList": msgs}),
                    )
                    .await;
                assert_eq!(code(&v), 0, "{group} batch {b}: {v}");
                for (i, r) in v["ImportMsgResult"].as_array().unwrap().iter().enumerate() {
                    let seq = r["MsgSeq"].as_u64().unwrap();
                    assert_eq!(
                        seq,
                        u64::from(b * per_batch) + i as u64 + 1,
                        "{group}: sequential within the group"
                    );
                    acked.push((random(client, b, i as u32), t0 + i as i64, seq));
                }
            }
            (group, acked)
        });
    }
    let mut groups = Vec::new();
    while let Some(r) = tasks.join_next().await {
        groups.push(r.unwrap());
    }
    for (group, acked) in &groups {
        check_group(&s, group, acked, &BTreeSet::new()).await;
    }
}

/// Many clients create the same custom group ID at once: exactly one wins, the others get 10021.
#[rstest]
#[case::memory(Backend::Memory)]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_group_creation_has_one_winner(#[case] backend: Backend) {
    let s = server(backend, Edition::Seed).await;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let s = s.clone();
        tasks.spawn(async move {
            let v = s
                .call(
                    Command::ImportGroup,
                    json!({"GroupId": "contested", "Type": "Public", "Name": format!("by {client}"),
                           "Owner_Account": format!("owner{client}"), "CreateTime": NOW - 10}),
                )
                .await;
            code(&v)
        });
    }
    let mut codes = Vec::new();
    while let Some(r) = tasks.join_next().await {
        codes.push(r.unwrap());
    }
    codes.sort_unstable();
    let mut want = vec![10021; CLIENTS as usize];
    want[0] = 0;
    assert_eq!(codes, want);
    let v = s
        .call(Command::GetGroupInfo, json!({"GroupIdList": ["contested"]}))
        .await;
    assert_eq!(
        v["GroupInfo"][0]["MemberNum"], 1,
        "one owner, from the winner: {v}"
    );
}
