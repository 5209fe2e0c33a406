//! `tim_client::control` against the reference server's control plane: one test per route,
//! refusals (non-admin, wrong key, control plane off), and what errors and the journal never show.

use tim_client::control::{ControlFailure, DumpSummary};
use tim_client::{Client, Error, MsgOutcome};
use tim_model::api::import_group_member::{ImportGroupMemberRequest, ImportMember};
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::control::{ConfigPatch, FaultEffect, FaultRule, StateKind};
use tim_model::edition::LimitsPatch;
use tim_model::usersig::{sign, SecretKey};
use tim_model::{Command, Edition, ErrorClass, ErrorCode, GroupType};
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::EmbeddedServer;

use crate::support::{builder, create_time, import_group, msg, now, Server};

/// A development client of `server`.
fn client(server: &Server) -> Client {
    builder(&server.url(), Edition::Seed).build().unwrap()
}

/// A seed-edition memory server without a rate limit.
async fn server() -> Server {
    Server::start(Edition::Seed, None, false).await
}

/// The failure inside a control error.
fn failure(err: &Error) -> &ControlFailure {
    match err {
        Error::Control(e) => &e.failure,
        other => panic!("not a control error: {other:?}"),
    }
}

/// Imports `n` messages (`msg(0..n)`) into `group`.
async fn import_msgs(client: &Client, group: &str, n: usize) {
    let msgs: Vec<_> = (0..n).map(msg).collect();
    let outcomes = client.import_group_messages(group, &msgs).await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, MsgOutcome::Imported { .. })),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn health_shows_the_memory_store() {
    let server = server().await;
    let health = client(&server).control().health().await.unwrap();
    assert!(health.ready);
    assert_eq!(health.store, "memory");
    assert_eq!(health.edition, Edition::Seed);
}

#[tokio::test]
async fn reset_removes_listed_groups_then_everything() {
    let server = server().await;
    let client = client(&server);
    for g in ["r-1", "r-2", "r-3"] {
        import_group(&client, g, GroupType::Public).await;
    }
    import_msgs(&client, "r-1", 3).await;
    let control = client.control();
    let report = control
        .reset_groups(&["r-1".to_owned(), "no-such-group".to_owned()])
        .await
        .unwrap();
    assert_eq!(report.groups_removed, 1);
    let err = client.next_msg_seq("r-1").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GROUP_NOT_FOUND), "{err}");
    assert_eq!(client.next_msg_seq("r-2").await.unwrap(), 1);
    assert_eq!(control.reset().await.unwrap().groups_removed, 2);
    for g in ["r-2", "r-3"] {
        let err = client.next_msg_seq(g).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::GROUP_NOT_FOUND), "{err}");
    }
    // A group ID can be used again after a reset.
    import_group(&client, "r-1", GroupType::Public).await;
    assert_eq!(client.next_msg_seq("r-1").await.unwrap(), 1);
}

