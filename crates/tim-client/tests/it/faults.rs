//! Faults a real server cannot be made to show, served by wiremock on loopback: proxy errors,
//! answers lost after the request was sent, garbage bodies, rate-limit bursts, transient internal
//! errors and an expired UserSig. Each test asserts what was retried, and that a retried import
//! carries the same `Random`s (so the server's duplicate rule keeps it from landing twice).

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
    let mut cursor = GroupCursor {
        group_id: "g".into(),
        next_seq: Some(1),
    };
    let res = client.import_batch(&mut cursor, &two_msgs()).await;
    (res, client)
}

/// The bodies the mock received, as JSON.
async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
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
async fn http_502_is_retried_with_the_same_randoms() {
    let server = MockServer::start().await;
    sequence(
        &server,
        IMPORT_PATH,
        ResponseTemplate::new(502).set_body_string("Bad Gateway"),
        1,
        ResponseTemplate::new(200).set_body_json(ok_import(2)),
    )
    .await;
    let (res, client) = import_two(&server, quick_retries(4)).await;
    assert_eq!(res.unwrap(), imported(2));
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1]);
    assert!(sent[0]["MsgList"][0]["Random"].is_u64());
    assert_ne!(
        sent[0]["MsgList"][0]["Random"],
        sent[0]["MsgList"][1]["Random"]
    );
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn an_answer_lost_after_sending_is_retried_with_the_same_randoms() {
    let server = MockServer::start().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(ok_import(2))
        .set_delay(Duration::from_secs(3));
    sequence(
        &server,
        IMPORT_PATH,
        slow,
        1,
        ResponseTemplate::new(200).set_body_json(ok_import(2)),
    )
    .await;
    let (res, _) = import_two(&server, quick_retries(4)).await;
    assert_eq!(res.unwrap(), imported(2));
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0], sent[1],
        "a re-sent batch must be recognisable as the same messages"
    );
}

#[tokio::test]
async fn a_timeout_says_the_request_may_have_been_applied() {
    let server = MockServer::start().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(ok_import(2))
        .set_delay(Duration::from_secs(3));
    sequence(&server, IMPORT_PATH, slow.clone(), 5, slow).await;
    let (res, _) = import_two(&server, quick_retries(2)).await;
    let err = res.unwrap_err();
    assert!(err.maybe_applied(), "{err:?}");
    assert!(!err.is_unreachable());
    assert!(
        matches!(&err, Error::RetriesExhausted { attempts: 2, last, .. } if matches!(**last, Error::Transport { maybe_sent: true, .. })),
        "{err:?}"
    );
    assert_no_secrets(&err);
}

#[tokio::test]
async fn a_garbage_body_is_a_decode_error_with_a_snippet_and_no_retry() {
    let server = MockServer::start().await;
    let garbage = ResponseTemplate::new(200)
        .set_body_string("<html><body>upstream maintenance</body></html>");
    sequence(&server, IMPORT_PATH, garbage.clone(), 1, garbage).await;
    let (res, client) = import_two(&server, quick_retries(4)).await;
    let err = res.unwrap_err();
    match &err {
        Error::Decode { snippet, .. } => {
            assert!(snippet.starts_with("<html><body>upstream"), "{snippet}")
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(client.stats().requests, 1);
    assert_no_secrets(&err);
}

#[tokio::test]
async fn rate_limit_bursts_back_off_then_succeed() {
    let server = MockServer::start().await;
    sequence(
        &server,
        IMPORT_PATH,
        ResponseTemplate::new(200).set_body_json(fail(60007)),
        3,
        ResponseTemplate::new(200).set_body_json(ok_import(2)),
    )
    .await;
    let (res, client) = import_two(&server, quick_retries(6)).await;
    assert_eq!(res.unwrap(), imported(2));
    let stats = client.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.rate_limited),
        (4, 3, 3)
    );
    let sent = bodies(&server).await;
    assert!(sent.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn internal_error_10002_is_retried() {
    let server = MockServer::start().await;
    sequence(
        &server,
        IMPORT_PATH,
        ResponseTemplate::new(200).set_body_json(fail(10002)),
        1,
        ResponseTemplate::new(200).set_body_json(ok_import(2)),
    )
    .await;
    let (res, client) = import_two(&server, quick_retries(3)).await;
    assert_eq!(res.unwrap(), imported(2));
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn retries_run_out_on_a_persistent_502() {
    let server = MockServer::start().await;
    let bad = ResponseTemplate::new(502).set_body_string("Bad Gateway");
    sequence(&server, IMPORT_PATH, bad.clone(), 1, bad).await;
    let (res, client) = import_two(&server, quick_retries(3)).await;
    let err = res.unwrap_err();
    assert!(
        matches!(&err, Error::RetriesExhausted { attempts: 3, last, .. } if matches!(**last, Error::HttpStatus { status: 502, .. })),
        "{err:?}"
    );
    assert_eq!(client.stats().requests, 3);
}

#[tokio::test]
async fn caller_errors_and_4xx_are_never_retried() {
    let server = MockServer::start().await;
    sequence(
        &server,
        INFO_PATH,
        ResponseTemplate::new(200).set_body_json(fail(10004)),
        1,
        ResponseTemplate::new(404).set_body_string("no"),
    )
    .await;
    let client = builder(&server.uri(), Edition::Seed).build().unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMETER));
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn an_expired_usersig_is_renewed_once_when_the_client_has_the_key() {
    let server = MockServer::start().await;
    sequence(
        &server,
        IMPORT_PATH,
        ResponseTemplate::new(200).set_body_json(fail(70001)),
        1,
        ResponseTemplate::new(200).set_body_json(ok_import(2)),
    )
    .await;
    let (res, client) = import_two(&server, quick_retries(4)).await;
    assert_eq!(res.unwrap(), imported(2));
    assert_eq!(client.stats().requests, 2);

    // A fixed UserSig cannot be renewed: the error is returned at once.
    let server2 = MockServer::start().await;
    let expired = ResponseTemplate::new(200).set_body_json(fail(70001));
    sequence(&server2, INFO_PATH, expired.clone(), 1, expired).await;
    let client = builder(&server2.uri(), Edition::Seed)
        .usersig("eJxFIXED")
        .build()
        .unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::USERSIG_EXPIRED));
    assert_eq!(client.stats().requests, 1);
    assert!(!format!("{err} {err:?} {client:?}").contains("FIXED"));

    // With the key, a server that keeps refusing gets one renewal, then the error.
    let client = builder(&server2.uri(), Edition::Seed).build().unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::USERSIG_EXPIRED));
    assert_eq!(client.stats().requests, 2);
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
            .set_body_json(json!({"ErrorCode": "10002", "ErrorInfo": "busy"})),
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
