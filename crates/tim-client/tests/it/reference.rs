//! The client against the reference server: typed calls, batching, duplicates, isolation of bad
//! messages, pacing under the server's limiter, and error classification.

use rstest::rstest;
use tim_client::{Client, Error, GroupCursor, MsgOutcome, Rate};
use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::group_msg_get_simple::GroupMsgGetSimpleRequest;
use tim_model::api::import_group::GroupProfile;
use tim_model::api::import_group_msg::ImportMsg;
use tim_model::usersig::SecretKey;
use tim_model::{Command, Edition, ErrorClass, ErrorCode, GroupType, MsgElement};

use crate::support::{builder, create_time, import_group, msg, quick_retries, Server, FORBIDDEN};

/// Reads a group's whole history back, oldest first.
async fn read_back(client: &Client, group: &str) -> Vec<(u64, String, i64, u32)> {
    let mut out = Vec::new();
    let mut req = GroupMsgGetSimpleRequest {
        group_id: group.to_owned(),
        req_msg_number: 20,
        req_msg_seq: None,
        with_recalled_msg: None,
    };
    loop {
        let page = client.group_msg_get_simple(&req).await.unwrap();
        if page.rsp_msg_list.is_empty() {
            break;
        }
        let lowest = page.rsp_msg_list.iter().map(|m| m.msg_seq).min().unwrap();
        for m in page.rsp_msg_list {
            let text = m
                .msg_body
                .iter()
                .flat_map(|e| e.texts())
                .collect::<Vec<_>>()
                .join("|");
            out.push((m.msg_seq, text, m.msg_time_stamp, m.msg_random));
        }
        if lowest <= 1 {
            break;
        }
        req.req_msg_seq = Some(lowest - 1);
    }
    out.sort();
    out
}

fn seqs(outcomes: &[MsgOutcome]) -> Vec<u64> {
    outcomes.iter().filter_map(MsgOutcome::msg_seq).collect()
}

#[rstest]
#[case::seed_memory(Edition::Seed, false)]
#[case::seed_sqlite(Edition::Seed, true)]
#[case::current_memory(Edition::Current, false)]
#[tokio::test]
async fn imports_in_edition_sized_batches_and_reads_back_in_order(
    #[case] edition: Edition,
    #[case] durable: bool,
) {
    let server = Server::start(edition, None, durable).await;
    let client = builder(&server.url(), edition).build().unwrap();
    import_group(&client, "g-order", GroupType::Public).await;
    let msgs: Vec<ImportMsg> = (0..45).map(msg).collect();
    let outcomes = client
        .import_group_messages("g-order", &msgs)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 45);
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(
            *o,
            MsgOutcome::Imported {
                msg_seq: i as u64 + 1,
                msg_time: msgs[i].send_time
            }
        );
    }
    // One batch per `msgs_per_request` messages (plus one get_group_info for the cursor).
    let batches = 45usize.div_ceil(edition.limits().msgs_per_request) as u64;
    let stats = client.stats();
    assert_eq!(stats.requests_for(Command::ImportGroupMsg), batches);
    assert_eq!(stats.requests, batches + 2); // + import_group + get_group_info
    let back = read_back(&client, "g-order").await;
    assert_eq!(back.len(), 45);
    for (i, (seq, text, time, random)) in back.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
        assert_eq!(text, &format!("message {i}: 你好 👋"));
        assert_eq!(*time, msgs[i].send_time);
        assert_eq!(i64::from(*random), msgs[i].random.unwrap());
    }
}