#[tokio::test]
async fn faults_set_add_remove_clear_with_counts_going_down() {
    let server = server().await;
    let client = client(&server);
    import_group(&client, "f-1", GroupType::Public).await;
    let control = client.control();
    assert!(control.faults().await.unwrap().rules.is_empty());

    // A caller-class code, so that the client does not retry it.
    let counted = FaultRule::new(
        Command::ImportGroupMsg,
        FaultEffect::error(ErrorCode::INVALID_PARAMETER),
    )
    .on_group("f-1")
    .times(2);
    let delay = FaultRule::new(Command::GetGroupInfo, FaultEffect::delay_ms(1)).on_group("other");
    let list = control
        .set_faults(std::slice::from_ref(&counted))
        .await
        .unwrap();
    assert_eq!(list.rules.len(), 1);
    assert!(list.rules[0].same_rule(&counted), "{list:?}");
    assert_eq!(list.rules[0].remaining, Some(2));
    let list = control
        .add_faults(std::slice::from_ref(&delay))
        .await
        .unwrap();
    assert_eq!(list.rules.len(), 2);
    assert!(list.rules[1].same_rule(&delay), "{list:?}");

    let req = ImportGroupMsgRequest::new("f-1", vec![msg(0)]);
    for remaining in [1, 0] {
        let resp = client.import_group_msg(&req).await.unwrap();
        assert_eq!(resp.envelope.error_code, ErrorCode::INVALID_PARAMETER);
        let rules = control.faults().await.unwrap().rules;
        assert_eq!(rules[0].remaining, Some(remaining), "{rules:?}");
    }
    // The rule is spent: the call goes through.
    let resp = client.import_group_msg(&req).await.unwrap();
    assert!(resp.envelope.is_ok(), "{resp:?}");
    assert_eq!(resp.body.import_msg_result[0].msg_seq, 1);

    // Removing compares rules ignoring `remaining`.
    let list = control
        .remove_faults(std::slice::from_ref(&counted))
        .await
        .unwrap();
    assert_eq!(list.rules.len(), 1);
    assert!(list.rules[0].same_rule(&delay), "{list:?}");
    let list = control.set_faults(&[counted.clone(), delay]).await.unwrap();
    assert_eq!(list.rules.len(), 2);
    assert!(control.clear_faults().await.unwrap().rules.is_empty());
    assert!(control.faults().await.unwrap().rules.is_empty());
    // `[]` turns faults off as well.
    control.add_faults(&[counted]).await.unwrap();
    assert!(control.set_faults(&[]).await.unwrap().rules.is_empty());
}

