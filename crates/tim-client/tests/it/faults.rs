//! What the reference server cannot be made to show, even through its control plane, served by
//! wiremock on loopback. Every fault the control plane can inject (gateway pages, lost answers,
//! slow answers, injected error codes such as 10002, 60007 and 70001) is tested against the real
//! server in `server_faults.rs`, where the server also shows what it stored. What stays here:
//!
//! - Answers that depend on the request: an error page echoing the request URL (UserSig
//!   included), an `ErrorInfo` quoting the UserSig sent, and a check of the request body
//!   (`next_msg_seq` asks for `NextMsgSeq` alone). A fault's body is fixed when the rule is posted,
//!   and the server's journal never keeps bodies.
//! - The API's JSON answer in shapes the reference server never writes: extra and unknown fields,
//!   a string `ErrorCode`, no `ActionStatus`, a lower-case `ActionStatus`, the envelope behind
//!   HTTP 400 or 429. The server always answers with its own envelope; the control plane's
//!   `http_status` effect is a gateway page (`text/html`), not the API's answer.
//! - A redirect: a fault page carries no `Location` header.
//! - The builder refusing a zero rate needs no server at all.
//!
//! Each test asserts what was retried and that no UserSig or key shows in an error.

use std::time::Duration;

use serde_json::{json, Value};
use tim_client::{Error, GroupCursor, MsgOutcome, RetryPolicy};
use tim_model::api::import_group_msg::ImportMsg;
use tim_model::{Edition, ErrorCode, MsgElement};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{builder, quick_retries};

const IMPORT_PATH: &str = "/v4/group_open_http_svc/import_group_msg";
const INFO_PATH: &str = "/v4/group_open_http_svc/get_group_info";

fn ok_import(n: u64) -> Value {
    json!({
        "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
        "ImportMsgResult": (1..=n).map(|s| json!({"Result": 0, "MsgSeq": s, "MsgTime": 1_600_000_000})).collect::<Vec<_>>()
    })
}

fn fail(code: u32) -> Value {
    json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": format!("error {code}")})
}

/// Two messages without `Random`: the client must pick them once and keep them across retries.
fn two_msgs() -> Vec<ImportMsg> {
    (0..2)
        .map(|i| {
            ImportMsg::new(
                "leckie",
                1_600_000_000,
                vec![MsgElement::text(format!("m{i}"))],
            )
        })
        .collect()
}

/// Mounts `first` for the first `times` calls of `p`, then `then` for the rest.
async fn sequence(
    server: &MockServer,
    p: &str,
    first: ResponseTemplate,
    times: u64,
    then: ResponseTemplate,
) {
    Mock::given(method("POST"))
        .and(path(p))
        .respond_with(first)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(p))
        .respond_with(then)
        .with_priority(2)
        .mount(server)
        .await;
}

async fn import_two(
    server: &MockServer,
    policy: RetryPolicy,
) -> (Result<Vec<MsgOutcome>, Error>, tim_client::Client) {
    let client = builder(&server.uri(), Edition::Seed)
        .retry(policy)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut cursor = GroupCursor::at("g", 1);
    let res = client.import_batch(&mut cursor, &two_msgs()).await;
    (res, client)
}

fn assert_no_secrets(err: &Error) {
    let shown = format!("{err} {err:?}").replace("usersig=[redacted]", "");
    assert!(!shown.contains("usersig="), "{shown}");
    assert!(!shown.contains("eJ"), "{shown}");
    assert!(
        !shown.contains(tim_server::config::DEV_SECRET_KEY),
        "{shown}"
    );
}

fn imported(n: u64) -> Vec<MsgOutcome> {
    (1..=n)
        .map(|s| MsgOutcome::Imported {
            msg_seq: s,
            msg_time: 1_600_000_000,
        })
        .collect()
}

#[tokio::test]
async fn the_envelope_decodes_tolerantly() {
    let server = MockServer::start().await;
    let body = json!({
        "ActionStatus": "OK", "ErrorCode": 0, "ErrorDisplay": "", "Extra": {"x": 1},
        "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "NextMsgSeq": 42, "Unknown": true}]
    });
    sequence(
        &server,
        INFO_PATH,
        ResponseTemplate::new(200).set_body_json(body.clone()),
        1,
        ResponseTemplate::new(200).set_body_json(body),
    )
    .await;
    let client = builder(&server.uri(), Edition::Seed).build().unwrap();
    assert_eq!(client.next_msg_seq("g").await.unwrap(), 42);
}

#[tokio::test]
async fn next_msg_seq_asks_for_that_field_alone() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INFO_PATH))
        .and(body_partial_json(json!({
            "GroupIdList": ["g"],
            "ResponseFilter": {"GroupBaseInfoFilter": ["NextMsgSeq"], "MemberInfoFilter": []}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ActionStatus": "OK", "ErrorCode": 0, "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "NextMsgSeq": 9}]}),
        ))
        .mount(&server)
        .await;
    let client = builder(&server.uri(), Edition::Seed).build().unwrap();
    assert_eq!(client.next_msg_seq("g").await.unwrap(), 9);
}

