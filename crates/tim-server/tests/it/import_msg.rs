//! `import_group_msg` over HTTP, in both editions: every rule of docs/behaviour.md
//! "import_group_msg" (seed §2.7–§2.11, digest §1, §7 Q1–Q8, Q13, Q16, Q17).

use rstest::{rstest, Context};
use serde_json::{json, Value};
use tim_model::edition::Edition;
use tim_model::Command;

use crate::support::{self, code, text_msg, Backend, Opts, TestServer, NOW};

/// The test group's creation time.
const C: i64 = NOW - 1000;
const GROUP: &str = "imp-group";

fn snap(name: &str, v: &Value) {
    support::redacted().bind(|| insta::assert_json_snapshot!(name, v));
}

async fn server(edition: Edition) -> TestServer {
    server_on(edition, Backend::Memory).await
}

async fn server_on(edition: Edition, backend: Backend) -> TestServer {
    let s = TestServer::with(Opts::edition(edition).on(backend)).await;
    s.group(GROUP, "Public", C).await;
    s
}

/// `(Result, MsgSeq, MsgTime)` of every message of an `import_group_msg` response.
fn results(v: &Value) -> Vec<(u64, u64, i64)> {
    v["ImportMsgResult"]
        .as_array()
        .unwrap_or_else(|| panic!("ImportMsgResult: {v}"))
        .iter()
        .map(|r| {
            (
                r["Result"].as_u64().unwrap(),
                r["MsgSeq"].as_u64().unwrap(),
                r["MsgTime"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Text messages at `times`.
fn at(times: &[i64]) -> Vec<Value> {
    times
        .iter()
        .enumerate()
        .map(|(i, &t)| text_msg("leckie", t, &format!("message {i}")))
        .collect()
}

/// Asserts a whole-request failure with `expected`: FAIL, no results, nothing stored in `GROUP`.
async fn assert_rejected(s: &TestServer, v: &Value, expected: u64, seq_before: u64) {
    assert_eq!(code(v), expected, "{v}");
    assert_eq!(v["ActionStatus"], "FAIL", "{v}");
    assert!(
        v.get("ImportMsgResult").is_none(),
        "no per-message results on FAIL: {v}"
    );
    assert!(!v["ErrorInfo"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(
        s.next_msg_seq(GROUP).await,
        seq_before,
        "nothing was stored"
    );
}

/// A text message whose `MsgBody` is exactly `size` bytes as measured by the server.
fn msg_of_size(send_time: i64, size: usize) -> Value {
    msg_of_size_with(send_time, size, "")
}

/// Like [`msg_of_size`], with a text that starts with `prefix` (ASCII).
fn msg_of_size_with(send_time: i64, size: usize, prefix: &str) -> Value {
    let overhead =
        serde_json::to_string(&json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": ""}}]))
            .unwrap()
            .len();
    // Two-byte characters count as two bytes (UTF-8); pad with one ASCII letter when odd.
    let room = size - overhead - prefix.len();
    let text = format!("{prefix}{}{}", "é".repeat(room / 2), "a".repeat(room % 2));
    let m = text_msg("leckie", send_time, &text);
    let body_len = serde_json::to_string(&m["MsgBody"]).unwrap().len();
    assert_eq!(body_len, size, "test message has the intended size");
    m
}

// ---- batch size ----

#[rstest]
#[case::seed_20(Edition::Seed, 20, 0)]
#[case::seed_21(Edition::Seed, 21, 10004)]
#[case::current_7(Edition::Current, 7, 0)]
#[case::current_8(Edition::Current, 8, 10004)]
#[tokio::test]
async fn batch_limit(
    #[context] ctx: Context,
    #[case] edition: Edition,
    #[case] n: i64,
    #[case] expected: u64,
) {
    let s = server(edition).await;
    let times: Vec<i64> = (0..n).map(|i| C + 1 + i).collect();
    let v = s.import(GROUP, at(&times)).await;
    if expected == 0 {
        assert_eq!(code(&v), 0, "{v}");
        assert_eq!(v["ActionStatus"], "OK");
        let r = results(&v);
        assert_eq!(r.len(), n as usize);
        for (i, (res, seq, time)) in r.into_iter().enumerate() {
            assert_eq!((res, seq, time), (0, i as u64 + 1, times[i]));
        }
        assert_eq!(s.next_msg_seq(GROUP).await, n as u64 + 1);
    } else {
        assert_rejected(&s, &v, expected, 1).await;
        assert!(
            v["ErrorInfo"].as_str().unwrap().starts_with("MsgList:"),
            "{v}"
        );
        snap(&format!("batch_{}", ctx.description.unwrap()), &v);
    }
}

#[rstest]
#[case::empty_msg_list(json!({"GroupId": GROUP, "MsgList": []}), "MsgList")]
#[case::empty_msg_body(json!({"GroupId": GROUP, "MsgList": [{"From_Account": "a", "SendTime": C + 1, "MsgBody": []}]}), "MsgList[0].MsgBody")]
#[tokio::test]
async fn empty_lists_are_invalid(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] body: Value,
    #[case] path: &str,
) {
    let s = server(edition).await;
    let v = s.call(Command::ImportGroupMsg, body).await;
    assert_rejected(&s, &v, 10004, 1).await;
    assert!(
        v["ErrorInfo"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{path}:")),
        "{v}"
    );
}

// ---- the group ----

#[rstest]
#[case::missing("no-such-group", 10010)]
#[case::empty("", 10015)]
#[case::bad_assigned_form("@TGS#a b", 10015)]
#[case::reserved_prefix_only("@TGS#", 10015)]
#[case::too_long("x".repeat(49), 10015)]
#[case::not_ascii("群组", 10015)]
#[case::control_char("a\tb", 10015)]
#[tokio::test]
async fn group_id_and_existence(
    #[context] ctx: Context,
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] group: String,
    #[case] expected: u64,
) {
    let s = server(edition).await;
    let v = s.import(&group, at(&[C + 1])).await;
    assert_eq!(code(&v), expected, "{v}");
    assert_eq!(v["ActionStatus"], "FAIL");
    assert!(v.get("ImportMsgResult").is_none(), "{v}");
    assert!(
        v["ErrorInfo"].as_str().unwrap().starts_with("GroupId:"),
        "{v}"
    );
    if edition == Edition::Seed && matches!(ctx.description, Some("missing" | "bad_assigned_form"))
    {
        snap(&format!("group_{}", ctx.description.unwrap()), &v);
    }
}

#[rstest]
#[tokio::test]
async fn destroyed_group_is_gone(#[values(Edition::Seed, Edition::Current)] edition: Edition) {
    let s = server(edition).await;
    assert_eq!(code(&s.import(GROUP, at(&[C + 1])).await), 0);
    let v = s
        .call(Command::DestroyGroup, json!({"GroupId": GROUP}))
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let v = s.import(GROUP, at(&[C + 2])).await;
    assert_eq!(code(&v), 10010, "{v}");
    assert!(v.get("ImportMsgResult").is_none());
}

/// Group types: seed imports into Private/Public/ChatRoom; current adds Work/Meeting/Community.
#[rstest]
#[case::seed_private(Edition::Seed, "Private", "t-private", 0)]
#[case::seed_public(Edition::Seed, "Public", "t-public", 0)]
#[case::seed_chatroom(Edition::Seed, "ChatRoom", "t-chatroom", 0)]
#[case::seed_avchatroom(Edition::Seed, "AVChatRoom", "t-av", 10007)]
#[case::seed_bchatroom(Edition::Seed, "BChatRoom", "t-b", 10007)]
#[case::current_private(Edition::Current, "Private", "t-private", 0)]
#[case::current_work(Edition::Current, "Work", "t-work", 0)]
#[case::current_public(Edition::Current, "Public", "t-public", 0)]
#[case::current_chatroom(Edition::Current, "ChatRoom", "t-chatroom", 0)]
#[case::current_meeting(Edition::Current, "Meeting", "t-meeting", 0)]
#[case::current_community(Edition::Current, "Community", "@TGS#_community", 0)]
#[case::current_avchatroom(Edition::Current, "AVChatRoom", "t-av", 10007)]
#[tokio::test]
async fn group_types(
    #[context] ctx: Context,
    #[case] edition: Edition,
    #[case] group_type: &str,
    #[case] id: &str,
    #[case] expected: u64,
) {
    let s = TestServer::with(Opts::edition(edition)).await;
    // create_group accepts every type of the edition (import_group refuses those that cannot import).
    let v = s
        .call(
            Command::CreateGroup,
            json!({"GroupId": id, "Type": group_type, "Name": "t"}),
        )
        .await;
    assert_eq!(code(&v), 0, "create_group {group_type}: {v}");
    s.clock.advance(10);
    let v = s.import(id, at(&[NOW + 5])).await;
    assert_eq!(code(&v), expected, "{group_type}: {v}");
    if expected == 0 {
        assert_eq!(results(&v), vec![(0, 1, NOW + 5)]);
    } else {
        assert!(v.get("ImportMsgResult").is_none());
        assert_eq!(s.next_msg_seq(id).await, 1);
        snap(&format!("type_{}", ctx.description.unwrap()), &v);
    }
}

/// Check order: group-ID syntax → structure → existence → type → per-message rules.
#[rstest]
#[case::syntax_before_structure("@TGS#a b", None, 30, 10015)]
#[case::structure_before_existence("no-such-group", None, 30, 10004)]
#[case::existence_before_messages("no-such-group", None, 1, 10010)]
#[case::type_before_time("av", Some("AVChatRoom"), 1, 10007)]
#[tokio::test]
async fn check_order(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] group: &str,
    #[case] create_type: Option<&str>,
    #[case] n: usize,
    #[case] expected: u64,
) {
    let s = server(edition).await;
    if let Some(t) = create_type {
        let v = s
            .call(
                Command::CreateGroup,
                json!({"GroupId": group, "Type": t, "Name": "t"}),
            )
            .await;
        assert_eq!(code(&v), 0, "{v}");
    }
    // Every message breaks the time rules (future) too.
    let msgs = vec![text_msg("leckie", NOW + 100, "x"); n];
    let v = s.import(group, msgs).await;
    assert_eq!(code(&v), expected, "{v}");
    assert!(v.get("ImportMsgResult").is_none(), "{v}");
}

// ---- time rules ----

/// `SendTime` rules. `expected` are the per-message results of the current edition; the seed edition
/// rejects the whole request with 10004 when any of them is not 0.
#[rstest]
#[case::equal_to_create_time(None, vec![C], vec![10004])]
#[case::before_create_time(None, vec![C - 1], vec![10004])]
#[case::create_time_plus_1(None, vec![C + 1], vec![0])]
#[case::future(None, vec![NOW + 1], vec![10004])]
#[case::equal_to_now(None, vec![NOW], vec![0])]
#[case::before_newest(Some(C + 500), vec![C + 499], vec![10004])]
#[case::equal_to_newest(Some(C + 500), vec![C + 500], vec![0])]
#[case::after_newest(Some(C + 500), vec![C + 501], vec![0])]
#[case::decreasing_in_batch(None, vec![C + 10, C + 9], vec![0, 10004])]
#[case::equal_in_batch(None, vec![C + 10, C + 10], vec![0, 0])]
#[case::increasing_in_batch(None, vec![C + 10, C + 11, C + 12], vec![0, 0, 0])]
#[case::bad_in_the_middle(None, vec![C + 10, C, C + 20], vec![0, 10004, 0])]
// A failed message is not a bound for the messages after it (docs/behaviour.md; current edition).
#[case::after_a_failed_future_message(None, vec![NOW + 5, C + 11], vec![10004, 0])]
#[case::after_a_failed_early_message(None, vec![C + 20, C + 10, C + 15, C + 21], vec![0, 10004, 10004, 0])]
#[case::first_ok_rest_before_newest(Some(C + 500), vec![C + 600, C + 400], vec![0, 10004])]
#[tokio::test]
async fn send_time_rules(
    #[context] ctx: Context,
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] prior: Option<i64>,
    #[case] times: Vec<i64>,
    #[case] expected: Vec<u64>,
) {
    let s = server(edition).await;
    let mut next = 1;
    if let Some(t) = prior {
        let v = s.import(GROUP, vec![text_msg("peter", t, "prior")]).await;
        assert_eq!(results(&v), vec![(0, 1, t)]);
        next = 2;
    }
    let v = s.import(GROUP, at(&times)).await;
    let name = ctx.description.unwrap();
    let all_ok = expected.iter().all(|&r| r == 0);
    if edition == Edition::Seed && !all_ok {
        assert_rejected(&s, &v, 10004, next).await;
        let first_bad = expected.iter().position(|&r| r != 0).unwrap();
        let info = v["ErrorInfo"].as_str().unwrap();
        assert!(
            info.starts_with(&format!("MsgList[{first_bad}].SendTime:")),
            "{info}"
        );
        if matches!(name, "future" | "decreasing_in_batch") {
            snap(&format!("time_seed_{name}"), &v);
        }
        return;
    }
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["ActionStatus"], "OK");
    let got = results(&v);
    let mut want = Vec::new();
    for (i, &r) in expected.iter().enumerate() {
        // Failed messages consume no MsgSeq and report MsgSeq 0, MsgTime = SendTime (Q3).
        want.push(if r == 0 {
            next += 1;
            (0, next - 1, times[i])
        } else {
            (r, 0, times[i])
        });
    }
    assert_eq!(got, want, "{v}");
    assert_eq!(s.next_msg_seq(GROUP).await, next);
    if edition == Edition::Current && matches!(name, "bad_in_the_middle" | "future") {
        snap(&format!("time_current_{name}"), &v);
    }
}

/// Current edition: a message that failed does not advance the group's newest time, in the batch
/// or for later calls.
#[tokio::test]
async fn failed_message_does_not_advance_newest() {
    let s = server(Edition::Current).await;
    let v = s
        .import(
            GROUP,
            vec![text_msg("a", C + 10, "ok"), msg_of_size(C + 20, 8001)],
        )
        .await;
    assert_eq!(results(&v), vec![(0, 1, C + 10), (80002, 0, C + 20)]);
    assert_eq!(s.info(GROUP).await["LastMsgTime"], C + 10);
    let v = s.import(GROUP, at(&[C + 15])).await;
    assert_eq!(
        results(&v),
        vec![(0, 2, C + 15)],
        "C+15 is after the newest stored message: {v}"
    );
}

// ---- size ----

#[rstest]
#[tokio::test]
async fn size_8000_is_accepted(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = server_on(edition, backend).await;
    let m = msg_of_size(C + 1, 8000);
    let v = s.import(GROUP, vec![m.clone()]).await;
    assert_eq!(results(&v), vec![(0, 1, C + 1)], "{v}");
    let h = s.all_messages(GROUP).await;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["MsgBody"], m["MsgBody"]);
}

#[rstest]
#[tokio::test]
async fn size_8001_seed_rejects_the_request(
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = server_on(Edition::Seed, backend).await;
    let v = s
        .import(
            GROUP,
            vec![
                text_msg("a", C + 1, "fine"),
                msg_of_size(C + 2, 8001),
                text_msg("a", C + 3, "fine"),
            ],
        )
        .await;
    assert_rejected(&s, &v, 10020, 1).await;
    let info = v["ErrorInfo"].as_str().unwrap();
    assert!(
        info.starts_with("MsgList[1].MsgBody:") && info.contains("8001"),
        "{info}"
    );
    assert!(s.all_messages(GROUP).await.is_empty(), "nothing stored");
    assert_eq!(s.info(GROUP).await["LastMsgTime"], 0);
    snap("size_seed_8001", &v);
}

#[rstest]
#[tokio::test]
async fn size_8001_current_fails_that_message(
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = server_on(Edition::Current, backend).await;
    let msgs = vec![
        text_msg("a", C + 1, "first"),
        msg_of_size(C + 2, 8001),
        text_msg("a", C + 3, "third"),
    ];
    let v = s.import(GROUP, msgs.clone()).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(
        results(&v),
        vec![(0, 1, C + 1), (80002, 0, C + 2), (0, 2, C + 3)]
    );
    assert_eq!(s.next_msg_seq(GROUP).await, 3);
    let h = s.all_messages(GROUP).await;
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["MsgBody"], msgs[2]["MsgBody"]);
    assert_eq!(h[1]["MsgBody"], msgs[0]["MsgBody"]);
    snap("size_current_8001", &v);
}

/// `CloudCustomData` counts towards the 8000 bytes.
#[rstest]
#[case::seed(Edition::Seed, 10020)]
#[case::current(Edition::Current, 80002)]
#[tokio::test]
async fn size_counts_cloud_custom_data(#[case] edition: Edition, #[case] too_long: u64) {
    let s = server(edition).await;
    let mut m = msg_of_size(C + 1, 7990);
    m["CloudCustomData"] = json!("x".repeat(10));
    let v = s.import(GROUP, vec![m.clone()]).await;
    assert_eq!(results(&v), vec![(0, 1, C + 1)], "7990 + 10 bytes: {v}");
    m["SendTime"] = json!(C + 2);
    m["CloudCustomData"] = json!("x".repeat(11));
    let v = s.import(GROUP, vec![m]).await;
    match edition {
        Edition::Seed => assert_rejected(&s, &v, too_long, 2).await,
        Edition::Current => assert_eq!(results(&v), vec![(too_long, 0, C + 2)]),
    }
}

// ---- restricted words ----

#[rstest]
#[case::text(json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": "this is ForBidden text"}}))]
#[case::custom_data(json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": "FORBIDDEN"}}))]
#[case::custom_desc(json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d", "Desc": "a forbiddenword"}}))]
#[case::custom_ext(json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d", "Ext": "xforbiddenx"}}))]
#[case::location_desc(json!({"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "Forbidden City", "Latitude": 39.9, "Longitude": 116.4}}))]
#[tokio::test]
async fn restricted_words(
    #[context] ctx: Context,
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] element: Value,
) {
    let s = server(edition).await;
    let bad = json!({"From_Account": "a", "SendTime": C + 2, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}, element]});
    let v = s
        .import(
            GROUP,
            vec![
                text_msg("a", C + 1, "clean"),
                bad,
                text_msg("a", C + 3, "clean too"),
            ],
        )
        .await;
    match edition {
        Edition::Seed => {
            assert_rejected(&s, &v, 80001, 1).await;
            assert!(
                v["ErrorInfo"]
                    .as_str()
                    .unwrap()
                    .starts_with("MsgList[1].MsgBody[1].MsgContent:"),
                "{v}"
            );
            assert!(
                !v["ErrorInfo"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains("forbidden"),
                "the word is not echoed: {v}"
            );
        }
        Edition::Current => {
            assert_eq!(
                results(&v),
                vec![(0, 1, C + 1), (80001, 0, C + 2), (0, 2, C + 3)],
                "{v}"
            );
            assert_eq!(s.all_messages(GROUP).await.len(), 2);
        }
    }
    if ctx.description == Some("text") {
        snap(&format!("words_{edition}"), &v);
    }
}

