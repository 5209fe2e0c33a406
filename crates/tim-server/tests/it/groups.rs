//! The neighbour group APIs over HTTP (docs/behaviour.md "Group APIs", digest §4): import_group,
//! create_group, destroy_group, get_group_info, import_group_member, set_unread_msg_num,
//! group_msg_get_simple.

use rstest::{rstest, Context};
use serde_json::{json, Value};
use tim_model::edition::Edition;
use tim_model::Command;

use crate::support::{self, code, text_msg, Backend, Opts, TestServer, NOW};

/// Creation time of groups made by [`setup`].
const C: i64 = NOW - 1000;
const GROUP: &str = "grp";

fn snap(name: &str, v: &Value) {
    support::redacted().bind(|| insta::assert_json_snapshot!(name, v));
}

/// A server of `edition` with a Public group `GROUP` created at `C`.
async fn setup(edition: Edition) -> TestServer {
    let s = TestServer::with(Opts::edition(edition)).await;
    s.group(GROUP, "Public", C).await;
    s
}

async fn import_group(s: &TestServer, body: Value) -> Value {
    s.call(Command::ImportGroup, body).await
}

async fn create_group(s: &TestServer, body: Value) -> Value {
    s.call(Command::CreateGroup, body).await
}

/// Imports `n` messages into `group`, one second apart from `C + 1`, in batches the edition allows;
/// message `k` (from 1) has the text `m{k}` and `Random` 99999 + k.
async fn fill(s: &TestServer, group: &str, n: i64) {
    let batch = s.config.limits.msgs_per_request as i64;
    let mut i = 0;
    while i < n {
        let msgs: Vec<Value> = (i..n.min(i + batch))
            .map(|k| {
                // A supplied Random keeps snapshots independent of the server's RNG.
                let mut m = text_msg("leckie", C + 1 + k, &format!("m{}", k + 1));
                m["Random"] = json!(100_000 + k);
                m
            })
            .collect();
        let v = s.import(group, msgs).await;
        assert_eq!(code(&v), 0, "{v}");
        i += batch;
    }
}

