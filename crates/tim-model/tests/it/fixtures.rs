//! Spec samples in `tests/fixtures/` decode into the model types and re-encode to the same JSON.
//!
//! "The same JSON" means equal as [`serde_json::Value`]: byte-for-byte modulo key order and
//! whitespace, with every number keeping its JSON type (an integer stays an integer, a float stays a
//! float). `.jsonc` fixtures are spec samples printed with `//` comments; the comments are stripped
//! before decoding. Every fixture file is listed in [`FIXTURES`] and checked by [`check`].

use std::collections::BTreeSet;
use std::path::PathBuf;

use rstest::rstest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::api::get_group_info::{
    GetGroupInfoRequest, GetGroupInfoResponse, GroupBaseInfo, GroupInfo, ResponseFilter,
};
use tim_model::api::group_msg_get_simple::{GroupMsgGetSimpleRequest, GroupMsgGetSimpleResponse};
use tim_model::api::import_group::{GroupIdResponse, ImportGroupRequest};
use tim_model::api::import_group_member::{
    member_result, ImportGroupMemberRequest, ImportGroupMemberResponse,
};
use tim_model::api::import_group_msg::{ImportGroupMsgRequest, ImportGroupMsgResponse};
use tim_model::api::set_unread_msg_num::SetUnreadMsgNumRequest;
use tim_model::element::ElementKind;
use tim_model::envelope::Empty;
use tim_model::{
    decode_json, ActionStatus, DecodeError, ErrorClass, ErrorCode, GroupType, MsgElement, Response,
};

/// Every fixture file; [`every_fixture_is_listed`] keeps this list and the directory in step.
const FIXTURES: &[&str] = &[
    "seed_request.jsonc",
    "seed_response.json",
    "current_request.json",
    "current_response.json",
    "import_group_msg_fail_response.json",
    "elem_text.json",
    "elem_face.json",
    "elem_location.json",
    "elem_location_integer.json",
    "elem_custom.json",
    "elem_sound.json",
    "elem_image.json",
    "elem_file.json",
    "elem_video.json",
    "elem_unknown.json",
    "import_group_request.json",
    "import_group_response.json",
    "create_group_request.json",
    "create_group_response.json",
    "get_group_info_request.json",
    "get_group_info_response.json",
    "get_group_info_response_all_fields.json",
    "import_group_member_request.json",
    "import_group_member_response.json",
    "set_unread_msg_num_request.json",
    "set_unread_msg_num_response.json",
    "destroy_group_request.json",
    "destroy_group_response.json",
    "group_msg_get_simple_request.json",
    "group_msg_get_simple_response.json",
    "group_msg_get_simple_response_current.json",
];

// ---------------------------------------------------------------------------------------------
// Helpers

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture's JSON text, with `//` comments removed from `.jsonc` files.
fn fixture_text(name: &str) -> String {
    let raw = std::fs::read_to_string(fixtures_dir().join(name))
        .unwrap_or_else(|e| panic!("cannot read fixture {name}: {e}"));
    if name.ends_with(".jsonc") {
        strip_line_comments(&raw)
    } else {
        raw
    }
}

/// Removes `// …` comments that are outside JSON strings (the seed document prints its samples
/// with them). Comments inside strings, e.g. in URLs, are kept.
fn strip_line_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let (mut in_string, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            for rest in chars.by_ref() {
                if rest == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Decodes fixture `name` as `T`, re-encodes it and asserts that the result equals the fixture.
fn check<T: DeserializeOwned + Serialize>(name: &str) -> T {
    check_adjusted(name, |_| {})
}

/// Like [`check`], but the expected re-encoding is the fixture after `adjust` (for documented
/// normalisations such as an `ErrorInfo` that is always written).
fn check_adjusted<T: DeserializeOwned + Serialize>(
    name: &str,
    adjust: impl FnOnce(&mut Value),
) -> T {
    let text = fixture_text(name);
    let mut expected: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
    adjust(&mut expected);
    let decoded: T = decode_json(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));

    let value = serde_json::to_value(&decoded).unwrap();
    assert_same_json(name, &value, &expected);

    // The compact bytes, parsed again, are the same document; decoding them is a fixed point.
    let compact = serde_json::to_vec(&decoded).unwrap();
    let reparsed: Value = serde_json::from_slice(&compact).unwrap();
    assert_same_json(name, &reparsed, &expected);
    let again: T = decode_json(&compact).unwrap_or_else(|e| panic!("{name} re-encoded: {e}"));
    assert_eq!(
        String::from_utf8(serde_json::to_vec(&again).unwrap()).unwrap(),
        String::from_utf8(compact).unwrap(),
        "{name}: encoding is not a fixed point"
    );
    decoded
}

/// Asserts `actual == expected`, naming the first differing JSON path and telling integers from floats.
fn assert_same_json(name: &str, actual: &Value, expected: &Value) {
    if let Some(d) = first_difference("$", actual, expected) {
        panic!("{name}: re-encoding differs at {d}\nactual:   {actual}\nexpected: {expected}");
    }
    assert_eq!(actual, expected, "{name}");
}

fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    fn kind(n: &serde_json::Number) -> &'static str {
        if n.is_f64() {
            "float"
        } else {
            "integer"
        }
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => first_difference(&p, v, w),
                    (Some(v), None) => Some(format!("{p}: unexpected {v}")),
                    (None, Some(w)) => Some(format!("{p}: missing (expected {w})")),
                    (None, None) => None,
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(&format!("{path}[{i}]"), v, w)),
        (Value::Number(x), Value::Number(y)) if kind(x) != kind(y) => Some(format!(
            "{path}: {} {x} where the fixture has {} {y}",
            kind(x),
            kind(y)
        )),
        _ if a != b => Some(format!("{path}: {a} where the fixture has {b}")),
        _ => None,
    }
}

