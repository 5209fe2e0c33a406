//! Faults served by the reference server itself, through its control plane (`POST /_tim/faults`):
//! gateway pages (502, 404, a 200 page that is not the API's JSON), answers lost after the call was
//! applied (`lose_reply`), answers slower than the client's timeout (`delay_ms`), transient and
//! rate-limit errors, an expired UserSig and caller errors.
//! Each test asserts what the client retried, what the server's journal saw, and what the server
//! holds afterwards: a retried batch is stored exactly once (`NextMsgSeq` moves by the batch,
//! read back with one `Random` per message), because the client re-sends the same `Random`s.
//!
//! Faults the control plane cannot show stay on wiremock (`faults.rs`).

use std::time::Duration;

use tim_client::{Client, Error, GroupCursor, MsgOutcome, RetryPolicy};
use tim_model::api::group_msg_get_simple::GroupMsgGetSimpleRequest;
use tim_model::api::import_group_msg::{ImportGroupMsgRequest, ImportMsg};
use tim_model::control::{FaultEffect, FaultRule};
use tim_model::usersig::{sign, SecretKey};
use tim_model::{Command, Edition, ErrorCode, GroupType};
use tim_server::config::{DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};

use crate::support::{builder, import_group, msg, now, quick_retries, Server};

/// The group every test imports into.
const GROUP: &str = "g-faults";

/// A memory server without a rate limit, its group [`GROUP`], and a client with `policy`.
async fn setup(policy: RetryPolicy) -> (Server, Client) {
    let server = Server::start(Edition::Seed, None, false).await;
    let client = builder(&server.url(), Edition::Seed)
        .retry(policy)
        .build()
        .unwrap();
    import_group(&client, GROUP, GroupType::Public).await;
    (server, client)
}

/// Replaces the server's fault rules.
async fn set_faults(client: &Client, rules: &[FaultRule]) {
    let list = client.control().set_faults(rules).await.unwrap();
    assert_eq!(list.rules.len(), rules.len(), "{list:?}");
}

/// A rule hitting `import_group_msg` on [`GROUP`].
fn on_import(effect: FaultEffect) -> FaultRule {
    FaultRule::new(Command::ImportGroupMsg, effect).on_group(GROUP)
}

/// Two messages without `Random`: the client must pick them once and keep them across retries.
fn two_msgs() -> Vec<ImportMsg> {
    (0..2)
        .map(|i| {
            let mut m = msg(i);
            m.random = None;
            m
        })
        .collect()
}

/// Imports `msgs` as one batch into `group` (known empty: `next_seq` 1).
async fn import_into(
    client: &Client,
    group: &str,
    msgs: &[ImportMsg],
) -> Result<Vec<MsgOutcome>, Error> {
    let mut cursor = GroupCursor::at(group, 1);
    client.import_batch(&mut cursor, msgs).await
}

/// `msgs` imported now as `MsgSeq` 1, 2, …
fn imported(msgs: &[ImportMsg]) -> Vec<MsgOutcome> {
    msgs.iter()
        .enumerate()
        .map(|(i, m)| MsgOutcome::Imported {
            msg_seq: i as u64 + 1,
            msg_time: m.send_time,
        })
        .collect()
}

/// One `import_group_msg` call as the server's journal saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    /// HTTP status; `None` when the reply was lost on purpose.
    status: Option<u16>,
    /// The envelope's code, when an envelope was answered.
    code: Option<u32>,
    /// The fault applied.
    fault: Option<String>,
}

fn seen(status: Option<u16>, code: Option<u32>, fault: Option<&str>) -> Seen {
    Seen {
        status,
        code,
        fault: fault.map(str::to_owned),
    }
}

/// Answered with the envelope and `code`, no fault.
fn answered(code: u32) -> Seen {
    seen(Some(200), Some(code), None)
}

/// The calls of `command` the server's journal holds, oldest first.
async fn calls(client: &Client, command: Command) -> Vec<Seen> {
    let mut out: Vec<Seen> = client
        .control()
        .requests(1000)
        .await
        .unwrap()
        .requests
        .into_iter()
        .filter(|e| e.command.as_deref() == Some(command.name()))
        .map(|e| Seen {
            status: e.http_status,
            code: e.error_code.map(|c| c.0),
            fault: e.fault,
        })
        .collect();
    out.reverse();
    out
}

