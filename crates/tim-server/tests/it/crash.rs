//! Durability of the `tim-server` binary on its SQLite file under `SIGKILL`: every acknowledged
//! message survives exactly once, `MsgSeq` continues without a gap, and a batch whose reply was
//! lost can be sent again without creating copies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tim_model::Command;

use crate::support::{
    code, history, next_msg_seq, spawn_server, system_now, text_msg_r, Remote, ServerProcess,
};

/// Batches and messages per batch of the sequential crash test.
const BATCHES: usize = 30;
const PER_BATCH: usize = 20;

/// A fresh data file in a new temporary directory.
fn data_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tim.db").to_str().unwrap().to_owned();
    (dir, path)
}

async fn start(db: &str) -> ServerProcess {
    spawn_server(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data",
            db,
            "--rate-limit",
            "off",
        ],
        &[],
    )
    .await
}

/// Creates a Public group created 100 000 s ago; returns its `CreateTime`.
async fn make_group(c: &Remote, id: &str) -> i64 {
    let create = system_now() - 100_000;
    let v = c
        .call(
            Command::ImportGroup,
            json!({"GroupId": id, "Type": "Public", "Name": "crash", "CreateTime": create}),
        )
        .await;
    assert_eq!(code(&v), 0, "import_group: {v}");
    create
}

/// Message `k` (0-based) of the sequential test: time, random and text all derived from `k`.
fn nth(create: i64, k: usize) -> Value {
    text_msg_r(
        "alice",
        create + 1 + k as i64,
        1_000_000 + k as u32,
        &format!("message {k}"),
    )
}

fn nth_batch(group: &str, create: i64, b: usize) -> Value {
    let msgs: Vec<Value> = (b * PER_BATCH..(b + 1) * PER_BATCH)
        .map(|k| nth(create, k))
        .collect();
    json!({"GroupId": group, "MsgList": msgs})
}