fn compact<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Housekeeping

#[test]
fn every_fixture_is_listed() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") || n.ends_with(".jsonc"))
        .collect();
    let listed: BTreeSet<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    assert_eq!(on_disk, listed, "tests/fixtures and FIXTURES disagree");
}

#[rstest]
#[case::plain("{\"a\": 1}", "{\"a\": 1}")]
#[case::trailing("{\"a\": 1, // one\n\"b\": 2}", "{\"a\": 1, \n\"b\": 2}")]
#[case::inside_string("{\"u\": \"http://x//y\"} // c", "{\"u\": \"http://x//y\"} ")]
#[case::escaped_quote("{\"s\": \"a\\\"//b\"} //c\n", "{\"s\": \"a\\\"//b\"} \n")]
#[case::escaped_backslash("{\"s\": \"a\\\\\"} //c", "{\"s\": \"a\\\\\"} ")]
#[case::non_ascii_comment("1 // 文本\n", "1 \n")]
fn strips_line_comments_outside_strings(#[case] input: &str, #[case] want: &str) {
    assert_eq!(strip_line_comments(input), want);
}

#[test]
fn seed_request_jsonc_keeps_its_comments_on_disk() {
    let raw = std::fs::read_to_string(fixtures_dir().join("seed_request.jsonc")).unwrap();
    assert_eq!(
        raw.matches("//").count(),
        8,
        "the seed sample is kept verbatim, comments included"
    );
    assert!(serde_json::from_str::<Value>(&raw).is_err());
}

// ---------------------------------------------------------------------------------------------
// import_group_msg samples