/// `(Member_Account, Role, JoinTime, UnreadMsgNum)` of every member of `group`.
async fn members(s: &TestServer, group: &str) -> Vec<(String, String, i64, u64)> {
    s.info(group).await["MemberList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Member_Account"].as_str().unwrap().to_owned(),
                m["Role"].as_str().unwrap().to_owned(),
                m["JoinTime"].as_i64().unwrap(),
                m["UnreadMsgNum"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn m(account: &str, role: &str, join: i64, unread: u64) -> (String, String, i64, u64) {
    (account.into(), role.into(), join, unread)
}

fn is_assigned_id(id: &str) -> bool {
    id.len() == 15
        && id.starts_with("@TGS#")
        && id[5..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

// ---- import_group ----

#[rstest]
#[tokio::test]
async fn import_group_with_custom_id(#[values(Edition::Seed, Edition::Current)] edition: Edition) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let v = import_group(
        &s,
        json!({"GroupId": "my-group", "Type": "Public", "Name": "Migrated", "Owner_Account": "leckie", "CreateTime": C,
               "Introduction": "intro", "Notification": "note", "FaceUrl": "https://x/f.png", "MaxMemberCount": 200,
               "ApplyJoinOption": "FreeAccess", "AppDefinedData": [{"Key": "k", "Value": "v"}]}),
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["GroupId"], "my-group");
    let info = s.info("my-group").await;
    assert_eq!(info["ErrorCode"], 0);
    assert_eq!(info["Type"], "Public");
    assert_eq!(info["Name"], "Migrated");
    assert_eq!(info["CreateTime"], C);
    assert_eq!(info["NextMsgSeq"], 1);
    assert_eq!(info["LastMsgTime"], 0);
    assert_eq!(info["MemberNum"], 1);
    assert_eq!(info["Owner_Account"], "leckie");
    assert_eq!(
        members(&s, "my-group").await,
        vec![m("leckie", "Owner", C, 0)],
        "the owner joins at CreateTime"
    );
    if edition == Edition::Seed {
        snap("import_group_ok", &v);
        snap("get_group_info_after_import_group", &info);
    }
}

#[tokio::test]
async fn import_group_without_owner_or_id() {
    let s = TestServer::start().await;
    let v = import_group(&s, json!({"Type": "Private", "Name": "auto"})).await;
    assert_eq!(code(&v), 0, "{v}");
    let id = v["GroupId"].as_str().unwrap();
    assert!(is_assigned_id(id), "{id}");
    let info = s.info(id).await;
    assert_eq!(info["MemberNum"], 0);
    assert_eq!(info["MemberList"], json!([]));
    assert_eq!(
        info["CreateTime"], NOW,
        "CreateTime defaults to the request time"
    );
}

#[tokio::test]
async fn import_group_create_time_defaults_to_clock() {
    let s = TestServer::start().await;
    s.clock.set(NOW + 12_345);
    let v = import_group(
        &s,
        json!({"GroupId": "later", "Type": "Public", "Name": "n"}),
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(s.info("later").await["CreateTime"], NOW + 12_345);
}

#[rstest]
#[case::now(NOW, 0)]
#[case::past(C, 0)]
#[case::zero(0, 0)]
#[case::future(NOW + 1, 10004)]
#[case::negative(-1, 10004)]
#[tokio::test]
async fn import_group_create_time(
    #[context] ctx: Context,
    #[case] create_time: i64,
    #[case] expected: u64,
) {
    let s = TestServer::start().await;
    let v = import_group(
        &s,
        json!({"GroupId": "t", "Type": "Public", "Name": "n", "CreateTime": create_time}),
    )
    .await;
    assert_eq!(code(&v), expected, "{v}");
    if expected == 0 {
        assert_eq!(s.info("t").await["CreateTime"], create_time);
    } else {
        assert!(
            v["ErrorInfo"].as_str().unwrap().contains("CreateTime"),
            "{v}"
        );
        assert_eq!(s.info("t").await["ErrorCode"], 10010, "nothing created");
        if ctx.description == Some("future") {
            snap("import_group_future_create_time", &v);
        }
    }
}

#[rstest]
#[tokio::test]
async fn group_id_reuse(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Command::ImportGroup, Command::CreateGroup)] first: Command,
    #[values(Command::ImportGroup, Command::CreateGroup)] second: Command,
) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let v = s
        .call(
            first,
            json!({"GroupId": "taken", "Type": "Public", "Name": "first"}),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let v = s
        .call(
            second,
            json!({"GroupId": "taken", "Type": "Private", "Name": "second"}),
        )
        .await;
    assert_eq!(code(&v), 10021, "{v}");
    assert_eq!(v["ActionStatus"], "FAIL");
    assert!(v.get("GroupId").is_none(), "{v}");
    assert_eq!(
        s.info("taken").await["Name"],
        "first",
        "the first group is untouched"
    );
    if edition == Edition::Seed && first == Command::ImportGroup && second == Command::ImportGroup {
        snap("group_id_in_use", &v);
    }
}

#[rstest]
#[case::reserved_prefix("Public", "@TGS#ABCDEFGHIJ", 10015)]
#[case::reserved_community_prefix("Public", "@TGS#_x", 10015)]
#[case::too_long("Public", "x".repeat(49), 10015)]
#[case::longest("Public", "x".repeat(48), 0)]
#[case::not_ascii("Public", "群组", 10015)]
#[case::control_char("Public", "a\u{7f}", 10015)]
#[case::empty("Public", "", 10015)]
#[case::spaces_and_symbols("Public", " a~!@#$%^&*()_+ ", 0)]
#[tokio::test]
async fn custom_group_ids(
    #[context] ctx: Context,
    #[values(Command::ImportGroup, Command::CreateGroup)] command: Command,
    #[case] group_type: &str,
    #[case] id: String,
    #[case] expected: u64,
) {
    let s = TestServer::start().await;
    let v = s
        .call(
            command,
            json!({"GroupId": id, "Type": group_type, "Name": "n"}),
        )
        .await;
    assert_eq!(code(&v), expected, "{id:?}: {v}");
    if expected == 0 {
        assert_eq!(v["GroupId"], json!(id));
        assert_eq!(s.info(&id).await["ErrorCode"], 0);
    } else if command == Command::ImportGroup && ctx.description == Some("reserved_prefix") {
        snap("custom_group_id_reserved_prefix", &v);
    }
}

/// Community IDs (current edition): custom ones start with `@TGS#_`, assigned ones are `@TGS#_@TGS#…`.
#[rstest]
#[tokio::test]
async fn community_ids(#[values(Command::ImportGroup, Command::CreateGroup)] command: Command) {
    let s = TestServer::with(Opts::edition(Edition::Current)).await;
    let v = s
        .call(
            command,
            json!({"GroupId": "no-prefix", "Type": "Community", "Name": "c"}),
        )
        .await;
    assert_eq!(code(&v), 10015, "{v}");
    let v = s
        .call(
            command,
            json!({"GroupId": "@TGS#_mine", "Type": "Community", "Name": "c"}),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let v = s
        .call(command, json!({"Type": "Community", "Name": "c"}))
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let id = v["GroupId"].as_str().unwrap();
    assert!(id.starts_with("@TGS#_") && is_assigned_id(&id[6..]), "{id}");
    assert_eq!(s.info(id).await["Type"], "Community");
}

/// Group types accepted by import_group, per edition.
#[rstest]
#[case::seed_private(Edition::Seed, "Private", 0)]
#[case::seed_public(Edition::Seed, "Public", 0)]
#[case::seed_chatroom(Edition::Seed, "ChatRoom", 0)]
#[case::seed_avchatroom(Edition::Seed, "AVChatRoom", 10007)]
#[case::seed_bchatroom(Edition::Seed, "BChatRoom", 10007)]
#[case::seed_unknown(Edition::Seed, "Bogus", 10004)]
#[case::current_work(Edition::Current, "Work", 0)]
#[case::current_meeting(Edition::Current, "Meeting", 0)]
#[case::current_avchatroom(Edition::Current, "AVChatRoom", 10007)]
#[case::current_unknown(Edition::Current, "private", 10004)]
#[tokio::test]
async fn import_group_types(
    #[context] ctx: Context,
    #[case] edition: Edition,
    #[case] group_type: &str,
    #[case] expected: u64,
) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let v = import_group(&s, json!({"GroupId": "t", "Type": group_type, "Name": "n"})).await;
    assert_eq!(code(&v), expected, "{v}");
    if expected == 0 {
        assert_eq!(s.info("t").await["Type"], group_type);
    } else {
        assert_eq!(s.info("t").await["ErrorCode"], 10010, "nothing created");
        if matches!(ctx.description, Some("seed_avchatroom" | "seed_unknown")) {
            snap(
                &format!("import_group_type_{}", ctx.description.unwrap()),
                &v,
            );
        }
    }
}

/// Profile limits (digest §4.1): byte lengths in UTF-8.
#[rstest]
#[case::name_30_bytes("Name", json!("n".repeat(30)), 0)]
#[case::name_31_bytes("Name", json!("n".repeat(31)), 10004)]
#[case::name_10_cjk("Name", json!("群".repeat(10)), 0)]
#[case::name_11_cjk("Name", json!("群".repeat(11)), 10004)]
#[case::name_empty("Name", json!(""), 10004)]
#[case::introduction_240("Introduction", json!("i".repeat(240)), 0)]
#[case::introduction_241("Introduction", json!("i".repeat(241)), 10004)]
#[case::notification_300("Notification", json!("n".repeat(300)), 0)]
#[case::notification_301("Notification", json!("n".repeat(301)), 10004)]
#[case::face_url_100("FaceUrl", json!("f".repeat(100)), 0)]
#[case::face_url_101("FaceUrl", json!("f".repeat(101)), 10004)]
#[case::apply_join_option_ok("ApplyJoinOption", json!("DisableApply"), 0)]
#[case::apply_join_option_bad("ApplyJoinOption", json!("Anyone"), 10004)]
#[case::name_not_a_string("Name", json!(5), 10004)]
#[tokio::test]
async fn profile_limits(
    #[context] ctx: Context,
    #[values(Command::ImportGroup, Command::CreateGroup)] command: Command,
    #[case] field: &str,
    #[case] value: Value,
    #[case] expected: u64,
) {
    let s = TestServer::start().await;
    let mut body = json!({"GroupId": "p", "Type": "Public", "Name": "n"});
    body[field] = value.clone();
    let v = s.call(command, body).await;
    assert_eq!(code(&v), expected, "{v}");
    if expected == 0 {
        assert_eq!(s.info("p").await[field], value);
    } else {
        let info = v["ErrorInfo"].as_str().unwrap();
        assert!(info.contains(field), "ErrorInfo names {field}: {v}");
        if command == Command::ImportGroup && ctx.description == Some("name_31_bytes") {
            snap("profile_name_too_long", &v);
        }
    }
}

// ---- create_group ----

#[tokio::test]
async fn create_group_assigns_ids() {
    let s = TestServer::start().await;
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..10 {
        let v = create_group(&s, json!({"Type": "Public", "Name": format!("g{i}")})).await;
        assert_eq!(code(&v), 0, "{v}");
        let id = v["GroupId"].as_str().unwrap().to_owned();
        assert!(
            is_assigned_id(&id),
            "@TGS# + 10 upper-case letters and digits: {id}"
        );
        assert!(ids.insert(id), "assigned IDs are unique");
    }
    let v = create_group(&s, json!({"Type": "Public", "Name": "snap"})).await;
    // The assigned ID comes from the server's RNG: check its shape, then hide it.
    let mut settings = support::redacted();
    settings.add_redaction(
        ".GroupId",
        insta::dynamic_redaction(|value, _| {
            assert!(is_assigned_id(value.as_str().unwrap()), "{value:?}");
            "[assigned-group-id]"
        }),
    );
    settings.bind(|| insta::assert_json_snapshot!("create_group_ok", v));
}

#[rstest]
#[tokio::test]
async fn create_group_with_members(#[values(Edition::Seed, Edition::Current)] edition: Edition) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let v = create_group(
        &s,
        json!({"GroupId": "team", "Type": "Private", "Name": "team", "Owner_Account": "owner", "MemberList": [
            {"Member_Account": "alice", "Role": "Admin"},
            {"Member_Account": "bob", "JoinTime": C},
            {"Member_Account": "carol", "Role": "Member"},
            {"Member_Account": "owner"},
            {"Member_Account": "alice"}
        ]}),
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["GroupId"], "team");
    let info = s.info("team").await;
    assert_eq!(info["MemberNum"], 4, "{info}");
    assert_eq!(info["CreateTime"], NOW, "create_group creates now");
    let mut got = members(&s, "team").await;
    got.sort();
    assert_eq!(
        got,
        vec![
            m("alice", "Admin", NOW, 0),
            m("bob", "Member", C, 0),
            m("carol", "Member", NOW, 0),
            m("owner", "Owner", NOW, 0)
        ],
        "JoinTime defaults to now; the owner keeps its role; duplicates count once"
    );
    if edition == Edition::Seed {
        snap("get_group_info_after_create_group", &info);
    }
}

#[rstest]
#[case::role_owner(json!([{"Member_Account": "a", "Role": "Owner"}]), 10004)]
#[case::role_unknown(json!([{"Member_Account": "a", "Role": "Boss"}]), 10004)]
#[case::join_time_future(json!([{"Member_Account": "a", "JoinTime": NOW + 1}]), 10004)]
#[case::bad_account(json!([{"Member_Account": ""}]), 10004)]
#[case::empty_list(json!([]), 0)]
#[tokio::test]
async fn create_group_member_rules(#[case] list: Value, #[case] expected: u64) {
    let s = TestServer::start().await;
    let v = create_group(
        &s,
        json!({"GroupId": "c", "Type": "Public", "Name": "c", "MemberList": list}),
    )
    .await;
    assert_eq!(code(&v), expected, "{v}");
    if expected != 0 {
        assert!(
            v["ErrorInfo"]
                .as_str()
                .unwrap()
                .starts_with("MemberList[0]."),
            "{v}"
        );
        assert_eq!(s.info("c").await["ErrorCode"], 10010, "nothing created");
    }
}

#[rstest]
#[tokio::test]
async fn create_avchatroom(#[values(Edition::Seed, Edition::Current)] edition: Edition) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let v = create_group(&s, json!({"GroupId": "live", "Type": "AVChatRoom", "Name": "live", "MemberList": [{"Member_Account": "a"}]})).await;
    assert_eq!(code(&v), 10007, "{v}");
    if edition == Edition::Seed {
        snap("create_avchatroom_with_members", &v);
    }
    let v = create_group(
        &s,
        json!({"GroupId": "live", "Type": "AVChatRoom", "Name": "live"}),
    )
    .await;
    assert_eq!(code(&v), 0, "an AVChatRoom without members is fine: {v}");
    assert_eq!(s.info("live").await["Type"], "AVChatRoom");
}

#[rstest]
#[case::seed_bchatroom(Edition::Seed, "BChatRoom", 0)]
#[case::seed_community(Edition::Seed, "Community", 10007)]
#[case::current_bchatroom(Edition::Current, "BChatRoom", 10007)]
#[case::unknown(Edition::Seed, "Bogus", 10004)]
#[tokio::test]
async fn create_group_types(
    #[case] edition: Edition,
    #[case] group_type: &str,
    #[case] expected: u64,
) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let v = create_group(&s, json!({"Type": group_type, "Name": "n"})).await;
    assert_eq!(code(&v), expected, "{v}");
}