/// File names are checked too (current edition: File elements are importable).
#[tokio::test]
async fn restricted_words_in_file_name() {
    let s = server(Edition::Current).await;
    let file = json!({"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://x/f", "UUID": "u1", "FileSize": 1, "FileName": "forbidden.txt", "Download_Flag": 2}});
    let v = s
        .import(
            GROUP,
            vec![json!({"From_Account": "a", "SendTime": C + 1, "MsgBody": [file]})],
        )
        .await;
    assert_eq!(results(&v), vec![(80001, 0, C + 1)]);
}

/// Per-message rules apply in message order; within a message time comes before size and words.
#[rstest]
#[case::seed_words_then_time(Edition::Seed, vec![(C + 1, "forbidden", 0), (NOW + 1, "", 0)], 80001, vec![])]
#[case::seed_time_then_size(Edition::Seed, vec![(C + 1, "", 0), (NOW + 1, "", 8001)], 10004, vec![])]
#[case::seed_size_then_words(Edition::Seed, vec![(C + 1, "", 8001), (C + 2, "forbidden", 0)], 10020, vec![])]
#[case::current_time_over_size(Edition::Current, vec![(NOW + 1, "", 8001)], 0, vec![10004])]
#[case::current_time_over_words(Edition::Current, vec![(C, "forbidden", 0)], 0, vec![10004])]
#[case::current_size_over_words(Edition::Current, vec![(C + 1, "forbidden", 8001)], 0, vec![80002])]
#[tokio::test]
async fn per_message_rule_order(
    #[case] edition: Edition,
    #[case] msgs: Vec<(i64, &str, usize)>,
    #[case] expected: u64,
    #[case] per_message: Vec<u64>,
) {
    let s = server(edition).await;
    let list = msgs
        .iter()
        .map(|&(t, prefix, size)| match size {
            0 => text_msg("a", t, &format!("{prefix} text")),
            n => msg_of_size_with(t, n, prefix),
        })
        .collect();
    let v = s.import(GROUP, list).await;
    assert_eq!(code(&v), expected, "{v}");
    if expected == 0 {
        let got: Vec<u64> = results(&v).into_iter().map(|r| r.0).collect();
        assert_eq!(got, per_message);
    } else {
        assert_rejected(&s, &v, expected, 1).await;
    }
}