/// Asserts that `group` holds exactly `msgs`, once each, as `MsgSeq` 1..=n (`NextMsgSeq` moved by
/// exactly the batch), each with one distinct `Random`.
async fn assert_stored_once(client: &Client, group: &str, msgs: &[ImportMsg]) {
    let n = msgs.len() as u64;
    assert_eq!(client.next_msg_seq(group).await.unwrap(), n + 1, "{group}");
    let page = client
        .group_msg_get_simple(&GroupMsgGetSimpleRequest {
            group_id: group.to_owned(),
            req_msg_number: 20,
            req_msg_seq: None,
            with_recalled_msg: None,
        })
        .await
        .unwrap();
    let mut back = page.rsp_msg_list;
    back.sort_by_key(|m| m.msg_seq);
    let seqs: Vec<u64> = back.iter().map(|m| m.msg_seq).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{group}");
    for (m, want) in back.iter().zip(msgs) {
        assert_eq!(m.from_account, want.from_account);
        assert_eq!(m.msg_time_stamp, want.send_time);
        assert_eq!(m.msg_body, want.msg_body);
    }
    let mut randoms: Vec<u32> = back.iter().map(|m| m.msg_random).collect();
    randoms.sort_unstable();
    randoms.dedup();
    assert_eq!(
        randoms.len(),
        msgs.len(),
        "one Random per message: {back:?}"
    );
}

#[tokio::test]
async fn http_502_is_retried_with_the_same_randoms() {
    let (_server, client) = setup(quick_retries(4)).await;
    set_faults(
        &client,
        &[on_import(FaultEffect::http_status(502)).times(1)],
    )
    .await;
    let msgs = two_msgs();
    let res = import_into(&client, GROUP, &msgs).await;
    assert_eq!(res.unwrap(), imported(&msgs));
    let stats = client.stats();
    assert_eq!(stats.requests_for(Command::ImportGroupMsg), 2);
    // A 502 cannot say whether the call was applied: the group is read back before sending again.
    assert!(
        stats.requests_for(Command::GroupMsgGetSimple) >= 1,
        "{stats:?}"
    );
    assert_eq!(
        calls(&client, Command::ImportGroupMsg).await,
        [seen(Some(502), None, Some("http_status 502")), answered(0)]
    );
    assert_stored_once(&client, GROUP, &msgs).await;

    // Here the first attempt was applied and its answer lost: the read-back finds both messages
    // stored, and nothing is sent again (the 502 rule is never reached).
    let other = "g-faults-2";
    import_group(&client, other, GroupType::Public).await;
    set_faults(
        &client,
        &[
            FaultRule::new(Command::ImportGroupMsg, FaultEffect::lose_reply())
                .on_group(other)
                .times(1),
            FaultRule::new(Command::ImportGroupMsg, FaultEffect::http_status(502))
                .on_group(other)
                .times(1),
        ],
    )
    .await;
    let res = import_into(&client, other, &msgs).await;
    assert_eq!(res.unwrap(), imported(&msgs));
    assert_eq!(
        calls(&client, Command::ImportGroupMsg).await[2..],
        [seen(None, None, Some("lose_reply"))]
    );
    assert_stored_once(&client, other, &msgs).await;
}

#[tokio::test]
async fn an_answer_lost_after_sending_is_retried_with_the_same_randoms() {
    let (_server, client) = setup(quick_retries(4)).await;
    set_faults(&client, &[on_import(FaultEffect::lose_reply()).times(1)]).await;
    let msgs = two_msgs();
    let res = import_into(&client, GROUP, &msgs).await;
    // The read-back finds the MsgSeqs the lost attempt stored: nothing is sent again, so the
    // batch lands once whatever the server's duplicate rule.
    assert_eq!(res.unwrap(), imported(&msgs));
    assert_eq!(client.stats().retries, 0);
    assert_eq!(
        calls(&client, Command::ImportGroupMsg).await,
        [seen(None, None, Some("lose_reply"))]
    );
    assert_stored_once(&client, GROUP, &msgs).await;
}

#[tokio::test]
async fn a_timeout_says_the_request_may_have_been_applied() {
    let (server, control) = setup(quick_retries(4)).await;
    // The server sits on every call far longer than the client waits.
    set_faults(&control, &[on_import(FaultEffect::delay_ms(10_000))]).await;
    let client = builder(&server.url(), Edition::Seed)
        .retry(quick_retries(2))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = import_into(&client, GROUP, &two_msgs()).await.unwrap_err();
    assert!(err.maybe_applied(), "{err:?}");
    assert!(!err.is_unreachable());
    assert!(
        matches!(&err, Error::RetriesExhausted { attempts: 2, last, .. } if matches!(**last, Error::Transport { maybe_sent: true, .. })),
        "{err:?}"
    );
    assert_eq!(client.stats().requests_for(Command::ImportGroupMsg), 2);
    assert_no_secrets(&err);
}

