//! Every server variant differs observably from the reference server.
//!
//! For each [`Variant`], one targeted probe (a few real HTTP requests) runs against a fresh
//! reference server and a fresh [`VariantServer`] running the variant, both on the memory store;
//! the probe's observation must be the expected one on each, and the two must differ. A mutant
//! that changes nothing could not prove the conformance suite sharp; a benign variant that
//! changes nothing could not prove it fair.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tim_model::element::{body_json_len, MsgElement};
use tim_model::usersig::{sign, SecretKey};
use tim_model::{Command, CommonQuery, Edition};
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SECRET_KEY};
use tim_variants::{Benign, Mutant, Variant, VariantServer};

/// Group type of the probe groups.
const PUBLIC: &str = "Public";
/// Rate limit of the rate-limit probes (small, so that a burst is quick to exceed).
const PROBE_RATE: u32 = 10;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A text message.
fn msg(send_time: i64, random: Option<u32>) -> Value {
    let mut m = json!({
        "From_Account": "alice",
        "SendTime": send_time,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]
    });
    if let Some(r) = random {
        m["Random"] = r.into();
    }
    m
}

/// A text message whose `MsgBody` is exactly `bytes` long as the model measures it.
fn msg_of_size(send_time: i64, bytes: usize) -> Value {
    let body = |text: &str| json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]);
    let elems: Vec<MsgElement> = serde_json::from_value(body("")).unwrap();
    let text = "a".repeat(bytes - body_json_len(&elems).unwrap());
    json!({"From_Account": "alice", "SendTime": send_time, "MsgBody": body(&text)})
}

/// A server under probe and how to call it.
struct Probe {
    server: VariantServer,
    http: reqwest::Client,
    key: SecretKey,
    sdkappid: u64,
    edition: Edition,
}

impl Probe {
    async fn start(edition: Edition, rate: Option<u32>, variant: Option<Variant>) -> Probe {
        let mut config = ServerConfig::development(DataLocation::Memory);
        config.limits = edition.limits();
        config.limits.requests_per_second = rate;
        let (key, sdkappid) = (config.secret_key.clone(), config.sdkappid);
        Probe {
            server: VariantServer::start(config, variant).await.unwrap(),
            http: reqwest::Client::new(),
            key,
            sdkappid,
            edition,
        }
    }

    /// A valid admin query.
    fn query(&self) -> String {
        self.query_signed(
            DEV_ADMIN,
            &sign(self.sdkappid, &self.key, DEV_ADMIN, 86_400, now()),
        )
    }

    fn query_signed(&self, identifier: &str, usersig: &str) -> String {
        CommonQuery::new(self.sdkappid, identifier, usersig, 7).to_query_string()
    }

