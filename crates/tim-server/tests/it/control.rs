//! The control plane over real HTTP, on both stores: faults (every effect, counts, seeded
//! replay, delays), readings at run time, reset, state dump and load, the journal and access.

use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{json, Value};
use tim_model::{Command, Edition};

use crate::support::{code, text_msg, text_msg_r, Backend, Opts, TestServer, NOW};

impl TestServer {
    /// Calls a control route as the admin; returns the HTTP status and the JSON answer.
    async fn control(&self, method: &str, route: &str, body: Value) -> (u16, Value) {
        let q = self.query();
        let bytes = match body {
            Value::Null => Vec::new(),
            b => serde_json::to_vec(&b).unwrap(),
        };
        let (route, extra) = route.split_once('?').unwrap_or((route, ""));
        let url = format!("{}&{extra}", self.url(&format!("/_tim/{route}"), &q));
        let r = self
            .http
            .request(method.parse().unwrap(), url)
            .body(bytes)
            .send()
            .await
            .expect("server answers");
        let status = r.status().as_u16();
        (status, r.json().await.expect("JSON"))
    }

    /// A control call that must succeed.
    async fn ctl(&self, method: &str, route: &str, body: Value) -> Value {
        let (status, v) = self.control(method, route, body).await;
        assert_eq!((status, code(&v)), (200, 0), "{method} {route}: {v}");
        v
    }

    /// The state dump as text.
    async fn dump(&self, query: &str) -> String {
        let url = format!("{}&{query}", self.url("/_tim/state", &self.query()));
        let r = self.http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()[reqwest::header::CONTENT_TYPE],
            "application/x-ndjson"
        );
        r.text().await.unwrap()
    }
}

fn batch(n: i64, t0: i64) -> Vec<Value> {
    (0..n)
        .map(|i| text_msg_r("alice", t0 + i, 1000 + i as u32, &format!("m{i}")))
        .collect()
}

