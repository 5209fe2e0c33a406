//! Which calls are re-sent after an attempt that may have reached the server (a lost answer, a
//! 5xx), and what a re-sent call's answer means. wiremock plays the server, because only a mock
//! can lose an answer after applying the request.

use std::time::Duration;

use serde_json::{json, Value};
use tim_client::{Client, Error};
use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::api::import_group::{GroupProfile, ImportGroupRequest};
use tim_model::api::import_group_msg::{ImportGroupMsgRequest, ImportMsg};
use tim_model::{Command, Edition, ErrorCode, GroupType, MsgElement};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{builder, quick_retries};

fn api_path(command: Command) -> String {
    command.path().to_owned()
}

fn ok(body: Value) -> ResponseTemplate {
    let mut v = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
    v.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    ResponseTemplate::new(200).set_body_json(v)
}

fn fail(code: u32) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": format!("error {code}")}),
    )
}

/// An answer that arrives after the client gave up waiting: the request was applied, the answer lost.
fn lost(answer: ResponseTemplate) -> ResponseTemplate {
    answer.set_delay(Duration::from_secs(3))
}

/// Answers `command` with `first` once, then with `then`.
async fn mount(
    server: &MockServer,
    command: Command,
    first: ResponseTemplate,
    then: ResponseTemplate,
) {
    Mock::given(method("POST"))
        .and(path(api_path(command)))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(api_path(command)))
        .respond_with(then)
        .with_priority(2)
        .mount(server)
        .await;
}

async fn client(server: &MockServer) -> Client {
    builder(&server.uri(), Edition::Seed)
        .retry(quick_retries(4))
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap()
}

async fn requests(server: &MockServer, command: Command) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == command.path())
        .count()
}

fn import_req(group_id: Option<&str>) -> ImportGroupRequest {
    let mut profile = GroupProfile::new(GroupType::Public, "history");
    profile.group_id = group_id.map(str::to_owned);
    ImportGroupRequest {
        create_time: Some(1_600_000_000),
        profile,
    }
}

/// The `get_group_info` entry of a group named `name` created at 1_600_000_000.
fn group_info(group_id: &str, name: &str) -> ResponseTemplate {
    ok(
        json!({"GroupInfo": [{"GroupId": group_id, "ErrorCode": 0, "Name": name, "CreateTime": 1_600_000_000}]}),
    )
}

/// A server that applies the first `import_group` of `g-1` but loses its answer, answers 10021 to
/// the re-sent one, and reports `g-1` named `name` to `get_group_info`.
async fn lost_then_in_use(name: &str) -> MockServer {
    let server = MockServer::start().await;
    mount(
        &server,
        Command::ImportGroup,
        lost(ok(json!({"GroupId": "g-1"}))),
        fail(10021),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(api_path(Command::GetGroupInfo)))
        .and(body_partial_json(json!({"GroupIdList": ["g-1"]})))
        .respond_with(group_info("g-1", name))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_group_without_id_is_not_created_twice_after_a_lost_answer() {
    let server = MockServer::start().await;
    let made = ok(json!({"GroupId": "@TGS#AAAAAAAAAA"}));
    mount(&server, Command::CreateGroup, lost(made.clone()), made).await;
    let client = client(&server).await;
    let req = CreateGroupRequest {
        member_list: None,
        profile: GroupProfile::new(GroupType::Public, "history"),
    };
    let err = client.create_group(&req).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotResent {
                command: Command::CreateGroup,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.maybe_applied());
    assert!(err.to_string().contains("may have been applied"), "{err}");
    assert_eq!(requests(&server, Command::CreateGroup).await, 1);

    // The same for import_group without a GroupId, after a 502 (a proxy may have forwarded it).
    let server = MockServer::start().await;
    mount(
        &server,
        Command::ImportGroup,
        ResponseTemplate::new(502),
        ok(json!({"GroupId": "@TGS#AAAAAAAAAA"})),
    )
    .await;
    let client = self::client(&server).await;
    let err = client.import_group(&import_req(None)).await.unwrap_err();
    assert!(matches!(err, Error::NotResent { .. }), "{err:?}");
    assert_eq!(requests(&server, Command::ImportGroup).await, 1);
}

#[tokio::test]
async fn a_refused_attempt_of_a_group_without_id_is_still_retried() {
    // 60007 means the server did not act: re-sending cannot make a second group.
    let server = MockServer::start().await;
    mount(
        &server,
        Command::ImportGroup,
        fail(60007),
        ok(json!({"GroupId": "@TGS#B"})),
    )
    .await;
    let client = client(&server).await;
    let resp = client.import_group(&import_req(None)).await.unwrap();
    assert_eq!(resp.group_id, "@TGS#B");
}

#[tokio::test]
async fn a_group_id_in_use_after_a_lost_answer_is_confirmed_and_returned() {
    let server = lost_then_in_use("history").await;
    let client = client(&server).await;
    let resp = client.import_group(&import_req(Some("g-1"))).await.unwrap();
    assert_eq!(resp.group_id, "g-1");
    assert_eq!(requests(&server, Command::ImportGroup).await, 2);
    assert_eq!(requests(&server, Command::GetGroupInfo).await, 1);

    // create_group likewise; 10025 (in use, and the operator owns it) counts as in use.
    let server = MockServer::start().await;
    mount(
        &server,
        Command::CreateGroup,
        ResponseTemplate::new(504),
        fail(10025),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(api_path(Command::GetGroupInfo)))
        .respond_with(group_info("g-2", "history"))
        .mount(&server)
        .await;
    let client = self::client(&server).await;
    let mut profile = GroupProfile::new(GroupType::Public, "history");
    profile.group_id = Some("g-2".into());
    let req = CreateGroupRequest {
        member_list: None,
        profile,
    };
    assert_eq!(client.create_group(&req).await.unwrap().group_id, "g-2");
}

#[tokio::test]
async fn a_group_id_in_use_is_an_error_when_the_group_is_someone_elses() {
    // In use at once (no lost attempt): an error, and nothing is read back.
    let server = MockServer::start().await;
    mount(&server, Command::ImportGroup, fail(10021), fail(10021)).await;
    Mock::given(method("POST"))
        .and(path(api_path(Command::GetGroupInfo)))
        .respond_with(group_info("g-1", "history"))
        .mount(&server)
        .await;
    let client = client(&server).await;
    let err = client
        .import_group(&import_req(Some("g-1")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GROUP_ID_IN_USE));
    assert_eq!(requests(&server, Command::GetGroupInfo).await, 0);

    // In use after a lost attempt, but by a group with another name: still the error.
    let server = lost_then_in_use("another team's group").await;
    let client = self::client(&server).await;
    let err = client
        .import_group(&import_req(Some("g-1")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GROUP_ID_IN_USE));
    assert_eq!(requests(&server, Command::GetGroupInfo).await, 1);
}

#[tokio::test]
async fn a_group_gone_after_a_lost_destroy_answer_is_success() {
    let server = MockServer::start().await;
    mount(
        &server,
        Command::DestroyGroup,
        lost(ok(json!({}))),
        fail(10010),
    )
    .await;
    let client = client(&server).await;
    let req = DestroyGroupRequest {
        group_id: "g-1".into(),
    };
    client.destroy_group(&req).await.unwrap();
    assert_eq!(requests(&server, Command::DestroyGroup).await, 2);

    // Without a lost attempt, 10010 stays an error.
    let server = MockServer::start().await;
    mount(&server, Command::DestroyGroup, fail(10010), fail(10010)).await;
    let client = self::client(&server).await;
    let err = client.destroy_group(&req).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GROUP_NOT_FOUND));
}

