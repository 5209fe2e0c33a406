//! The REST gateway over HTTP (docs/behaviour.md "Gateway", digest §2, §3.3, §7 Q9–Q11, Q18, Q19):
//! every gateway code, the order in which the checks apply, the envelope, `RequestId`, rate
//! limiting and `/healthz`.

use std::collections::BTreeSet;
use std::time::Duration;

use rstest::{rstest, Context};
use serde_json::{json, Value};
use tim_model::usersig::{sign, SecretKey};
use tim_model::{Command, CommonQuery};
use tim_server::config::{DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};

use crate::support::{self, code, text_msg, Opts, TestServer, NOW};

const IMPORT: &str = "/v4/group_open_http_svc/import_group_msg";
const GROUP: &str = "gw-group";

fn snap(name: &str, v: &Value) {
    support::redacted().bind(|| insta::assert_json_snapshot!(name, v));
}

/// One thing wrong with an otherwise valid `import_group_msg` request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Path of an unknown service.
    UnknownService,
    /// Path with another API version.
    OtherVersion,
    /// The root path.
    RootPath,
    /// A known command with an extra path segment.
    ExtraSegment,
    /// `GET` instead of `POST`.
    Get,
    /// `PUT` instead of `POST`.
    Put,
    /// No `sdkappid`.
    NoSdkAppId,
    /// `sdkappid=`.
    EmptySdkAppId,
    /// `sdkappid=abc`.
    TextSdkAppId,
    /// `sdkappid=-1`.
    NegativeSdkAppId,
    /// An SDKAppID the server does not know.
    UnknownApp,
    /// No `usersig`.
    NoUserSig,
    /// `usersig=`.
    EmptyUserSig,
    /// No `identifier`.
    NoIdentifier,
    /// `usersig=abc`.
    GarbageSig,
    /// A valid UserSig cut in half.
    TruncatedSig,
    /// A UserSig issued for another SDKAppID.
    SigOtherApp,
    /// A UserSig issued for another identifier (itself an admin).
    SigOtherIdentifier,
    /// A UserSig issued for another SDKAppID and another identifier.
    SigOtherAppAndIdentifier,
    /// A UserSig that expired one second ago.
    ExpiredSig,
    /// A UserSig signed with another key.
    WrongKey,
    /// A valid UserSig of a non-admin account.
    NotAdmin,
    /// A non-admin account whose UserSig is signed with another key.
    NotAdminWrongKey,
    /// A non-admin account with a garbage UserSig.
    NotAdminGarbageSig,
    /// An unknown command of `group_open_http_svc`.
    UnknownCommand,
    /// A body that is not JSON.
    InvalidJson,
    /// An empty body.
    EmptyBody,
    /// A body that is not UTF-8.
    NotUtf8,
    /// A JSON body of the wrong shape (`SendTime` a string).
    WrongShape,
    /// A JSON body without `MsgList`.
    MissingField,
    /// A JSON array instead of an object.
    ArrayBody,
    /// A body one byte over the 1 MiB limit.
    Oversized,
    /// A body over the limit that is not JSON either.
    OversizedGarbage,
    /// No `random` and no `contenttype` (accepted).
    NoRandomNoContentType,
    /// The second configured admin (accepted).
    SecondAdmin,
}

struct Req {
    method: &'static str,
    path: String,
    query: CommonQuery,
    body: Vec<u8>,
}

fn signed(sdkappid: u64, key: &str, identifier: &str, time: i64) -> String {
    sign(sdkappid, &SecretKey::new(key), identifier, 86_400, time)
}

fn valid_body() -> Vec<u8> {
    serde_json::to_vec(
        &json!({"GroupId": GROUP, "MsgList": [text_msg("leckie", NOW - 10, "hello")]}),
    )
    .unwrap()
}

fn build(s: &TestServer, faults: &[Fault]) -> Req {
    let mut r = Req {
        method: "POST",
        path: IMPORT.to_owned(),
        query: s.query(),
        body: valid_body(),
    };
    for f in faults {
        apply(&mut r, *f);
    }
    r
}