#[tokio::test]
async fn a_garbage_body_is_a_decode_error_with_a_snippet_and_no_retry() {
    let (_server, client) = setup(quick_retries(4)).await;
    let mut page = FaultEffect::http_status(200);
    page.body = Some("<html><body>upstream maintenance</body></html>".to_owned());
    set_faults(&client, &[on_import(page)]).await;
    let err = import_into(&client, GROUP, &two_msgs()).await.unwrap_err();
    match &err {
        Error::Decode { snippet, .. } => {
            assert!(snippet.starts_with("<html><body>upstream"), "{snippet}")
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(err.maybe_applied());
    assert_eq!(client.stats().requests_for(Command::ImportGroupMsg), 1);
    assert_no_secrets(&err);
    assert_eq!(client.next_msg_seq(GROUP).await.unwrap(), 1);
}

#[tokio::test]
async fn rate_limit_bursts_back_off_then_succeed() {
    let (_server, client) = setup(quick_retries(6)).await;
    set_faults(
        &client,
        &[on_import(FaultEffect::error(ErrorCode::RATE_LIMITED)).times(3)],
    )
    .await;
    let msgs = two_msgs();
    let res = import_into(&client, GROUP, &msgs).await;
    assert_eq!(res.unwrap(), imported(&msgs));
    let stats = client.stats();
    assert_eq!(
        (
            stats.requests_for(Command::ImportGroupMsg),
            stats.retries,
            stats.rate_limited
        ),
        (4, 3, 3)
    );
    let limited = seen(Some(200), Some(60007), Some("error 60007"));
    assert_eq!(
        calls(&client, Command::ImportGroupMsg).await,
        [limited.clone(), limited.clone(), limited, answered(0)]
    );
    assert_stored_once(&client, GROUP, &msgs).await;
}

#[tokio::test]
async fn internal_error_10002_is_retried() {
    let (_server, client) = setup(quick_retries(3)).await;
    set_faults(
        &client,
        &[on_import(FaultEffect::error(ErrorCode::INTERNAL)).times(2)],
    )
    .await;
    let msgs = two_msgs();
    let res = import_into(&client, GROUP, &msgs).await;
    assert_eq!(res.unwrap(), imported(&msgs));
    let stats = client.stats();
    // 10002 does not say whether the call was applied: each one is followed by a read-back.
    assert_eq!(stats.requests_for(Command::ImportGroupMsg), 3);
    assert!(
        stats.requests_for(Command::GroupMsgGetSimple) >= 2,
        "{stats:?}"
    );
    let busy = seen(Some(200), Some(10002), Some("error 10002"));
    assert_eq!(
        calls(&client, Command::ImportGroupMsg).await,
        [busy.clone(), busy, answered(0)]
    );
    assert_stored_once(&client, GROUP, &msgs).await;
}

#[tokio::test]
async fn retries_run_out_on_a_persistent_502() {
    let (_server, client) = setup(quick_retries(3)).await;
    set_faults(&client, &[on_import(FaultEffect::http_status(502))]).await;
    let err = import_into(&client, GROUP, &two_msgs()).await.unwrap_err();
    assert!(
        matches!(&err, Error::RetriesExhausted { attempts: 3, last, .. } if matches!(**last, Error::HttpStatus { status: 502, .. })),
        "{err:?}"
    );
    // A 502 might come from a gateway after the call was applied: the client cannot tell.
    assert!(err.maybe_applied(), "{err:?}");
    assert_no_secrets(&err);
    assert_eq!(client.stats().requests_for(Command::ImportGroupMsg), 3);
    let page = seen(Some(502), None, Some("http_status 502"));
    assert_eq!(
        calls(&client, Command::ImportGroupMsg).await,
        [page.clone(), page.clone(), page]
    );
    assert_eq!(
        client.next_msg_seq(GROUP).await.unwrap(),
        1,
        "nothing stored"
    );
}

#[tokio::test]
async fn caller_errors_and_4xx_are_never_retried() {
    let (_server, client) = setup(quick_retries(4)).await;
    set_faults(
        &client,
        &[
            FaultRule::new(
                Command::GetGroupInfo,
                FaultEffect::error(ErrorCode::INVALID_PARAMETER),
            )
            .times(1),
            FaultRule::new(Command::GetGroupInfo, FaultEffect::http_status(404)),
        ],
    )
    .await;
    let err = client.next_msg_seq(GROUP).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMETER), "{err:?}");
    let err = client.next_msg_seq(GROUP).await.unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(client.stats().requests_for(Command::GetGroupInfo), 2);
    assert_eq!(client.stats().retries, 0);
    assert_eq!(
        calls(&client, Command::GetGroupInfo).await,
        [
            seen(Some(200), Some(10004), Some("error 10004")),
            seen(Some(404), None, Some("http_status 404"))
        ]
    );
}