// ---- destroy_group ----

#[rstest]
#[tokio::test]
async fn destroy_group_then_10010_everywhere(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = TestServer::with(Opts::edition(edition).on(backend)).await;
    s.group(GROUP, "Public", C).await;
    fill(&s, GROUP, 3).await;
    assert_eq!(
        code(
            &s.add_members(GROUP, json!([{"Member_Account": "alice"}]))
                .await
        ),
        0
    );
    let v = s
        .call(Command::DestroyGroup, json!({"GroupId": GROUP}))
        .await;
    assert_eq!(code(&v), 0, "{v}");
    if edition == Edition::Seed && backend == Backend::Memory {
        snap("destroy_group_ok", &v);
    }
    let calls = [
        (
            Command::ImportGroupMsg,
            json!({"GroupId": GROUP, "MsgList": [text_msg("a", C + 10, "x")]}),
        ),
        (
            Command::ImportGroupMember,
            json!({"GroupId": GROUP, "MemberList": [{"Member_Account": "bob"}]}),
        ),
        (
            Command::SetUnreadMsgNum,
            json!({"GroupId": GROUP, "Member_Account": "alice", "UnreadMsgNum": 1}),
        ),
        (
            Command::GroupMsgGetSimple,
            json!({"GroupId": GROUP, "ReqMsgNumber": 5}),
        ),
        (Command::DestroyGroup, json!({"GroupId": GROUP})),
    ];
    for (command, body) in calls {
        let v = s.call(command, body).await;
        assert_eq!(code(&v), 10010, "{command}: {v}");
        assert_eq!(v["ActionStatus"], "FAIL");
        if command == Command::DestroyGroup
            && edition == Edition::Seed
            && backend == Backend::Memory
        {
            snap("destroy_group_missing", &v);
        }
    }
    let info = s.info(GROUP).await;
    assert_eq!(info["ErrorCode"], 10010, "{info}");

    // The ID can be used again; the new group starts from scratch.
    s.group(GROUP, "Private", C + 500).await;
    let info = s.info(GROUP).await;
    assert_eq!(
        (
            info["NextMsgSeq"].clone(),
            info["MemberNum"].clone(),
            info["LastMsgTime"].clone()
        ),
        (json!(1), json!(0), json!(0))
    );
    assert_eq!(info["Type"], "Private");
    let v = s.import(GROUP, vec![text_msg("a", C + 501, "again")]).await;
    assert_eq!(
        v["ImportMsgResult"][0]["MsgSeq"], 1,
        "MsgSeq starts at 1 again: {v}"
    );
    assert_eq!(
        s.all_messages(GROUP).await.len(),
        1,
        "old messages are gone"
    );
}