fn raw_import(random: Option<i64>) -> ImportGroupMsgRequest {
    let mut m = ImportMsg::new("leckie", 1_600_000_000, vec![MsgElement::text("hi")]);
    m.random = random;
    ImportGroupMsgRequest::new("g".to_owned(), vec![m])
}

#[tokio::test]
async fn a_raw_import_is_re_sent_only_when_every_message_has_a_random() {
    let imported =
        ok(json!({"ImportMsgResult": [{"Result": 0, "MsgSeq": 1, "MsgTime": 1_600_000_000}]}));
    let server = MockServer::start().await;
    mount(
        &server,
        Command::ImportGroupMsg,
        ResponseTemplate::new(502),
        imported.clone(),
    )
    .await;
    let client = client(&server).await;
    let err = client
        .import_group_msg(&raw_import(None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotResent { .. }), "{err:?}");
    assert_eq!(requests(&server, Command::ImportGroupMsg).await, 1);

    let server = MockServer::start().await;
    mount(
        &server,
        Command::ImportGroupMsg,
        ResponseTemplate::new(502),
        imported,
    )
    .await;
    let client = self::client(&server).await;
    let resp = client.import_group_msg(&raw_import(Some(7))).await.unwrap();
    assert!(resp.envelope.is_ok());
    assert_eq!(requests(&server, Command::ImportGroupMsg).await, 2);
}

#[tokio::test]
async fn retries_that_run_out_remember_an_earlier_attempt_may_have_been_applied() {
    // First attempt: applied, answer lost. Then rate-limited until the attempts run out: the last
    // answer applied nothing, but the first may have.
    let server = MockServer::start().await;
    mount(
        &server,
        Command::ImportGroupMsg,
        lost(ok(json!({"ImportMsgResult": []}))),
        fail(60007),
    )
    .await;
    let client = builder(&server.uri(), Edition::Seed)
        .retry(quick_retries(3))
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let err = client
        .import_group_msg(&raw_import(Some(7)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RetriesExhausted { attempts: 3, last, .. } if last.code() == Some(ErrorCode::RATE_LIMITED)),
        "{err:?}"
    );
    assert!(err.maybe_applied(), "{err:?}");
    assert!(err.to_string().contains("may have been applied"), "{err}");
    // Every rate-limit answer is counted, the last one included.
    assert_eq!(client.stats().rate_limited, 2);
}
