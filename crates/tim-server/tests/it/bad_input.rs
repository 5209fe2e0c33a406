//! Malformed requests: every one gets HTTP 200 and the documented envelope code (behaviour.md
//! "Gateway": body not JSON 60003, wrong shape 10004 with the JSON path, too large 10004), and the
//! server never panics or stops serving.
//!
//! Documented outcomes of the grey cases (what the server does, asserted below):
//! - a UTF-8 BOM before the JSON is not skipped: 60003;
//! - invalid UTF-8 anywhere, also in a field or key the server ignores, is 60003 (RFC 8259 §8.1);
//! - duplicate keys in an object are a shape error: 10004 `duplicate field`;
//! - an escaped NUL (`\u0000`) in a text is accepted and stored; a raw NUL byte anywhere is 60003;
//! - whitespace only is 60003 (empty JSON); 2 MB of whitespace is over the 1 MiB limit: 10004;
//! - a lone UTF-16 surrogate escape (`\ud800`) is 60003;
//! - numbers: `SendTime`/`Random` as floats (even `1.7e9`) or beyond i64 are 10004;
//! - unknown top-level and per-message fields are accepted and ignored.

use std::io::{Read, Write};
use std::time::Duration;

use rstest::rstest;
use serde_json::{json, Value};
use tim_model::Command;

use crate::support::{code, text_msg_r, TestServer, NOW};

/// The group every case imports into (created `CREATE` ago).
const GROUP: &str = "g1";
const CREATE: i64 = NOW - 1000;
/// A valid message; the cases break one thing each.
const MSG: &str = r#"{"From_Account":"alice","SendTime":1699999990,"Random":5,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}"#;

/// A request body expected to fail (or succeed) in a stated way.
struct Case {
    command: Command,
    body: Vec<u8>,
    /// Acceptable `ErrorCode`s.
    codes: &'static [u64],
    /// Substrings `ErrorInfo` must contain.
    info: &'static [&'static str],
}