#[tokio::test]
async fn a_resent_history_is_reported_as_duplicates_with_the_original_seqs() {
    let server = Server::start(Edition::Seed, None, false).await;
    let client = builder(&server.url(), Edition::Seed).build().unwrap();
    import_group(&client, "g-dup", GroupType::Private).await;
    let msgs: Vec<ImportMsg> = (0..30).map(msg).collect();
    let first = client.import_group_messages("g-dup", &msgs).await.unwrap();
    let again = client.import_group_messages("g-dup", &msgs).await.unwrap();
    assert_eq!(seqs(&first), seqs(&again));
    assert!(
        again
            .iter()
            .all(|o| matches!(o, MsgOutcome::Duplicate { .. })),
        "{again:?}"
    );
    assert_eq!(read_back(&client, "g-dup").await.len(), 30);
    // Continuing after a partial re-send: duplicates first, then new messages in sequence.
    let more: Vec<ImportMsg> = (20..40).map(msg).collect();
    let mut cursor = GroupCursor::new("g-dup");
    let out = client.import_batch(&mut cursor, &more).await.unwrap();
    assert!(out[..10]
        .iter()
        .all(|o| matches!(o, MsgOutcome::Duplicate { .. })));
    assert_eq!(seqs(&out[10..]), (31..=40).collect::<Vec<_>>());
    assert!(out[10..]
        .iter()
        .all(|o| matches!(o, MsgOutcome::Imported { .. })));
    assert_eq!(cursor.next_seq, Some(41));
}

#[tokio::test]
async fn messages_without_random_get_one_so_that_retries_stay_idempotent() {
    let server = Server::start(Edition::Seed, None, false).await;
    let client = builder(&server.url(), Edition::Seed).build().unwrap();
    import_group(&client, "g-rand", GroupType::Public).await;
    let mut m = msg(0);
    m.random = None;
    let out = client.import_group_messages("g-rand", &[m]).await.unwrap();
    assert_eq!(seqs(&out), [1]);
    let back = read_back(&client, "g-rand").await;
    assert_eq!(back.len(), 1);
}

/// A batch of 20 with three bad messages: too long (position 3), a restricted word (11), and
/// dated before the group's creation (17).
fn batch_with_bad_messages() -> Vec<ImportMsg> {
    let mut msgs: Vec<ImportMsg> = (0..20).map(msg).collect();
    msgs[3].msg_body = vec![MsgElement::text("x".repeat(8_100))];
    msgs[11].msg_body = vec![MsgElement::text(format!("a {FORBIDDEN} word"))];
    msgs[17].send_time = create_time() - 5;
    msgs
}

#[rstest]
#[case::seed(Edition::Seed, [ErrorCode::MSG_TOO_LONG, ErrorCode::RESTRICTED_WORDS, ErrorCode::INVALID_PARAMETER])]
#[case::current(Edition::Current, [ErrorCode::MSG_BODY_TOO_LONG, ErrorCode::RESTRICTED_WORDS, ErrorCode::INVALID_PARAMETER])]
#[tokio::test]
async fn bad_messages_are_isolated_and_the_good_ones_land_in_order(
    #[case] edition: Edition,
    #[case] codes: [ErrorCode; 3],
) {
    let server = Server::start(edition, None, false).await;
    let client = builder(&server.url(), edition).build().unwrap();
    import_group(&client, "g-bad", GroupType::ChatRoom).await;
    let msgs = batch_with_bad_messages();
    let outcomes = client.import_group_messages("g-bad", &msgs).await.unwrap();
    let rejected: Vec<(usize, ErrorCode)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            MsgOutcome::Rejected { code, reason } => {
                assert!(!reason.is_empty());
                Some((i, *code))
            }
            _ => None,
        })
        .collect();
    assert_eq!(rejected, [(3, codes[0]), (11, codes[1]), (17, codes[2])]);
    assert_eq!(seqs(&outcomes), (1..=17).collect::<Vec<_>>());
    let back = read_back(&client, "g-bad").await;
    let texts: Vec<&str> = back.iter().map(|b| b.1.as_str()).collect();
    let expected: Vec<String> = (0..20)
        .filter(|i| ![3, 11, 17].contains(i))
        .map(|i| format!("message {i}: 你好 👋"))
        .collect();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn whole_request_errors_are_returned_not_isolated() {
    let server = Server::start(Edition::Seed, None, false).await;
    let client = builder(&server.url(), Edition::Seed).build().unwrap();
    let err = client
        .import_group_messages("no-such-group", &[msg(0), msg(1)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GROUP_NOT_FOUND), "{err}");
    let mut profile = GroupProfile::new(GroupType::AVChatRoom, "live");
    profile.group_id = Some("g-av".into());
    client
        .create_group(&CreateGroupRequest {
            member_list: None,
            profile,
        })
        .await
        .unwrap();
    let mut cursor = GroupCursor::at("g-av", 1);
    let err = client
        .import_batch(&mut cursor, &[msg(0), msg(1)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::PERMISSION_DENIED), "{err}");
    assert!(matches!(
        err,
        Error::Api {
            class: ErrorClass::Permission,
            ..
        }
    ));
}