#[rstest]
#[case::bad_id("@TGS#a b", 10015)]
#[case::empty("", 10015)]
#[case::missing("never-was", 10010)]
#[tokio::test]
async fn destroy_group_errors(#[case] id: &str, #[case] expected: u64) {
    let s = TestServer::start().await;
    let v = s.call(Command::DestroyGroup, json!({"GroupId": id})).await;
    assert_eq!(code(&v), expected, "{v}");
}

// ---- get_group_info ----

#[rstest]
#[tokio::test]
async fn get_group_info_mixed_entries(
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = TestServer::with(Opts::default().on(backend)).await;
    s.group(GROUP, "Public", C).await;
    s.group("other", "ChatRoom", C + 10).await;
    fill(&s, GROUP, 4).await;
    assert_eq!(code(&s.add_members(GROUP, json!([{"Member_Account": "alice", "JoinTime": C + 2}, {"Member_Account": "bob", "JoinTime": C + 3, "UnreadMsgNum": 1}])).await), 0);
    let v = s
        .call(
            Command::GetGroupInfo,
            json!({"GroupIdList": [GROUP, "missing", "@TGS#a b", "other"]}),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let list = v["GroupInfo"].as_array().unwrap();
    let codes: Vec<u64> = list
        .iter()
        .map(|g| g["ErrorCode"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![0, 10010, 10015, 0]);
    let ids: Vec<&str> = list
        .iter()
        .map(|g| g["GroupId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![GROUP, "missing", "@TGS#a b", "other"],
        "request order"
    );
    let g = &list[0];
    assert_eq!(g["NextMsgSeq"], 5);
    assert_eq!(g["LastMsgTime"], C + 4);
    assert_eq!(g["MemberNum"], 2);
    assert_eq!(
        g["MemberList"][1]["MsgSeq"], 3,
        "bob: last seq 4 - unread 1"
    );
    assert_eq!(list[3]["NextMsgSeq"], 1);
    assert_eq!(list[3]["LastMsgTime"], 0);
    assert!(
        list[1].get("NextMsgSeq").is_none()
            && list[1]["ErrorInfo"].as_str().unwrap().contains("missing"),
        "{v}"
    );
    if backend == Backend::Memory {
        snap("get_group_info_mixed", &v);
    }
}

#[rstest]
#[case::empty(0, 10004)]
#[case::one(1, 0)]
#[case::fifty(50, 0)]
#[case::fifty_one(51, 10004)]
#[tokio::test]
async fn get_group_info_list_size(
    #[context] ctx: Context,
    #[case] n: usize,
    #[case] expected: u64,
) {
    let s = setup(Edition::Seed).await;
    let v = s
        .call(
            Command::GetGroupInfo,
            json!({"GroupIdList": vec![GROUP; n]}),
        )
        .await;
    assert_eq!(code(&v), expected, "{v}");
    if expected == 0 {
        assert_eq!(v["GroupInfo"].as_array().unwrap().len(), n);
    } else {
        assert!(v.get("GroupInfo").is_none(), "{v}");
        if ctx.description == Some("fifty_one") {
            snap("get_group_info_51", &v);
        }
    }
}

// ---- import_group_member ----

#[rstest]
#[tokio::test]
async fn import_group_member_results(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = TestServer::with(Opts::edition(edition).on(backend)).await;
    s.group(GROUP, "Public", C).await;
    fill(&s, GROUP, 3).await;
    let first = s
        .add_members(GROUP, json!([{"Member_Account": "alice"}]))
        .await;
    assert_eq!(
        first["MemberList"],
        json!([{"Member_Account": "alice", "Result": 1}]),
        "{first}"
    );
    let v = s
        .add_members(
            GROUP,
            json!([
                {"Member_Account": "alice", "Role": "Admin"},
                {"Member_Account": ""},
                {"Member_Account": "before_create", "JoinTime": C - 1},
                {"Member_Account": "at_create", "JoinTime": C, "Role": "Admin"},
                {"Member_Account": "future", "JoinTime": NOW + 1},
                {"Member_Account": "at_now", "JoinTime": NOW, "Role": "Owner"},
                {"Member_Account": "negative_unread", "UnreadMsgNum": -1},
                {"Member_Account": "clamped", "JoinTime": C + 1, "UnreadMsgNum": 99},
                {"Member_Account": "unread_2", "JoinTime": C + 2, "UnreadMsgNum": 2}
            ]),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let results: Vec<(&str, u64)> = v["MemberList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["Member_Account"].as_str().unwrap(),
                r["Result"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("alice", 2),
            ("", 0),
            ("before_create", 0),
            ("at_create", 0),
            ("future", 0),
            ("at_now", 1),
            ("negative_unread", 0),
            ("clamped", 1),
            ("unread_2", 1)
        ]
    );
    if edition == Edition::Seed && backend == Backend::Memory {
        snap("import_group_member_results", &v);
    }
    let mut got = members(&s, GROUP).await;
    got.sort();
    assert_eq!(
        got,
        vec![
            m("alice", "Member", NOW, 0),
            m("at_now", "Member", NOW, 0),
            m("clamped", "Member", C + 1, 3),
            m("unread_2", "Member", C + 2, 2),
        ],
        "an existing member is unchanged; Owner becomes Member; UnreadMsgNum clamped to 3 messages"
    );
    assert_eq!(s.info(GROUP).await["MemberNum"], 4);
}

#[tokio::test]
async fn import_group_member_twice_in_one_request() {
    let s = setup(Edition::Seed).await;
    let v = s
        .add_members(
            GROUP,
            json!([{"Member_Account": "a"}, {"Member_Account": "a"}]),
        )
        .await;
    assert_eq!(
        v["MemberList"],
        json!([{"Member_Account": "a", "Result": 1}, {"Member_Account": "a", "Result": 2}]),
        "{v}"
    );
}

#[rstest]
#[case::seed_500(Edition::Seed, 500, 0)]
#[case::seed_501(Edition::Seed, 501, 10004)]
#[case::current_20(Edition::Current, 20, 0)]
#[case::current_21(Edition::Current, 21, 10004)]
#[case::seed_empty(Edition::Seed, 0, 10004)]
#[case::current_empty(Edition::Current, 0, 10004)]
#[tokio::test]
async fn import_group_member_limit(
    #[context] ctx: Context,
    #[case] edition: Edition,
    #[case] n: usize,
    #[case] expected: u64,
) {
    let s = setup(edition).await;
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"Member_Account": format!("user{i}")}))
        .collect();
    let v = s.add_members(GROUP, json!(list)).await;
    assert_eq!(code(&v), expected, "{v}");
    let num = s.info(GROUP).await["MemberNum"].as_u64().unwrap();
    if expected == 0 {
        assert_eq!(v["MemberList"].as_array().unwrap().len(), n);
        assert_eq!(num, n as u64);
    } else {
        assert_eq!(num, 0, "nothing added");
        assert!(
            v["ErrorInfo"].as_str().unwrap().starts_with("MemberList"),
            "{v}"
        );
        if matches!(ctx.description, Some("current_21")) {
            snap("import_group_member_too_many", &v);
        }
    }
}

#[rstest]
#[case::seed_avchatroom(Edition::Seed, "AVChatRoom", 10007)]
#[case::seed_bchatroom(Edition::Seed, "BChatRoom", 10007)]
#[case::seed_chatroom(Edition::Seed, "ChatRoom", 0)]
#[case::current_avchatroom(Edition::Current, "AVChatRoom", 10007)]
#[case::current_community(Edition::Current, "Community", 0)]
#[tokio::test]
async fn import_group_member_types(
    #[case] edition: Edition,
    #[case] group_type: &str,
    #[case] expected: u64,
) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let id = if group_type == "Community" {
        "@TGS#_c"
    } else {
        "typed"
    };
    let v = create_group(&s, json!({"GroupId": id, "Type": group_type, "Name": "n"})).await;
    assert_eq!(code(&v), 0, "{v}");
    let v = s.add_members(id, json!([{"Member_Account": "a"}])).await;
    assert_eq!(code(&v), expected, "{v}");
    if expected == 10007 && edition == Edition::Seed && group_type == "AVChatRoom" {
        snap("import_group_member_avchatroom", &v);
    }
}