#[rstest]
#[tokio::test]
async fn every_fault_effect(
    #[values(Backend::Memory, Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let s = TestServer::with(Opts::default().on(backend)).await;
    let g = s.group("faults", "Public", NOW - 10_000).await;
    let rule = |effect: Value| json!({"command":"import_group_msg","group_id":g,"count":1,"effect":effect});

    // Refused, nothing done.
    s.ctl(
        "POST",
        "faults",
        json!([rule(json!({"error":{"ErrorCode":10002}}))]),
    )
    .await;
    let v = s.import(&g, batch(3, NOW - 9000)).await;
    assert_eq!(code(&v), 10002, "{v}");
    assert_eq!(s.next_msg_seq(&g).await, 1, "an error fault stores nothing");
    let v = s.import(&g, batch(3, NOW - 9000)).await;
    assert_eq!(code(&v), 0, "count 1: the second call passes: {v}");
    assert_eq!(s.next_msg_seq(&g).await, 4);

    // Applied, then an error.
    s.ctl(
        "POST",
        "faults",
        json!([rule(
            json!({"applied_then_error":{"ErrorCode":10002,"ErrorInfo":"try again"}})
        )]),
    )
    .await;
    let v = s.import(&g, batch(2, NOW - 8000)).await;
    assert_eq!(
        (code(&v), v["ErrorInfo"].as_str()),
        (10002, Some("try again"))
    );
    assert_eq!(s.next_msg_seq(&g).await, 6, "applied_then_error stores");

    // Applied, then the connection closes with no answer.
    s.ctl("POST", "faults", json!([rule(json!({"lose_reply":true}))]))
        .await;
    let body = json!({"GroupId": g, "MsgList": batch(2, NOW - 7000)});
    let sent = s
        .http
        .post(s.url(&Command::ImportGroupMsg.path(), &s.query()))
        .json(&body)
        .send()
        .await;
    let err = sent.expect_err("the reply is lost");
    assert!(!err.is_timeout() && !err.is_connect(), "{err:?}");
    assert_eq!(
        s.next_msg_seq(&g).await,
        8,
        "lose_reply leaves the data applied"
    );
    let v = s.import(&g, batch(2, NOW - 7000)).await;
    assert_eq!(
        v["ImportMsgResult"][1]["MsgSeq"], 7,
        "the re-sent batch is a duplicate: {v}"
    );

    // A gateway page, nothing done.
    s.ctl("POST", "faults", json!([rule(json!({"http_status":502}))]))
        .await;
    let r = s
        .send(
            "POST",
            &Command::ImportGroupMsg.path(),
            &s.query(),
            serde_json::to_vec(&json!({"GroupId": g, "MsgList": batch(1, NOW - 6000)})).unwrap(),
        )
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.content_type.as_deref(), Some("text/html"));
    assert!(r.text.contains("502 Bad Gateway"), "{}", r.text);
    assert_eq!(s.next_msg_seq(&g).await, 8);

    // One message fails alone.
    s.ctl(
        "POST",
        "faults",
        json!([rule(json!({"message_result":{"index":1,"Result":80001}}))]),
    )
    .await;
    let v = s.import(&g, batch(3, NOW - 5000)).await;
    let results: Vec<u64> = v["ImportMsgResult"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Result"].as_u64().unwrap())
        .collect();
    assert_eq!((code(&v), results), (0, vec![0, 80001, 0]), "{v}");
    assert_eq!(v["ImportMsgResult"][1]["MsgSeq"], 0);
    assert_eq!(s.next_msg_seq(&g).await, 10, "the other two are stored");

    // Count spent: remaining 0, and calls pass.
    let list = s.ctl("GET", "faults", Value::Null).await;
    assert_eq!(list["rules"][0]["remaining"], 0, "{list}");
    assert_eq!(code(&s.import(&g, batch(1, NOW - 4000)).await), 0);
    // Other groups and commands are never hit.
    s.ctl(
        "POST",
        "faults",
        json!([{"group_prefix":"fau","effect":{"error":{"ErrorCode":10002}}}]),
    )
    .await;
    let other = s.group("other", "Public", NOW - 10_000).await;
    assert_eq!(code(&s.import(&other, batch(1, NOW - 4000)).await), 0);
    assert_eq!(code(&s.import(&g, batch(1, NOW - 3000)).await), 10002);
    s.ctl("DELETE", "faults", Value::Null).await;
    assert_eq!(code(&s.import(&g, batch(1, NOW - 3000)).await), 0);

    // A message the group already holds (a re-sent batch) is never refused by a fault.
    s.ctl(
        "POST",
        "faults",
        json!([rule(json!({"message_result":{"index":0,"Result":80001}}))]),
    )
    .await;
    let v = s.import(&g, batch(1, NOW - 3000)).await;
    assert_eq!(v["ImportMsgResult"][0]["Result"], 0, "{v}");
    assert_eq!(v["ImportMsgResult"][0]["MsgSeq"], 11, "{v}");
}

#[tokio::test]
async fn delays_are_measured_within_bounds() {
    let s = TestServer::start().await;
    let g = s.group("slow", "Public", NOW - 10_000).await;
    s.ctl(
        "POST",
        "faults",
        json!([{"command":"import_group_msg","effect":{"delay_ms":200}}]),
    )
    .await;
    let t = Instant::now();
    assert_eq!(code(&s.import(&g, batch(1, NOW - 9000)).await), 0);
    let fixed = t.elapsed();
    assert!(
        fixed >= Duration::from_millis(200) && fixed < Duration::from_millis(2000),
        "{fixed:?}"
    );
    s.ctl(
        "POST",
        "faults",
        json!([{"command":"import_group_msg","effect":{"delay_ms_range":[50,120]}}]),
    )
    .await;
    for i in 0..5 {
        let t = Instant::now();
        assert_eq!(code(&s.import(&g, batch(1, NOW - 8000 + i)).await), 0);
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(50) && e < Duration::from_millis(2000),
            "{e:?}"
        );
    }
    let journal = s.ctl("GET", "requests?limit=5", Value::Null).await;
    for entry in journal["requests"].as_array().unwrap() {
        let fault = entry["fault"].as_str().unwrap();
        let waited: u64 = fault
            .split("waited ")
            .nth(1)
            .and_then(|w| w.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{fault}"));
        assert!((50..=120).contains(&waited), "{fault}");
    }
}