// ---- MsgSeq, MsgTime ----

#[rstest]
#[tokio::test]
async fn msg_seq_increases_across_calls(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = server_on(edition, backend).await;
    let batches = [vec![C + 1, C + 2], vec![C + 2, C + 5, C + 9], vec![C + 100]];
    let mut seq = 0;
    for times in batches {
        let v = s.import(GROUP, at(&times)).await;
        assert_eq!(code(&v), 0, "{v}");
        for ((res, got_seq, time), t) in results(&v).into_iter().zip(&times) {
            seq += 1;
            assert_eq!(
                (res, got_seq, time),
                (0, seq, *t),
                "MsgSeq from 1, +1 per message; MsgTime = SendTime"
            );
        }
    }
    let info = s.info(GROUP).await;
    assert_eq!(info["NextMsgSeq"], 7);
    assert_eq!(info["LastMsgTime"], C + 100);
    let h = s.all_messages(GROUP).await;
    let seqs: Vec<u64> = h.iter().map(|m| m["MsgSeq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![6, 5, 4, 3, 2, 1]);
}

#[rstest]
#[case::seed(Edition::Seed)]
#[case::current(Edition::Current)]
#[tokio::test]
async fn success_response(#[case] edition: Edition) {
    let s = server(edition).await;
    // The seed sample: two messages with the same SendTime, the first with a Random.
    let mut first = text_msg("leckie", C + 1, "red packet");
    first["Random"] = json!(8912345);
    first["MsgBody"].as_array_mut().unwrap().push(
        json!({"MsgType": "TIMFaceElem", "MsgContent": {"Index": 6, "Data": "abc\u{0}\u{1}"}}),
    );
    let v = s
        .import(GROUP, vec![first, text_msg("peter", C + 1, "red packet")])
        .await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["ErrorInfo"], "");
    assert_eq!(
        results(&v),
        vec![(0, 1, C + 1), (0, 2, C + 1)],
        "one result per message (Q13)"
    );
    snap(&format!("success_{edition}"), &v);
}

// ---- duplicates (Random) ----

/// A second message with the same supplied `Random` within 300 s of SendTime is a duplicate.
#[rstest]
#[case::same_second(0, true)]
#[case::one_second(1, true)]
#[case::s299(299, true)]
#[case::s300(300, true)]
#[case::s301(301, false)]
#[case::s900(900, false)]
#[tokio::test]
async fn duplicate_window(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] gap: i64,
    #[case] duplicate: bool,
) {
    let s = server(edition).await;
    let t0 = C + 10;
    let mut a = text_msg("leckie", t0, "original");
    a["Random"] = json!(111);
    assert_eq!(results(&s.import(GROUP, vec![a]).await), vec![(0, 1, t0)]);
    // Another sender and another text: the key is (group, Random) only.
    let mut b = text_msg("peter", t0 + gap, "copy");
    b["Random"] = json!(111);
    let v = s.import(GROUP, vec![b]).await;
    let h = s.all_messages(GROUP).await;
    if duplicate {
        assert_eq!(
            results(&v),
            vec![(0, 1, t0)],
            "the original's MsgSeq and MsgTime: {v}"
        );
        assert_eq!(s.next_msg_seq(GROUP).await, 2, "not stored again");
        assert_eq!(h.len(), 1);
        assert_eq!(h[0]["MsgBody"][0]["MsgContent"]["Text"], "original");
    } else {
        assert_eq!(results(&v), vec![(0, 2, t0 + gap)], "{v}");
        assert_eq!(h.len(), 2);
    }
}