fn apply(r: &mut Req, f: Fault) {
    let q = &mut r.query;
    match f {
        Fault::UnknownService => r.path = "/v4/openim/sendmsg".into(),
        Fault::OtherVersion => r.path = "/v3/group_open_http_svc/import_group_msg".into(),
        Fault::RootPath => r.path = "/".into(),
        Fault::ExtraSegment => r.path = format!("{IMPORT}/x"),
        Fault::Get => r.method = "GET",
        Fault::Put => r.method = "PUT",
        Fault::NoSdkAppId => q.sdkappid = None,
        Fault::EmptySdkAppId => q.sdkappid = Some(String::new()),
        Fault::TextSdkAppId => q.sdkappid = Some("abc".into()),
        Fault::NegativeSdkAppId => q.sdkappid = Some("-1".into()),
        Fault::UnknownApp => q.sdkappid = Some((DEV_SDKAPPID + 1).to_string()),
        Fault::NoUserSig => q.usersig = None,
        Fault::EmptyUserSig => q.usersig = Some(String::new()),
        Fault::NoIdentifier => q.identifier = None,
        Fault::GarbageSig => q.usersig = Some("abc".into()),
        Fault::TruncatedSig => {
            let sig = signed(DEV_SDKAPPID, DEV_SECRET_KEY, DEV_ADMIN, NOW);
            q.usersig = Some(sig[..sig.len() / 2].to_owned());
        }
        Fault::SigOtherApp => {
            q.usersig = Some(signed(DEV_SDKAPPID + 1, DEV_SECRET_KEY, DEV_ADMIN, NOW))
        }
        Fault::SigOtherIdentifier => {
            q.usersig = Some(signed(DEV_SDKAPPID, DEV_SECRET_KEY, "second_admin", NOW))
        }
        Fault::SigOtherAppAndIdentifier => {
            q.usersig = Some(signed(
                DEV_SDKAPPID + 1,
                DEV_SECRET_KEY,
                "second_admin",
                NOW,
            ))
        }
        Fault::ExpiredSig => {
            q.usersig = Some(signed(
                DEV_SDKAPPID,
                DEV_SECRET_KEY,
                DEV_ADMIN,
                NOW - 86_401,
            ))
        }
        Fault::WrongKey => {
            let id = q.identifier.clone().unwrap_or_else(|| DEV_ADMIN.into());
            q.usersig = Some(signed(DEV_SDKAPPID, "not-the-app-key", &id, NOW));
        }
        Fault::NotAdmin => {
            q.identifier = Some("alice".into());
            q.usersig = Some(signed(DEV_SDKAPPID, DEV_SECRET_KEY, "alice", NOW));
        }
        Fault::NotAdminWrongKey => {
            q.identifier = Some("alice".into());
            q.usersig = Some(signed(DEV_SDKAPPID, "not-the-app-key", "alice", NOW));
        }
        Fault::NotAdminGarbageSig => {
            q.identifier = Some("alice".into());
            q.usersig = Some("abc".into());
        }
        Fault::UnknownCommand => r.path = "/v4/group_open_http_svc/send_group_msg".into(),
        Fault::InvalidJson => r.body = br#"{"GroupId": "gw-group", "MsgList": ["#.to_vec(),
        Fault::EmptyBody => r.body = Vec::new(),
        Fault::NotUtf8 => r.body = b"{\"GroupId\": \"\xff\xfe\"}".to_vec(),
        Fault::WrongShape => {
            r.body = serde_json::to_vec(&json!({"GroupId": GROUP, "MsgList": [
                {"From_Account": "leckie", "SendTime": "yesterday", "MsgBody": []}
            ]}))
            .unwrap()
        }
        Fault::MissingField => r.body = br#"{"GroupId": "gw-group"}"#.to_vec(),
        Fault::ArrayBody => r.body = b"[]".to_vec(),
        Fault::Oversized => {
            // Valid JSON, one byte over the limit: padding inside a string.
            let prefix = br#"{"GroupId":"gw-group","MsgList":[],"Pad":""#;
            let suffix = br#""}"#;
            let pad = (1 << 20) + 1 - prefix.len() - suffix.len();
            let mut b = prefix.to_vec();
            b.extend(std::iter::repeat_n(b'x', pad));
            b.extend_from_slice(suffix);
            assert_eq!(b.len(), (1 << 20) + 1);
            r.body = b;
        }
        Fault::OversizedGarbage => r.body = vec![b'{'; (1 << 20) + 1],
        Fault::NoRandomNoContentType => {
            q.random = None;
            q.contenttype = None;
        }
        Fault::SecondAdmin => {
            q.identifier = Some("second_admin".into());
            q.usersig = Some(signed(DEV_SDKAPPID, DEV_SECRET_KEY, "second_admin", NOW));
        }
    }
}