#[tokio::test]
async fn an_expired_usersig_is_renewed_once_when_the_client_has_the_key() {
    let (server, client) = setup(quick_retries(4)).await;
    let expired = FaultEffect::error(ErrorCode::USERSIG_EXPIRED);
    set_faults(&client, &[on_import(expired.clone()).times(1)]).await;
    let msgs = two_msgs();
    let res = import_into(&client, GROUP, &msgs).await;
    assert_eq!(res.unwrap(), imported(&msgs));
    assert_eq!(client.stats().requests_for(Command::ImportGroupMsg), 2);
    assert_eq!(
        calls(&client, Command::ImportGroupMsg).await,
        [
            seen(Some(200), Some(70001), Some("error 70001")),
            answered(0)
        ]
    );
    assert_stored_once(&client, GROUP, &msgs).await;

    // A fixed UserSig (valid, but refused as expired) cannot be renewed: the error comes at once.
    set_faults(&client, &[FaultRule::new(Command::GetGroupInfo, expired)]).await;
    let fixed = sign(
        DEV_SDKAPPID,
        &SecretKey::new(DEV_SECRET_KEY),
        DEV_ADMIN,
        86_400,
        now(),
    );
    let fixed_client = builder(&server.url(), Edition::Seed)
        .usersig(fixed.clone())
        .build()
        .unwrap();
    let err = fixed_client.next_msg_seq(GROUP).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::USERSIG_EXPIRED));
    assert_eq!(fixed_client.stats().requests, 1);
    let shown = format!("{err} {err:?} {fixed_client:?}");
    assert!(!shown.contains(&fixed), "{shown}");

    // With the key, a server that keeps refusing gets one renewal, then the error.
    let keyed = builder(&server.url(), Edition::Seed).build().unwrap();
    let err = keyed.next_msg_seq(GROUP).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::USERSIG_EXPIRED));
    assert_eq!(keyed.stats().requests, 2);
    assert_eq!(calls(&client, Command::GetGroupInfo).await.len(), 1 + 1 + 2);
}

fn assert_no_secrets(err: &Error) {
    let shown = format!("{err} {err:?}").replace("usersig=[redacted]", "");
    assert!(!shown.contains("usersig="), "{shown}");
    assert!(!shown.contains("eJ"), "{shown}");
    assert!(!shown.contains(DEV_SECRET_KEY), "{shown}");
}

/// History above the cursor that matches nothing of the batch is another writer's: after a lost
/// answer the read-back finds it, and the batch stops with an error naming it instead of
/// guessing what was stored.
#[tokio::test]
async fn another_writer_found_by_the_read_back_stops_the_batch() {
    let (_server, client) = setup(quick_retries(4)).await;
    // Someone else stores a message after this importer read the group's NextMsgSeq (1).
    let mut foreign = msg(7);
    foreign.from_account = "someone-else".into();
    foreign.random = Some(424_242);
    let req = ImportGroupMsgRequest::new(GROUP, vec![foreign]);
    assert!(client
        .import_group_msg(&req)
        .await
        .unwrap()
        .envelope
        .is_ok());
    set_faults(&client, &[on_import(FaultEffect::lose_reply()).times(1)]).await;
    let err = import_into(&client, GROUP, &two_msgs()).await.unwrap_err();
    assert!(
        matches!(&err, Error::OtherWriter { detail, .. } if detail.contains("MsgSeq 1") && detail.contains("another writer")),
        "{err}"
    );
    assert_eq!(
        calls(&client, Command::ImportGroupMsg).await.len(),
        2,
        "the foreign import and the lost attempt; nothing sent after the read-back"
    );
}