/// A request whose read-back found nothing may still be applied late (the control plane cannot
/// show that: the reference server drops a call whose client hung up). Before the group's next
/// batch the client confirms `NextMsgSeq` again, and a late copy stops it instead of going unseen.
#[tokio::test]
async fn a_late_copy_after_the_read_back_stops_the_next_batch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INFO_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ActionStatus": "OK", "ErrorCode": 0, "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "NextMsgSeq": 5}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(IMPORT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_import(2)))
        .mount(&server)
        .await;
    let client = builder(&server.uri(), Edition::Seed).build().unwrap();
    // The previous batch ended at NextMsgSeq 3 after an uncertain attempt; the server says 5.
    let mut cursor = GroupCursor {
        recheck: true,
        ..GroupCursor::at("g", 3)
    };
    let err = client
        .import_batch(&mut cursor, &two_msgs())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OtherWriter { detail, .. } if detail.contains("NextMsgSeq is 5, expected 3")),
        "{err}"
    );
    let imports =
        |reqs: Vec<wiremock::Request>| reqs.iter().filter(|r| r.url.path() == IMPORT_PATH).count();
    let sent = imports(server.received_requests().await.unwrap());
    assert_eq!(sent, 0, "nothing is sent after a late copy");
    // Without the flag, the cursor is trusted and the batch goes out.
    let mut cursor = GroupCursor::at("g", 3);
    assert!(client.import_batch(&mut cursor, &two_msgs()).await.is_ok());
}

#[tokio::test]
async fn an_error_page_echoing_the_url_does_not_leak_the_usersig() {
    let server = MockServer::start().await;
    let echo = |req: &wiremock::Request| {
        ResponseTemplate::new(502).set_body_string(format!(
            "<h1>502 Bad Gateway</h1><p>upstream failed for POST {}</p>",
            req.url
        ))
    };
    Mock::given(method("POST"))
        .and(path(INFO_PATH))
        .respond_with(echo)
        .mount(&server)
        .await;
    let client = builder(&server.uri(), Edition::Seed)
        .retry(quick_retries(2))
        .build()
        .unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    let shown = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
    assert!(shown.contains("upstream failed"), "{shown}");
    assert!(shown.contains("usersig=[redacted]"), "{shown}");
    assert_no_secrets(&err);

    // An ErrorInfo or a garbage body that quotes the UserSig is redacted too.
    let server = MockServer::start().await;
    let quote = |req: &wiremock::Request| {
        let sig = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "usersig")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        ResponseTemplate::new(200).set_body_json(json!({
            "ActionStatus": "FAIL", "ErrorCode": 70009, "ErrorInfo": format!("bad sig {sig}")
        }))
    };
    Mock::given(method("POST"))
        .and(path(INFO_PATH))
        .respond_with(quote)
        .mount(&server)
        .await;
    let client = builder(&server.uri(), Edition::Seed).build().unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::USERSIG_BAD_SIGNATURE));
    assert_no_secrets(&err);
}

#[rstest::rstest]
#[case::code_as_string(json!({"ActionStatus": "OK", "ErrorCode": "0", "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "NextMsgSeq": 5}]}))]
#[case::no_action_status(json!({"ErrorCode": 0, "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "NextMsgSeq": 5}]}))]
#[case::no_error_code(json!({"ActionStatus": "OK", "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "NextMsgSeq": 5}]}))]
#[case::lower_case_status(json!({"ActionStatus": "ok", "ErrorCode": 0, "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "NextMsgSeq": 5}]}))]
#[tokio::test]
async fn odd_but_meaningful_envelopes_decode(#[case] body: Value) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INFO_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let client = builder(&server.uri(), Edition::Seed).build().unwrap();
    assert_eq!(client.next_msg_seq("g").await.unwrap(), 5);
}

#[tokio::test]
async fn a_failure_without_action_status_and_a_string_code_is_an_api_error() {
    let server = MockServer::start().await;
    sequence(
        &server,
        IMPORT_PATH,
        ResponseTemplate::new(200)
            .set_body_json(json!({"ErrorCode": "60007", "ErrorInfo": "busy"})),
        1,
        ResponseTemplate::new(200).set_body_json(ok_import(2)),
    )
    .await;
    let (res, client) = import_two(&server, quick_retries(3)).await;
    assert_eq!(res.unwrap(), imported(2));
    assert_eq!(client.stats().retries, 1);
    // Neither field: not the envelope.
    let err = tim_client::decode_response::<Value>(tim_model::Command::GetGroupInfo, b"{\"a\":1}")
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn an_envelope_behind_another_http_status_is_the_answer() {
    // A caller error sent with 400: the envelope's 10004, not retried as an HTTP failure.
    let server = MockServer::start().await;
    sequence(
        &server,
        INFO_PATH,
        ResponseTemplate::new(400).set_body_json(fail(10004)),
        1,
        ResponseTemplate::new(400).set_body_json(fail(10004)),
    )
    .await;
    let client = builder(&server.uri(), Edition::Seed).build().unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Api {
                code: ErrorCode::INVALID_PARAMETER,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(client.stats().requests, 1);

    // 60007 with 429, then success: retried as a rate limit, and counted as one.
    let server = MockServer::start().await;
    sequence(
        &server,
        IMPORT_PATH,
        ResponseTemplate::new(429).set_body_json(fail(60007)),
        1,
        ResponseTemplate::new(200).set_body_json(ok_import(2)),
    )
    .await;
    let (res, client) = import_two(&server, quick_retries(3)).await;
    assert_eq!(res.unwrap(), imported(2));
    assert_eq!(client.stats().rate_limited, 1);
}

#[tokio::test]
async fn redirects_are_reported_not_followed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INFO_PATH))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", "/elsewhere"))
        .mount(&server)
        .await;
    let client = builder(&server.uri(), Edition::Seed).build().unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 307, .. }),
        "{err:?}"
    );
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, [INFO_PATH]);
}

#[test]
fn a_zero_rate_is_refused() {
    let err = builder("http://127.0.0.1:1", Edition::Seed)
        .rate(tim_client::Rate::PerSecond(0))
        .build()
        .unwrap_err();
    assert!(matches!(err, tim_client::BuildError::ZeroRate), "{err}");
}