/// Sends `req`; asserts HTTP 200, `application/json`, the envelope and that no secret leaks.
async fn send(s: &TestServer, req: Req) -> Value {
    let reply = s.send(req.method, &req.path, &req.query, req.body).await;
    assert_eq!(reply.status, 200, "every outcome is HTTP 200: {reply:?}");
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/json"),
        "{reply:?}"
    );
    assert!(
        !reply.text.contains(DEV_SECRET_KEY),
        "the key leaks: {}",
        reply.text
    );
    if let Some(sig) = req.query.usersig.as_deref().filter(|s| s.len() > 8) {
        assert!(
            !reply.text.contains(sig),
            "the UserSig leaks: {}",
            reply.text
        );
        assert!(
            !reply.text.contains(&sig[..sig.len() / 2]),
            "part of the UserSig leaks: {}",
            reply.text
        );
    }
    let v = reply.json();
    let ok = code(&v) == 0;
    assert_eq!(v["ActionStatus"], if ok { "OK" } else { "FAIL" }, "{v}");
    assert!(v["ErrorInfo"].is_string(), "ErrorInfo is a string: {v}");
    assert!(v["RequestId"].is_string(), "RequestId is present: {v}");
    v
}

async fn server_with_group(opts: Opts) -> TestServer {
    let s = TestServer::with(opts).await;
    s.group(GROUP, "Public", NOW - 1000).await;
    s
}

/// Each gateway code on its own: the request is valid except for one fault.
#[rstest]
#[case::unknown_service(&[Fault::UnknownService], 60009)]
#[case::other_version(&[Fault::OtherVersion], 60009)]
#[case::root_path(&[Fault::RootPath], 60009)]
#[case::extra_segment(&[Fault::ExtraSegment], 60009)]
#[case::get(&[Fault::Get], 60008)]
#[case::put(&[Fault::Put], 60008)]
#[case::no_sdkappid(&[Fault::NoSdkAppId], 60012)]
#[case::empty_sdkappid(&[Fault::EmptySdkAppId], 60012)]
#[case::text_sdkappid(&[Fault::TextSdkAppId], 60002)]
#[case::negative_sdkappid(&[Fault::NegativeSdkAppId], 60002)]
#[case::unknown_app(&[Fault::UnknownApp], 70020)]
#[case::no_usersig(&[Fault::NoUserSig], 70002)]
#[case::empty_usersig(&[Fault::EmptyUserSig], 70002)]
#[case::no_identifier(&[Fault::NoIdentifier], 60004)]
#[case::garbage_sig(&[Fault::GarbageSig], 70003)]
#[case::truncated_sig(&[Fault::TruncatedSig], 70003)]
#[case::sig_other_app(&[Fault::SigOtherApp], 70014)]
#[case::sig_other_identifier(&[Fault::SigOtherIdentifier], 70013)]
#[case::expired_sig(&[Fault::ExpiredSig], 70001)]
#[case::wrong_key(&[Fault::WrongKey], 70009)]
#[case::not_admin(&[Fault::NotAdmin], 60010)]
#[case::unknown_command(&[Fault::UnknownCommand], 10003)]
#[case::invalid_json(&[Fault::InvalidJson], 60003)]
#[case::empty_body(&[Fault::EmptyBody], 60003)]
#[case::not_utf8(&[Fault::NotUtf8], 60003)]
#[case::wrong_shape(&[Fault::WrongShape], 10004)]
#[case::missing_field(&[Fault::MissingField], 10004)]
#[case::array_body(&[Fault::ArrayBody], 10004)]
#[case::oversized(&[Fault::Oversized], 10004)]
#[case::no_random_no_contenttype(&[Fault::NoRandomNoContentType], 0)]
#[case::second_admin(&[Fault::SecondAdmin], 0)]
#[case::valid(&[], 0)]
#[tokio::test]
async fn gateway_codes(#[context] ctx: Context, #[case] faults: &[Fault], #[case] expected: u64) {
    let s = server_with_group(Opts::default()).await;
    let v = send(&s, build(&s, faults)).await;
    assert_eq!(code(&v), expected, "{faults:?}: {v}");
    if expected != 0 {
        assert!(
            v.get("ImportMsgResult").is_none(),
            "a failure has no API fields: {v}"
        );
        assert!(
            !v["ErrorInfo"].as_str().unwrap().is_empty(),
            "a failure says why: {v}"
        );
        assert_eq!(s.next_msg_seq(GROUP).await, 1, "nothing was stored");
    } else {
        assert_eq!(v["ImportMsgResult"][0]["MsgSeq"], 1, "{v}");
    }
    snap(&format!("code_{}", ctx.description.unwrap()), &v);
}