#[rstest]
#[tokio::test]
async fn duplicates(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = server_on(edition, backend).await;
    let with_random = |from: &str, t: i64, text: &str, r: u32| {
        let mut m = text_msg(from, t, text);
        m["Random"] = json!(r);
        m
    };
    // Within one batch: the second is a duplicate of the first; a third Random is new.
    let v = s
        .import(
            GROUP,
            vec![
                with_random("a", C + 100, "one", 7),
                with_random("b", C + 150, "two", 7),
                with_random("a", C + 160, "three", 8),
            ],
        )
        .await;
    assert_eq!(
        results(&v),
        vec![(0, 1, C + 100), (0, 1, C + 100), (0, 2, C + 160)],
        "{v}"
    );
    if edition == Edition::Seed {
        snap("duplicate_in_batch", &v);
    }
    // Across calls, 200 s after the original.
    let v = s
        .import(GROUP, vec![with_random("c", C + 300, "four", 7)])
        .await;
    assert_eq!(results(&v), vec![(0, 1, C + 100)], "{v}");
    // 301 s after the original: a new message, which becomes the newest holder of Random 7.
    let v = s
        .import(GROUP, vec![with_random("c", C + 401, "five", 7)])
        .await;
    assert_eq!(results(&v), vec![(0, 3, C + 401)], "{v}");
    let v = s
        .import(GROUP, vec![with_random("c", C + 402, "six", 7)])
        .await;
    assert_eq!(
        results(&v),
        vec![(0, 3, C + 401)],
        "a duplicate of the newer message: {v}"
    );
    // Without Random: never a duplicate, even with the same sender, time and text.
    let v = s
        .import(
            GROUP,
            vec![
                text_msg("d", C + 500, "same"),
                text_msg("d", C + 500, "same"),
            ],
        )
        .await;
    assert_eq!(results(&v), vec![(0, 4, C + 500), (0, 5, C + 500)], "{v}");
    let v = s.import(GROUP, vec![text_msg("d", C + 500, "same")]).await;
    assert_eq!(results(&v), vec![(0, 6, C + 500)], "{v}");
    let h = s.all_messages(GROUP).await;
    let texts: Vec<&str> = h
        .iter()
        .map(|m| m["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["same", "same", "same", "five", "three", "one"]);
    let randoms: Vec<u64> = h.iter().map(|m| m["MsgRandom"].as_u64().unwrap()).collect();
    assert_eq!(
        &randoms[3..],
        &[7, 8, 7],
        "MsgRandom is the supplied Random"
    );
    assert!(
        randoms[..3].iter().all(|&r| r <= u64::from(u32::MAX)),
        "generated randoms are u32: {randoms:?}"
    );
}

/// Re-sending a batch whose reply was lost answers with the original `MsgSeq`s, although its
/// times are now before the group's newest message: duplicates skip the per-message rules.
#[rstest]
#[tokio::test]
async fn resent_batch_gets_original_seqs(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = server_on(edition, backend).await;
    let msg = |t: i64, r: u32| {
        let mut m = text_msg("leckie", t, &format!("r{r}"));
        m["Random"] = json!(r);
        m
    };
    let batch = vec![msg(C + 10, 1), msg(C + 20, 2)];
    assert_eq!(
        results(&s.import(GROUP, batch.clone()).await),
        vec![(0, 1, C + 10), (0, 2, C + 20)]
    );
    assert_eq!(
        results(&s.import(GROUP, vec![msg(C + 30, 3)]).await),
        vec![(0, 3, C + 30)]
    );
    let v = s.import(GROUP, batch.clone()).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(results(&v), vec![(0, 1, C + 10), (0, 2, C + 20)], "{v}");
    assert_eq!(s.next_msg_seq(GROUP).await, 4, "nothing stored again");
    // A re-sent message next to a new one: the new one is checked and stored as usual.
    let v = s
        .import(GROUP, vec![batch[1].clone(), msg(C + 40, 4)])
        .await;
    assert_eq!(results(&v), vec![(0, 2, C + 20), (0, 4, C + 40)], "{v}");
    let v = s
        .import(GROUP, vec![batch[0].clone(), msg(C + 35, 5)])
        .await;
    match edition {
        Edition::Seed => assert_eq!(code(&v), 10004, "C+35 is before the newest (C+40): {v}"),
        Edition::Current => {
            assert_eq!(results(&v), vec![(0, 1, C + 10), (10004, 0, C + 35)], "{v}")
        }
    }
    assert_eq!(s.info(GROUP).await["LastMsgTime"], C + 40);
}

/// Current edition: a message that failed is not an original for later duplicates.
#[tokio::test]
async fn failed_message_is_not_an_original() {
    let s = server(Edition::Current).await;
    let mut bad = msg_of_size(C + 10, 8001);
    bad["Random"] = json!(9);
    let mut good = text_msg("a", C + 20, "good");
    good["Random"] = json!(9);
    let v = s.import(GROUP, vec![bad, good]).await;
    assert_eq!(results(&v), vec![(80002, 0, C + 10), (0, 1, C + 20)], "{v}");
}

#[rstest]
#[case::negative(-1, 10004)]
#[case::too_big(4_294_967_296, 10004)]
#[case::zero(0, 0)]
#[case::max(4_294_967_295, 0)]
#[tokio::test]
async fn random_range(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] random: i64,
    #[case] expected: u64,
) {
    let s = server(edition).await;
    let mut m = text_msg("a", C + 1, "r");
    m["Random"] = json!(random);
    let v = s.import(GROUP, vec![m]).await;
    assert_eq!(code(&v), expected, "{v}");
    if expected != 0 {
        assert!(
            v["ErrorInfo"]
                .as_str()
                .unwrap()
                .starts_with("MsgList[0].Random:"),
            "{v}"
        );
    } else {
        assert_eq!(s.all_messages(GROUP).await[0]["MsgRandom"], random);
    }
}

// ---- unread counts ----

async fn unread(s: &TestServer) -> Vec<(String, u64, u64)> {
    let info = s.info(GROUP).await;
    info["MemberList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Member_Account"].as_str().unwrap().to_owned(),
                m["UnreadMsgNum"].as_u64().unwrap(),
                m["MsgSeq"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[rstest]
#[tokio::test]
async fn import_resets_unread_counts(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = server_on(edition, backend).await;
    assert_eq!(code(&s.import(GROUP, at(&[C + 1, C + 2, C + 3])).await), 0);
    let v = s
        .add_members(
            GROUP,
            json!([
                {"Member_Account": "alice", "JoinTime": C + 1, "UnreadMsgNum": 2},
                {"Member_Account": "bob", "JoinTime": C + 2, "UnreadMsgNum": 10},
                {"Member_Account": "carol", "JoinTime": C + 3}
            ]),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(
        unread(&s).await,
        vec![
            ("alice".into(), 2, 1),
            ("bob".into(), 3, 0),
            ("carol".into(), 0, 3)
        ],
        "UnreadMsgNum clamped to the message count; MsgSeq = last seq - unread"
    );
    let v = s.import(GROUP, at(&[C + 4])).await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(
        unread(&s).await,
        vec![
            ("alice".into(), 0, 4),
            ("bob".into(), 0, 4),
            ("carol".into(), 0, 4)
        ]
    );

    // A rejected request changes nothing; a processed one resets even when every message failed.
    let v = s
        .call(
            Command::SetUnreadMsgNum,
            json!({"GroupId": GROUP, "Member_Account": "alice", "UnreadMsgNum": 3}),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let v = s.import(GROUP, at(&[NOW + 1])).await;
    match edition {
        Edition::Seed => {
            assert_eq!(code(&v), 10004, "{v}");
            assert_eq!(
                unread(&s).await[0],
                ("alice".into(), 3, 1),
                "a FAIL commits nothing"
            );
        }
        Edition::Current => {
            assert_eq!(results(&v), vec![(10004, 0, NOW + 1)]);
            assert_eq!(
                unread(&s).await[0],
                ("alice".into(), 0, 4),
                "reset by a call whose messages all failed (Q17)"
            );
        }
    }
    let v = s.import(GROUP, at(&[C + 2])).await;
    if edition == Edition::Seed {
        assert_eq!(code(&v), 10004, "before the newest message: {v}");
    }
    let v = s.import(GROUP, at(&[C + 5])).await;
    assert_eq!(code(&v), 0);
    assert_eq!(unread(&s).await[0], ("alice".into(), 0, 5));
}

// ---- read-back ----

fn seed_elements() -> Vec<Value> {
    vec![
        json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": "red packet 红包 \u{1F9E7} \"quoted\" \\ / \n tab\t"}}),
        json!({"MsgType": "TIMFaceElem", "MsgContent": {"Index": 6, "Data": "abc\u{0}\u{1}"}}),
        json!({"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "天安门", "Latitude": 39.9042, "Longitude": 116.407396}}),
        json!({"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": 40, "Longitude": -74.5e0}}),
        json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{\"k\":1}", "Desc": "d", "Ext": "e", "Sound": "dingdong.aiff"}}),
        json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": "with extras", "Extra": {"n": [1, 2.5, null, true]}}}),
    ]
}

fn current_only_elements() -> Vec<Value> {
    vec![
        json!({"MsgType": "TIMSoundElem", "MsgContent": {"Url": "https://x/s.m4a", "UUID": "s1", "Size": 100, "Second": 5, "Download_Flag": 2}}),
        json!({"MsgType": "TIMImageElem", "MsgContent": {"UUID": "i1", "ImageFormat": 1, "ImageInfoArray": [
            {"Type": 1, "Size": 1000, "Width": 640, "Height": 480, "URL": "https://x/i1"},
            {"Type": 3, "Size": 10, "Width": 64, "Height": 48, "URL": "https://x/i3"}
        ]}}),
        json!({"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://x/f", "UUID": "f1", "FileSize": 10, "FileName": "a.txt", "Download_Flag": 2}}),
        json!({"MsgType": "TIMVideoFileElem", "MsgContent": {
            "VideoUrl": "https://x/v", "VideoUUID": "v1", "VideoSize": 1, "VideoSecond": 2, "VideoFormat": "mp4", "VideoDownloadFlag": 2,
            "ThumbUrl": "https://x/t", "ThumbUUID": "t1", "ThumbSize": 3, "ThumbWidth": 4, "ThumbHeight": 5, "ThumbFormat": "JPG", "ThumbDownloadFlag": 2
        }}),
    ]
}