#[rstest]
#[case::missing("nope", 10010)]
#[case::bad_id("@TGS#", 10015)]
#[tokio::test]
async fn import_group_member_group_errors(#[case] id: &str, #[case] expected: u64) {
    let s = TestServer::start().await;
    let v = s.add_members(id, json!([{"Member_Account": "a"}])).await;
    assert_eq!(code(&v), expected, "{v}");
}

// ---- set_unread_msg_num ----

async fn set_unread(s: &TestServer, group: &str, account: &str, n: i64) -> Value {
    s.call(
        Command::SetUnreadMsgNum,
        json!({"GroupId": group, "Member_Account": account, "UnreadMsgNum": n}),
    )
    .await
}

#[rstest]
#[tokio::test]
async fn set_unread_msg_num_clamps(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = TestServer::with(Opts::edition(edition).on(backend)).await;
    s.group(GROUP, "Private", C).await;
    fill(&s, GROUP, 3).await;
    assert_eq!(
        code(
            &s.add_members(
                GROUP,
                json!([{"Member_Account": "alice", "JoinTime": C + 1}])
            )
            .await
        ),
        0
    );
    for (set, want) in [(2, 2), (10, 3), (0, 0), (3, 3)] {
        let v = set_unread(&s, GROUP, "alice", set).await;
        assert_eq!(code(&v), 0, "{v}");
        assert_eq!(
            members(&s, GROUP).await,
            vec![m("alice", "Member", C + 1, want)],
            "set {set}"
        );
        if set == 10 && edition == Edition::Seed && backend == Backend::Memory {
            snap("set_unread_msg_num_ok", &v);
        }
    }
}

#[rstest]
#[case::not_a_member("stranger", 1, 10004)]
#[case::negative("alice", -1, 10004)]
#[case::bad_account("", 1, 10004)]
#[tokio::test]
async fn set_unread_msg_num_errors(
    #[context] ctx: Context,
    #[case] account: &str,
    #[case] n: i64,
    #[case] expected: u64,
) {
    let s = setup(Edition::Seed).await;
    fill(&s, GROUP, 2).await;
    assert_eq!(
        code(
            &s.add_members(
                GROUP,
                json!([{"Member_Account": "alice", "UnreadMsgNum": 1}])
            )
            .await
        ),
        0
    );
    let v = set_unread(&s, GROUP, account, n).await;
    assert_eq!(code(&v), expected, "{v}");
    assert_eq!(members(&s, GROUP).await[0].3, 1, "unchanged");
    if ctx.description == Some("not_a_member") {
        snap("set_unread_not_a_member", &v);
    }
}

