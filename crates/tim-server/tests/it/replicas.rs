//! Several replicas on one PostgreSQL database, in this process: each an [`EmbeddedServer`]
//! started, as the binary starts, from a configuration whose `data` is a `postgres://` URL (a
//! fresh database of the test server, see `pg.rs`). Clients reach them over loopback HTTP.

use serde_json::{json, Value};
use tim_model::Command;
use tim_server::config::{DataLocation, PostgresUrl, ServerConfig};
use tim_server::EmbeddedServer;

use crate::support::{code, system_now, text_msg_r, Remote};

/// `n` replicas on one fresh database at `requests_per_second`, and a client of each.
async fn replicas(
    n: usize,
    requests_per_second: Option<u32>,
) -> (Vec<EmbeddedServer>, Vec<Remote>) {
    let url = crate::pg::fresh_database();
    let mut servers = Vec::new();
    for _ in 0..n {
        let mut config =
            ServerConfig::development(DataLocation::Postgres(PostgresUrl::parse(&url).unwrap()));
        config.limits.requests_per_second = requests_per_second;
        servers.push(EmbeddedServer::start(config).await.unwrap());
    }
    let clients = servers.iter().map(|s| Remote::dev(s.addr())).collect();
    (servers, clients)
}

/// `method` on control route `path` through `client`'s replica; the JSON it answers.
async fn control(
    client: &Remote,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let url = format!(
        "http://{}/_tim/{path}?{}",
        client.addr,
        client.query.to_query_string()
    );
    let mut req = client.http.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// Health names the store; a group made through one replica is seen by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_database() {
    let (_servers, clients) = replicas(2, None).await;
    for c in &clients {
        let health = control(c, reqwest::Method::GET, "health", None).await;
        assert_eq!(health["store"], "postgres", "{health}");
    }
    let made = clients[0]
        .call(
            Command::ImportGroup,
            json!({"GroupId": "g1", "Type": "Public", "Name": "shared", "CreateTime": system_now() - 3600}),
        )
        .await;
    assert_eq!(code(&made), 0, "{made}");
    let info = clients[1]
        .call(Command::GetGroupInfo, json!({"GroupIdList": ["g1"]}))
        .await;
    assert_eq!(info["GroupInfo"][0]["ErrorCode"], 0, "{info}");
}

/// Importers through both replicas into one group at once: every `MsgSeq` answered OK is in
/// the group exactly once, with the message it was answered for, and the group's sequence
/// numbers are 1..=n with no gap; a re-sent batch is answered with its original numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_import_into_one_group_without_gap_or_double() {
    const TASKS: u32 = 8;
    const CALLS: u32 = 6;
    const PER_CALL: u32 = 5;
    let (_servers, clients) = replicas(2, None).await;
    let now = system_now();
    let made = clients[0]
        .call(
            Command::ImportGroup,
            json!({"GroupId": "g1", "Type": "Public", "Name": "shared", "CreateTime": now - 3600}),
        )
        .await;
    assert_eq!(code(&made), 0, "{made}");
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let client = clients[task as usize % 2].clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for call in 0..CALLS {
                    // One send time for everything: equal times are allowed, so no refusal.
                    let msgs: Vec<Value> = (0..PER_CALL)
                        .map(|i| {
                            let random = (task * CALLS + call) * PER_CALL + i;
                            text_msg_r("alice", now - 60, random, &format!("m{random}"))
                        })
                        .collect();
                    let body = json!({"GroupId": "g1", "MsgList": msgs});
                    let v = client.call(Command::ImportGroupMsg, body.clone()).await;
                    assert_eq!(code(&v), 0, "{v}");
                    let results = v["ImportMsgResult"].as_array().unwrap().clone();
                    // Re-sent (as after a lost reply): the same answers.
                    let again = client.call(Command::ImportGroupMsg, body).await;
                    assert_eq!(again["ImportMsgResult"], Value::Array(results.clone()));
                    for (k, r) in results.iter().enumerate() {
                        assert_eq!(r["Result"], 0, "{r}");
                        let random = (task * CALLS + call) * PER_CALL + k as u32;
                        acked.push((r["MsgSeq"].as_u64().unwrap(), format!("m{random}")));
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort();
    let n = u64::from(TASKS * CALLS * PER_CALL);
    assert_eq!(
        acked.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    let stored = crate::support::history(&clients[1], "g1").await;
    assert_eq!(stored.len() as u64, n);
    for m in &stored {
        let seq = m["MsgSeq"].as_u64().unwrap();
        let text = &m["MsgBody"][0]["MsgContent"]["Text"];
        assert_eq!(text, acked[seq as usize - 1].1.as_str(), "MsgSeq {seq}");
    }
}

/// At 2 requests per second, a burst spread over both replicas gets the app's quota once,
/// not once per replica: the rest is 60007, whichever replica answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_rate_limit() {
    let (_servers, clients) = replicas(2, Some(2)).await;
    let mut codes = Vec::new();
    for i in 0..10 {
        let v = clients[i % 2]
            .call(Command::GetGroupInfo, json!({"GroupIdList": ["nope"]}))
            .await;
        codes.push(code(&v));
    }
    let limited = codes.iter().filter(|&&c| c == 60007).count();
    // 2 at once, and at most one more if the burst took over half a second.
    assert!((7..=8).contains(&limited), "{codes:?}");
    assert!(codes[..2].iter().all(|&c| c != 60007), "{codes:?}");
}

/// `PUT /_tim/config` on one replica reaches the other; a reset through one refills the
/// shared quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_change_reaches_every_replica() {
    let (_servers, clients) = replicas(2, None).await;
    let put = control(
        &clients[0],
        reqwest::Method::PUT,
        "config",
        Some(json!({"limits": {"dedup_window_secs": 5, "requests_per_second": 1}})),
    )
    .await;
    assert_eq!(put["limits"]["dedup_window_secs"], 5, "{put}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = control(&clients[1], reqwest::Method::GET, "config", None).await;
        if got["limits"]["dedup_window_secs"] == 5 {
            assert_eq!(got["limits"]["requests_per_second"], 1, "{got}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not applied: {got}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The new quota (1/s) is shared: one call passes, through either replica.
    let first = clients[1]
        .call(Command::GetGroupInfo, json!({"GroupIdList": ["nope"]}))
        .await;
    assert_ne!(code(&first), 60007, "{first}");
    let second = clients[0]
        .call(Command::GetGroupInfo, json!({"GroupIdList": ["nope"]}))
        .await;
    assert_eq!(code(&second), 60007, "{second}");
    let reset = control(&clients[0], reqwest::Method::POST, "reset", Some(json!({}))).await;
    assert_eq!(reset["ActionStatus"], "OK", "{reset}");
    let after = clients[1]
        .call(Command::GetGroupInfo, json!({"GroupIdList": ["nope"]}))
        .await;
    assert_ne!(code(&after), 60007, "{after}");
}