#[rstest]
#[tokio::test]
async fn read_back_equals_what_was_sent(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[values(Backend::Memory, Backend::Sqlite)] backend: Backend,
) {
    let s = server_on(edition, backend).await;
    let mut elements = seed_elements();
    if edition == Edition::Current {
        elements.extend(current_only_elements());
    }
    let mut sent = Vec::new();
    for (i, e) in elements.iter().enumerate() {
        let mut m = json!({"From_Account": format!("user{i}"), "SendTime": C + 1 + i as i64, "Random": 1000 + i, "MsgBody": [e]});
        if i % 2 == 0 {
            m["CloudCustomData"] = json!(format!("ccd-{i}"));
        }
        if i == 1 {
            m["TopicId"] = json!("ignored");
        }
        sent.push(m);
    }
    // One multi-element message, without Random.
    sent.push(json!({"From_Account": "multi", "SendTime": C + 100, "MsgBody": seed_elements()}));
    for chunk in sent.chunks(5) {
        let v = s.import(GROUP, chunk.to_vec()).await;
        assert_eq!(code(&v), 0, "{v}");
        assert!(results(&v).iter().all(|r| r.0 == 0), "{v}");
    }
    let mut got = s.all_messages(GROUP).await;
    got.reverse();
    assert_eq!(got.len(), sent.len());
    for (i, (g, m)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(
            g["MsgBody"], m["MsgBody"],
            "message {i}: MsgBody reads back as sent"
        );
        assert_eq!(g["From_Account"], m["From_Account"]);
        assert_eq!(g["MsgSeq"], i as u64 + 1);
        assert_eq!(g["MsgTimeStamp"], m["SendTime"]);
        assert_eq!(g["IsPlaceMsg"], 0);
        assert_eq!(
            g.get("CloudCustomData"),
            m.get("CloudCustomData"),
            "message {i}"
        );
        match m.get("Random") {
            Some(r) => assert_eq!(&g["MsgRandom"], r),
            None => assert!(g["MsgRandom"].is_u64(), "a generated random: {g}"),
        }
    }
    if edition == Edition::Seed && backend == Backend::Memory {
        // Messages with a supplied Random only, so that the snapshot does not depend on the RNG.
        let v = s.history(GROUP, 6, Some(6)).await;
        snap("read_back_seq_1_to_6", &v);
    }
}