#[rstest]
#[case::missing("nope", 10010)]
#[case::bad_id("@TGS#!", 10015)]
#[tokio::test]
async fn set_unread_msg_num_group_errors(#[case] id: &str, #[case] expected: u64) {
    let s = TestServer::start().await;
    let v = set_unread(&s, id, "alice", 1).await;
    assert_eq!(code(&v), expected, "{v}");
}

/// ChatRoom (and the broadcast types) keep no unread counts: no effect and no error.
#[rstest]
#[case::chatroom("ChatRoom", "alice")]
#[case::chatroom_non_member("ChatRoom", "stranger")]
#[case::avchatroom("AVChatRoom", "alice")]
#[tokio::test]
async fn set_unread_msg_num_without_effect(#[case] group_type: &str, #[case] account: &str) {
    let s = TestServer::start().await;
    let v = create_group(
        &s,
        json!({"GroupId": "room", "Type": group_type, "Name": "n"}),
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    if group_type == "ChatRoom" {
        s.clock.advance(10);
        assert_eq!(
            code(
                &s.import(
                    "room",
                    vec![text_msg("a", NOW + 1, "x"), text_msg("a", NOW + 2, "y")]
                )
                .await
            ),
            0
        );
        assert_eq!(
            code(
                &s.add_members("room", json!([{"Member_Account": "alice"}]))
                    .await
            ),
            0
        );
    }
    let before = s.info("room").await;
    let v = set_unread(&s, "room", account, 2).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(
        s.info("room").await["MemberList"],
        before["MemberList"],
        "no effect"
    );
}

// ---- group_msg_get_simple ----

#[rstest]
#[tokio::test]
async fn history_pages_newest_first(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = TestServer::with(Opts::edition(edition).on(backend)).await;
    s.group(GROUP, "Public", C).await;
    fill(&s, GROUP, 45).await;
    let mut seq = None;
    let mut pages = Vec::new();
    loop {
        let v = s.history(GROUP, 20, seq).await;
        assert_eq!(code(&v), 0, "{v}");
        assert_eq!(v["GroupId"], GROUP);
        assert_eq!(v["IsFinished"], 1, "ReqMsgNumber ≤ 20");
        let seqs: Vec<u64> = v["RspMsgList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["MsgSeq"].as_u64().unwrap())
            .collect();
        if seqs.is_empty() {
            break;
        }
        assert!(
            seqs.windows(2).all(|w| w[0] == w[1] + 1),
            "newest first, consecutive: {seqs:?}"
        );
        for m in v["RspMsgList"].as_array().unwrap() {
            let n = m["MsgSeq"].as_i64().unwrap();
            assert_eq!(m["MsgTimeStamp"], C + n);
            assert_eq!(m["MsgBody"][0]["MsgContent"]["Text"], format!("m{n}"));
        }
        let oldest = *seqs.last().unwrap();
        pages.push(seqs);
        seq = Some(oldest - 1);
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![20, 20, 5]);
    assert_eq!(pages[0][0], 45);
    assert_eq!(*pages[2].last().unwrap(), 1);
}

#[rstest]
#[case::five(5, None, 5, 1)]
#[case::twenty(20, None, 20, 1)]
#[case::thirty(30, None, 20, 0)]
#[case::from_seq_10(20, Some(10), 10, 1)]
#[case::from_seq_25(3, Some(25), 3, 1)]
#[case::seq_past_newest(20, Some(1000), 20, 1)]
#[case::seq_zero(20, Some(0), 0, 1)]
#[tokio::test]
async fn history_counts(
    #[context] ctx: Context,
    #[case] number: i64,
    #[case] seq: Option<u64>,
    #[case] returned: usize,
    #[case] finished: u64,
) {
    let s = setup(Edition::Seed).await;
    fill(&s, GROUP, 30).await;
    let v = s.history(GROUP, number, seq).await;
    assert_eq!(code(&v), 0, "{v}");
    let list = v["RspMsgList"].as_array().unwrap();
    assert_eq!(list.len(), returned, "{v}");
    assert_eq!(v["IsFinished"], finished);
    if let Some(first) = list.first() {
        assert_eq!(first["MsgSeq"], seq.unwrap_or(30).min(30));
    }
    if ctx.description == Some("from_seq_25") {
        snap("group_msg_get_simple_page", &v);
    }
}

#[tokio::test]
async fn history_of_an_empty_group() {
    let s = setup(Edition::Seed).await;
    let v = s.history(GROUP, 20, None).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["RspMsgList"], json!([]));
    assert_eq!(v["IsFinished"], 1);
    snap("group_msg_get_simple_empty", &v);
}

#[rstest]
#[case::zero_number(GROUP, None, 0, 10004)]
#[case::negative_number(GROUP, None, -5, 10004)]
#[case::missing_group("nope", None, 5, 10010)]
#[case::bad_id("@TGS#?", None, 5, 10015)]
#[case::seed_avchatroom("live", Some((Edition::Seed, "AVChatRoom")), 5, 10007)]
#[case::seed_bchatroom("live", Some((Edition::Seed, "BChatRoom")), 5, 10007)]
#[case::current_avchatroom("live", Some((Edition::Current, "AVChatRoom")), 5, 10007)]
#[case::current_community("@TGS#_c", Some((Edition::Current, "Community")), 5, 0)]
#[tokio::test]
async fn history_errors(
    #[context] ctx: Context,
    #[case] id: &str,
    #[case] create: Option<(Edition, &str)>,
    #[case] number: i64,
    #[case] expected: u64,
) {
    let edition = create.map_or(Edition::Seed, |c| c.0);
    let s = setup(edition).await;
    if let Some((_, t)) = create {
        let v = create_group(&s, json!({"GroupId": id, "Type": t, "Name": "n"})).await;
        assert_eq!(code(&v), 0, "{v}");
    }
    let v = s.history(id, number, None).await;
    assert_eq!(code(&v), expected, "{v}");
    if expected != 0 {
        assert!(v.get("RspMsgList").is_none(), "{v}");
        if matches!(ctx.description, Some("zero_number" | "seed_avchatroom")) {
            snap(
                &format!("group_msg_get_simple_{}", ctx.description.unwrap()),
                &v,
            );
        }
    }
}

/// Shape errors in fields read beside the profile keep their full JSON path.
#[rstest]
#[case::create_time(Command::ImportGroup, json!({"Type": "Public", "Name": "n", "CreateTime": "yesterday"}), "CreateTime: invalid type")]
#[case::member_account(Command::CreateGroup, json!({"Type": "Public", "Name": "n", "MemberList": [{"Member_Account": "a"}, {"Member_Account": 5}]}), "MemberList[1].Member_Account: invalid type")]
#[case::member_list(Command::CreateGroup, json!({"Type": "Public", "Name": "n", "MemberList": {}}), "MemberList: invalid type")]
#[tokio::test]
async fn side_fields_keep_their_path(
    #[case] command: Command,
    #[case] body: Value,
    #[case] info: &str,
) {
    let s = TestServer::start().await;
    let v = s.call(command, body).await;
    assert_eq!(code(&v), 10004, "{v}");
    assert!(v["ErrorInfo"].as_str().unwrap().contains(info), "{v}");
}

// ---- issue 10: get_group_info fields and ResponseFilter, JoinTime, unread counts by type ----

/// Every field of digest §4.7, plus the `UnreadMsgNum` extension, and nothing else.
const GROUP_FIELDS: &[&str] = &[
    "ErrorCode",
    "ErrorInfo",
    "GroupId",
    "Type",
    "Name",
    "Appid",
    "Introduction",
    "Notification",
    "FaceUrl",
    "Owner_Account",
    "CreateTime",
    "InfoSeq",
    "LastInfoTime",
    "LastMsgTime",
    "NextMsgSeq",
    "MemberNum",
    "MaxMemberNum",
    "ApplyJoinOption",
    "ShutUpAllMember",
    "AppDefinedData",
    "MemberList",
];
const MEMBER_FIELDS: &[&str] = &[
    "Member_Account",
    "Role",
    "JoinTime",
    "MsgSeq",
    "MsgFlag",
    "LastSendMsgTime",
    "NameCard",
    "ShutUpUntil",
    "AppMemberDefinedData",
    "UnreadMsgNum",
];

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    k.sort();
    k
}