/// Two faults at once: the check that comes first in docs/behaviour.md's order decides the code.
#[rstest]
#[case::path_before_method(&[Fault::UnknownService, Fault::Get], 60009)]
#[case::method_before_sdkappid(&[Fault::Get, Fault::NoSdkAppId], 60008)]
#[case::sdkappid_before_sig(&[Fault::NoSdkAppId, Fault::GarbageSig], 60012)]
#[case::sdkappid_syntax_before_usersig(&[Fault::TextSdkAppId, Fault::EmptyUserSig], 60002)]
#[case::unknown_app_before_usersig(&[Fault::UnknownApp, Fault::EmptyUserSig], 70020)]
#[case::empty_usersig_before_identifier(&[Fault::EmptyUserSig, Fault::NoIdentifier], 70002)]
#[case::identifier_before_sig(&[Fault::NoIdentifier, Fault::GarbageSig], 60004)]
#[case::malformed_sig_before_admin(&[Fault::NotAdminGarbageSig], 70003)]
#[case::sig_app_before_sig_identifier(&[Fault::SigOtherAppAndIdentifier], 70014)]
#[case::bad_signature_before_admin(&[Fault::NotAdminWrongKey], 70009)]
#[case::admin_before_command(&[Fault::NotAdmin, Fault::UnknownCommand], 60010)]
#[case::sig_before_command(&[Fault::UnknownCommand, Fault::GarbageSig], 70003)]
#[case::command_before_body(&[Fault::UnknownCommand, Fault::InvalidJson], 10003)]
#[case::sig_before_body(&[Fault::InvalidJson, Fault::GarbageSig], 70003)]
#[case::expired_before_body(&[Fault::WrongShape, Fault::ExpiredSig], 70001)]
#[case::size_before_syntax(&[Fault::OversizedGarbage], 10004)]
#[case::sig_before_size(&[Fault::Oversized, Fault::WrongKey], 70009)]
#[tokio::test]
async fn gateway_order(#[context] ctx: Context, #[case] faults: &[Fault], #[case] expected: u64) {
    let s = server_with_group(Opts::default()).await;
    let v = send(&s, build(&s, faults)).await;
    assert_eq!(code(&v), expected, "{faults:?}: {v}");
    snap(&format!("order_{}", ctx.description.unwrap()), &v);
}

/// `SigOtherIdentifier` then `ExpiredSig` replaces the sig; the real combination needs its own sig.
#[tokio::test]
async fn sig_identifier_checked_before_expiry() {
    let s = server_with_group(Opts::default()).await;
    let mut q = s.query();
    q.usersig = Some(signed(
        DEV_SDKAPPID,
        DEV_SECRET_KEY,
        "second_admin",
        NOW - 86_401,
    ));
    let v = send(
        &s,
        Req {
            method: "POST",
            path: IMPORT.into(),
            query: q,
            body: valid_body(),
        },
    )
    .await;
    assert_eq!(code(&v), 70013, "{v}");
    let mut q = s.query();
    q.usersig = Some(signed(
        DEV_SDKAPPID,
        "not-the-app-key",
        DEV_ADMIN,
        NOW - 86_401,
    ));
    let v = send(
        &s,
        Req {
            method: "POST",
            path: IMPORT.into(),
            query: q,
            body: valid_body(),
        },
    )
    .await;
    assert_eq!(
        code(&v),
        70001,
        "expiry is checked before the signature: {v}"
    );
}