// ---- message and element rules ----

#[rstest]
#[case::unknown_msg_type(json!({"MsgType": "TIMFooElem", "MsgContent": {}}), "MsgList[0].MsgBody[0].MsgType")]
#[case::two_custom_elems(json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "1"}}, {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "2"}}]), "MsgList[0].MsgBody")]
#[case::latitude_out_of_range(json!({"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": 91, "Longitude": 0}}), "MsgList[0].MsgBody[0].MsgContent.Latitude")]
#[case::longitude_out_of_range(json!({"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": 0, "Longitude": -180.5}}), "MsgList[0].MsgBody[0].MsgContent.Longitude")]
#[case::sound_without_flag(json!({"MsgType": "TIMSoundElem", "MsgContent": {"Url": "u", "UUID": "x"}}), "MsgList[0].MsgBody[0]")]
#[case::image_without_infos(json!({"MsgType": "TIMImageElem", "MsgContent": {"UUID": "x", "ImageInfoArray": []}}), "MsgList[0].MsgBody[0]")]
#[tokio::test]
async fn element_rules(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] body: Value,
    #[case] path: &str,
) {
    let s = server(edition).await;
    let body = if body.is_array() { body } else { json!([body]) };
    let v = s
        .import(
            GROUP,
            vec![json!({"From_Account": "a", "SendTime": C + 1, "MsgBody": body})],
        )
        .await;
    assert_rejected(&s, &v, 10004, 1).await;
    assert!(
        v["ErrorInfo"].as_str().unwrap().starts_with(path),
        "{path}: {v}"
    );
}