#[rstest]
#[tokio::test]
async fn get_group_info_reports_every_documented_field(
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = TestServer::with(Opts::default().on(backend)).await;
    let v = import_group(
        &s,
        json!({"GroupId": GROUP, "Type": "Public", "Name": "n", "Owner_Account": "leckie", "CreateTime": C}),
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    fill(&s, GROUP, 3).await; // from leckie at C + 1 … C + 3
    let v = s
        .add_members(
            GROUP,
            json!([{"Member_Account": "alice", "JoinTime": C + 5}]),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let g = s.info(GROUP).await;
    assert_eq!(keys(&g), sorted(GROUP_FIELDS), "{g}");
    assert_eq!(g["Appid"], s.config.sdkappid, "Appid is the SDKAppID");
    assert_eq!(
        (&g["InfoSeq"], &g["LastInfoTime"]),
        (&json!(1), &json!(C)),
        "the profile as created"
    );
    assert_eq!(g["ShutUpAllMember"], "Off");
    assert_eq!(g["MaxMemberNum"], 2000, "Public default");
    assert_eq!(g["AppDefinedData"], json!([]));
    let members = g["MemberList"].as_array().unwrap();
    for m in members {
        assert_eq!(keys(m), sorted(MEMBER_FIELDS), "{m}");
        assert_eq!(
            (
                &m["MsgFlag"],
                &m["NameCard"],
                &m["ShutUpUntil"],
                &m["AppMemberDefinedData"]
            ),
            (&json!("AcceptAndNotify"), &json!(""), &json!(0), &json!([])),
            "{m}"
        );
    }
    let last_send: Vec<(&str, i64)> = members
        .iter()
        .map(|m| {
            (
                m["Member_Account"].as_str().unwrap(),
                m["LastSendMsgTime"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        last_send,
        vec![("leckie", C + 3), ("alice", 0)],
        "newest own message, or 0"
    );
    if backend == Backend::Memory {
        snap("get_group_info_every_field", &g);
    }
}

/// `MaxMemberNum` is the creator's `MaxMemberCount`, else the type's default (emulator-defined).
#[rstest]
#[case::private(Edition::Seed, "Private", None, 200)]
#[case::public(Edition::Seed, "Public", None, 2000)]
#[case::chatroom(Edition::Seed, "ChatRoom", None, 6000)]
#[case::work(Edition::Current, "Work", None, 200)]
#[case::meeting(Edition::Current, "Meeting", None, 6000)]
#[case::community(Edition::Current, "Community", None, 100_000)]
#[case::avchatroom(Edition::Current, "AVChatRoom", None, 0)]
#[case::given(Edition::Seed, "Public", Some(500), 500)]
#[tokio::test]
async fn get_group_info_max_member_num(
    #[case] edition: Edition,
    #[case] group_type: &str,
    #[case] given: Option<u64>,
    #[case] expected: u64,
) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let id = if group_type == "Community" {
        "@TGS#_c"
    } else {
        "typed"
    };
    let mut body = json!({"GroupId": id, "Type": group_type, "Name": "n"});
    if let Some(n) = given {
        body["MaxMemberCount"] = n.into();
    }
    let v = create_group(&s, body).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(s.info(id).await["MaxMemberNum"], expected);
}

/// `ResponseFilter` narrows each entry; `GroupId`/`ErrorCode`/`ErrorInfo` and `Member_Account`
/// always stay; an absent list keeps everything it governs (digest §4.7).
#[rstest]
#[case::no_filter(json!({}), GROUP_FIELDS, MEMBER_FIELDS)]
#[case::base(
    json!({"GroupBaseInfoFilter": ["Name", "NextMsgSeq", "Appid", "NoSuchField", "MemberList"]}),
    &["ErrorCode", "ErrorInfo", "GroupId", "Name", "NextMsgSeq", "Appid", "AppDefinedData", "MemberList"],
    MEMBER_FIELDS
)]
#[case::members(
    json!({"MemberInfoFilter": ["Role", "LastSendMsgTime"]}),
    GROUP_FIELDS,
    &["Member_Account", "Role", "LastSendMsgTime", "AppMemberDefinedData"]
)]
#[case::both_empty(
    json!({"GroupBaseInfoFilter": [], "MemberInfoFilter": []}),
    &["ErrorCode", "ErrorInfo", "GroupId", "AppDefinedData", "MemberList"],
    &["Member_Account", "AppMemberDefinedData"]
)]
#[tokio::test]
async fn get_group_info_response_filter(
    #[case] filter: Value,
    #[case] group_fields: &[&str],
    #[case] member_fields: &[&str],
) {
    let s = TestServer::start().await;
    let v = import_group(
        &s,
        json!({"GroupId": GROUP, "Type": "Public", "Name": "n", "Owner_Account": "leckie", "CreateTime": C,
               "AppDefinedData": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}),
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    let v = s
        .call(
            Command::GetGroupInfo,
            json!({"GroupIdList": [GROUP, "missing"], "ResponseFilter": filter}),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let g = &v["GroupInfo"][0];
    assert_eq!(keys(g), sorted(group_fields), "{g}");
    assert_eq!(keys(&g["MemberList"][0]), sorted(member_fields), "{g}");
    assert_eq!(
        keys(&v["GroupInfo"][1]),
        sorted(&["ErrorCode", "ErrorInfo", "GroupId"]),
        "an error entry is unchanged"
    );
}

/// `AppDefinedDataFilter_Group` keeps the named keys of `AppDefinedData`.
#[tokio::test]
async fn get_group_info_app_defined_data_filter() {
    let s = TestServer::start().await;
    let v = import_group(
        &s,
        json!({"GroupId": GROUP, "Type": "Public", "Name": "n", "CreateTime": C,
               "AppDefinedData": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}),
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    let v = s
        .call(
            Command::GetGroupInfo,
            json!({"GroupIdList": [GROUP], "ResponseFilter": {"AppDefinedDataFilter_Group": ["b", "c"]}}),
        )
        .await;
    assert_eq!(
        v["GroupInfo"][0]["AppDefinedData"],
        json!([{"Key": "b", "Value": "2"}]),
        "{v}"
    );
    let v = s
        .call(
            Command::GetGroupInfo,
            json!({"GroupIdList": [GROUP], "ResponseFilter": {"GroupBaseInfoFilter": "Name"}}),
        )
        .await;
    assert_eq!(code(&v), 10004, "a filter of the wrong type: {v}");
    assert!(
        v["ErrorInfo"]
            .as_str()
            .unwrap()
            .contains("ResponseFilter.GroupBaseInfoFilter"),
        "{v}"
    );
}

/// Digest §4.3: `JoinTime` must be *after* `CreateTime`; equal fails that member alone. The owner
/// named by import_group still joins at `CreateTime`.
#[rstest]
#[tokio::test]
async fn import_group_member_join_time_must_follow_create_time(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
) {
    let s = TestServer::with(Opts::edition(edition)).await;
    let v = import_group(
        &s,
        json!({"GroupId": GROUP, "Type": "Public", "Name": "n", "Owner_Account": "owner", "CreateTime": C}),
    )
    .await;
    assert_eq!(code(&v), 0, "{v}");
    let v = s
        .add_members(
            GROUP,
            json!([
                {"Member_Account": "at_create", "JoinTime": C},
                {"Member_Account": "after", "JoinTime": C + 1}
            ]),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(
        v["MemberList"],
        json!([{"Member_Account": "at_create", "Result": 0}, {"Member_Account": "after", "Result": 1}])
    );
    let mut got = members(&s, GROUP).await;
    got.sort();
    assert_eq!(
        got,
        vec![m("after", "Member", C + 1, 0), m("owner", "Owner", C, 0)]
    );
}

/// Digest §4.4, per edition: on a type that keeps no unread counts, `UnreadMsgNum` of
/// import_group_member and set_unread_msg_num is accepted with no effect, and `MsgSeq` is the
/// group's last seq; on the other types both calls set it (clamped).
#[rstest]
#[case::seed_private(Edition::Seed, "Private", true)]
#[case::seed_public(Edition::Seed, "Public", true)]
#[case::seed_chatroom(Edition::Seed, "ChatRoom", false)]
#[case::current_work(Edition::Current, "Work", true)]
#[case::current_community(Edition::Current, "Community", true)]
#[case::current_meeting(Edition::Current, "Meeting", false)]
#[case::current_chatroom(Edition::Current, "ChatRoom", false)]
#[tokio::test]
async fn unread_counts_follow_the_group_type(
    #[case] edition: Edition,
    #[case] group_type: &str,
    #[case] keeps: bool,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = TestServer::with(Opts::edition(edition).on(backend)).await;
    let id = if group_type == "Community" {
        "@TGS#_c"
    } else {
        "typed"
    };
    s.group(id, group_type, C).await;
    fill(&s, id, 3).await;
    let v = s
        .add_members(
            id,
            json!([{"Member_Account": "alice", "JoinTime": C + 1, "UnreadMsgNum": 2}]),
        )
        .await;
    assert_eq!(v["MemberList"][0]["Result"], 1, "accepted: {v}");
    let unread_and_seq = |info: &Value| {
        let m = &info["MemberList"][0];
        (
            m["UnreadMsgNum"].as_u64().unwrap(),
            m["MsgSeq"].as_u64().unwrap(),
        )
    };
    let expected = |n: u64| if keeps { (n, 3 - n) } else { (0, 3) };
    assert_eq!(
        unread_and_seq(&s.info(id).await),
        expected(2),
        "after import_group_member"
    );
    let v = set_unread(&s, id, "alice", 1).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(
        unread_and_seq(&s.info(id).await),
        expected(1),
        "after set_unread_msg_num"
    );
}