    /// Sends `body` to `command` with `query`; returns the HTTP status and the JSON answer.
    async fn send(&self, command: Command, query: &str, body: Vec<u8>) -> (u16, Value) {
        let url = format!("{}{}?{query}", self.server.url(), command.path());
        let resp = self.http.post(url).body(body).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// Calls `command` as the admin; returns the JSON answer.
    async fn call(&self, command: Command, body: Value) -> Value {
        let q = self.query();
        self.send(command, &q, serde_json::to_vec(&body).unwrap())
            .await
            .1
    }

    /// `import_group` of a Public group `id` created at `create_time`.
    async fn group(&self, id: &str, create_time: i64) -> String {
        let body =
            json!({"GroupId": id, "Type": PUBLIC, "Name": "probe", "CreateTime": create_time});
        let v = self.call(Command::ImportGroup, body).await;
        assert_eq!(v["ErrorCode"], 0, "setup import_group: {v}");
        id.to_owned()
    }

    async fn import(&self, group: &str, msgs: Vec<Value>) -> Value {
        let body = json!({"GroupId": group, "MsgList": msgs});
        self.call(Command::ImportGroupMsg, body).await
    }

    async fn info(&self, group: &str) -> Value {
        let v = self
            .call(Command::GetGroupInfo, json!({"GroupIdList": [group]}))
            .await;
        v["GroupInfo"][0].clone()
    }

    async fn history(&self, group: &str) -> Value {
        let body = json!({"GroupId": group, "ReqMsgNumber": 20});
        self.call(Command::GroupMsgGetSimple, body).await
    }

    /// The `ErrorCode` of a `get_group_info` call made with `identifier` and `usersig`.
    async fn code_with_sig(&self, identifier: &str, usersig: &str) -> Value {
        let q = self.query_signed(identifier, usersig);
        let body = br#"{"GroupIdList": ["g"]}"#.to_vec();
        self.send(Command::GetGroupInfo, &q, body).await.1["ErrorCode"].clone()
    }

    /// `n` `get_group_info` calls in a row: (HTTP statuses seen, number answered 60007).
    async fn burst(&self, n: usize) -> (Vec<u16>, usize) {
        let mut statuses = Vec::new();
        let mut limited = 0;
        for _ in 0..n {
            let q = self.query();
            let body = br#"{"GroupIdList": ["g"]}"#.to_vec();
            let (status, v) = self.send(Command::GetGroupInfo, &q, body).await;
            if !statuses.contains(&status) {
                statuses.push(status);
            }
            limited += usize::from(v["ErrorCode"] == 60007);
        }
        statuses.sort_unstable();
        (statuses, limited)
    }
}

/// Edition and rate limit a probe needs.
fn setup(v: Variant) -> (Edition, Option<u32>) {
    let edition = v.editions()[0];
    let rate = match v {
        Variant::Mutant(
            Mutant::RateLimiterOff | Mutant::Http429OnRateLimit | Mutant::RateLimitedStillStored,
        )
        | Variant::Benign(Benign::RateLimitFixedWindow) => Some(PROBE_RATE),
        _ => None,
    };
    (edition, rate)
}

/// What the probe of `v` observes on the reference server and on the variant.
fn expected(v: Variant) -> (Value, Value) {
    use Benign as B;
    use Mutant as M;
    match v {
        Variant::Mutant(m) => match m {
            M::MsgSizePlusOne | M::MsgSizeUnchecked => (json!(10020), json!(0)),
            M::ImportClockSlow => (json!(0), json!(10004)),
            M::MemberUnreadIgnored => (json!(2), json!(0)),
            M::BatchLimitPlusOne
            | M::SendTimeAtCreateTime
            | M::FutureSendTimeAccepted
            | M::FutureCheckSkewedClock => (json!(10004), json!(0)),
            M::OrderIgnoresStored => (json!([10004, []]), json!([0, [0]])),
            M::DuplicateStoredTwice => (json!(1), json!(2)),
            M::SeqRestartsPerRequest => (json!(2), json!(1)),
            M::MsgTimeIsNow
            | M::ReadbackTimeIsNow
            | M::ImportGroupIgnoresCreateTime
            | M::EnvelopeNoErrorCode
            | M::EnvelopeNoErrorInfo => (json!(true), json!(false)),
            M::ResultsSkipFailed => (json!(2), json!(1)),
            M::AvChatRoomImportable => (json!(10007), json!(0)),
            M::DismissedGroupImportable => (json!(10010), json!(0)),
            M::AvChatRoom10004 => (json!(10007), json!(10004)),
            M::UnknownGroup10015 => (json!(10010), json!(10015)),
            M::UserSigExpiryUnchecked => (json!(70001), json!(0)),
            M::UserSigHmacUnchecked => (json!(70009), json!(0)),
            M::UserSigIdentifierUnchecked => (json!(70013), json!(0)),
            M::UserSigSdkAppIdUnchecked => (json!(70014), json!(0)),
            M::AdminCheckMissing => (json!(60010), json!(0)),
            M::RateLimiterOff => (json!(true), json!(false)),
            M::RateLimitedStillStored => (json!(true), json!(false)),
            M::Http400OnBadJson => (json!(200), json!(400)),
            M::Http429OnRateLimit => (json!([200]), json!([200, 429])),
            M::BadJson10004 => (json!(60003), json!(10004)),
            M::EnvelopeOkOnFailure => (json!("FAIL"), json!("OK")),
            M::UnreadNotReset => (json!(0), json!(2)),
            M::ReadbackOldestFirst => (json!([2, 1]), json!([1, 2])),
            M::ReadbackRandomZero => (json!(77), json!(0)),
        },
        Variant::Benign(b) => match b {
            B::ErrorInfoReworded => (json!(false), json!(true)),
            B::NoRequestId | B::NoErrorInfoOnSuccess => (json!(true), json!(false)),
            B::ExtraEnvelopeFields => (json!(false), json!(true)),
            B::SeedPerMessageScope => (json!([10004, null]), json!([0, [0, 10004]])),
            B::StrictSendTimeOrder => (json!(0), json!(10004)),
            B::GroupIdOtherFormat => (json!(15), json!(17)),
            B::RateLimitFixedWindow => (json!(0), json!(3)),
            B::TimeOrderBeforeDuplicates => (json!([0, [1, 2], 2]), json!([10004, null, 2])),
            B::MixedFailureScope => (
                json!([[10004, null], 10020]),
                json!([[0, [0, 10004]], 10020]),
            ),
            B::PlainErrorsOutsideApi => (json!(200), json!(404)),
        },
    }
}

/// Runs the probe of `v` against `p`.
async fn observe(p: &Probe, v: Variant) -> Value {
    use Benign as B;
    use Mutant as M;
    let now = now();
    let created = now - 86_400;
    let g = p.group("g", created).await;
    let code = |v: Value| v["ErrorCode"].clone();
    let results = |v: &Value| -> Vec<Value> {
        let list = v["ImportMsgResult"].as_array().cloned().unwrap_or_default();
        list.iter().map(|r| r["Result"].clone()).collect()
    };
    let limits = p.edition.limits();
    match v {
        Variant::Mutant(m) => match m {
            M::BatchLimitPlusOne => {
                let n = limits.msgs_per_request + 1;
                let msgs = (0..n).map(|i| msg(created + 1 + i as i64, None)).collect();
                code(p.import(&g, msgs).await)
            }
            M::MsgSizePlusOne => {
                let m = msg_of_size(created + 1, limits.msg_max_bytes + 1);
                code(p.import(&g, vec![m]).await)
            }
            M::MsgSizeUnchecked => code(p.import(&g, vec![msg_of_size(created + 1, 9_000)]).await),
            M::ImportClockSlow => code(p.import(&g, vec![msg(now - 5, None)]).await),
            M::SendTimeAtCreateTime => code(p.import(&g, vec![msg(created, None)]).await),
            M::FutureSendTimeAccepted => code(p.import(&g, vec![msg(now + 3600, None)]).await),
            M::FutureCheckSkewedClock => code(p.import(&g, vec![msg(now + 60, None)]).await),
            M::OrderIgnoresStored => {
                p.import(&g, vec![msg(created + 100, None)]).await;
                let v = p.import(&g, vec![msg(created + 50, None)]).await;
                json!([v["ErrorCode"], results(&v)])
            }
            M::DuplicateStoredTwice => {
                p.import(&g, vec![msg(created + 100, Some(5))]).await;
                p.import(&g, vec![msg(created + 100, Some(5))]).await["ImportMsgResult"][0]
                    ["MsgSeq"]
                    .clone()
            }
            M::SeqRestartsPerRequest => {
                p.import(&g, vec![msg(created + 100, None)]).await;
                p.import(&g, vec![msg(created + 101, None)]).await["ImportMsgResult"][0]["MsgSeq"]
                    .clone()
            }
            M::MsgTimeIsNow => {
                let v = p.import(&g, vec![msg(created + 100, None)]).await;
                json!(v["ImportMsgResult"][0]["MsgTime"] == created + 100)
            }
            M::ResultsSkipFailed => {
                let msgs = vec![msg(created + 100, None), msg(now + 3600, None)];
                json!(results(&p.import(&g, msgs).await).len())
            }
            M::AvChatRoomImportable | M::AvChatRoom10004 => {
                let body = json!({"Type": "AVChatRoom", "Name": "live"});
                let id = p.call(Command::CreateGroup, body).await["GroupId"].clone();
                let id = id.as_str().unwrap();
                // create_group dates the group now; a message must come after that.
                tokio::time::sleep(Duration::from_millis(1_100)).await;
                code(p.import(id, vec![msg(self::now(), None)]).await)
            }
            M::DismissedGroupImportable => {
                let v = p.call(Command::DestroyGroup, json!({"GroupId": g})).await;
                assert_eq!(v["ErrorCode"], 0, "destroy_group: {v}");
                code(p.import(&g, vec![msg(now - 10, None)]).await)
            }
            M::UnknownGroup10015 => code(p.import("nosuch", vec![msg(now - 10, None)]).await),
            M::UserSigExpiryUnchecked => {
                let sig = sign(p.sdkappid, &p.key, DEV_ADMIN, 86_400, now - 2 * 86_400);
                p.code_with_sig(DEV_ADMIN, &sig).await
            }
            M::UserSigHmacUnchecked => {
                let other = SecretKey::new(format!("{DEV_SECRET_KEY}-other"));
                let sig = sign(p.sdkappid, &other, DEV_ADMIN, 86_400, now);
                p.code_with_sig(DEV_ADMIN, &sig).await
            }
            M::UserSigIdentifierUnchecked => {
                let sig = sign(p.sdkappid, &p.key, "bob", 86_400, now);
                p.code_with_sig(DEV_ADMIN, &sig).await
            }
            M::UserSigSdkAppIdUnchecked => {
                let sig = sign(p.sdkappid + 1, &p.key, DEV_ADMIN, 86_400, now);
                p.code_with_sig(DEV_ADMIN, &sig).await
            }
            M::AdminCheckMissing => {
                let sig = sign(p.sdkappid, &p.key, "bob", 86_400, now);
                p.code_with_sig("bob", &sig).await
            }
            M::RateLimiterOff => json!(p.burst(4 * PROBE_RATE as usize).await.1 > 0),
            M::Http429OnRateLimit => json!(p.burst(4 * PROBE_RATE as usize).await.0),
            M::RateLimitedStillStored => {
                // Whether the group holds exactly the messages of the calls answered OK.
                let mut accepted = 0;
                for i in 0..2 * i64::from(PROBE_RATE) {
                    let v = p.import(&g, vec![msg(created + 100 + i, None)]).await;
                    accepted += usize::from(v["ErrorCode"] == 0);
                }
                let h = p.history(&g).await;
                json!(h["RspMsgList"].as_array().unwrap().len() == accepted)
            }
            M::Http400OnBadJson | M::BadJson10004 => {
                let (status, v) = p
                    .send(Command::ImportGroupMsg, &p.query(), b"{".to_vec())
                    .await;
                match m {
                    M::Http400OnBadJson => json!(status),
                    _ => code(v),
                }
            }
            M::EnvelopeNoErrorCode | M::EnvelopeNoErrorInfo => {
                let key = match m {
                    M::EnvelopeNoErrorCode => "ErrorCode",
                    _ => "ErrorInfo",
                };
                json!(p.import("nosuch", vec![]).await.get(key).is_some())
            }
            M::EnvelopeOkOnFailure => p.import("nosuch", vec![]).await["ActionStatus"].clone(),
            M::UnreadNotReset | M::MemberUnreadIgnored => {
                let msgs = (0..3).map(|i| msg(created + 100 + i, None)).collect();
                p.import(&g, msgs).await;
                let member =
                    json!([{"Member_Account": "m1", "JoinTime": created + 10, "UnreadMsgNum": 2}]);
                let body = json!({"GroupId": g, "MemberList": member});
                p.call(Command::ImportGroupMember, body).await;
                if m == M::UnreadNotReset {
                    p.import(&g, vec![msg(created + 200, None)]).await;
                }
                let info = p.info(&g).await;
                let list = info["MemberList"].as_array().unwrap();
                let m1 = list.iter().find(|m| m["Member_Account"] == "m1").unwrap();
                m1["UnreadMsgNum"].clone()
            }
            M::ReadbackOldestFirst => {
                let msgs = vec![msg(created + 100, None), msg(created + 101, None)];
                p.import(&g, msgs).await;
                let h = p.history(&g).await;
                let list = h["RspMsgList"].as_array().unwrap();
                json!(list.iter().map(|m| m["MsgSeq"].clone()).collect::<Vec<_>>())
            }
            M::ReadbackTimeIsNow => {
                p.import(&g, vec![msg(created + 100, None)]).await;
                json!(p.history(&g).await["RspMsgList"][0]["MsgTimeStamp"] == created + 100)
            }
            M::ReadbackRandomZero => {
                p.import(&g, vec![msg(created + 100, Some(77))]).await;
                p.history(&g).await["RspMsgList"][0]["MsgRandom"].clone()
            }
            M::ImportGroupIgnoresCreateTime => {
                json!(p.info(&g).await["CreateTime"] == created)
            }
        },
        Variant::Benign(b) => match b {
            B::ErrorInfoReworded => {
                let v = p.import("nosuch", vec![]).await;
                json!(v["ErrorInfo"]
                    .as_str()
                    .unwrap()
                    .starts_with("request failed"))
            }
            B::NoRequestId | B::NoErrorInfoOnSuccess | B::ExtraEnvelopeFields => {
                let key = match b {
                    B::NoRequestId => "RequestId",
                    B::NoErrorInfoOnSuccess => "ErrorInfo",
                    _ => "ErrorDisplay",
                };
                let v = p
                    .call(Command::GetGroupInfo, json!({"GroupIdList": [g]}))
                    .await;
                json!(v.get(key).is_some())
            }
            B::SeedPerMessageScope => {
                let msgs = vec![msg(created + 100, None), msg(now + 3600, None)];
                let v = p.import(&g, msgs).await;
                match v["ErrorCode"].as_u64() {
                    Some(0) => json!([0, results(&v)]),
                    _ => json!([v["ErrorCode"], null]),
                }
            }
            B::StrictSendTimeOrder => {
                let msgs = vec![msg(created + 100, None), msg(created + 100, None)];
                code(p.import(&g, msgs).await)
            }
            B::GroupIdOtherFormat => {
                let v = p
                    .call(Command::CreateGroup, json!({"Type": PUBLIC, "Name": "x"}))
                    .await;
                json!(v["GroupId"].as_str().unwrap().len())
            }
            B::RateLimitFixedWindow => json!(fixed_window_probe(p).await),
            B::TimeOrderBeforeDuplicates => {
                // A batch sent twice: (ErrorCode, MsgSeqs of the second answer, messages stored).
                let batch = || vec![msg(created + 100, Some(11)), msg(created + 101, Some(12))];
                p.import(&g, batch()).await;
                let v = p.import(&g, batch()).await;
                let seqs = v["ImportMsgResult"]
                    .as_array()
                    .map(|list| list.iter().map(|r| r["MsgSeq"].clone()).collect::<Vec<_>>());
                let stored = p.history(&g).await["RspMsgList"]
                    .as_array()
                    .map_or(0, Vec::len);
                json!([v["ErrorCode"], seqs, stored])
            }
            B::MixedFailureScope => {
                let msgs = vec![msg(created + 100, None), msg(now + 3600, None)];
                let v = p.import(&g, msgs).await;
                let time = match v["ErrorCode"].as_u64() {
                    Some(0) => json!([0, results(&v)]),
                    _ => json!([v["ErrorCode"], null]),
                };
                let big = msg_of_size(created + 200, limits.msg_max_bytes + 1);
                let size = code(p.import(&g, vec![msg(created + 150, None), big]).await);
                json!([time, size])
            }
            B::PlainErrorsOutsideApi => {
                let url = format!("{}/v4/no_such_svc/x?{}", p.server.url(), p.query());
                json!(p
                    .http
                    .post(url)
                    .body("{}")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16())
            }
        },
    }
}

/// Calls limited in a second burst within the same calendar second: the reference's token
/// bucket has refilled half its quota by then; a fixed window has not.
async fn fixed_window_probe(p: &Probe) -> usize {
    // Start just after a second boundary, so that both bursts fall in the same second.
    let sub = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1_050 - sub))).await;
    p.burst(PROBE_RATE as usize).await;
    let sub = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    assert!(
        sub < 600,
        "the first burst took too long ({sub} ms into the second)"
    );
    tokio::time::sleep(Duration::from_millis(u64::from(650 - sub))).await;
    p.burst(3).await.1
}

/// Each variant's probe sees the expected behaviour on the reference server and on the variant,
/// and the two differ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variant_changes_observable_behaviour() {
    async fn run(v: Variant) -> (Value, Value) {
        let (edition, rate) = setup(v);
        let reference = Probe::start(edition, rate, None).await;
        let variant = Probe::start(edition, rate, Some(v)).await;
        (observe(&reference, v).await, observe(&variant, v).await)
    }
    // The fixed-window probe depends on timing within a second: it runs alone, after the others.
    let timed = Variant::Benign(Benign::RateLimitFixedWindow);
    let tasks: Vec<_> = Variant::all()
        .into_iter()
        .filter(|&v| v != timed)
        .map(|v| tokio::spawn(async move { (v, run(v).await) }))
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.push((timed, run(timed).await));
    let mut wrong = Vec::new();
    for (v, seen) in seen {
        let want = expected(v);
        assert_ne!(want.0, want.1, "{v}: the expectations must differ");
        if seen != want {
            wrong.push(format!("{v}: expected {want:?}, saw {seen:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