/// The seed edition imports only the four element types its page lists.
#[rstest]
#[tokio::test]
async fn seed_refuses_current_only_elements(#[values(0, 1, 2, 3)] i: usize) {
    let s = server(Edition::Seed).await;
    let e = current_only_elements().remove(i);
    let v = s
        .import(
            GROUP,
            vec![json!({"From_Account": "a", "SendTime": C + 1, "MsgBody": [e]})],
        )
        .await;
    assert_rejected(&s, &v, 10004, 1).await;
    let info = v["ErrorInfo"].as_str().unwrap();
    assert!(
        info.starts_with("MsgList[0].MsgBody[0].MsgType:") && info.contains("seed"),
        "{info}"
    );
    if i == 0 {
        snap("seed_refuses_sound", &v);
    }
}

#[rstest]
#[case::empty("", 10004)]
#[case::too_long("abcdefghijabcdefghijabcdefghijabc", 10004)]
#[case::longest_ok("abcdefghijabcdefghijabcdefghijab", 0)]
#[case::not_ascii("张三", 10004)]
#[case::not_a_member("stranger", 0)]
#[tokio::test]
async fn from_account(
    #[values(Edition::Seed, Edition::Current)] edition: Edition,
    #[case] from: &str,
    #[case] expected: u64,
) {
    let s = server(edition).await;
    let v = s.import(GROUP, vec![text_msg(from, C + 1, "x")]).await;
    assert_eq!(code(&v), expected, "{v}");
    if expected != 0 {
        assert!(
            v["ErrorInfo"]
                .as_str()
                .unwrap()
                .starts_with("MsgList[0].From_Account:"),
            "{v}"
        );
    } else {
        assert_eq!(s.all_messages(GROUP).await[0]["From_Account"], from);
    }
}