#[tokio::test]
async fn oversized_batches_are_refused_before_sending() {
    let server = Server::start(Edition::Current, None, false).await;
    let client = builder(&server.url(), Edition::Current).build().unwrap();
    let msgs: Vec<ImportMsg> = (0..8).map(msg).collect();
    let mut cursor = GroupCursor::at("g", 1);
    let err = client.import_batch(&mut cursor, &msgs).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert_eq!(client.stats().requests, 0);
}

#[tokio::test]
async fn auth_errors_are_not_retried_and_never_show_secrets() {
    let server = Server::start(Edition::Seed, None, false).await;
    let wrong_key = "0000000000000000000000000000000000000000000000000000000000000000";
    let client = builder(&server.url(), Edition::Seed)
        .secret_key(SecretKey::new(wrong_key))
        .build()
        .unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::USERSIG_BAD_SIGNATURE), "{err}");
    assert!(matches!(
        err,
        Error::Api {
            class: ErrorClass::Auth,
            ..
        }
    ));
    assert_eq!(client.stats().requests, 1);
    let shown = format!("{err} {err:?} {client:?}");
    assert!(!shown.contains(wrong_key), "{shown}");
    assert!(!shown.contains("eJ"), "{shown}");
}

#[tokio::test]
async fn an_unreachable_target_is_a_transport_error_that_was_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = builder(&url, Edition::Seed)
        .retry(quick_retries(2))
        .build()
        .unwrap();
    let err = client.next_msg_seq("g").await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(!err.maybe_applied());
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 2, .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("usersig="), "{shown}");
}

#[tokio::test]
async fn paced_at_the_quota_the_client_never_causes_60007() {
    // The server limits every API to 100 requests/s; 8 tasks share one client paced at the same
    // quota and send 150 requests as fast as the client lets them.
    let server = Server::start(Edition::Seed, Some(100), false).await;
    let client = builder(&server.url(), Edition::Seed)
        .rate(Rate::Quota)
        .retry(tim_client::RetryPolicy::never())
        .build()
        .unwrap();
    import_group(&client, "g-pace", GroupType::Public).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let client = client.clone();
        tasks.spawn(async move {
            for i in 0..19 {
                let n = client.next_msg_seq("g-pace").await;
                assert!(n.is_ok(), "task {t} call {i}: {n:?}");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let stats = client.stats();
    assert_eq!(stats.requests, 1 + 8 * 19);
    assert_eq!(stats.rate_limited, 0);
}

#[tokio::test]
async fn many_groups_import_concurrently_each_in_order() {
    let server = Server::start(Edition::Seed, None, true).await;
    let client = builder(&server.url(), Edition::Seed).build().unwrap();
    let mut groups = Vec::new();
    for g in 0..6 {
        let id = format!("g-many-{g}");
        import_group(&client, &id, GroupType::Public).await;
        groups.push((id, (0..25 + g).map(msg).collect::<Vec<_>>()));
    }
    let results = client.import_groups(groups.clone(), 4).await;
    assert_eq!(results.len(), 6);
    for ((id, msgs), (rid, res)) in groups.iter().zip(results) {
        assert_eq!(id, &rid);
        let outcomes = res.unwrap();
        assert_eq!(seqs(&outcomes), (1..=msgs.len() as u64).collect::<Vec<_>>());
        assert_eq!(read_back(&client, id).await.len(), msgs.len());
    }
}