/// `{"GroupId":"g1","MsgList":[msg]}`.
fn req(msg: &str) -> Vec<u8> {
    format!(r#"{{"GroupId":"{GROUP}","MsgList":[{msg}]}}"#).into_bytes()
}

/// [`MSG`] with `from` replaced by `to` (which must occur).
fn msg_with(from: &str, to: &str) -> String {
    assert!(MSG.contains(from), "{from} is in MSG");
    MSG.replacen(from, to, 1)
}

/// `body` with every BEL byte (0x07) replaced by the invalid UTF-8 sequence `C3 28` (a lead
/// byte followed by a non-continuation byte).
fn bad_utf8(body: &[u8]) -> Vec<u8> {
    body.iter()
        .flat_map(|&b| if b == 0x07 { vec![0xc3, 0x28] } else { vec![b] })
        .collect()
}

fn import(body: Vec<u8>, codes: &'static [u64], info: &'static [&'static str]) -> Case {
    Case {
        command: Command::ImportGroupMsg,
        body,
        codes,
        info,
    }
}

fn other(
    command: Command,
    body: &str,
    codes: &'static [u64],
    info: &'static [&'static str],
) -> Case {
    Case {
        command,
        body: body.as_bytes().to_vec(),
        codes,
        info,
    }
}

/// Every case of the table, by name. Keep in sync with [`NAMES`] and the `#[case]` list.
fn case(name: &str) -> Case {
    const SYNTAX: &[u64] = &[60003];
    const SHAPE: &[u64] = &[10004];
    const OK: &[u64] = &[0];
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    match name {
        // Not JSON at all.
        "not_json" => import(b"hello".to_vec(), SYNTAX, &[]),
        "truncated" => import(br#"{"GroupId":"g1","MsgList":[{"From_Account":"al"#.to_vec(), SYNTAX, &[]),
        "empty" => import(Vec::new(), SYNTAX, &[]),
        "whitespace_only" => import(b" \n\t\r ".repeat(200), SYNTAX, &[]),
        "trailing_garbage" => import([req(MSG), b" x".to_vec()].concat(), SYNTAX, &[]),
        "invalid_utf8_in_string" => import(req(&msg_with("\"hi\"", "\"h\u{1}i\"")).iter().map(|&b| if b == 1 { 0xff } else { b }).collect(), SYNTAX, &[]),
        // Invalid UTF-8 where the server reads nothing is still not JSON (RFC 8259 §8.1).
        "invalid_utf8_in_ignored_field" => import(bad_utf8(&req(&msg_with("\"Random\":5", "\"Random\":5,\"Unknown\":\"\x07\""))), SYNTAX, &["UTF-8"]),
        "invalid_utf8_in_unknown_key" => import(bad_utf8(&req(&msg_with("\"Random\":5", "\"Random\":5,\"\x07\":1"))), SYNTAX, &["UTF-8"]),
        "invalid_utf8_in_ignored_member_field" => Case { command: Command::ImportGroupMember, body: bad_utf8(b"{\"GroupId\":\"g1\",\"MemberList\":[{\"Member_Account\":\"u8\",\"Note\":\"\x07\"}]}"), codes: SYNTAX, info: &["UTF-8"] },
        "lone_surrogate" => import(req(&msg_with("\"hi\"", r#""\ud800""#)), SYNTAX, &[]),
        "nul_bytes" => import(vec![0; 64], SYNTAX, &[]),
        "raw_nul_in_string" => import(req(&msg_with("\"hi\"", "\"h\0i\"")), SYNTAX, &[]),
        "utf8_bom" => import([b"\xEF\xBB\xBF".to_vec(), req(MSG)].concat(), SYNTAX, &[]),
        "deep_array_in_msg_content" => import(req(&msg_with(r#"{"Text":"hi"}"#, &deep_array)), &[60003, 10004], &[]),
        "deep_object_in_msg_content" => import(req(&msg_with(r#"{"Text":"hi"}"#, &deep_object)), &[60003, 10004], &[]),
        "deep_array_at_root" => import(deep_array.into_bytes(), &[60003, 10004], &[]),
        // JSON, but not an object.
        "root_array" => import(b"[]".to_vec(), SHAPE, &[]),
        "root_number" => import(b"42".to_vec(), SHAPE, &[]),
        "root_string" => import(br#""import""#.to_vec(), SHAPE, &[]),
        "root_null" => import(b"null".to_vec(), SHAPE, &[]),
        "root_bool" => import(b"true".to_vec(), SHAPE, &[]),
        // Wrong types, with the JSON path.
        "send_time_string" => import(req(&msg_with("1699999990", "\"1699999990\"")), SHAPE, &["MsgList[0].SendTime"]),
        "send_time_float" => import(req(&msg_with("1699999990", "1.69999999e9")), SHAPE, &["MsgList[0].SendTime"]),
        "send_time_huge" => import(req(&msg_with("1699999990", "1e30")), SHAPE, &["MsgList[0].SendTime"]),
        "send_time_over_i64" => import(req(&msg_with("1699999990", "9223372036854775808")), SHAPE, &["MsgList[0].SendTime"]),
        "send_time_null" => import(req(&msg_with("1699999990", "null")), SHAPE, &["MsgList[0].SendTime"]),
        "msg_list_object" => import(format!(r#"{{"GroupId":"{GROUP}","MsgList":{MSG}}}"#).into_bytes(), SHAPE, &["MsgList"]),
        "msg_body_object" => import(req(&msg_with(r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]"#, r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}"#)), SHAPE, &["MsgList[0].MsgBody"]),
        "msg_content_string" => import(req(&msg_with(r#"{"Text":"hi"}"#, r#""hi""#)), SHAPE, &["MsgList[0].MsgBody[0]", "MsgContent"]),
        "text_number" => import(req(&msg_with(r#""Text":"hi""#, r#""Text":5"#)), SHAPE, &["MsgList[0].MsgBody[0]", "Text"]),
        "random_float" => import(req(&msg_with("\"Random\":5", "\"Random\":1.5")), SHAPE, &["MsgList[0].Random"]),
        "random_string" => import(req(&msg_with("\"Random\":5", "\"Random\":\"5\"")), SHAPE, &["MsgList[0].Random"]),
        "random_huge" => import(req(&msg_with("\"Random\":5", "\"Random\":99999999999999999999")), SHAPE, &["MsgList[0].Random"]),
        "random_over_u32" => import(req(&msg_with("\"Random\":5", "\"Random\":4294967296")), SHAPE, &["MsgList[0].Random"]),
        "random_negative" => import(req(&msg_with("\"Random\":5", "\"Random\":-1")), SHAPE, &["MsgList[0].Random"]),
        "group_id_number" => import(format!(r#"{{"GroupId":5,"MsgList":[{MSG}]}}"#).into_bytes(), SHAPE, &["GroupId"]),
        "from_account_array" => import(req(&msg_with(r#""alice""#, r#"["alice"]"#)), SHAPE, &["MsgList[0].From_Account"]),
        // Values out of range.
        "send_time_negative" => import(req(&msg_with("1699999990", "-1699999990")), SHAPE, &["MsgList[0].SendTime"]),
        "send_time_zero" => import(req(&msg_with("1699999990", "0")), SHAPE, &["MsgList[0].SendTime"]),
        "send_time_future" => import(req(&msg_with("1699999990", "1700000001")), SHAPE, &["MsgList[0].SendTime"]),
        "empty_msg_list" => import(format!(r#"{{"GroupId":"{GROUP}","MsgList":[]}}"#).into_bytes(), SHAPE, &["MsgList"]),
        "empty_msg_body" => import(req(&msg_with(r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]"#, "[]")), SHAPE, &["MsgList[0].MsgBody"]),
        "nul_escape_in_from_account" => import(req(&msg_with(r#""alice""#, r#""al\u0000ice""#)), SHAPE, &["MsgList[0].From_Account"]),
        "group_id_too_long" => import(format!(r#"{{"GroupId":"{}","MsgList":[{MSG}]}}"#, "g".repeat(49)).into_bytes(), &[10015], &["GroupId"]),
        "group_id_control_char" => import(format!(r#"{{"GroupId":"g\u0001","MsgList":[{MSG}]}}"#).into_bytes(), &[10015], &["GroupId"]),
        // Missing fields, named.
        "missing_group_id" => import(format!(r#"{{"MsgList":[{MSG}]}}"#).into_bytes(), SHAPE, &["GroupId"]),
        "missing_msg_list" => import(format!(r#"{{"GroupId":"{GROUP}"}}"#).into_bytes(), SHAPE, &["MsgList"]),
        "missing_from_account" => import(req(&msg_with(r#""From_Account":"alice","#, "")), SHAPE, &["From_Account"]),
        "missing_send_time" => import(req(&msg_with(r#""SendTime":1699999990,"#, "")), SHAPE, &["SendTime"]),
        "missing_msg_body" => import(req(&msg_with(r#","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]"#, "")), SHAPE, &["MsgBody"]),
        "missing_msg_content" => import(req(&msg_with(r#","MsgContent":{"Text":"hi"}"#, "")), SHAPE, &["MsgContent"]),
        "missing_msg_type" => import(req(&msg_with(r#""MsgType":"TIMTextElem","#, "")), SHAPE, &["MsgType"]),
        "missing_text" => import(req(&msg_with(r#""Text":"hi""#, "")), SHAPE, &["Text"]),
        // Element rules.
        "unknown_element" => import(req(&msg_with("TIMTextElem", "TIMHologramElem")), SHAPE, &["MsgList[0].MsgBody[0].MsgType", "TIMHologramElem"]),
        "seed_refuses_image" => import(req(&msg_with(r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}"#, r#"{"MsgType":"TIMImageElem","MsgContent":{"UUID":"u","ImageFormat":1,"ImageInfoArray":[{"Type":1,"Size":1,"Width":1,"Height":1,"URL":"http://x"}]}}"#)), SHAPE, &["MsgList[0].MsgBody[0].MsgType"]),
        // Grey areas, documented in the module comment.
        "duplicate_top_level_key" => import(format!(r#"{{"GroupId":"{GROUP}","GroupId":"{GROUP}","MsgList":[{MSG}]}}"#).into_bytes(), SHAPE, &["duplicate field", "GroupId"]),
        "duplicate_message_key" => import(req(&msg_with(r#""SendTime":1699999990,"#, r#""SendTime":1699999990,"SendTime":1699999990,"#)), SHAPE, &["duplicate field", "SendTime"]),
        "nul_escape_in_text" => import(req(&msg_with("\"hi\"", r#""h\u0000i""#)), OK, &[]),
        "extra_fields" => import(format!(r#"{{"GroupId":"{GROUP}","TopicId":"t","Frobnicate":[1,{{"x":null}}],"MsgList":[{}]}}"#, msg_with("\"Random\":5", "\"Random\":5,\"Unknown\":{\"deep\":[true]},\"MsgPriority\":\"High\"")).into_bytes(), OK, &[]),
        // Sizes (1 MiB limit).
        "whitespace_2mb" => import(vec![b' '; 2 << 20], SHAPE, &["bytes"]),
        "body_10mb" => import(req(&msg_with("\"hi\"", &format!("\"{}\"", "x".repeat(10 << 20)))), SHAPE, &["bytes"]),
        // Other commands.
        "get_group_info_list_string" => other(Command::GetGroupInfo, r#"{"GroupIdList":"g1"}"#, SHAPE, &["GroupIdList"]),
        "get_group_info_empty_body" => other(Command::GetGroupInfo, "", SYNTAX, &[]),
        "get_group_info_list_of_numbers" => other(Command::GetGroupInfo, r#"{"GroupIdList":[1,2]}"#, SHAPE, &["GroupIdList[0]"]),
        "history_number_string" => other(Command::GroupMsgGetSimple, r#"{"GroupId":"g1","ReqMsgNumber":"20"}"#, SHAPE, &["ReqMsgNumber"]),
        "history_negative_seq" => other(Command::GroupMsgGetSimple, r#"{"GroupId":"g1","ReqMsgNumber":20,"ReqMsgSeq":-1}"#, SHAPE, &["ReqMsgSeq"]),
        "import_group_root_array" => other(Command::ImportGroup, "[]", SHAPE, &[]),
        "import_group_not_json" => other(Command::ImportGroup, "{Type: Public}", SYNTAX, &[]),
        "import_group_create_time_string" => other(Command::ImportGroup, r#"{"Type":"Public","Name":"n","CreateTime":"now"}"#, SHAPE, &["CreateTime"]),
        "import_member_missing_list" => other(Command::ImportGroupMember, r#"{"GroupId":"g1"}"#, SHAPE, &["MemberList"]),
        "set_unread_huge" => other(Command::SetUnreadMsgNum, r#"{"GroupId":"g1","Member_Account":"a","UnreadMsgNum":1e30}"#, SHAPE, &["UnreadMsgNum"]),
        "destroy_group_truncated" => other(Command::DestroyGroup, r#"{"GroupId":"g"#, SYNTAX, &[]),
        "create_group_member_list_object" => other(Command::CreateGroup, r#"{"Type":"Public","Name":"n","MemberList":{}}"#, SHAPE, &["MemberList"]),
        other => panic!("unknown case {other}"),
    }
}

/// Every case name (the shared-server test runs them all on one server).
const NAMES: &[&str] = &[
    "not_json",
    "truncated",
    "empty",
    "whitespace_only",
    "trailing_garbage",
    "invalid_utf8_in_string",
    "invalid_utf8_in_ignored_field",
    "invalid_utf8_in_unknown_key",
    "invalid_utf8_in_ignored_member_field",
    "lone_surrogate",
    "nul_bytes",
    "raw_nul_in_string",
    "utf8_bom",
    "deep_array_in_msg_content",
    "deep_object_in_msg_content",
    "deep_array_at_root",
    "root_array",
    "root_number",
    "root_string",
    "root_null",
    "root_bool",
    "send_time_string",
    "send_time_float",
    "send_time_huge",
    "send_time_over_i64",
    "send_time_null",
    "msg_list_object",
    "msg_body_object",
    "msg_content_string",
    "text_number",
    "random_float",
    "random_string",
    "random_huge",
    "random_over_u32",
    "random_negative",
    "group_id_number",
    "from_account_array",
    "send_time_negative",
    "send_time_zero",
    "send_time_future",
    "empty_msg_list",
    "empty_msg_body",
    "nul_escape_in_from_account",
    "group_id_too_long",
    "group_id_control_char",
    "missing_group_id",
    "missing_msg_list",
    "missing_from_account",
    "missing_send_time",
    "missing_msg_body",
    "missing_msg_content",
    "missing_msg_type",
    "missing_text",
    "unknown_element",
    "seed_refuses_image",
    "duplicate_top_level_key",
    "duplicate_message_key",
    "nul_escape_in_text",
    "extra_fields",
    "whitespace_2mb",
    "body_10mb",
    "get_group_info_list_string",
    "get_group_info_empty_body",
    "get_group_info_list_of_numbers",
    "history_number_string",
    "history_negative_seq",
    "import_group_root_array",
    "import_group_not_json",
    "import_group_create_time_string",
    "import_member_missing_list",
    "set_unread_huge",
    "destroy_group_truncated",
    "create_group_member_list_object",
];

/// A seed-edition server with the group [`GROUP`].
async fn server() -> TestServer {
    let s = TestServer::start().await;
    s.group(GROUP, "Public", CREATE).await;
    s
}

/// Posts a case's body and checks the envelope.
async fn check(s: &TestServer, name: &str) {
    let c = case(name);
    let v = s.raw("POST", &c.command.path(), &s.query(), c.body).await;
    let got = code(&v);
    assert!(
        c.codes.contains(&got),
        "{name}: ErrorCode {got}, expected one of {:?}: {v}",
        c.codes
    );
    let info = v["ErrorInfo"].as_str().expect("ErrorInfo is a string");
    eprintln!(
        "{name}: {got} {}",
        info.chars().take(160).collect::<String>()
    );
    for want in c.info {
        assert!(
            info.contains(want),
            "{name}: ErrorInfo lacks {want:?}: {info}"
        );
    }
    assert!(
        v["RequestId"]
            .as_str()
            .is_some_and(|id| id.starts_with("Id-")),
        "{name}: {v}"
    );
    if got == 0 {
        assert_eq!(v["ActionStatus"], "OK", "{name}: {v}");
    } else {
        assert_eq!(v["ActionStatus"], "FAIL", "{name}: {v}");
        assert!(
            v.get("ImportMsgResult").is_none(),
            "{name}: no results on FAIL: {v}"
        );
        assert!(
            info.len() < 4096,
            "{name}: ErrorInfo stays short ({} bytes)",
            info.len()
        );
    }
}

/// Asserts the server still imports a valid message (at the clock's time, so that no earlier
/// accepted message is in the way) and returns its `MsgSeq`.
async fn still_serves(s: &TestServer, random: u32) -> u64 {
    let v = s
        .call(
            Command::ImportGroupMsg,
            json!({"GroupId": GROUP, "MsgList": [text_msg_r("alice", NOW, random, "still here")]}),
        )
        .await;
    assert_eq!(code(&v), 0, "the server still serves: {v}");
    v["ImportMsgResult"][0]["MsgSeq"].as_u64().unwrap()
}

#[rstest]
#[case::not_json("not_json")]
#[case::truncated("truncated")]
#[case::empty("empty")]
#[case::whitespace_only("whitespace_only")]
#[case::trailing_garbage("trailing_garbage")]
#[case::invalid_utf8_in_string("invalid_utf8_in_string")]
#[case::invalid_utf8_in_ignored_field("invalid_utf8_in_ignored_field")]
#[case::invalid_utf8_in_unknown_key("invalid_utf8_in_unknown_key")]
#[case::invalid_utf8_in_ignored_member_field("invalid_utf8_in_ignored_member_field")]
#[case::lone_surrogate("lone_surrogate")]
#[case::nul_bytes("nul_bytes")]
#[case::raw_nul_in_string("raw_nul_in_string")]
#[case::utf8_bom("utf8_bom")]
#[case::deep_array_in_msg_content("deep_array_in_msg_content")]
#[case::deep_object_in_msg_content("deep_object_in_msg_content")]
#[case::deep_array_at_root("deep_array_at_root")]
#[case::root_array("root_array")]
#[case::root_number("root_number")]
#[case::root_string("root_string")]
#[case::root_null("root_null")]
#[case::root_bool("root_bool")]
#[case::send_time_string("send_time_string")]
#[case::send_time_float("send_time_float")]
#[case::send_time_huge("send_time_huge")]
#[case::send_time_over_i64("send_time_over_i64")]
#[case::send_time_null("send_time_null")]
#[case::msg_list_object("msg_list_object")]
#[case::msg_body_object("msg_body_object")]
#[case::msg_content_string("msg_content_string")]
#[case::text_number("text_number")]
#[case::random_float("random_float")]
#[case::random_string("random_string")]
#[case::random_huge("random_huge")]
#[case::random_over_u32("random_over_u32")]
#[case::random_negative("random_negative")]
#[case::group_id_number("group_id_number")]
#[case::from_account_array("from_account_array")]
#[case::send_time_negative("send_time_negative")]
#[case::send_time_zero("send_time_zero")]
#[case::send_time_future("send_time_future")]
#[case::empty_msg_list("empty_msg_list")]
#[case::empty_msg_body("empty_msg_body")]
#[case::nul_escape_in_from_account("nul_escape_in_from_account")]
#[case::group_id_too_long("group_id_too_long")]
#[case::group_id_control_char("group_id_control_char")]
#[case::missing_group_id("missing_group_id")]
#[case::missing_msg_list("missing_msg_list")]
#[case::missing_from_account("missing_from_account")]
#[case::missing_send_time("missing_send_time")]
#[case::missing_msg_body("missing_msg_body")]
#[case::missing_msg_content("missing_msg_content")]
#[case::missing_msg_type("missing_msg_type")]
#[case::missing_text("missing_text")]
#[case::unknown_element("unknown_element")]
#[case::seed_refuses_image("seed_refuses_image")]
#[case::duplicate_top_level_key("duplicate_top_level_key")]
#[case::duplicate_message_key("duplicate_message_key")]
#[case::nul_escape_in_text("nul_escape_in_text")]
#[case::extra_fields("extra_fields")]
#[case::whitespace_2mb("whitespace_2mb")]
#[case::body_10mb("body_10mb")]
#[case::get_group_info_list_string("get_group_info_list_string")]
#[case::get_group_info_empty_body("get_group_info_empty_body")]
#[case::get_group_info_list_of_numbers("get_group_info_list_of_numbers")]
#[case::history_number_string("history_number_string")]
#[case::history_negative_seq("history_negative_seq")]
#[case::import_group_root_array("import_group_root_array")]
#[case::import_group_not_json("import_group_not_json")]
#[case::import_group_create_time_string("import_group_create_time_string")]
#[case::import_member_missing_list("import_member_missing_list")]
#[case::set_unread_huge("set_unread_huge")]
#[case::destroy_group_truncated("destroy_group_truncated")]
#[case::create_group_member_list_object("create_group_member_list_object")]
#[tokio::test]
async fn malformed_request(#[case] name: &str) {
    let s = server().await;
    check(&s, name).await;
    still_serves(&s, 1).await;
}

/// The whole table against one server, then a valid request: nothing accumulated breaks it, and
/// only the cases meant to succeed stored anything.
#[tokio::test]
async fn whole_table_on_one_server_then_still_serves() {
    let s = server().await;
    for name in NAMES {
        check(&s, name).await;
    }
    // "nul_escape_in_text" and "extra_fields" both store Random 5 (the second is a duplicate).
    assert_eq!(still_serves(&s, 1).await, 2);
}

#[test]
fn table_names_are_unique_and_known() {
    let mut seen = std::collections::BTreeSet::new();
    for name in NAMES {
        assert!(seen.insert(*name), "duplicate case name {name}");
        let _ = case(name);
    }
}

/// A body beyond the 64 MiB drain limit: the connection may be closed instead of answered, but
/// the server keeps serving.
#[tokio::test]
async fn body_beyond_drain_limit_then_still_serves() {
    let s = server().await;
    let body = vec![b' '; 65 << 20];
    let url = s.url(&Command::ImportGroupMsg.path(), &s.query());
    match s.http.post(url).body(body).send().await {
        Ok(resp) => {
            assert_eq!(resp.status(), 200);
            if let Ok(v) = resp.json::<Value>().await {
                assert_eq!(code(&v), 10004, "{v}");
            }
        }
        Err(e) => eprintln!("65 MiB body: connection closed ({e})"),
    }
    still_serves(&s, 1).await;
}

/// A chunked body without `Content-Length`, over the limit: the size check still applies.
#[tokio::test]
async fn chunked_oversized_body_gets_the_envelope() {
    let s = server().await;
    let target = format!(
        "{}?{}",
        Command::ImportGroupMsg.path(),
        s.query().to_query_string()
    );
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.addr
    )
    .into_bytes();
    let chunk = vec![b' '; 64 << 10];
    for _ in 0..32 {
        req.extend(format!("{:x}\r\n", chunk.len()).bytes());
        req.extend(&chunk);
        req.extend(b"\r\n");
    }
    req.extend(b"0\r\n\r\n");
    let resp = exchange(s.addr, req).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""ErrorCode":10004"#), "{resp}");
    still_serves(&s, 1).await;
}

/// Garbage that is not HTTP at all: the connection is refused at the HTTP layer (no envelope is
/// possible), and the server keeps serving.
#[tokio::test]
async fn non_http_garbage_then_still_serves() {
    let s = server().await;
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"GARBAGE\r\n\r\n",
        b"\0\0\0\0\r\n\r\n",
    ] {
        let resp = exchange(s.addr, garbage.to_vec()).await;
        assert!(
            resp.is_empty() || resp.starts_with("HTTP/1.1 400"),
            "{resp}"
        );
    }
    still_serves(&s, 1).await;
}

/// Sends raw bytes on a fresh connection (on a blocking thread) and returns whatever comes back
/// before the server closes it, or 5 s pass.
async fn exchange(addr: std::net::SocketAddr, bytes: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = sock.write_all(&bytes);
        let mut out = Vec::new();
        let _ = sock.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

/// xorshift64*: a tiny seeded generator, so that failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// 500 random bodies (half raw bytes, half JSON-ish characters) to every command: each gets
/// HTTP 200 and a failure envelope, never an internal error, and the server keeps serving.
#[tokio::test]
async fn random_bodies_get_failure_envelopes() {
    let s = server().await;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    const JSONISH: &[u8] = br#"{}[]":,0123456789.-eE truefalsnul\GroupIdMsgList"#;
    for i in 0..500 {
        let len = rng.below(if i % 10 == 0 { 4096 } else { 256 });
        let body: Vec<u8> = (0..len)
            .map(|_| {
                if i % 2 == 0 {
                    rng.next() as u8
                } else {
                    JSONISH[rng.below(JSONISH.len())]
                }
            })
            .collect();
        let command = Command::ALL[rng.below(Command::ALL.len())];
        let v = s
            .raw("POST", &command.path(), &s.query(), body.clone())
            .await;
        let got = code(&v);
        assert!(
            got != 0 && got != 10002,
            "body #{i} to {command}: ErrorCode {got}: {v}; body {:?}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(v["ActionStatus"], "FAIL");
    }
    still_serves(&s, 1).await;
}

/// 300 mutations (flip, insert, delete, truncate) of a valid request: each gets HTTP 200 and an
/// envelope; mutations may well be valid, but none may cause an internal error.
#[tokio::test]
async fn mutated_requests_get_envelopes() {
    let s = server().await;
    let mut rng = XorShift(42);
    let valid = req(MSG);
    let mut ok = 0;
    for i in 0..300 {
        let mut body = valid.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(body.len());
            match rng.below(4) {
                0 => body[at] = rng.next() as u8,
                1 => body.insert(at, b"{}[]\":,0-9ex\\"[rng.below(13)]),
                2 => {
                    body.remove(at);
                }
                _ => body.truncate(at),
            }
            if body.is_empty() {
                break;
            }
        }
        let v = s
            .raw(
                "POST",
                &Command::ImportGroupMsg.path(),
                &s.query(),
                body.clone(),
            )
            .await;
        let got = code(&v);
        assert_ne!(
            got,
            10002,
            "mutation #{i}: internal error: {v}; body {:?}",
            String::from_utf8_lossy(&body)
        );
        if got == 0 {
            ok += 1;
        }
    }
    eprintln!("{ok} of 300 mutations were still valid requests");
    still_serves(&s, 1_000_001).await;
}