#[rstest]
#[case::seed_0(Edition::Seed, 0, 0)]
#[case::seed_1(Edition::Seed, 1, 0)]
#[case::seed_2_ignored(Edition::Seed, 2, 0)]
#[case::current_0(Edition::Current, 0, 0)]
#[case::current_1(Edition::Current, 1, 0)]
#[case::current_2(Edition::Current, 2, 10004)]
#[case::current_negative(Edition::Current, -1, 10004)]
#[tokio::test]
async fn recent_contact_flag(#[case] edition: Edition, #[case] flag: i64, #[case] expected: u64) {
    let s = server(edition).await;
    let v = s
        .call(
            Command::ImportGroupMsg,
            json!({"GroupId": GROUP, "RecentContactFlag": flag, "MsgList": at(&[C + 1])}),
        )
        .await;
    assert_eq!(code(&v), expected, "{v}");
    if expected != 0 {
        assert!(
            v["ErrorInfo"]
                .as_str()
                .unwrap()
                .starts_with("RecentContactFlag:"),
            "{v}"
        );
    }
}

/// Up to ten problems are listed in `ErrorInfo`, each as `path: what is wrong`.
#[tokio::test]
async fn error_info_lists_up_to_ten_problems() {
    let s = server(Edition::Seed).await;
    let msgs: Vec<Value> = (0..12).map(|i| text_msg("", C + 1 + i, "x")).collect();
    let v = s.import(GROUP, msgs).await;
    assert_rejected(&s, &v, 10004, 1).await;
    let info = v["ErrorInfo"].as_str().unwrap();
    let parts: Vec<&str> = info.split("; ").collect();
    assert_eq!(parts.len(), 11, "{info}");
    for (i, p) in parts[..10].iter().enumerate() {
        assert!(
            p.starts_with(&format!("MsgList[{i}].From_Account: ")),
            "{p}"
        );
    }
    assert_eq!(parts[10], "and 2 more problems");
    snap("ten_problems", &v);
}
