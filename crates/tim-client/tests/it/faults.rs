//! Faults a real server cannot be made to show, served by wiremock on loopback: proxy errors,
//! answers lost after the request was sent, garbage bodies, rate-limit bursts, transient internal
//! errors and an expired UserSig. Each test asserts what was retried, and that a retried import
//! carries the same `Random`s (so the server's duplicate rule keeps it from landing twice).

use std::time::Duration;

use serde_json::{json, Value};
use tim_client::{Error, GroupCursor, MsgOutcome, RetryPolicy};
use tim_model::api::import_group_msg::ImportMsg;
use tim_model::{Edition, ErrorCode, MsgElement};
use wiremock::matchers::{method, path};
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
    let shown = format!("{err} {err:?}");
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