#[test]
fn seed_request_sample() {
    let req: ImportGroupMsgRequest = check("seed_request.jsonc");
    assert_eq!(req.group_id, "@TGS#2C5SZEAEF");
    assert_eq!(req.recent_contact_flag, None);
    assert!(req.extra.is_empty());
    assert_eq!(req.msg_list.len(), 2);

    let first = &req.msg_list[0];
    assert_eq!(first.from_account, "leckie");
    assert_eq!(first.send_time, 1448357837);
    assert_eq!(first.random, Some(8912345));
    assert_eq!(first.msg_body.len(), 2);
    assert_eq!(first.msg_body[0], MsgElement::text("red packet"));
    match &first.msg_body[1] {
        MsgElement::Face(f) => {
            assert_eq!(f.index, 6);
            let data = f.data.as_deref().unwrap();
            assert!(data.contains('\u{0}'));
            assert_eq!(data, "abc\u{0}\u{1}");
        }
        other => panic!("expected a face element, got {other:?}"),
    }

    let second = &req.msg_list[1];
    assert_eq!(second.from_account, "peter");
    assert_eq!(
        second.send_time, first.send_time,
        "the seed sample repeats the SendTime"
    );
    assert_eq!(second.random, None);
    assert_eq!(second.msg_body, vec![MsgElement::text("red packet")]);

    // Control characters are written as JSON escapes, and Index stays an integer.
    let out = compact(&req);
    assert!(out.contains(r#""Data":"abc\u0000\u0001""#), "{out}");
    assert!(out.contains(r#""Index":6"#), "{out}");
    assert!(!out.contains("RecentContactFlag"), "{out}");
    assert!(
        !out.contains(r#""Random":null"#),
        "absent Random stays absent: {out}"
    );
}

#[test]
fn seed_response_sample() {
    // The seed sample has no ErrorInfo; the model reads it as "" and always writes it (strict writing).
    let resp: Response<ImportGroupMsgResponse> = check_adjusted("seed_response.json", |v| {
        v["ErrorInfo"] = json!("");
    });
    assert_eq!(resp.envelope.action_status, ActionStatus::Ok);
    assert_eq!(resp.envelope.error_code, ErrorCode::OK);
    assert_eq!(resp.envelope.error_info, "");
    assert_eq!(resp.envelope.request_id, None);
    let results = &resp.body.import_msg_result;
    assert_eq!(
        results.len(),
        4,
        "the seed sample answers 4 results to 2 messages (digest Q13)"
    );
    assert!(results.iter().all(|r| r.result == ErrorCode::OK));
    assert_eq!(
        results.iter().map(|r| r.msg_seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        results.iter().map(|r| r.msg_time).collect::<Vec<_>>(),
        [1449454106, 1449454116, 1449454106, 1449454116]
    );
}

#[test]
fn current_request_sample() {
    let req: ImportGroupMsgRequest = check("current_request.json");
    assert_eq!(req.group_id, "@TGS#2C5SZEAEF");
    assert_eq!(req.recent_contact_flag, Some(1));
    assert_eq!(
        req.msg_list
            .iter()
            .map(|m| (m.from_account.as_str(), m.send_time, m.random))
            .collect::<Vec<_>>(),
        [
            ("leckie", 1620808101, Some(8912345)),
            ("peter", 1620892821, None)
        ]
    );
    assert_eq!(
        req.msg_list[0]
            .msg_body
            .iter()
            .map(MsgElement::kind)
            .collect::<Vec<_>>(),
        [Some(ElementKind::Text), Some(ElementKind::Face)]
    );
    assert!(compact(&req).contains(r#""RecentContactFlag":1"#));
}

#[test]
fn current_response_sample() {
    let resp: Response<ImportGroupMsgResponse> = check("current_response.json");
    assert!(resp.envelope.is_ok());
    assert_eq!(resp.envelope.request_id, None);
    let r = &resp.body.import_msg_result;
    assert_eq!(
        r.iter()
            .map(|r| (r.result.0, r.msg_seq, r.msg_time))
            .collect::<Vec<_>>(),
        [(0, 1, 1620808101), (0, 2, 1620892821)],
        "MsgTime equals the SendTime sent"
    );
}

#[test]
fn fail_response_has_no_results() {
    let resp: Response<ImportGroupMsgResponse> = check("import_group_msg_fail_response.json");
    assert_eq!(resp.envelope.action_status, ActionStatus::Fail);
    assert_eq!(resp.envelope.error_code, ErrorCode::INVALID_PARAMETER);
    assert!(resp.envelope.error_info.starts_with("MsgList: "));
    assert!(resp.body.import_msg_result.is_empty());
    assert!(!compact(&resp).contains("ImportMsgResult"));
}

// ---------------------------------------------------------------------------------------------
// Elements (digest §5)

#[rstest]
#[case::text("elem_text.json", Some(ElementKind::Text))]
#[case::face("elem_face.json", Some(ElementKind::Face))]
#[case::location("elem_location.json", Some(ElementKind::Location))]
#[case::location_integer("elem_location_integer.json", Some(ElementKind::Location))]
#[case::custom("elem_custom.json", Some(ElementKind::Custom))]
#[case::sound("elem_sound.json", Some(ElementKind::Sound))]
#[case::image("elem_image.json", Some(ElementKind::Image))]
#[case::file("elem_file.json", Some(ElementKind::File))]
#[case::video("elem_video.json", Some(ElementKind::Video))]
#[case::unknown("elem_unknown.json", None)]
fn element_fixture_round_trips(#[case] name: &str, #[case] kind: Option<ElementKind>) {
    let e: MsgElement = check(name);
    assert_eq!(e.kind(), kind, "{name}");
    let original: Value = serde_json::from_str(&fixture_text(name)).unwrap();
    assert_eq!(e.msg_type(), original["MsgType"].as_str().unwrap());
    if let Some(k) = kind {
        assert_eq!(k.msg_type(), e.msg_type());
        assert_eq!(ElementKind::from_msg_type(e.msg_type()), Some(k));
    }
}

#[test]
fn every_element_kind_has_a_fixture() {
    let covered: BTreeSet<ElementKind> = FIXTURES
        .iter()
        .filter(|n| n.starts_with("elem_"))
        .filter_map(|n| check::<MsgElement>(n).kind())
        .collect();
    assert_eq!(covered, ElementKind::ALL.into_iter().collect());
}

#[test]
fn element_fields_are_read() {
    let MsgElement::Text(t) = check("elem_text.json") else {
        panic!()
    };
    assert_eq!(t.text, "Welcome to the migrated group! 欢迎");

    let MsgElement::Face(f) = check("elem_face.json") else {
        panic!()
    };
    assert_eq!((f.index, f.data.as_deref()), (1, Some("content")));

    let MsgElement::Custom(c) = check("elem_custom.json") else {
        panic!()
    };
    assert_eq!(c.data, r#"{"businessID":"red_packet","amount":888}"#);
    assert_eq!(
        (c.desc.as_deref(), c.ext.as_deref(), c.sound.as_deref()),
        (
            Some("notification"),
            Some("https://example.com/red_packet/888"),
            Some("dingdong.aiff")
        )
    );

    let MsgElement::Sound(s) = check("elem_sound.json") else {
        panic!()
    };
    assert_eq!(
        (s.size, s.second, s.download_flag),
        (Some(8830), Some(3), Some(2))
    );
    assert!(s.url.is_some() && s.uuid.is_some());

    let MsgElement::Image(i) = check("elem_image.json") else {
        panic!()
    };
    assert_eq!(i.image_format, Some(1));
    let infos = i.image_info_array.unwrap();
    assert_eq!(infos.iter().map(|x| x.kind).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        (infos[0].width, infos[0].height, infos[0].size),
        (Some(2448), Some(3264), Some(1853095))
    );
    assert!(infos.iter().all(|x| x.url.is_some()));

    let MsgElement::File(f) = check("elem_file.json") else {
        panic!()
    };
    assert_eq!(
        (f.file_size, f.file_name.as_deref(), f.download_flag),
        (Some(1773552), Some("quarterly-report.pdf"), Some(2))
    );

    let MsgElement::Video(v) = check("elem_video.json") else {
        panic!()
    };
    assert_eq!(
        (
            v.video_size,
            v.video_second,
            v.video_format.as_deref(),
            v.video_download_flag
        ),
        (Some(1194603), Some(5), Some("mp4"), Some(2))
    );
    assert_eq!(
        (
            v.thumb_size,
            v.thumb_width,
            v.thumb_height,
            v.thumb_format.as_deref(),
            v.thumb_download_flag
        ),
        (Some(13907), Some(720), Some(1280), Some("JPG"), Some(2))
    );
    assert!(
        v.extra.is_empty(),
        "every documented video field is modelled: {:?}",
        v.extra
    );
}

#[test]
fn numbers_keep_their_json_type() {
    let MsgElement::Location(l) = check("elem_location.json") else {
        panic!()
    };
    assert!(l.latitude.is_f64() && l.longitude.is_f64());
    assert_eq!(l.latitude.as_f64(), Some(39.9));
    let out = compact(&MsgElement::Location(l));
    assert!(out.contains(r#""Latitude":39.9,"#), "{out}");
    assert!(out.contains(r#""Longitude":116.397128"#), "{out}");

    let MsgElement::Location(l) = check("elem_location_integer.json") else {
        panic!()
    };
    assert!(
        !l.latitude.is_f64() && !l.longitude.is_f64(),
        "40 and -75 stay integers"
    );
    assert_eq!(
        (l.latitude.as_i64(), l.longitude.as_i64()),
        (Some(40), Some(-75))
    );
    let out = compact(&MsgElement::Location(l));
    assert!(out.contains(r#""Latitude":40,"#), "{out}");
    assert!(out.contains(r#""Longitude":-75}"#), "{out}");

    let MsgElement::Face(f) = check("elem_face.json") else {
        panic!()
    };
    assert!(compact(&MsgElement::Face(f)).contains(r#""Index":1"#));

    let MsgElement::Unknown { content, .. } = check("elem_unknown.json") else {
        panic!()
    };
    assert!(content["MsgNum"].is_u64());
    assert!(content["Score"].is_f64());
}

/// A coordinate as a phone SDK sends it (an `f32` widened to `f64`, 17 significant digits) is the
/// number read, and is written back with the same digits.
///
/// Coordinates keep the exact number read. serde_json's default float parser may be off by one ULP
/// for 16–17 digit literals (`116.39750671386719` read as `116.3975067138672`); the workspace enables
/// its `float_roundtrip` feature, and this test guards it.
#[rstest]
#[case::f32_widened_longitude("Longitude", "116.39750671386719")]
#[case::negative_latitude("Latitude", "-21.420932469134982")]
#[case::msg_fmt_sample_latitude("Latitude", "29.340656774469956")]
fn location_coordinates_keep_the_exact_number_read(#[case] field: &str, #[case] literal: &str) {
    let exact: f64 = literal.parse().unwrap();
    let (lat, lon) = if field == "Latitude" {
        (literal, "0")
    } else {
        ("0", literal)
    };
    let wire = format!(
        r#"{{"MsgType":"TIMLocationElem","MsgContent":{{"Desc":"gps","Latitude":{lat},"Longitude":{lon}}}}}"#
    );
    let e: MsgElement = decode_json(wire.as_bytes()).unwrap();
    let MsgElement::Location(l) = &e else {
        panic!()
    };
    let read = if field == "Latitude" {
        &l.latitude
    } else {
        &l.longitude
    };
    assert_eq!(
        read.as_f64(),
        Some(exact),
        "{field} {literal} was read as {read}"
    );
    let out = compact(&e);
    assert!(out.contains(&format!(r#""{field}":{literal}"#)), "{out}");
}

#[test]
fn unknown_element_keeps_type_and_content() {
    let e: MsgElement = check("elem_unknown.json");
    let MsgElement::Unknown { msg_type, content } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(msg_type, "TIMRelayElem");
    assert_eq!(content["AbstractList"][1], "peter: thanks");
    assert_eq!(content["Nested"], json!({"Flag": true, "Note": null}));
    assert!(e.texts().is_empty());
}

#[test]
fn unknown_element_and_extra_fields_survive_inside_a_request() {
    let unknown: Value = serde_json::from_str(&fixture_text("elem_unknown.json")).unwrap();
    let wire = json!({
        "GroupId": "@TGS#2C5SZEAEF",
        "RecentContactFlag": 0,
        "TopicId": "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_general",
        "MsgList": [{
            "From_Account": "leckie",
            "SendTime": 1620808101,
            "Random": 0,
            "CloudCustomData": "{\"source\":\"legacy\"}",
            "SupportMessageExtension": 1,
            "MsgBody": [
                unknown,
                {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi @peter", "AtList": ["peter"], "Ratio": 0.25}},
                {"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": 40, "Longitude": 116.4, "Altitude": 44}}
            ]
        }]
    });
    let bytes = serde_json::to_vec(&wire).unwrap();
    let req: ImportGroupMsgRequest = decode_json(&bytes).unwrap();
    assert_same_json(
        "inline request",
        &serde_json::to_value(&req).unwrap(),
        &wire,
    );

    assert_eq!(req.recent_contact_flag, Some(0));
    assert_eq!(req.extra.keys().collect::<Vec<_>>(), ["TopicId"]);
    let m = &req.msg_list[0];
    assert_eq!(m.random, Some(0), "Random 0 is kept, not dropped");
    assert_eq!(
        m.cloud_custom_data.as_deref(),
        Some("{\"source\":\"legacy\"}")
    );
    assert_eq!(m.extra.get("SupportMessageExtension"), Some(&json!(1)));
    assert_eq!(m.msg_body[0].kind(), None);
    assert_eq!(m.msg_body[0].msg_type(), "TIMRelayElem");
    let MsgElement::Text(t) = &m.msg_body[1] else {
        panic!()
    };
    assert_eq!(t.extra.get("AtList"), Some(&json!(["peter"])));
    let MsgElement::Location(l) = &m.msg_body[2] else {
        panic!()
    };
    assert_eq!(l.desc, None);
    assert_eq!(l.extra.get("Altitude"), Some(&json!(44)));
}

#[rstest]
#[case::not_an_object(
    r#"{"MsgType":"TIMNewElem","MsgContent":"text"}"#,
    "MsgContent must be an object"
)]
#[case::known_type_wrong_field(
    r#"{"MsgType":"TIMFaceElem","MsgContent":{"Index":"6"}}"#,
    "MsgContent.Index of TIMFaceElem"
)]
#[case::missing_required(
    r#"{"MsgType":"TIMTextElem","MsgContent":{}}"#,
    "MsgContent of TIMTextElem"
)]
fn malformed_elements_are_shape_errors(#[case] wire: &str, #[case] mentions: &str) {
    match decode_json::<MsgElement>(wire.as_bytes()) {
        Err(e @ tim_model::DecodeError::Shape { .. }) => {
            assert_eq!(e.code(), ErrorCode::INVALID_PARAMETER);
            assert!(e.to_string().contains(mentions), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope and error codes (digest §2.3, §2.4)

#[rstest]
#[case::seed_no_error_info(json!({"ActionStatus": "OK", "ErrorCode": 0}), None)]
#[case::no_request_id(json!({"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}), None)]
#[case::request_id(
    json!({"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0, "RequestId": "Id-70e312f1de82af18b2d1ea1f5aa4f7ba-O-Seq-63504"}),
    Some("Id-70e312f1de82af18b2d1ea1f5aa4f7ba-O-Seq-63504")
)]
fn envelope_request_id_is_optional(#[case] wire: Value, #[case] request_id: Option<&str>) {
    let resp: Response<ImportGroupMsgResponse> =
        decode_json(&serde_json::to_vec(&wire).unwrap()).unwrap();
    assert!(resp.envelope.is_ok());
    assert_eq!(resp.envelope.request_id.as_deref(), request_id);
    let mut expected = wire;
    expected["ErrorInfo"] = json!(expected.get("ErrorInfo").cloned().unwrap_or(json!("")));
    assert_same_json("envelope", &serde_json::to_value(&resp).unwrap(), &expected);
}

#[test]
fn unknown_envelope_field_error_display_is_tolerated() {
    let wire = br#"{"ActionStatus":"FAIL","ErrorInfo":"group not found","ErrorDisplay":"","ErrorCode":10010,"RequestId":"Id-1"}"#;
    let resp: Response<ImportGroupMsgResponse> = decode_json(wire).unwrap();
    assert_eq!(resp.envelope.action_status, ActionStatus::Fail);
    assert_eq!(resp.envelope.error_code, ErrorCode::GROUP_NOT_FOUND);
    assert_eq!(resp.envelope.error_info, "group not found");
    assert_eq!(resp.envelope.request_id.as_deref(), Some("Id-1"));
    assert!(resp.body.import_msg_result.is_empty());
    // Also with the body of another API.
    let other: Response<GroupIdResponse> = decode_json(wire).unwrap();
    assert_eq!(other.envelope.error_code.0, 10010);
}

#[test]
fn unknown_error_codes_decode_and_re_encode() {
    let wire = json!({
        "ActionStatus": "OK",
        "ErrorInfo": "",
        "ErrorCode": 12345,
        "ImportMsgResult": [{"MsgSeq": 0, "MsgTime": 1620808101, "Result": 12345}]
    });
    let resp: Response<ImportGroupMsgResponse> =
        decode_json(&serde_json::to_vec(&wire).unwrap()).unwrap();
    let code = resp.envelope.error_code;
    assert_eq!(code, ErrorCode(12345));
    assert_eq!(resp.body.import_msg_result[0].result, code);
    assert_eq!(code.info(), None);
    assert_eq!(code.class(), ErrorClass::Unknown);
    assert_eq!(code.meaning(), "unknown error code");
    assert!(!resp.envelope.is_ok());
    assert_same_json("unknown code", &serde_json::to_value(&resp).unwrap(), &wire);
    assert!(compact(&resp).contains(r#""ErrorCode":12345"#));
}

#[rstest]
#[case::negative(r#"{"ActionStatus":"OK","ErrorCode":-1}"#, "-1")]
#[case::string(r#"{"ActionStatus":"OK","ErrorCode":"0"}"#, "\"0\"")]
#[case::bad_status(r#"{"ActionStatus":"MAYBE","ErrorCode":0}"#, "MAYBE")]
fn malformed_envelopes_are_shape_errors(#[case] wire: &str, #[case] mentions: &str) {
    let err = decode_json::<Response<Empty>>(wire.as_bytes()).unwrap_err();
    assert!(
        matches!(err, tim_model::DecodeError::Shape { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::INVALID_PARAMETER, "{err}");
    assert!(err.to_string().contains(mentions), "{err}");
}

/// Shape errors in a request name the JSON path of the offending value (the 10004 `ErrorInfo`).
#[rstest]
#[case::send_time_string(
    r#"{"GroupId":"g","MsgList":[{"From_Account":"a","SendTime":"x","MsgBody":[]}]}"#,
    "MsgList[0].SendTime",
    "expected i64"
)]
#[case::random_above_i64(r#"{"GroupId":"g","MsgList":[{"From_Account":"a","SendTime":1,"Random":18446744073709551615,"MsgBody":[]}]}"#, "MsgList[0].Random", "18446744073709551615")]
#[case::flag_string(
    r#"{"GroupId":"g","RecentContactFlag":"1","MsgList":[]}"#,
    "RecentContactFlag",
    "expected i64"
)]
#[case::face_index_string(r#"{"GroupId":"g","MsgList":[{"From_Account":"a","SendTime":1,"MsgBody":[{"MsgType":"TIMFaceElem","MsgContent":{"Index":"6"}}]}]}"#, "MsgList[0].MsgBody[0]", "MsgContent.Index of TIMFaceElem")]
#[case::text_missing(r#"{"GroupId":"g","MsgList":[{"From_Account":"a","SendTime":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{}}]}]}"#, "MsgList[0].MsgBody[0]", "missing field `Text`")]
#[case::content_missing(r#"{"GroupId":"g","MsgList":[{"From_Account":"a","SendTime":1,"MsgBody":[{"MsgType":"TIMTextElem"}]}]}"#, "MsgList[0].MsgBody[0]", "missing field `MsgContent`")]
#[case::msg_list_missing(r#"{"GroupId":"g"}"#, ".", "missing field `MsgList`")]
fn request_shape_errors_carry_the_json_path(
    #[case] wire: &str,
    #[case] path: &str,
    #[case] mentions: &str,
) {
    match decode_json::<ImportGroupMsgRequest>(wire.as_bytes()) {
        Err(tim_model::DecodeError::Shape { path: p, message }) => {
            assert_eq!(p, path, "{message}");
            assert!(message.contains(mentions), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Other APIs (digest §4)

#[test]
fn import_group_request_with_every_field() {
    let req: ImportGroupRequest = check("import_group_request.json");
    assert_eq!(req.create_time, Some(1448357000));
    let p = &req.profile;
    assert_eq!(p.group_type, GroupType::Community);
    assert_eq!(p.group_id.as_deref(), Some("@TGS#_migrated-community-1"));
    assert_eq!(p.owner_account.as_deref(), Some("leckie"));
    assert_eq!(p.name, "Migrated community");
    assert_eq!(
        (p.max_member_count, p.apply_join_option.as_deref()),
        (Some(500), Some("FreeAccess"))
    );
    assert_eq!(p.support_topic, Some(1));
    let data = p.app_defined_data.as_ref().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1].value, "abc\u{0}\u{1}");
    assert!(
        p.extra.is_empty(),
        "every documented field is modelled: {:?}",
        p.extra
    );

    let resp: Response<GroupIdResponse> = check("import_group_response.json");
    assert_eq!(resp.body.group_id, "@TGS#_migrated-community-1");
}

#[test]
fn create_group_request_with_member_list() {
    let req: CreateGroupRequest = check("create_group_request.json");
    assert_eq!(req.profile.group_type, GroupType::Public);
    assert_eq!(req.profile.group_id.as_deref(), Some("MyFirstGroup"));
    assert!(req.profile.extra.is_empty(), "{:?}", req.profile.extra);
    let members = req.member_list.as_ref().unwrap();
    assert_eq!(members.len(), 2);
    let bob = &members[0];
    assert_eq!(bob.member_account, "bob");
    assert_eq!(bob.role.as_deref(), Some("Admin"));
    assert_eq!(
        (bob.join_time, bob.msg_seq, bob.last_send_msg_time),
        (Some(1448357900), Some(0), Some(1448358000))
    );
    assert_eq!(
        (bob.msg_flag.as_deref(), bob.name_card.as_deref()),
        (Some("AcceptAndNotify"), Some("Bob the builder"))
    );
    assert_eq!(
        bob.app_member_defined_data.as_ref().unwrap()[0].key,
        "MemberDefined1"
    );
    let peter = &members[1];
    assert_eq!((peter.role.as_ref(), peter.join_time), (None, None));

    let resp: Response<GroupIdResponse> = check("create_group_response.json");
    assert_eq!(resp.body.group_id, "MyFirstGroup");
}

#[test]
fn get_group_info_request_keeps_its_filter() {
    let req: GetGroupInfoRequest = check("get_group_info_request.json");
    assert_eq!(req.group_id_list, ["@TGS#2C5SZEAEF", "@TGS#2J4SZEAEL"]);
    let filter = req.response_filter.unwrap();
    assert_eq!(
        filter.member_info_filter.as_deref(),
        Some(&["Role".to_owned(), "JoinTime".into(), "MsgSeq".into()][..])
    );
    assert_eq!(
        filter.group_base_info_filter.map(|f| f.len()),
        Some(5),
        "Type, Name, CreateTime, LastMsgTime, NextMsgSeq"
    );
    assert_eq!(
        filter.app_defined_data_filter_group,
        Some(vec!["GroupTestData1".to_owned()])
    );
    assert_eq!(
        filter.app_defined_data_filter_group_member,
        Some(vec!["MemberDefined1".to_owned()])
    );
}

/// A filter list of the wrong type is a shape error with its path (10004), not silently "all".
#[test]
fn get_group_info_filter_of_the_wrong_type_is_a_shape_error() {
    let wire = br#"{"GroupIdList":["g"],"ResponseFilter":{"GroupBaseInfoFilter":"Name"}}"#;
    match decode_json::<GetGroupInfoRequest>(wire) {
        Err(DecodeError::Shape { path, .. }) => {
            assert_eq!(path, "ResponseFilter.GroupBaseInfoFilter")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn get_group_info_response_with_one_ok_and_one_missing_group() {
    let resp: Response<GetGroupInfoResponse> = check("get_group_info_response.json");
    assert!(resp.envelope.is_ok());
    let [ok, missing] = resp.body.group_info.as_slice() else {
        panic!("{:?}", resp.body)
    };

    assert_eq!(ok.error_code, ErrorCode::OK);
    assert_eq!(ok.group_id, "@TGS#2C5SZEAEF");
    assert_eq!(ok.base.group_type, Some(GroupType::Public));
    assert_eq!(
        (
            ok.base.create_time,
            ok.base.last_msg_time,
            ok.base.next_msg_seq
        ),
        (Some(1448357000), Some(1448357837), Some(3))
    );
    assert_eq!(
        (ok.base.member_num, ok.base.max_member_num),
        (Some(2), Some(500))
    );
    let members = ok.member_list.as_ref().unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (
                m.member_account.as_str(),
                m.base.role.as_deref(),
                m.base.msg_seq,
                m.base.unread_msg_num
            ))
            .collect::<Vec<_>>(),
        [
            ("leckie", Some("Owner"), Some(2), Some(0)),
            ("peter", Some("Member"), Some(0), Some(2))
        ]
    );

    assert_eq!(missing.error_code, ErrorCode::GROUP_NOT_FOUND);
    assert_eq!(missing.group_id, "@TGS#2J4SZEAEL");
    assert_eq!(
        (&missing.base, &missing.member_list),
        (&GroupBaseInfo::default(), &None)
    );
    let expected = tim_model::api::get_group_info::GroupInfo::error(
        "@TGS#2J4SZEAEL",
        ErrorCode::GROUP_NOT_FOUND,
        "this group does not exist",
    );
    assert_eq!(missing, &expected);
}

/// Every field digest §4.7 lists for `get_group_info` survives a round trip, each in a typed
/// field of its own (nothing lands in `extra`), and no `UnreadMsgNum` appears where the wire had none.
#[test]
fn get_group_info_response_keeps_every_documented_field() {
    let resp: Response<GetGroupInfoResponse> = check("get_group_info_response_all_fields.json");
    assert_eq!(resp.body.group_info.len(), 2);
    let g = &resp.body.group_info[0];
    assert!(g.extra.is_empty(), "{:?}", g.extra);
    assert_eq!(
        (
            g.base.appid,
            g.base.info_seq,
            g.base.last_info_time,
            g.base.shut_up_all_member.as_deref()
        ),
        (Some(1400000000), Some(28), Some(1448357500), Some("Off"))
    );
    let [leckie, peter] = g.member_list.as_deref().unwrap() else {
        panic!("two members")
    };
    assert!(leckie.extra.is_empty() && peter.extra.is_empty());
    assert_eq!(
        (
            leckie.base.msg_flag.as_deref(),
            leckie.base.last_send_msg_time,
            leckie.base.name_card.as_deref(),
            leckie.base.shut_up_until,
            leckie.base.unread_msg_num
        ),
        (
            Some("AcceptAndNotify"),
            Some(1448357837),
            Some(""),
            Some(0),
            None
        )
    );
    assert_eq!(
        leckie.app_member_defined_data.as_ref().map(Vec::len),
        Some(1)
    );
    assert_eq!(peter.app_member_defined_data, None);
}

/// A member entry narrowed by `ResponseFilter.MemberInfoFilter` (digest §4.7) still decodes.
///
/// A filtered answer (`MemberInfoFilter: ["Role"]`) lacks `JoinTime`/`MsgSeq` and still decodes.
#[test]
fn get_group_info_member_filtered_to_role_decodes() {
    let wire = br#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"GroupInfo":[{"ErrorCode":0,"ErrorInfo":"","GroupId":"@TGS#2C5SZEAEF","MemberList":[{"Member_Account":"leckie","Role":"Owner"}]}]}"#;
    let resp = decode_json::<Response<GetGroupInfoResponse>>(wire);
    assert!(resp.is_ok(), "{resp:?}");
}

/// `ResponseFilter::apply` keeps the named fields plus the identity fields, and an absent list
/// keeps everything it governs (digest §4.7).
#[rstest]
#[case::no_filter(json!({}), None)]
#[case::base_only(
    json!({"GroupBaseInfoFilter": ["Name", "InfoSeq", "NoSuchField"]}),
    Some(json!({"ErrorCode": 0, "ErrorInfo": "", "GroupId": "@TGS#2C5SZEAEF", "Name": "TestGroup", "InfoSeq": 28,
        "AppDefinedData": [{"Key": "GroupTestData1", "Value": "xxxxx"}],
        "MemberList": "unchanged"}))
)]
#[case::empty_lists(
    json!({"GroupBaseInfoFilter": [], "MemberInfoFilter": [], "AppDefinedDataFilter_Group": [], "AppDefinedDataFilter_GroupMember": []}),
    Some(json!({"ErrorCode": 0, "ErrorInfo": "", "GroupId": "@TGS#2C5SZEAEF", "AppDefinedData": [],
        "MemberList": [{"Member_Account": "leckie", "AppMemberDefinedData": []}, {"Member_Account": "peter"}]}))
)]
#[case::members(
    json!({"GroupBaseInfoFilter": ["Type"], "MemberInfoFilter": ["Role", "MsgFlag"], "AppDefinedDataFilter_GroupMember": ["MemberDefined1"]}),
    Some(json!({"ErrorCode": 0, "ErrorInfo": "", "GroupId": "@TGS#2C5SZEAEF", "Type": "Public",
        "AppDefinedData": [{"Key": "GroupTestData1", "Value": "xxxxx"}],
        "MemberList": [
            {"Member_Account": "leckie", "Role": "Owner", "MsgFlag": "AcceptAndNotify",
             "AppMemberDefinedData": [{"Key": "MemberDefined1", "Value": "ModifyDefined1"}]},
            {"Member_Account": "peter", "Role": "Member", "MsgFlag": "AcceptAndNotify"}]}))
)]
fn response_filter_narrows_an_entry(#[case] filter: Value, #[case] expected: Option<Value>) {
    let resp: Response<GetGroupInfoResponse> =
        decode_json(fixture_text("get_group_info_response_all_fields.json").as_bytes()).unwrap();
    let full = resp.body.group_info[0].clone();
    let filter: ResponseFilter = serde_json::from_value(filter).unwrap();
    let mut info = full.clone();
    filter.apply(&mut info).unwrap();
    let got = serde_json::to_value(&info).unwrap();
    let mut expected = expected.unwrap_or_else(|| serde_json::to_value(&full).unwrap());
    if expected["MemberList"] == "unchanged" {
        expected["MemberList"] = serde_json::to_value(&full.member_list).unwrap();
    }
    assert_same_json("filtered entry", &got, &expected);
    // An error entry has nothing to narrow.
    let mut err = GroupInfo::error("x", ErrorCode::GROUP_NOT_FOUND, "gone");
    filter.apply(&mut err).unwrap();
    assert_eq!(
        err,
        GroupInfo::error("x", ErrorCode::GROUP_NOT_FOUND, "gone")
    );
}

#[test]
fn import_group_member_request_and_response() {
    let req: ImportGroupMemberRequest = check("import_group_member_request.json");
    assert_eq!(req.group_id, "@TGS#2C5SZEAEF");
    assert_eq!(
        req.member_list
            .iter()
            .map(|m| (
                m.member_account.as_str(),
                m.role.as_deref(),
                m.join_time,
                m.unread_msg_num
            ))
            .collect::<Vec<_>>(),
        [
            ("tommy", Some("Admin"), Some(1448357900), Some(5)),
            ("jared", None, Some(1448357950), Some(2)),
            ("peter", None, None, None)
        ]
    );

    let resp: Response<ImportGroupMemberResponse> = check("import_group_member_response.json");
    assert_eq!(
        resp.body
            .member_list
            .iter()
            .map(|m| m.result)
            .collect::<Vec<_>>(),
        [
            member_result::ADDED,
            member_result::FAILED,
            member_result::ALREADY_MEMBER
        ]
    );
}

#[test]
fn set_unread_msg_num_request_and_response() {
    let req: SetUnreadMsgNumRequest = check("set_unread_msg_num_request.json");
    assert_eq!(
        (
            req.group_id.as_str(),
            req.member_account.as_str(),
            req.unread_msg_num
        ),
        ("@TGS#2C5SZEAEF", "peter", 10)
    );
    let resp: Response<Empty> = check("set_unread_msg_num_response.json");
    assert!(resp.envelope.is_ok());
    assert_eq!(
        compact(&resp),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
    );
}

#[test]
fn destroy_group_request_and_response() {
    let req: DestroyGroupRequest = check("destroy_group_request.json");
    assert_eq!(req.group_id, "@TGS#2C5SZEAEF");
    let resp: Response<Empty> = check("destroy_group_response.json");
    assert_eq!(
        resp.envelope.request_id.as_deref(),
        Some("Id-70e312f1de82af18b2d1ea1f5aa4f7ba-O-Seq-63504")
    );
}

#[test]
fn group_msg_get_simple_request_and_response() {
    let req: GroupMsgGetSimpleRequest = check("group_msg_get_simple_request.json");
    assert_eq!(
        (req.req_msg_number, req.req_msg_seq, req.with_recalled_msg),
        (20, Some(7803321), Some(1))
    );

    let resp: Response<GroupMsgGetSimpleResponse> = check("group_msg_get_simple_response.json");
    let body = &resp.body;
    assert_eq!(
        (body.group_id.as_str(), body.is_finished),
        ("@TGS#2C5SZEAEF", 1)
    );
    assert_eq!(
        body.rsp_msg_list
            .iter()
            .map(|m| m.msg_seq)
            .collect::<Vec<_>>(),
        [7803321, 7803320],
        "newest first"
    );
    let leckie = &body.rsp_msg_list[1];
    assert_eq!(
        (
            leckie.from_account.as_str(),
            leckie.msg_random,
            leckie.is_place_msg
        ),
        ("leckie", 8912345, 0)
    );
    assert_eq!(leckie.msg_body.len(), 2);
    assert_eq!(
        body.rsp_msg_list[0].msg_random, 3148653478,
        "MsgRandom uses the full u32 range"
    );
}

/// The current edition's history fields (`MsgPriority`, `IsSystemMsg`, `IsPlaceMsg` 2) survive.
///
/// Current-edition history fields the model does not name (`MsgPriority`, `IsSystemMsg`) survive a
/// round trip through `extra`.
#[test]
fn group_msg_get_simple_current_response_keeps_every_documented_field() {
    let resp: Response<GroupMsgGetSimpleResponse> =
        check("group_msg_get_simple_response_current.json");
    assert_eq!(resp.body.rsp_msg_list[0].is_place_msg, 2);
    assert!(resp.body.rsp_msg_list[0].msg_body.is_empty());
}