#[tokio::test]
async fn invalid_fault_rules_are_refused_with_their_problems() {
    let server = server().await;
    let control_client = client(&server);
    let control = control_client.control();
    let mut bad = FaultRule::new(Command::ImportGroupMsg, FaultEffect::default());
    bad.probability = Some(2.0);
    let err = control.set_faults(&[bad]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMETER), "{err}");
    match failure(&err) {
        ControlFailure::Refused { info, status, .. } => {
            assert_eq!(*status, 200);
            assert!(info.contains("probability"), "{info}");
            assert!(info.contains("does nothing"), "{info}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.maybe_applied());
    assert!(err.to_string().starts_with("POST /_tim/faults: "), "{err}");
    assert!(control.faults().await.unwrap().rules.is_empty());
}

#[tokio::test]
async fn config_changes_are_read_back_and_take_effect() {
    let server = server().await;
    let client = client(&server);
    let control = client.control();
    let before = control.config().await.unwrap();
    let mut seed_unlimited = Edition::Seed.limits();
    seed_unlimited.requests_per_second = None;
    assert_eq!(
        before.limits, seed_unlimited,
        "the test server has no rate limit"
    );

    let patch = ConfigPatch {
        seed: Some(7),
        limits: LimitsPatch {
            dedup_window_secs: Some(0),
            ..LimitsPatch::default()
        },
        ..ConfigPatch::default()
    };
    let after = control.set_config(&patch).await.unwrap();
    assert_eq!(after.seed, 7);
    assert_eq!(after.limits.dedup_window_secs, 0);
    assert_eq!(
        after.limits.msgs_per_request,
        before.limits.msgs_per_request
    );
    assert_eq!(control.config().await.unwrap(), after);
    assert_eq!(control.health().await.unwrap().seed, 7);

    // Duplicate detection is off: the same message twice is stored twice.
    import_group(&client, "c-1", GroupType::Public).await;
    let req = ImportGroupMsgRequest::new("c-1", vec![msg(0)]);
    for seq in [1, 2] {
        let resp = client.import_group_msg(&req).await.unwrap();
        assert_eq!(resp.body.import_msg_result[0].msg_seq, seq, "{resp:?}");
    }

    // A new edition starts from its documented limits.
    let current = control
        .set_config(&ConfigPatch {
            edition: Some(Edition::Current),
            ..ConfigPatch::default()
        })
        .await
        .unwrap();
    assert_eq!(current.limits, Edition::Current.limits());
    assert_eq!(control.health().await.unwrap().edition, Edition::Current);

    // Values the server cannot use are refused, and nothing changes.
    let err = control
        .set_config(&ConfigPatch {
            limits: LimitsPatch {
                msgs_per_request: Some(0),
                ..LimitsPatch::default()
            },
            ..ConfigPatch::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMETER), "{err}");
    assert_eq!(control.config().await.unwrap(), current);
}

#[tokio::test]
async fn the_journal_lists_calls_newest_first_without_the_usersig() {
    let server = server().await;
    // A fixed UserSig, so that the test knows the exact string that must not show.
    let usersig = sign(
        DEV_SDKAPPID,
        &SecretKey::new(DEV_SECRET_KEY),
        DEV_ADMIN,
        86_400,
        now(),
    );
    let client = builder(&server.url(), Edition::Seed)
        .usersig(usersig.clone())
        .build()
        .unwrap();
    import_group(&client, "j-1", GroupType::Public).await;
    let req = ImportGroupMsgRequest::new("j-1", vec![msg(0), msg(1)]);
    assert!(client
        .import_group_msg(&req)
        .await
        .unwrap()
        .envelope
        .is_ok());
    let control = client.control();
    let journal = control.requests(10).await.unwrap();
    let api_calls: Vec<_> = journal
        .requests
        .iter()
        .filter(|e| e.command.is_some())
        .collect();
    assert!(api_calls.len() >= 2, "{journal:?}");
    let newest = api_calls[0];
    assert_eq!(newest.command.as_deref(), Some("import_group_msg"));
    assert_eq!(newest.group_id.as_deref(), Some("j-1"));
    assert_eq!(newest.identifier.as_deref(), Some(DEV_ADMIN));
    assert_eq!(newest.http_status, Some(200));
    assert_eq!(newest.error_code, Some(ErrorCode::OK));
    assert_eq!(
        newest.results.as_deref(),
        Some(&[ErrorCode::OK, ErrorCode::OK][..])
    );
    assert_eq!(api_calls[1].command.as_deref(), Some("import_group"));
    assert_eq!(api_calls[1].group_id.as_deref(), Some("j-1"));
    assert!(
        journal.requests.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first: {journal:?}"
    );
    let text = serde_json::to_string(&journal).unwrap();
    assert!(!text.contains(&usersig), "{text}");
    assert_eq!(control.requests(1).await.unwrap().requests.len(), 1);
}

#[tokio::test]
async fn a_state_dump_loads_into_a_fresh_server_and_dumps_the_same() {
    let source = server().await;
    let client = client(&source);
    for g in ["s-1", "s-2"] {
        import_group(&client, g, GroupType::Public).await;
    }
    let members = ImportGroupMemberRequest {
        group_id: "s-1".into(),
        member_list: ["leckie", "peter"]
            .into_iter()
            .map(|m| ImportMember {
                member_account: m.into(),
                role: None,
                join_time: Some(create_time() + 60),
                unread_msg_num: None,
            })
            .collect(),
    };
    client.import_group_member(&members).await.unwrap();
    import_msgs(&client, "s-1", 25).await;
    import_msgs(&client, "s-2", 3).await;

    let mut dump = Vec::new();
    let summary = client
        .control()
        .dump_state(StateKind::All, &[], &mut dump)
        .await
        .unwrap();
    assert_eq!(summary.bytes, dump.len() as u64);
    assert!(summary.lines >= 2 + 2 + 28, "{summary:?}");
    for line in dump.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(line).expect("each line is JSON");
    }

    // Only one group, only its messages.
    let mut one = Vec::new();
    let s = client
        .control()
        .dump_state(StateKind::Messages, &["s-2".to_owned()], &mut one)
        .await
        .unwrap();
    assert_eq!(s.lines, 3, "{}", String::from_utf8_lossy(&one));

    let target = server().await;
    let target_client = builder(&target.url(), Edition::Seed).build().unwrap();
    let report = target_client
        .control()
        .load_state(dump.clone())
        .await
        .unwrap();
    assert_eq!(
        (report.groups, report.members, report.messages),
        (2, 2, 28),
        "{report:?}"
    );
    let mut again = Vec::new();
    target_client
        .control()
        .dump_state(StateKind::All, &[], &mut again)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&dump)
    );
    assert_eq!(target_client.next_msg_seq("s-1").await.unwrap(), 26);

    // The same through a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.jsonl");
    std::fs::write(&path, &dump).unwrap();
    let third = server().await;
    let third_client = builder(&third.url(), Edition::Seed).build().unwrap();
    let report = third_client.control().load_state_file(&path).await.unwrap();
    assert_eq!(report.messages, 28);
    let err = third_client
        .control()
        .load_state_file(dir.path().join("missing.jsonl"))
        .await
        .unwrap_err();
    assert!(
        matches!(failure(&err), ControlFailure::Io { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_empty_server_dumps_nothing() {
    let server = server().await;
    let mut out = Vec::new();
    let summary = client(&server)
        .control()
        .dump_state(StateKind::All, &[], &mut out)
        .await
        .unwrap();
    assert_eq!(summary, DumpSummary::default());
    assert!(out.is_empty());
}

#[tokio::test]
async fn non_admins_and_wrong_keys_are_refused_without_showing_secrets() {
    let server = server().await;
    let not_admin = builder(&server.url(), Edition::Seed)
        .identifier("leckie")
        .build()
        .unwrap();
    let err = not_admin.control().health().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ADMIN_REQUIRED), "{err}");

    let wrong_key = "0000000000000000000000000000000000000000000000000000000000000000";
    let wrong = builder(&server.url(), Edition::Seed)
        .secret_key(SecretKey::new(wrong_key))
        .build()
        .unwrap();
    let control = wrong.control();
    for err in [
        control.reset().await.unwrap_err(),
        control
            .dump_state(StateKind::All, &[], &mut Vec::<u8>::new())
            .await
            .unwrap_err(),
        control.load_state(Vec::new()).await.unwrap_err(),
    ] {
        let code = err.code().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(code.class(), ErrorClass::Auth, "{err}");
        assert!((70_000..71_000).contains(&code.0), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(wrong_key), "{shown}");
        assert!(!shown.contains("eJ"), "{shown}");
    }
    // Nothing was reset by the refused call.
    let admin = client(&server);
    import_group(&admin, "a-1", GroupType::Public).await;
    assert!(control.reset().await.is_err());
    assert_eq!(admin.next_msg_seq("a-1").await.unwrap(), 1);
}

#[tokio::test]
async fn a_server_without_control_plane_answers_404() {
    let mut config = ServerConfig::development(DataLocation::Memory);
    config.control = false;
    let server = EmbeddedServer::start(config).await.unwrap();
    let client = builder(&server.url(), Edition::Seed).build().unwrap();
    let control = client.control();
    let err = control.health().await.unwrap_err();
    match failure(&err) {
        ControlFailure::Refused { status, code, .. } => {
            assert_eq!(*status, 404);
            assert_eq!(*code, ErrorCode::BAD_RESOURCE);
        }
        other => panic!("{other:?}"),
    }
    match &err {
        Error::Control(e) => assert_eq!(e.status(), Some(404)),
        other => panic!("{other:?}"),
    }
    let err = control
        .dump_state(StateKind::All, &[], &mut Vec::<u8>::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BAD_RESOURCE), "{err}");
    // The API itself still answers.
    import_group(&client, "n-1", GroupType::Public).await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_that_was_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = builder(&url, Edition::Seed).build().unwrap();
    let err = client.control().faults().await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(!err.maybe_applied());
    assert!(
        matches!(
            failure(&err),
            ControlFailure::Transport {
                maybe_sent: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("GET /_tim/faults: "), "{err}");
}