/// The shape error names the JSON path of the offending value.
#[rstest]
#[case::send_time(json!({"GroupId": GROUP, "MsgList": [{"From_Account": "a", "SendTime": "x", "MsgBody": []}]}), "MsgList[0].SendTime")]
#[case::second_message(json!({"GroupId": GROUP, "MsgList": [text_msg("a", NOW - 5, "x"), {"From_Account": 7, "SendTime": NOW, "MsgBody": []}]}), "MsgList[1].From_Account")]
#[case::group_id(json!({"GroupId": 5, "MsgList": []}), "GroupId")]
#[case::msg_list(json!({"GroupId": GROUP, "MsgList": {}}), "MsgList")]
#[case::msg_body(json!({"GroupId": GROUP, "MsgList": [{"From_Account": "a", "SendTime": NOW, "MsgBody": "hi"}]}), "MsgList[0].MsgBody")]
#[case::element_content(json!({"GroupId": GROUP, "MsgList": [{"From_Account": "a", "SendTime": NOW, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]}]}), "MsgList[0].MsgBody[0]")]
#[case::missing_send_time(json!({"GroupId": GROUP, "MsgList": [{"From_Account": "a", "MsgBody": []}]}), "MsgList[0]")]
#[tokio::test]
async fn shape_errors_name_the_path(
    #[context] ctx: Context,
    #[case] body: Value,
    #[case] path: &str,
) {
    let s = server_with_group(Opts::default()).await;
    let v = s.call(Command::ImportGroupMsg, body).await;
    assert_eq!(code(&v), 10004, "{v}");
    let info = v["ErrorInfo"].as_str().unwrap();
    assert!(
        info.starts_with(path),
        "ErrorInfo starts with the path {path:?}: {info}"
    );
    snap(&format!("shape_{}", ctx.description.unwrap()), &v);
}

/// A UserSig is valid up to and including `time + expire`, then 70001 (clock advanced).
#[tokio::test]
async fn expiry_follows_the_clock() {
    let s = server_with_group(Opts::default()).await;
    let q = s.query(); // signed at NOW for 86400 s
    let body = || serde_json::to_vec(&json!({"GroupIdList": [GROUP]})).unwrap();
    let path = Command::GetGroupInfo.path();
    s.clock.advance(86_400);
    let v = send(
        &s,
        Req {
            method: "POST",
            path: path.clone(),
            query: q.clone(),
            body: body(),
        },
    )
    .await;
    assert_eq!(code(&v), 0, "valid at time + expire: {v}");
    s.clock.advance(1);
    let v = send(
        &s,
        Req {
            method: "POST",
            path,
            query: q,
            body: body(),
        },
    )
    .await;
    assert_eq!(code(&v), 70001, "{v}");
    assert!(
        v["ErrorInfo"]
            .as_str()
            .unwrap()
            .contains(&(NOW + 86_400).to_string()),
        "{v}"
    );
    snap("expired_after_clock_advance", &v);
}