/// The `MsgSeq`s of a successful reply.
fn seqs(v: &Value) -> Vec<u64> {
    assert_eq!(code(v), 0, "{v}");
    v["ImportMsgResult"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["Result"], 0, "{v}");
            r["MsgSeq"].as_u64().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill_exactly_once() {
    let (_dir, db) = data_file();
    let p = start(&db).await;
    let c = p.client();
    let create = make_group(&c, "crash").await;
    for b in 0..BATCHES {
        let v = c
            .call(Command::ImportGroupMsg, nth_batch("crash", create, b))
            .await;
        let want: Vec<u64> = (b * PER_BATCH + 1..=(b + 1) * PER_BATCH)
            .map(|s| s as u64)
            .collect();
        assert_eq!(seqs(&v), want, "batch {b}");
    }
    // SIGKILL right after the last acknowledged reply.
    let f = p.kill9().await;
    assert!(!f.status.success(), "killed, not exited: {:?}", f.status);

    let p = start(&db).await;
    let c = p.client();
    let total = BATCHES * PER_BATCH;
    let all = history(&c, "crash").await;
    assert_eq!(all.len(), total, "every acknowledged message, once");
    for (k, m) in all.iter().enumerate() {
        assert_eq!(m["MsgSeq"], k as u64 + 1, "{m}");
        assert_eq!(m["MsgRandom"], 1_000_000 + k as u64, "{m}");
        assert_eq!(m["MsgTimeStamp"], create + 1 + k as i64, "{m}");
        assert_eq!(
            m["MsgBody"][0]["MsgContent"]["Text"],
            format!("message {k}"),
            "{m}"
        );
        assert_eq!(m["From_Account"], "alice");
    }
    assert_eq!(next_msg_seq(&c, "crash").await, total as u64 + 1);
    // The next import continues the sequence.
    let v = c
        .call(Command::ImportGroupMsg, nth_batch("crash", create, BATCHES))
        .await;
    let want: Vec<u64> = (total + 1..=total + PER_BATCH).map(|s| s as u64).collect();
    assert_eq!(seqs(&v), want);
    assert_eq!(
        next_msg_seq(&c, "crash").await,
        (total + PER_BATCH) as u64 + 1
    );
    p.kill9().await;
}

/// A client whose last reply was lost sends the batch again: the server must recognise every
/// message by its `Random` (behaviour.md "Duplicates") and answer with the original `MsgSeq`s.
#[tokio::test]
async fn resent_last_batch_after_restart_is_deduplicated() {
    let (_dir, db) = data_file();
    let p = start(&db).await;
    let c = p.client();
    let create = make_group(&c, "resend").await;
    let mut replies = Vec::new();
    for b in 0..3 {
        replies.push(
            c.call(Command::ImportGroupMsg, nth_batch("resend", create, b))
                .await,
        );
    }
    p.kill9().await;

    let p = start(&db).await;
    let c = p.client();
    let again = c
        .call(Command::ImportGroupMsg, nth_batch("resend", create, 2))
        .await;
    assert_eq!(
        again["ImportMsgResult"], replies[2]["ImportMsgResult"],
        "the re-sent batch reports the original MsgSeq and MsgTime of every message: {again}"
    );
    assert_eq!(
        next_msg_seq(&c, "resend").await,
        3 * PER_BATCH as u64 + 1,
        "nothing stored twice"
    );
    assert_eq!(history(&c, "resend").await.len(), 3 * PER_BATCH);
    p.kill9().await;
}

/// The same re-send where every message of the batch has the group's newest `SendTime`, so that
/// no ordering rule is in the way: duplicate detection itself survives the restart.
#[tokio::test]
async fn resent_equal_time_batch_after_restart_is_deduplicated() {
    let (_dir, db) = data_file();
    let p = start(&db).await;
    let c = p.client();
    let create = make_group(&c, "resend-eq").await;
    let t = create + 50;
    let body = |b: u32| {
        let msgs: Vec<Value> = (0..PER_BATCH as u32)
            .map(|i| text_msg_r("bob", t, 7_000 + b * 100 + i, &format!("b{b} m{i}")))
            .collect();
        json!({"GroupId": "resend-eq", "MsgList": msgs})
    };
    let first = c.call(Command::ImportGroupMsg, body(0)).await;
    let second = c.call(Command::ImportGroupMsg, body(1)).await;
    assert_eq!(seqs(&second), (21..=40).collect::<Vec<u64>>());
    p.kill9().await;

    let p = start(&db).await;
    let c = p.client();
    for (b, original) in [(1, &second), (0, &first)] {
        let again = c.call(Command::ImportGroupMsg, body(b)).await;
        assert_eq!(
            again["ImportMsgResult"], original["ImportMsgResult"],
            "batch {b}: {again}"
        );
    }
    assert_eq!(next_msg_seq(&c, "resend-eq").await, 41);
    p.kill9().await;
}

/// What the concurrent senders did: every batch sent, and the `MsgSeq`s of the acknowledged ones.
#[derive(Default)]
struct Ledger {
    /// Randoms of every batch whose request was started.
    sent: Vec<Vec<u32>>,
    /// For acknowledged batches (index into `sent`): the `MsgSeq` of each message.
    acked: BTreeMap<usize, Vec<u64>>,
}

#[tokio::test]
async fn sigkill_while_clients_send_loses_no_acknowledged_message() {
    const CLIENTS: u32 = 4;
    let (_dir, db) = data_file();
    let p = start(&db).await;
    let c = p.client();
    let create = make_group(&c, "busy").await;
    // Every message has the same SendTime, so concurrent batches never break the ordering rules.
    let t = create + 10;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let acked_batches = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (c, ledger, acked_batches, stop) = (
            c.clone(),
            ledger.clone(),
            acked_batches.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for n in 0u32.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let randoms: Vec<u32> = (0..PER_BATCH as u32)
                    .map(|i| client * 10_000_000 + n * 100 + i)
                    .collect();
                let msgs: Vec<Value> = randoms
                    .iter()
                    .map(|&r| text_msg_r("carol", t, r, &format!("r{r}")))
                    .collect();
                let idx = {
                    let mut l = ledger.lock().unwrap();
                    l.sent.push(randoms);
                    l.sent.len() - 1
                };
                match c
                    .try_call(
                        Command::ImportGroupMsg,
                        &json!({"GroupId": "busy", "MsgList": msgs}),
                    )
                    .await
                {
                    Ok(v) => {
                        let s = seqs(&v);
                        ledger.lock().unwrap().acked.insert(idx, s);
                        acked_batches.fetch_add(1, Ordering::SeqCst);
                    }
                    // The server is gone: this batch is unacknowledged.
                    Err(_) => break,
                }
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked_batches.load(Ordering::SeqCst) < 25 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "senders made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.kill9().await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("sender stops")
            .unwrap();
    }

    let p = start(&db).await;
    let c = p.client();
    let stored = history(&c, "busy").await;
    let n = stored.len() as u64;
    assert_eq!(next_msg_seq(&c, "busy").await, n + 1);
    let by_random: BTreeMap<u32, u64> = stored
        .iter()
        .map(|m| {
            (
                m["MsgRandom"].as_u64().unwrap() as u32,
                m["MsgSeq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_random.len(), stored.len(), "no message is stored twice");
    let seq_set: BTreeSet<u64> = stored
        .iter()
        .map(|m| m["MsgSeq"].as_u64().unwrap())
        .collect();
    assert_eq!(seq_set, (1..=n).collect(), "MsgSeq has no gap");

    let l = std::mem::take(&mut *ledger.lock().unwrap());
    let sent: BTreeSet<u32> = l.sent.iter().flatten().copied().collect();
    assert!(
        by_random.keys().all(|r| sent.contains(r)),
        "only sent messages are stored"
    );
    let mut acked_msgs = 0;
    for (i, randoms) in l.sent.iter().enumerate() {
        let present = randoms.iter().filter(|r| by_random.contains_key(r)).count();
        match l.acked.get(&i) {
            Some(seqs) => {
                acked_msgs += randoms.len();
                for (r, s) in randoms.iter().zip(seqs) {
                    assert_eq!(
                        by_random.get(r),
                        Some(s),
                        "acknowledged random {r} is stored with its MsgSeq"
                    );
                }
            }
            // An unacknowledged batch may have committed, but only as a whole.
            None => assert!(
                present == 0 || present == randoms.len(),
                "batch {i} is partly stored: {present}"
            ),
        }
    }
    let unacked_stored = stored.len() - acked_msgs;
    assert!(
        unacked_stored <= CLIENTS as usize * PER_BATCH,
        "at most one in-flight batch per client can have committed unacknowledged: {unacked_stored}"
    );
    eprintln!(
        "killed after {} acknowledged batches; {} unacknowledged messages were committed",
        l.acked.len(),
        unacked_stored
    );
    // The sequence continues.
    let msgs: Vec<Value> = (0..3)
        .map(|i| text_msg_r("carol", t, 99_000_000 + i, "after"))
        .collect();
    let v = c
        .call(
            Command::ImportGroupMsg,
            json!({"GroupId": "busy", "MsgList": msgs}),
        )
        .await;
    assert_eq!(seqs(&v), vec![n + 1, n + 2, n + 3]);
    p.kill9().await;
}