/// The faults a journal shows for `calls` imports under probabilistic rules.
async fn faults_seen(s: &TestServer, calls: usize) -> Vec<Value> {
    let g = s.group("dice", "Public", NOW - 10_000).await;
    s.ctl("POST", "faults", json!([
        {"command":"import_group_msg","probability":0.3,"effect":{"http_status":502}},
        {"command":"import_group_msg","probability":0.3,"effect":{"error":{"ErrorCode":10002},"delay_ms_range":[0,5]}}
    ])).await;
    for i in 0..calls {
        let body = json!({"GroupId": g, "MsgList": [text_msg("a", NOW - 9000 + i as i64, "x")]});
        s.send(
            "POST",
            &Command::ImportGroupMsg.path(),
            &s.query(),
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    }
    let j = s
        .ctl("GET", &format!("requests?limit={calls}"), Value::Null)
        .await;
    j["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.get("fault").cloned().unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn the_same_seed_replays_the_same_faults() {
    let a = faults_seen(&TestServer::start().await, 60).await;
    let b = faults_seen(&TestServer::start().await, 60).await;
    assert_eq!(a, b, "same seed, same calls: same faults");
    let hit = a.iter().filter(|f| !f.is_null()).count();
    assert!((15..=50).contains(&hit), "{hit} of 60 hit");
    let reseeded = TestServer::start().await;
    let v = reseeded.ctl("PUT", "config", json!({"seed": 12345})).await;
    assert_eq!(v["seed"], 12345);
    assert_ne!(
        faults_seen(&reseeded, 60).await,
        a,
        "another seed, other faults"
    );
}

#[rstest]
#[tokio::test]
async fn readings_change_at_run_time(
    #[values(Backend::Memory, Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let s = TestServer::with(Opts::edition(Edition::Current).on(backend)).await;
    let before = s.ctl("GET", "config", Value::Null).await;
    assert_eq!(before["limits"]["dedup_window_secs"], 300);
    assert_eq!(before["limits"]["dedup_clock"], "send_time");
    assert_eq!(before["limits"]["duplicate_answer"], "original_seq");
    let g = s.group("readings", "Public", NOW - 100_000).await;
    let m = |t: i64| text_msg_r("alice", t, 77, "same");

    // No duplicate detection: the re-sent message is stored again.
    s.ctl("PUT", "config", json!({"limits":{"dedup_window_secs":0}}))
        .await;
    assert_eq!(code(&s.import(&g, vec![m(NOW - 90_000)]).await), 0);
    let v = s.import(&g, vec![m(NOW - 90_000)]).await;
    assert_eq!(v["ImportMsgResult"][0]["MsgSeq"], 2, "{v}");

    // Refused duplicates: per message in the message scope...
    s.ctl(
        "PUT",
        "config",
        json!({"limits":{"dedup_window_secs":300,"duplicate_answer":"refused"}}),
    )
    .await;
    let v = s
        .import(
            &g,
            vec![m(NOW - 90_000), text_msg_r("bob", NOW - 89_000, 5, "new")],
        )
        .await;
    assert_eq!(v["ImportMsgResult"][0]["Result"], 10004, "{v}");
    assert_eq!(v["ImportMsgResult"][0]["MsgSeq"], 0, "{v}");
    assert_eq!(v["ImportMsgResult"][1]["MsgSeq"], 3, "{v}");
    // ... and the whole request in the request scope.
    s.ctl(
        "PUT",
        "config",
        json!({"limits":{"failure_scope":"request"}}),
    )
    .await;
    let v = s
        .import(
            &g,
            vec![
                text_msg_r("bob", NOW - 89_000, 5, "new"),
                text_msg_r("bob", NOW - 88_000, 6, "newer"),
            ],
        )
        .await;
    assert_eq!(code(&v), 10004, "{v}");
    assert_eq!(s.next_msg_seq(&g).await, 4, "nothing stored");

    // The wall clock: far apart in SendTime, yet duplicates when re-sent within the window.
    s.ctl("PUT", "config", json!({"limits":{"failure_scope":"message","duplicate_answer":"original_seq","dedup_clock":"wall","dedup_window_secs":60}})).await;
    let v = s
        .import(&g, vec![text_msg_r("carol", NOW - 80_000, 9, "w")])
        .await;
    assert_eq!(v["ImportMsgResult"][0]["MsgSeq"], 4, "{v}");
    s.clock.advance(30);
    let v = s
        .import(&g, vec![text_msg_r("carol", NOW - 70_000, 9, "w")])
        .await;
    assert_eq!(
        v["ImportMsgResult"][0]["MsgSeq"], 4,
        "within the wall window: {v}"
    );
    s.clock.advance(60);
    let v = s
        .import(&g, vec![text_msg_r("carol", NOW - 60_000, 9, "w")])
        .await;
    assert_eq!(
        v["ImportMsgResult"][0]["MsgSeq"], 5,
        "after the wall window: {v}"
    );

    // The rate limit, and back to the edition's limits.
    s.ctl("PUT", "config", json!({"limits":{"requests_per_second":1}}))
        .await;
    let codes = [
        code(&s.import(&g, vec![text_msg("d", NOW - 50_000, "r")]).await),
        code(&s.import(&g, vec![text_msg("d", NOW - 49_000, "r")]).await),
    ];
    assert_eq!(codes, [0, 60007]);
    let v = s
        .ctl(
            "PUT",
            "config",
            json!({"edition":"seed","limits":{"requests_per_second":"off"}}),
        )
        .await;
    assert_eq!(v["limits"]["msgs_per_request"], 20);
    assert_eq!(v["limits"]["requests_per_second"], Value::Null);
    assert_eq!(v["limits"]["dedup_clock"], "send_time");

    // Bad patches are refused and change nothing.
    for bad in [
        json!({"limits":{"nope":1}}),
        json!({"limits":{"msgs_per_request":0}}),
        json!({"limits":{"dedup_clock":"lunar"}}),
    ] {
        let (status, v) = s.control("PUT", "config", bad.clone()).await;
        assert_eq!((status, code(&v)), (200, 10004), "{bad}: {v}");
    }
    let v = s
        .send("PUT", "/_tim/config", &s.query(), b"{".to_vec())
        .await
        .json();
    assert_eq!(code(&v), 60003, "{v}");
    assert_eq!(
        s.ctl("GET", "config", Value::Null).await["limits"]["msgs_per_request"],
        20
    );
}

#[rstest]
#[tokio::test]
async fn reset_whole_app_or_listed_groups(
    #[values(Backend::Memory, Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let s = TestServer::with(Opts::default().on(backend)).await;
    for id in ["r1", "r2", "r3"] {
        let g = s.group(id, "Public", NOW - 1000).await;
        assert_eq!(code(&s.import(&g, batch(2, NOW - 900)).await), 0);
    }
    let v = s
        .ctl("POST", "reset", json!({"GroupIdList":["r1","missing"]}))
        .await;
    assert_eq!(v["GroupsRemoved"], 1);
    assert_eq!(code(&s.info("r1").await), 10010);
    assert_eq!(s.next_msg_seq("r2").await, 3);
    let v = s.ctl("POST", "reset", Value::Null).await;
    assert_eq!(v["GroupsRemoved"], 2);
    assert_eq!(code(&s.info("r2").await), 10010);
    let g = s.group("r2", "Public", NOW - 1000).await;
    assert_eq!(code(&s.import(&g, batch(1, NOW - 900)).await), 0);
    assert_eq!(s.next_msg_seq("r2").await, 2, "MsgSeq starts at 1 again");
}

#[rstest]
#[tokio::test]
async fn a_dump_loads_into_a_fresh_server_identically(
    #[values(Backend::Memory, Backend::Sqlite, Backend::Postgres)] from: Backend,
    #[values(Backend::Memory, Backend::Sqlite, Backend::Postgres)] to: Backend,
) {
    let a = TestServer::with(Opts::default().on(from)).await;
    let v = a
        .call(
            Command::ImportGroup,
            json!({"GroupId":"dump-1","Type":"Private","Name":"first","Owner_Account":"owner",
                   "Introduction":"intro","CreateTime": NOW - 5000,
                   "AppDefinedData":[{"Key":"k","Value":"v"}]}),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    a.group("dump-2", "ChatRoom", NOW - 4000).await;
    let mut msgs = batch(20, NOW - 3000);
    msgs[3]["CloudCustomData"] = json!("ccd");
    msgs[4] = json!({"From_Account":"bob","SendTime": NOW - 2996,"Random": 5,
        "MsgBody":[{"MsgType":"TIMLocationElem","MsgContent":{"Desc":"here","Latitude":1.5,"Longitude":-2.25}},
                   {"MsgType":"TIMFaceElem","MsgContent":{"Index":6,"Data":"abc\u{0}\u{1}"}}]});
    let v = a.import("dump-1", msgs).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(code(&a.import("dump-1", batch(5, NOW - 2000)).await), 0);
    assert_eq!(code(&a.import("dump-2", batch(3, NOW - 1000)).await), 0);
    let v = a
        .add_members(
            "dump-1",
            json!([{"Member_Account":"m1","Role":"Admin","JoinTime": NOW - 4500,"UnreadMsgNum":3},
                                      {"Member_Account":"m2","JoinTime": NOW - 4400}]),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let dump = a.dump("kind=all").await;
    assert_eq!(dump.lines().count(), 2 + 28 + 2, "{dump}");

    let b = TestServer::with(Opts::default().on(to)).await;
    let r = b
        .send("POST", "/_tim/state", &b.query(), dump.clone().into_bytes())
        .await;
    let v = r.json();
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(
        (
            v["Groups"].as_u64(),
            v["Members"].as_u64(),
            v["Messages"].as_u64()
        ),
        (Some(2), Some(2), Some(28))
    );
    assert_eq!(
        b.dump("kind=all").await,
        dump,
        "the reloaded store dumps the same lines"
    );
    for g in ["dump-1", "dump-2"] {
        assert_eq!(a.all_messages(g).await, b.all_messages(g).await);
        let (ia, ib) = (a.info(g).await, b.info(g).await);
        assert_eq!(ia, ib);
    }
    // One kind, one group.
    let only = a.dump("kind=messages&GroupId=dump-2").await;
    assert_eq!(only.lines().count(), 3);
    assert!(only
        .lines()
        .all(|l| l.contains("\"MsgBody\"") && l.contains("dump-2")));
    let members = a.dump("kind=members").await;
    assert_eq!(members.lines().count(), 2);
}

#[tokio::test]
async fn a_bad_state_line_names_its_number() {
    let s = TestServer::start().await;
    let text = format!(
        "{}\n{}\n{{\"GroupId\":\"x\",\"nonsense\":1}}\n",
        json!({"GroupId":"ok","Type":"Public","Name":"n","CreateTime": NOW - 100}),
        json!({"GroupId":"ok","From_Account":"a","SendTime": NOW - 50,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"t"}}]}),
    );
    let v = s
        .send("POST", "/_tim/state", &s.query(), text.into_bytes())
        .await
        .json();
    assert_eq!(code(&v), 10004, "{v}");
    assert!(
        v["ErrorInfo"].as_str().unwrap().contains("state line 3"),
        "{v}"
    );
    let v = s
        .send(
            "POST",
            "/_tim/state",
            &s.query(),
            json!({"GroupId":"nope","From_Account":"a","SendTime":1,"MsgBody":[]})
                .to_string()
                .into_bytes(),
        )
        .await
        .json();
    assert!(
        v["ErrorInfo"].as_str().unwrap().contains("state line 1"),
        "{v}"
    );
    assert!(
        v["ErrorInfo"]
            .as_str()
            .unwrap()
            .contains("group line before"),
        "{v}"
    );
}

#[tokio::test]
async fn the_journal_lists_calls_without_secrets() {
    let s = TestServer::start().await;
    let g = s.group("journal", "Public", NOW - 1000).await;
    s.ctl("POST", "faults", json!([{"command":"import_group_msg","count":1,"effect":{"message_result":{"index":0,"Result":80001}}}])).await;
    s.import(&g, batch(2, NOW - 900)).await;
    let bad = s
        .send(
            "POST",
            &Command::GetGroupInfo.path(),
            &s.query_for("nobody"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(bad.status, 200);
    let q = s.query();
    let r = s.send("GET", "/_tim/requests", &q, Vec::new()).await;
    let v = r.json();
    let entries = v["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{v}");
    assert_eq!(entries[0]["error_code"], 60010);
    assert_eq!(entries[0]["identifier"], "nobody");
    assert_eq!(entries[1]["command"], "import_group_msg");
    assert_eq!(entries[1]["group_id"], "journal");
    assert_eq!(entries[1]["results"], json!([80001, 0]));
    assert_eq!(entries[1]["fault"], "message_result [0] 80001");
    assert_eq!(entries[2]["command"], "import_group");
    assert!(entries[0]["seq"].as_u64() > entries[1]["seq"].as_u64());
    let usersig = q.usersig.clone().unwrap();
    assert!(!r.text.contains(&usersig), "no UserSig in the journal");
    assert!(!r.text.contains(tim_server::config::DEV_SECRET_KEY));
    let one = s.ctl("GET", "requests?limit=1", Value::Null).await;
    assert_eq!(one["requests"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn only_the_admin_may_use_the_control_plane() {
    let s = TestServer::start().await;
    let g = s.group("guarded", "Public", NOW - 1000).await;
    let mut bad_sig = s.query();
    bad_sig.usersig = Some("eJyrVgrxCdYrSy1SslIyUtJRAItkpqTmlWSmZUIkElNyM".into());
    let mut no_sig = s.query();
    no_sig.usersig = None;
    for (query, want) in [
        (s.query_for("nobody"), 60010),
        (bad_sig, 70003),
        (no_sig, 70002),
    ] {
        for (method, route) in [
            ("GET", "health"),
            ("POST", "reset"),
            ("GET", "state"),
            ("PUT", "config"),
            ("POST", "faults"),
            ("GET", "requests"),
        ] {
            let r = s
                .send(method, &format!("/_tim/{route}"), &query, b"{}".to_vec())
                .await;
            let v = r.json();
            assert_eq!((r.status, code(&v)), (200, want), "{method} {route}: {v}");
        }
    }
    assert_eq!(s.next_msg_seq(&g).await, 1);
    assert_eq!(code(&s.info(&g).await), 0, "nothing was reset");
    let (status, v) = s.control("GET", "nope", Value::Null).await;
    assert_eq!((status, code(&v)), (200, 60009));
    let (status, v) = s.control("DELETE", "config", Value::Null).await;
    assert_eq!((status, code(&v)), (200, 60008));
    let h = s.ctl("GET", "health", Value::Null).await;
    assert_eq!(
        (
            h["ready"].as_bool(),
            h["store"].as_str(),
            h["edition"].as_str()
        ),
        (Some(true), Some("memory"), Some("seed"))
    );
    assert_eq!(h["seed"], 7);
}

#[tokio::test]
async fn no_control_answers_404() {
    let s = TestServer::with(Opts {
        control: false,
        ..Opts::default()
    })
    .await;
    for route in ["health", "faults", "state", "nope"] {
        let (status, v) = s.control("GET", route, Value::Null).await;
        assert_eq!((status, code(&v)), (404, 60009), "{route}: {v}");
    }
    let g = s.group("plain", "Public", NOW - 1000).await;
    assert_eq!(
        code(&s.import(&g, batch(1, NOW - 900)).await),
        0,
        "the API is unchanged"
    );
}