/// Rate limit: a burst over the quota gets 60007, per (app, command), and recovers with time.
#[tokio::test]
async fn rate_limit_per_command_recovers() {
    let s = server_with_group(Opts {
        rate_limit: Some(5),
        ..Opts::default()
    })
    .await;
    let body =
        |i: i64| json!({"GroupId": GROUP, "MsgList": [text_msg("leckie", NOW - 100 + i, "burst")]});
    let mut codes = Vec::new();
    let mut limited = None;
    for i in 0..20 {
        let v = s.call(Command::ImportGroupMsg, body(i)).await;
        if code(&v) == 60007 && limited.is_none() {
            limited = Some(v.clone());
        }
        codes.push(code(&v));
    }
    let ok = codes.iter().filter(|&&c| c == 0).count();
    let rate_limited = codes.iter().filter(|&&c| c == 60007).count();
    assert_eq!(ok + rate_limited, 20, "only 0 or 60007: {codes:?}");
    // The burst is one second's quota; a slow machine may see a token or two refill meanwhile.
    assert!(
        (5..=10).contains(&ok),
        "about one second's quota (5) passes: {codes:?}"
    );
    assert!(rate_limited >= 10, "the rest is limited: {codes:?}");
    assert_eq!(codes[0], 0, "the first request passes: {codes:?}");
    let limited = limited.unwrap();
    assert_eq!(limited["ActionStatus"], "FAIL");
    assert_eq!(
        s.next_msg_seq(GROUP).await,
        ok as u64 + 1,
        "limited requests stored nothing"
    );
    snap("rate_limited", &limited);

    // Another command has its own bucket.
    let v = s
        .call(Command::GetGroupInfo, json!({"GroupIdList": [GROUP]}))
        .await;
    assert_eq!(
        code(&v),
        0,
        "get_group_info is not limited by import_group_msg's bucket: {v}"
    );

    // Authentication comes first: a bad sig is still 70003 while the bucket is empty.
    let mut q = s.query();
    q.usersig = Some("abc".into());
    let v = s
        .raw("POST", IMPORT, &q, serde_json::to_vec(&body(50)).unwrap())
        .await;
    assert_eq!(code(&v), 70003, "{v}");
    // The rate limit comes before the body: invalid JSON is 60007 while the bucket is empty
    // (a burst, so that a token refilled meanwhile cannot hide it).
    let mut body_codes = Vec::new();
    for _ in 0..10 {
        body_codes.push(code(
            &s.raw("POST", IMPORT, &s.query(), b"{".to_vec()).await,
        ));
    }
    assert!(
        body_codes.iter().all(|&c| c == 60007 || c == 60003),
        "{body_codes:?}"
    );
    assert!(
        body_codes.iter().filter(|&&c| c == 60007).count() >= 5,
        "{body_codes:?}"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let v = s.call(Command::ImportGroupMsg, body(60)).await;
    assert_eq!(code(&v), 0, "the quota refills after a second: {v}");
}

/// Without a rate limit, a burst passes.
#[tokio::test]
async fn no_rate_limit_when_off() {
    let s = server_with_group(Opts::default()).await;
    for _ in 0..30 {
        let v = s
            .call(Command::GetGroupInfo, json!({"GroupIdList": [GROUP]}))
            .await;
        assert_eq!(code(&v), 0, "{v}");
    }
}

/// Every response carries a `RequestId` of the documented shape, unique per response.
#[tokio::test]
async fn request_ids_are_unique() {
    let s = server_with_group(Opts::default()).await;
    let mut ids = BTreeSet::new();
    let mut add = |v: &Value| {
        let id = v["RequestId"].as_str().expect("RequestId").to_owned();
        assert!(id.starts_with("Id-") && id.len() > 10, "{id}");
        assert!(ids.insert(id.clone()), "RequestId {id} repeats");
    };
    for _ in 0..10 {
        add(&s
            .call(Command::GetGroupInfo, json!({"GroupIdList": [GROUP]}))
            .await);
        add(&send(&s, build(&s, &[Fault::GarbageSig])).await);
        add(&send(&s, build(&s, &[Fault::UnknownService])).await);
        add(&send(&s, build(&s, &[Fault::Get])).await);
        add(&send(&s, build(&s, &[Fault::InvalidJson])).await);
    }
    assert_eq!(ids.len(), 50);
}

/// `GET /healthz` answers `{"status":"ok"}` without credentials.
#[tokio::test]
async fn healthz() {
    let s = TestServer::start().await;
    let reply = s
        .send("GET", "/healthz", &CommonQuery::default(), Vec::new())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

/// Other methods on `/healthz` still get the JSON envelope (every outcome is HTTP 200 + envelope).
#[rstest]
#[case::post("POST")]
#[case::put("PUT")]
#[tokio::test]
async fn healthz_other_methods_get_an_envelope(#[case] method: &str) {
    let s = TestServer::start().await;
    let reply = s.send(method, "/healthz", &s.query(), b"{}".to_vec()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/json"),
        "{reply:?}"
    );
    let v = reply.json();
    assert_eq!(code(&v), 60009, "/healthz is not an API resource: {v}");
}

/// Every command answers HTTP 200 + JSON for a malformed body, and for a valid one.
#[rstest]
#[tokio::test]
async fn every_command_answers_with_an_envelope(
    #[values(
        Command::ImportGroupMsg,
        Command::ImportGroup,
        Command::CreateGroup,
        Command::DestroyGroup,
        Command::GetGroupInfo,
        Command::ImportGroupMember,
        Command::SetUnreadMsgNum,
        Command::GroupMsgGetSimple
    )]
    command: Command,
) {
    let s = server_with_group(Opts::default()).await;
    for (body, expected) in [
        (b"not json".to_vec(), 60003),
        (b"{}".to_vec(), 10004),
        (b"[1]".to_vec(), 10004),
    ] {
        let reply = s.send("POST", &command.path(), &s.query(), body).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(
            reply.content_type.as_deref(),
            Some("application/json"),
            "{reply:?}"
        );
        let v = reply.json();
        assert_eq!(code(&v), expected, "{command}: {v}");
        assert!(v["RequestId"].is_string(), "{v}");
    }
}
