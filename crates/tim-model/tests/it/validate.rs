//! Table-driven tests of `tim_model::validate`: every rule has a passing and a failing case, each
//! asserting the rule, the JSON path and, through [`verdict`], the code the server answers, for
//! both editions where they differ.
//!
//! A case is `(edition, tweak, want)`: [`Setup::new`] builds a valid two-message request into an
//! existing `Public` group, `tweak` breaks (or bends) one thing, and [`check`] asserts `want`.

use rstest::rstest;
use serde_json::{json, Value};
use tim_model::api::import_group_msg::{ImportGroupMsgRequest, ImportMsg};
use tim_model::edition::FailureScope;
use tim_model::validate::{
    message_size, validate_import, verdict, Context, GroupSnapshot, Problem, Rule, Verdict,
    MAX_PROBLEMS_IN_INFO,
};
use tim_model::Edition::{self, Current, Seed};
use tim_model::{decode_json, ErrorCode, GroupType, Limits, MsgElement};

use Rule::*;
use Want::*;

/// The group's creation time.
const CREATE: i64 = 1_448_357_000;
/// `SendTime` of the first message of [`Setup::new`]; the second is `T0 + 10`.
const T0: i64 = CREATE + 100;
/// The validation clock.
const NOW: i64 = 1_700_000_000;

const SOUND: &str = include_str!("../fixtures/elem_sound.json");
const IMAGE: &str = include_str!("../fixtures/elem_image.json");
const FILE: &str = include_str!("../fixtures/elem_file.json");
const VIDEO: &str = include_str!("../fixtures/elem_video.json");
const LOCATION: &str = include_str!("../fixtures/elem_location.json");
const CUSTOM: &str = include_str!("../fixtures/elem_custom.json");
const FACE: &str = include_str!("../fixtures/elem_face.json");
const UNKNOWN: &str = include_str!("../fixtures/elem_unknown.json");

// ---------------------------------------------------------------------------------------------
// Harness

/// Everything validation reads: the request and its context.
struct Setup {
    req: ImportGroupMsgRequest,
    group: Option<GroupSnapshot>,
    limits: Limits,
    words: Vec<String>,
    now: i64,
    duplicates: Vec<bool>,
}

impl Setup {
    /// A valid request of two text messages (`T0`, `T0 + 10`) into `@TGS#2C5SZEAEF`, a `Public`
    /// group created at `CREATE` with no messages; restricted word `Forbidden`.
    fn new(edition: Edition) -> Setup {
        let mut s = Setup {
            req: ImportGroupMsgRequest::new("@TGS#2C5SZEAEF", Vec::new()),
            group: Some(GroupSnapshot {
                group_type: GroupType::Public,
                create_time: CREATE,
                last_msg_time: None,
            }),
            limits: edition.limits(),
            words: vec!["Forbidden".to_owned()],
            now: NOW,
            duplicates: Vec::new(),
        };
        s.msgs(2);
        s
    }

    /// Replaces `MsgList` with `n` valid text messages, 10 s apart from `T0`.
    fn msgs(&mut self, n: usize) {
        self.req.msg_list = (0..n)
            .map(|i| {
                let from = if i % 2 == 0 { "leckie" } else { "peter" };
                ImportMsg::new(
                    from,
                    T0 + 10 * i as i64,
                    vec![MsgElement::text(format!("message {i}"))],
                )
            })
            .collect();
    }

    fn msg(&mut self, i: usize) -> &mut ImportMsg {
        &mut self.req.msg_list[i]
    }

    /// Replaces message `i`'s body.
    fn body(&mut self, i: usize, elems: Vec<MsgElement>) {
        self.msg(i).msg_body = elems;
    }

    fn group(&mut self) -> &mut GroupSnapshot {
        self.group.as_mut().unwrap()
    }

    fn problems(&self) -> Vec<Problem> {
        validate_import(
            &self.req,
            Context {
                limits: &self.limits,
                group: self.group.as_ref(),
                restricted_words: &self.words,
                now: self.now,
                duplicates: &self.duplicates,
            },
        )
    }
}

/// A fixture element.
fn elem(json: &str) -> MsgElement {
    decode_json(json.as_bytes()).unwrap()
}

/// A fixture element with `MsgContent.field` set to `value`, or removed when `value` is `None`.
fn elem_with(json: &str, field: &str, value: Option<Value>) -> MsgElement {
    let mut v: Value = serde_json::from_str(json).unwrap();
    let content = v["MsgContent"].as_object_mut().unwrap();
    match value {
        Some(x) => content.insert(field.to_owned(), x),
        None => content.remove(field),
    };
    serde_json::from_value(v).unwrap()
}

fn text(s: impl Into<String>) -> MsgElement {
    MsgElement::text(s)
}

/// A location element at (`lat`, `lon`).
fn location(lat: Value, lon: Value) -> MsgElement {
    let v = json!({"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "here", "Latitude": lat, "Longitude": lon}});
    serde_json::from_value(v).unwrap()
}

/// What a case expects.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// No problem; every message is stored.
    Valid,
    /// Exactly one problem, `(rule, path)`; the whole request fails with `code`.
    Reject(Rule, &'static str, u32),
    /// Exactly one problem, `(rule, path)`, about one message; the request is accepted and only
    /// that message fails, with per-message `Result` `code`.
    FailsAlone(Rule, &'static str, u32),
}

type Tweak = fn(&mut Setup);

/// Builds [`Setup::new`] for `edition`, applies `tweak`, validates and asserts `want`.
fn check(edition: Edition, tweak: Tweak, want: Want) {
    let mut s = Setup::new(edition);
    tweak(&mut s);
    let problems = s.problems();
    let n = s.req.msg_list.len();
    let v = verdict(&problems, n, &s.limits);
    let shown: Vec<String> = problems
        .iter()
        .map(|p| format!("{:?} {p}", p.rule))
        .collect();
    match want {
        Valid => {
            assert!(
                problems.is_empty(),
                "{edition}: expected no problem, got {shown:#?}"
            );
            assert_eq!(
                v,
                Verdict::Accept {
                    outcomes: vec![None; n]
                }
            );
        }
        Reject(rule, path, code) | FailsAlone(rule, path, code) => {
            assert_eq!(
                problems.len(),
                1,
                "{edition}: expected exactly one problem, got {shown:#?}"
            );
            let p = &problems[0];
            assert_eq!((p.rule, p.path.as_str()), (rule, path), "{edition}: {p}");
            assert!(!p.message.is_empty());
            assert_eq!(p.to_string(), format!("{path}: {}", p.message));
            match (want, v) {
                (Reject(..), Verdict::Reject { code: got, info }) => {
                    assert_eq!(got, ErrorCode(code), "{edition}: {info}");
                    assert_eq!(info, p.to_string());
                }
                (FailsAlone(..), Verdict::Accept { outcomes }) => {
                    let i = p
                        .msg_index
                        .expect("a per-message problem names its message");
                    assert!(
                        path.starts_with(&format!("MsgList[{i}].")),
                        "{path} vs index {i}"
                    );
                    let mut expected = vec![None; n];
                    expected[i] = Some(ErrorCode(code));
                    assert_eq!(outcomes, expected, "{edition}: only message {i} fails");
                }
                (want, v) => panic!("{edition}: wanted {want:?}, verdict is {v:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request structure (10004)

#[rstest]
#[case::seed_20_ok(Seed, |s: &mut Setup| s.msgs(20), Valid)]
#[case::seed_21(Seed, |s: &mut Setup| s.msgs(21), Reject(InvalidParameter, "MsgList", 10004))]
#[case::seed_8_ok(Seed, |s: &mut Setup| s.msgs(8), Valid)]
#[case::current_7_ok(Current, |s: &mut Setup| s.msgs(7), Valid)]
#[case::current_8(Current, |s: &mut Setup| s.msgs(8), Reject(InvalidParameter, "MsgList", 10004))]
#[case::current_20(Current, |s: &mut Setup| s.msgs(20), Reject(InvalidParameter, "MsgList", 10004))]
#[case::seed_1_ok(Seed, |s: &mut Setup| s.msgs(1), Valid)]
#[case::current_1_ok(Current, |s: &mut Setup| s.msgs(1), Valid)]
#[case::seed_empty(Seed, |s: &mut Setup| s.msgs(0), Reject(InvalidParameter, "MsgList", 10004))]
#[case::current_empty(Current, |s: &mut Setup| s.msgs(0), Reject(InvalidParameter, "MsgList", 10004))]
fn batch_size(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

#[rstest]
#[case::seed(Seed, |s: &mut Setup| s.body(0, vec![]), Reject(InvalidParameter, "MsgList[0].MsgBody", 10004))]
#[case::current(Current, |s: &mut Setup| s.body(1, vec![]), Reject(InvalidParameter, "MsgList[1].MsgBody", 10004))]
#[case::seed_two_elements_ok(Seed, |s: &mut Setup| s.body(0, vec![text("a"), elem(FACE)]), Valid)]
fn empty_msg_body(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

#[rstest]
#[case::zero_ok(Seed, |s: &mut Setup| s.msg(0).random = Some(0), Valid)]
#[case::u32_max_ok(Current, |s: &mut Setup| s.msg(0).random = Some(u32::MAX.into()), Valid)]
#[case::absent_ok(Seed, |s: &mut Setup| s.msg(0).random = None, Valid)]
#[case::seed_negative(Seed, |s: &mut Setup| s.msg(0).random = Some(-1), Reject(InvalidParameter, "MsgList[0].Random", 10004))]
#[case::seed_above_u32(Seed, |s: &mut Setup| s.msg(0).random = Some(i64::from(u32::MAX) + 1), Reject(InvalidParameter, "MsgList[0].Random", 10004))]
#[case::current_above_u32(Current, |s: &mut Setup| s.msg(1).random = Some(1 << 40), Reject(InvalidParameter, "MsgList[1].Random", 10004))]
fn random_is_u32(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

#[rstest]
#[case::max_32_bytes_ok(Seed, |s: &mut Setup| s.msg(0).from_account = "a".repeat(32), Valid)]
#[case::printable_with_space_ok(Current, |s: &mut Setup| s.msg(0).from_account = "user name_1@x.com".into(), Valid)]
#[case::seed_empty(Seed, |s: &mut Setup| s.msg(0).from_account = String::new(), Reject(InvalidParameter, "MsgList[0].From_Account", 10004))]
#[case::current_empty(Current, |s: &mut Setup| s.msg(1).from_account = String::new(), Reject(InvalidParameter, "MsgList[1].From_Account", 10004))]
#[case::too_long_33(Seed, |s: &mut Setup| s.msg(0).from_account = "a".repeat(33), Reject(InvalidParameter, "MsgList[0].From_Account", 10004))]
#[case::non_ascii(Current, |s: &mut Setup| s.msg(0).from_account = "李雷".into(), Reject(InvalidParameter, "MsgList[0].From_Account", 10004))]
#[case::control_char(Seed, |s: &mut Setup| s.msg(0).from_account = "a\tb".into(), Reject(InvalidParameter, "MsgList[0].From_Account", 10004))]
fn from_account(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

#[rstest]
#[case::current_1_ok(Current, |s: &mut Setup| s.req.recent_contact_flag = Some(1), Valid)]
#[case::current_0_ok(Current, |s: &mut Setup| s.req.recent_contact_flag = Some(0), Valid)]
#[case::current_2(Current, |s: &mut Setup| s.req.recent_contact_flag = Some(2), Reject(InvalidParameter, "RecentContactFlag", 10004))]
#[case::current_negative(Current, |s: &mut Setup| s.req.recent_contact_flag = Some(-1), Reject(InvalidParameter, "RecentContactFlag", 10004))]
// The seed request has no RecentContactFlag: whatever is sent is ignored.
#[case::seed_2_ignored(Seed, |s: &mut Setup| s.req.recent_contact_flag = Some(2), Valid)]
fn recent_contact_flag(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

// ---------------------------------------------------------------------------------------------
// Elements (10004)

#[rstest]
#[case::seed_text_face_location_custom_ok(Seed, |s: &mut Setup| s.body(0, vec![text("a"), elem(FACE), elem(LOCATION), elem(CUSTOM)]), Valid)]
#[case::seed_sound(Seed, |s: &mut Setup| s.body(0, vec![elem(SOUND)]), Reject(InvalidParameter, "MsgList[0].MsgBody[0].MsgType", 10004))]
#[case::current_sound_ok(Current, |s: &mut Setup| s.body(0, vec![elem(SOUND)]), Valid)]
#[case::seed_image(Seed, |s: &mut Setup| s.body(1, vec![text("a"), elem(IMAGE)]), Reject(InvalidParameter, "MsgList[1].MsgBody[1].MsgType", 10004))]
#[case::current_image_ok(Current, |s: &mut Setup| s.body(1, vec![text("a"), elem(IMAGE)]), Valid)]
#[case::seed_file(Seed, |s: &mut Setup| s.body(0, vec![elem(FILE)]), Reject(InvalidParameter, "MsgList[0].MsgBody[0].MsgType", 10004))]
#[case::current_file_ok(Current, |s: &mut Setup| s.body(0, vec![elem(FILE)]), Valid)]
#[case::seed_video(Seed, |s: &mut Setup| s.body(0, vec![elem(VIDEO)]), Reject(InvalidParameter, "MsgList[0].MsgBody[0].MsgType", 10004))]
#[case::current_video_ok(Current, |s: &mut Setup| s.body(0, vec![elem(VIDEO)]), Valid)]
#[case::current_all_eight_ok(Current, |s: &mut Setup| s.body(0, vec![text("a"), elem(FACE), elem(LOCATION), elem(CUSTOM), elem(SOUND), elem(IMAGE), elem(FILE), elem(VIDEO)]), Valid)]
#[case::seed_unknown(Seed, |s: &mut Setup| s.body(0, vec![elem(UNKNOWN)]), Reject(InvalidParameter, "MsgList[0].MsgBody[0].MsgType", 10004))]
#[case::current_unknown(Current, |s: &mut Setup| s.body(1, vec![text("a"), elem(UNKNOWN)]), Reject(InvalidParameter, "MsgList[1].MsgBody[1].MsgType", 10004))]
fn element_kinds(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

#[rstest]
#[case::seed_one_ok(Seed, |s: &mut Setup| s.body(0, vec![text("a"), elem(CUSTOM)]), Valid)]
#[case::current_one_ok(Current, |s: &mut Setup| s.body(0, vec![elem(CUSTOM), text("a")]), Valid)]
#[case::seed_two(Seed, |s: &mut Setup| s.body(0, vec![elem(CUSTOM), text("a"), elem(CUSTOM)]), Reject(InvalidParameter, "MsgList[0].MsgBody", 10004))]
#[case::current_two(Current, |s: &mut Setup| s.body(1, vec![elem(CUSTOM), elem(CUSTOM)]), Reject(InvalidParameter, "MsgList[1].MsgBody", 10004))]
fn at_most_one_custom_element(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

/// Required fields of the media elements (current edition, which accepts them). The path is
/// `MsgList[0].MsgBody[0].MsgContent.{field}`; `ok` says whether the element is still valid.
#[rstest]
#[case::sound_complete_ok(SOUND, "Url", Some(json!("https://example.com/a.m4a")), true)]
#[case::sound_url(SOUND, "Url", None, false)]
#[case::sound_uuid(SOUND, "UUID", None, false)]
#[case::sound_flag_absent(SOUND, "Download_Flag", None, false)]
#[case::sound_flag_1(SOUND, "Download_Flag", Some(json!(1)), false)]
#[case::sound_size_optional(SOUND, "Size", None, true)]
#[case::sound_second_optional(SOUND, "Second", None, true)]
#[case::file_url(FILE, "Url", None, false)]
#[case::file_uuid(FILE, "UUID", None, false)]
#[case::file_flag_absent(FILE, "Download_Flag", None, false)]
#[case::file_flag_3(FILE, "Download_Flag", Some(json!(3)), false)]
#[case::file_name_optional(FILE, "FileName", None, true)]
#[case::video_url(VIDEO, "VideoUrl", None, false)]
#[case::video_uuid(VIDEO, "VideoUUID", None, false)]
#[case::video_flag(VIDEO, "VideoDownloadFlag", Some(json!(1)), false)]
#[case::video_thumb_url(VIDEO, "ThumbUrl", None, false)]
#[case::video_thumb_uuid(VIDEO, "ThumbUUID", None, false)]
#[case::video_thumb_flag(VIDEO, "ThumbDownloadFlag", None, false)]
#[case::video_size_optional(VIDEO, "VideoSize", None, true)]
#[case::image_uuid(IMAGE, "UUID", None, false)]
#[case::image_info_array_absent(IMAGE, "ImageInfoArray", None, false)]
#[case::image_info_array_empty(IMAGE, "ImageInfoArray", Some(json!([])), false)]
#[case::image_format_optional(IMAGE, "ImageFormat", None, true)]
fn media_required_fields(
    #[case] fixture: &str,
    #[case] field: &str,
    #[case] value: Option<Value>,
    #[case] ok: bool,
) {
    let mut s = Setup::new(Current);
    s.body(0, vec![elem_with(fixture, field, value)]);
    let problems = s.problems();
    match ok {
        true => assert!(problems.is_empty(), "{problems:?}"),
        false => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            let p = &problems[0];
            assert_eq!(
                (p.rule, p.path.as_str()),
                (
                    InvalidParameter,
                    format!("MsgList[0].MsgBody[0].MsgContent.{field}").as_str()
                )
            );
            let v = verdict(&problems, 2, &s.limits);
            assert!(
                matches!(
                    v,
                    Verdict::Reject {
                        code: ErrorCode::INVALID_PARAMETER,
                        ..
                    }
                ),
                "{v:?}"
            );
        }
    }
}

#[rstest]
#[case::seed_inside_ok(Seed, |s: &mut Setup| s.body(0, vec![location(json!(39.9), json!(116.397128))]), Valid)]
#[case::lat_90_ok(Seed, |s: &mut Setup| s.body(0, vec![location(json!(90), json!(0))]), Valid)]
#[case::lat_minus_90_ok(Current, |s: &mut Setup| s.body(0, vec![location(json!(-90.0), json!(0.0))]), Valid)]
#[case::lon_180_ok(Seed, |s: &mut Setup| s.body(0, vec![location(json!(0), json!(180))]), Valid)]
#[case::lon_minus_180_ok(Current, |s: &mut Setup| s.body(0, vec![location(json!(0), json!(-180.0))]), Valid)]
#[case::seed_lat_90_5(Seed, |s: &mut Setup| s.body(0, vec![location(json!(90.5), json!(0))]), Reject(InvalidParameter, "MsgList[0].MsgBody[0].MsgContent.Latitude", 10004))]
#[case::current_lat_below(Current, |s: &mut Setup| s.body(0, vec![location(json!(-90.0001), json!(0))]), Reject(InvalidParameter, "MsgList[0].MsgBody[0].MsgContent.Latitude", 10004))]
#[case::seed_lon_180_1(Seed, |s: &mut Setup| s.body(1, vec![text("here"), location(json!(0), json!(180.1))]), Reject(InvalidParameter, "MsgList[1].MsgBody[1].MsgContent.Longitude", 10004))]
#[case::current_lon_minus_181(Current, |s: &mut Setup| s.body(0, vec![location(json!(0), json!(-181))]), Reject(InvalidParameter, "MsgList[0].MsgBody[0].MsgContent.Longitude", 10004))]
fn location_bounds(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

// ---------------------------------------------------------------------------------------------
// Group: ID syntax (10015), existence (10010), type (10007)

#[rstest]
#[case::assigned_ok(Seed, |s: &mut Setup| s.req.group_id = "@TGS#2J4SZEAEL".into(), Valid)]
#[case::assigned_new_form_ok(Current, |s: &mut Setup| s.req.group_id = "@TGS#cQVLVHIM62CJ".into(), Valid)]
#[case::custom_ok(Seed, |s: &mut Setup| s.req.group_id = "MyFirstGroup".into(), Valid)]
#[case::custom_48_ok(Current, |s: &mut Setup| s.req.group_id = "g".repeat(48), Valid)]
#[case::community_ok(Current, |s: &mut Setup| { s.req.group_id = "@TGS#_@TGS#cQVLVHIM62CJ".into(); s.group().group_type = GroupType::Community; }, Valid)]
#[case::seed_empty(Seed, |s: &mut Setup| s.req.group_id = String::new(), Reject(GroupIdSyntax, "GroupId", 10015))]
#[case::current_empty(Current, |s: &mut Setup| s.req.group_id = String::new(), Reject(GroupIdSyntax, "GroupId", 10015))]
#[case::bare_prefix(Seed, |s: &mut Setup| s.req.group_id = "@TGS#".into(), Reject(GroupIdSyntax, "GroupId", 10015))]
#[case::bad_assigned(Current, |s: &mut Setup| s.req.group_id = "@TGS#2C5S-ZEAEF".into(), Reject(GroupIdSyntax, "GroupId", 10015))]
#[case::too_long_49(Seed, |s: &mut Setup| s.req.group_id = "g".repeat(49), Reject(GroupIdSyntax, "GroupId", 10015))]
#[case::non_ascii(Current, |s: &mut Setup| s.req.group_id = "群组1".into(), Reject(GroupIdSyntax, "GroupId", 10015))]
fn group_id_syntax(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

#[rstest]
#[case::seed_missing(Seed, |s: &mut Setup| s.group = None, Reject(GroupNotFound, "GroupId", 10010))]
#[case::current_missing(Current, |s: &mut Setup| s.group = None, Reject(GroupNotFound, "GroupId", 10010))]
fn group_must_exist(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

#[rstest]
#[case::seed_private_ok(Seed, GroupType::Private, None)]
#[case::seed_public_ok(Seed, GroupType::Public, None)]
#[case::seed_chatroom_ok(Seed, GroupType::ChatRoom, None)]
#[case::seed_avchatroom(Seed, GroupType::AVChatRoom, Some(10007))]
#[case::seed_bchatroom(Seed, GroupType::BChatRoom, Some(10007))]
#[case::seed_community(Seed, GroupType::Community, Some(10007))]
#[case::current_private_ok(Current, GroupType::Private, None)]
#[case::current_work_ok(Current, GroupType::Work, None)]
#[case::current_public_ok(Current, GroupType::Public, None)]
#[case::current_chatroom_ok(Current, GroupType::ChatRoom, None)]
#[case::current_meeting_ok(Current, GroupType::Meeting, None)]
#[case::current_community_ok(Current, GroupType::Community, None)]
#[case::current_avchatroom(Current, GroupType::AVChatRoom, Some(10007))]
#[case::current_bchatroom(Current, GroupType::BChatRoom, Some(10007))]
#[case::current_unknown_type(Current, GroupType::Unknown("Stream".into()), Some(10007))]
fn group_types(#[case] edition: Edition, #[case] group_type: GroupType, #[case] code: Option<u32>) {
    let mut s = Setup::new(edition);
    s.group().group_type = group_type.clone();
    let problems = s.problems();
    let v = verdict(&problems, 2, &s.limits);
    match code {
        None => assert!(problems.is_empty(), "{group_type}: {problems:?}"),
        Some(code) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(
                (problems[0].rule, problems[0].path.as_str()),
                (GroupTypeRefused, "GroupId")
            );
            assert!(
                problems[0].message.contains(group_type.as_str()),
                "{}",
                problems[0].message
            );
            assert!(
                matches!(v, Verdict::Reject { code: c, .. } if c == ErrorCode(code)),
                "{v:?}"
            );
        }
    }
}

/// Checks stop at the first failing stage: group-ID syntax → structure → existence → type →
/// per-message rules.
#[rstest]
#[case::syntax_before_existence(Seed, |s: &mut Setup| { s.req.group_id = "@TGS#".into(); s.group = None; }, Reject(GroupIdSyntax, "GroupId", 10015))]
#[case::syntax_before_structure(Current, |s: &mut Setup| { s.req.group_id = String::new(); s.msgs(0); }, Reject(GroupIdSyntax, "GroupId", 10015))]
#[case::structure_before_existence(Seed, |s: &mut Setup| { s.msgs(21); s.group = None; }, Reject(InvalidParameter, "MsgList", 10004))]
#[case::existence_before_time(Current, |s: &mut Setup| { s.group = None; s.msg(0).send_time = CREATE; }, Reject(GroupNotFound, "GroupId", 10010))]
#[case::type_before_time(Seed, |s: &mut Setup| { s.group().group_type = GroupType::AVChatRoom; s.msg(0).send_time = NOW + 1; }, Reject(GroupTypeRefused, "GroupId", 10007))]
#[case::type_before_size(Current, |s: &mut Setup| { s.group().group_type = GroupType::AVChatRoom; s.body(0, vec![text("x".repeat(9000))]); }, Reject(GroupTypeRefused, "GroupId", 10007))]
fn check_order(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

// ---------------------------------------------------------------------------------------------
// SendTime (10004; seed: whole request, current: that message)

#[rstest]
#[case::seed_equal_create(Seed, |s: &mut Setup| s.msg(0).send_time = CREATE, Reject(SendTime, "MsgList[0].SendTime", 10004))]
#[case::current_equal_create(Current, |s: &mut Setup| s.msg(0).send_time = CREATE, FailsAlone(SendTime, "MsgList[0].SendTime", 10004))]
#[case::current_before_create(Current, |s: &mut Setup| s.msg(0).send_time = CREATE - 86400, FailsAlone(SendTime, "MsgList[0].SendTime", 10004))]
#[case::seed_create_plus_1_ok(Seed, |s: &mut Setup| s.msg(0).send_time = CREATE + 1, Valid)]
#[case::current_create_plus_1_ok(Current, |s: &mut Setup| s.msg(0).send_time = CREATE + 1, Valid)]
#[case::seed_future(Seed, |s: &mut Setup| s.msg(1).send_time = NOW + 1, Reject(SendTime, "MsgList[1].SendTime", 10004))]
#[case::current_future(Current, |s: &mut Setup| s.msg(1).send_time = NOW + 1, FailsAlone(SendTime, "MsgList[1].SendTime", 10004))]
#[case::seed_equal_now_ok(Seed, |s: &mut Setup| s.msg(1).send_time = NOW, Valid)]
#[case::current_equal_now_ok(Current, |s: &mut Setup| s.msg(1).send_time = NOW, Valid)]
#[case::seed_before_newest(Seed, |s: &mut Setup| s.group().last_msg_time = Some(T0 + 5), Reject(SendTime, "MsgList[0].SendTime", 10004))]
#[case::current_before_newest(Current, |s: &mut Setup| s.group().last_msg_time = Some(T0 + 5), FailsAlone(SendTime, "MsgList[0].SendTime", 10004))]
#[case::seed_after_newest_ok(Seed, |s: &mut Setup| s.group().last_msg_time = Some(T0 - 1), Valid)]
#[case::seed_equal_newest_ok(Seed, |s: &mut Setup| s.group().last_msg_time = Some(T0), Valid)]
#[case::current_equal_newest_ok(Current, |s: &mut Setup| s.group().last_msg_time = Some(T0), Valid)]
#[case::seed_equal_newest_strict(Seed, |s: &mut Setup| { s.group().last_msg_time = Some(T0); s.limits.allow_equal_send_time = false; }, Reject(SendTime, "MsgList[0].SendTime", 10004))]
#[case::current_equal_newest_strict(Current, |s: &mut Setup| { s.group().last_msg_time = Some(T0); s.limits.allow_equal_send_time = false; }, FailsAlone(SendTime, "MsgList[0].SendTime", 10004))]
#[case::current_after_newest_strict_ok(Current, |s: &mut Setup| { s.group().last_msg_time = Some(T0 - 1); s.limits.allow_equal_send_time = false; }, Valid)]
#[case::seed_equal_in_batch_ok(Seed, |s: &mut Setup| s.msg(1).send_time = T0, Valid)]
#[case::current_equal_in_batch_ok(Current, |s: &mut Setup| s.msg(1).send_time = T0, Valid)]
#[case::seed_equal_in_batch_strict(Seed, |s: &mut Setup| { s.msg(1).send_time = T0; s.limits.allow_equal_send_time = false; }, Reject(SendTime, "MsgList[1].SendTime", 10004))]
#[case::current_equal_in_batch_strict(Current, |s: &mut Setup| { s.msg(1).send_time = T0; s.limits.allow_equal_send_time = false; }, FailsAlone(SendTime, "MsgList[1].SendTime", 10004))]
#[case::seed_decreasing(Seed, |s: &mut Setup| s.msg(1).send_time = T0 - 1, Reject(SendTime, "MsgList[1].SendTime", 10004))]
#[case::current_decreasing(Current, |s: &mut Setup| s.msg(1).send_time = T0 - 1, FailsAlone(SendTime, "MsgList[1].SendTime", 10004))]
fn send_time(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

// ---------------------------------------------------------------------------------------------
// Message size (seed: 10020 for the request; current: 80002 for the message)

/// Overhead of a one-text-element body: `[{"MsgType":"TIMTextElem","MsgContent":{"Text":""}}]`.
const TEXT_BODY_OVERHEAD: usize = 52;

fn text_of_size(total: usize) -> MsgElement {
    text("a".repeat(total - TEXT_BODY_OVERHEAD))
}

#[rstest]
#[case::seed_8000_ok(Seed, |s: &mut Setup| s.body(1, vec![text_of_size(8000)]), Valid)]
#[case::current_8000_ok(Current, |s: &mut Setup| s.body(1, vec![text_of_size(8000)]), Valid)]
#[case::seed_8001(Seed, |s: &mut Setup| s.body(1, vec![text_of_size(8001)]), Reject(MsgTooLong, "MsgList[1].MsgBody", 10020))]
#[case::current_8001(Current, |s: &mut Setup| s.body(1, vec![text_of_size(8001)]), FailsAlone(MsgTooLong, "MsgList[1].MsgBody", 80002))]
#[case::current_8001_first(Current, |s: &mut Setup| s.body(0, vec![text_of_size(8001)]), FailsAlone(MsgTooLong, "MsgList[0].MsgBody", 80002))]
#[case::seed_cloud_custom_data_fills_to_8000_ok(Seed, |s: &mut Setup| { s.body(1, vec![text_of_size(7990)]); s.msg(1).cloud_custom_data = Some("0123456789".into()); }, Valid)]
#[case::seed_cloud_custom_data_counts(Seed, |s: &mut Setup| { s.body(1, vec![text_of_size(7990)]); s.msg(1).cloud_custom_data = Some("0123456789a".into()); }, Reject(MsgTooLong, "MsgList[1].MsgBody", 10020))]
#[case::current_cloud_custom_data_counts(Current, |s: &mut Setup| { s.body(0, vec![text_of_size(7990)]); s.msg(0).cloud_custom_data = Some("0123456789a".into()); }, FailsAlone(MsgTooLong, "MsgList[0].MsgBody", 80002))]
// Non-ASCII text counts its UTF-8 bytes: 2666 × "红" (3 bytes) + 52 = 8050.
#[case::current_utf8_bytes(Current, |s: &mut Setup| s.body(1, vec![text("红".repeat(2666))]), FailsAlone(MsgTooLong, "MsgList[1].MsgBody", 80002))]
#[case::current_utf8_bytes_ok(Current, |s: &mut Setup| s.body(1, vec![text("红".repeat(2649))]), Valid)]
fn message_size_limit(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

// ---------------------------------------------------------------------------------------------
// Restricted words (80001; seed: whole request, current: that message)

#[rstest]
#[case::seed_clean_ok(Seed, |s: &mut Setup| s.body(1, vec![text("a perfectly fine message")]), Valid)]
#[case::current_clean_ok(Current, |s: &mut Setup| s.body(1, vec![text("a perfectly fine message")]), Valid)]
#[case::seed_upper_case(Seed, |s: &mut Setup| s.body(1, vec![text("this is FORBIDDEN")]), Reject(RestrictedWords, "MsgList[1].MsgBody[0].MsgContent", 80001))]
#[case::current_upper_case(Current, |s: &mut Setup| s.body(1, vec![text("this is FORBIDDEN")]), FailsAlone(RestrictedWords, "MsgList[1].MsgBody[0].MsgContent", 80001))]
#[case::seed_substring(Seed, |s: &mut Setup| s.body(0, vec![text("unforbiddenly")]), Reject(RestrictedWords, "MsgList[0].MsgBody[0].MsgContent", 80001))]
#[case::current_custom_ext(Current, |s: &mut Setup| s.body(1, vec![text("see link"), elem_with(CUSTOM, "Ext", Some(json!("https://x/ForBidden")))]), FailsAlone(RestrictedWords, "MsgList[1].MsgBody[1].MsgContent", 80001))]
#[case::seed_custom_data(Seed, |s: &mut Setup| s.body(0, vec![elem_with(CUSTOM, "Data", Some(json!("{\"k\":\"forbidden\"}")))]), Reject(RestrictedWords, "MsgList[0].MsgBody[0].MsgContent", 80001))]
#[case::seed_location_desc(Seed, |s: &mut Setup| s.body(0, vec![elem_with(LOCATION, "Desc", Some(json!("Forbidden City")))]), Reject(RestrictedWords, "MsgList[0].MsgBody[0].MsgContent", 80001))]
#[case::current_file_name(Current, |s: &mut Setup| s.body(0, vec![elem_with(FILE, "FileName", Some(json!("forbidden.pdf")))]), FailsAlone(RestrictedWords, "MsgList[0].MsgBody[0].MsgContent", 80001))]
// Face data and media URLs are not text a user reads.
#[case::seed_face_data_ok(Seed, |s: &mut Setup| s.body(0, vec![elem_with(FACE, "Data", Some(json!("forbidden")))]), Valid)]
#[case::current_sound_url_ok(Current, |s: &mut Setup| s.body(0, vec![elem_with(SOUND, "Url", Some(json!("https://x/forbidden.m4a")))]), Valid)]
#[case::no_words_ok(Seed, |s: &mut Setup| { s.words.clear(); s.body(0, vec![text("forbidden")]); }, Valid)]
#[case::empty_word_ignored_ok(Current, |s: &mut Setup| s.words = vec![String::new()], Valid)]
#[case::list_word_upper_case(Current, |s: &mut Setup| { s.words = vec!["RED PACKET".into()]; s.body(0, vec![text("a Red Packet for you")]); }, FailsAlone(RestrictedWords, "MsgList[0].MsgBody[0].MsgContent", 80001))]
fn restricted_words(#[case] edition: Edition, #[case] tweak: Tweak, #[case] want: Want) {
    check(edition, tweak, want);
}

// ---------------------------------------------------------------------------------------------
// Several problems

/// `validate_import` reports every problem, not the first: three messages with three different
/// structural problems give three problems, and `ErrorInfo` lists them all.
#[rstest]
#[case::seed(Seed)]
#[case::current(Current)]
fn every_structural_problem_is_reported(#[case] edition: Edition) {
    let mut s = Setup::new(edition);
    s.msgs(4);
    s.msg(0).from_account = String::new();
    s.msg(1).random = Some(-5);
    s.body(3, vec![text("ok"), elem(UNKNOWN)]);
    let problems = s.problems();
    assert_eq!(
        problems
            .iter()
            .map(|p| (p.rule, p.path.as_str(), p.msg_index))
            .collect::<Vec<_>>(),
        [
            (InvalidParameter, "MsgList[0].From_Account", Some(0)),
            (InvalidParameter, "MsgList[1].Random", Some(1)),
            (InvalidParameter, "MsgList[3].MsgBody[1].MsgType", Some(3)),
        ]
    );
    let Verdict::Reject { code, info } = verdict(&problems, 4, &s.limits) else {
        panic!()
    };
    assert_eq!(code, ErrorCode::INVALID_PARAMETER);
    let expected: Vec<String> = problems.iter().map(Problem::to_string).collect();
    assert_eq!(info, expected.join("; "));
}

/// A request with three messages that break three different per-message rules, between good ones.
fn three_bad_messages(edition: Edition) -> Setup {
    let mut s = Setup::new(edition);
    s.msgs(6);
    s.msg(1).send_time = CREATE; // not after the group's creation
    s.body(3, vec![text_of_size(8001)]); // too long
    s.body(4, vec![text("hello"), text("a forbidden word")]); // restricted words
    s
}

#[test]
fn current_outcomes_mark_exactly_the_bad_messages() {
    let s = three_bad_messages(Current);
    let problems = s.problems();
    assert_eq!(
        problems
            .iter()
            .map(|p| (p.rule, p.path.as_str()))
            .collect::<Vec<_>>(),
        [
            (SendTime, "MsgList[1].SendTime"),
            (MsgTooLong, "MsgList[3].MsgBody"),
            (RestrictedWords, "MsgList[4].MsgBody[1].MsgContent"),
        ]
    );
    assert_eq!(
        verdict(&problems, 6, &s.limits),
        Verdict::Accept {
            outcomes: vec![
                None,
                Some(ErrorCode::INVALID_PARAMETER),
                None,
                Some(ErrorCode::MSG_BODY_TOO_LONG),
                Some(ErrorCode::RESTRICTED_WORDS),
                None,
            ]
        }
    );
}

#[test]
fn seed_rejects_the_request_with_the_first_problem_code_and_lists_all() {
    let s = three_bad_messages(Seed);
    let problems = s.problems();
    assert_eq!(problems.len(), 3);
    let Verdict::Reject { code, info } = verdict(&problems, 6, &s.limits) else {
        panic!()
    };
    assert_eq!(
        code,
        ErrorCode::INVALID_PARAMETER,
        "the first problem is the SendTime one"
    );
    for path in [
        "MsgList[1].SendTime",
        "MsgList[3].MsgBody",
        "MsgList[4].MsgBody[1].MsgContent",
    ] {
        assert!(info.contains(path), "{info}");
    }
    // Size first: the request fails with 10020.
    let mut s = Setup::new(Seed);
    s.body(0, vec![text_of_size(8001)]);
    s.msg(1).send_time = NOW + 1;
    let problems = s.problems();
    assert_eq!(problems.len(), 2);
    assert!(matches!(
        verdict(&problems, 2, &s.limits),
        Verdict::Reject {
            code: ErrorCode::MSG_TOO_LONG,
            ..
        }
    ));
}

/// One message breaking two rules is reported twice, and its outcome is the first rule's code.
#[test]
fn one_message_two_problems_outcome_is_the_first() {
    let mut s = Setup::new(Current);
    s.msg(1).send_time = NOW + 60;
    s.body(1, vec![text("forbidden")]);
    let problems = s.problems();
    assert_eq!(
        problems
            .iter()
            .map(|p| (p.rule, p.msg_index))
            .collect::<Vec<_>>(),
        [(SendTime, Some(1)), (RestrictedWords, Some(1))]
    );
    assert_eq!(
        verdict(&problems, 2, &s.limits),
        Verdict::Accept {
            outcomes: vec![None, Some(ErrorCode::INVALID_PARAMETER)]
        }
    );
}

/// A structural problem rejects the request even in the current edition, where time, size and
/// word problems of other messages would only fail those messages.
#[test]
fn current_structural_problem_rejects_the_whole_request() {
    let mut s = Setup::new(Current);
    s.msgs(3);
    s.msg(2).random = Some(-1);
    s.msg(0).send_time = NOW + 1;
    let problems = s.problems();
    assert_eq!(
        problems.len(),
        1,
        "structure is checked first: {problems:?}"
    );
    let Verdict::Reject { code, .. } = verdict(&problems, 3, &s.limits) else {
        panic!()
    };
    assert_eq!(code, ErrorCode::INVALID_PARAMETER);
}

/// Batch order is checked against the newest message that *passed*: a failed message is not
/// stored, so it does not move the bound (docs/behaviour.md, "Time rules"). After a message dated
/// in the future, correctly dated ones are still accepted.
#[test]
fn order_is_checked_against_the_newest_accepted_message() {
    let mut s = Setup::new(Current);
    s.msgs(3);
    s.msg(1).send_time = NOW + 3600;
    let problems = s.problems();
    assert_eq!(
        problems.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
        ["MsgList[1].SendTime"]
    );
    assert_eq!(
        verdict(&problems, 3, &s.limits),
        Verdict::Accept {
            outcomes: vec![None, Some(ErrorCode::INVALID_PARAMETER), None]
        }
    );
    // A message that fails for its words does not date the batch either.
    let mut s = Setup::new(Current);
    s.msg(0).send_time = T0 + 50;
    s.body(0, vec![text("forbidden")]);
    assert_eq!(
        s.problems()
            .iter()
            .map(|p| p.path.as_str())
            .collect::<Vec<_>>(),
        ["MsgList[0].MsgBody[0].MsgContent"]
    );
    // But an accepted message does: the next one may not go back before it.
    let mut s = Setup::new(Current);
    s.msgs(2);
    s.msg(0).send_time = T0 + 50;
    s.msg(1).send_time = T0 + 49;
    let problems = s.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "MsgList[1].SendTime");
    assert!(
        problems[0].message.contains("MsgList[0].SendTime"),
        "{}",
        problems[0].message
    );
}

#[test]
fn error_info_lists_at_most_ten_problems() {
    let mut s = Setup::new(Seed);
    s.msgs(12);
    for i in 0..12 {
        s.msg(i).from_account = String::new();
    }
    let problems = s.problems();
    assert_eq!(problems.len(), 12);
    let Verdict::Reject { info, .. } = verdict(&problems, 12, &s.limits) else {
        panic!()
    };
    assert_eq!(info.split("; ").count(), MAX_PROBLEMS_IN_INFO + 1);
    assert!(info.contains("MsgList[9].From_Account"));
    assert!(!info.contains("MsgList[10].From_Account"));
    assert!(info.ends_with("; and 2 more problems"), "{info}");
}

#[test]
fn failure_scope_and_codes_per_rule() {
    use FailureScope::{Message, Request};
    let table = [
        (GroupIdSyntax, false, 10015, 10015),
        (InvalidParameter, false, 10004, 10004),
        (GroupNotFound, false, 10010, 10010),
        (GroupTypeRefused, false, 10007, 10007),
        (SendTime, true, 10004, 10004),
        (MsgTooLong, true, 10020, 80002),
        (RestrictedWords, true, 80001, 80001),
    ];
    for (rule, per_message, request, message) in table {
        assert_eq!(rule.is_per_message(), per_message, "{rule:?}");
        assert_eq!(rule.code(Request), ErrorCode(request), "{rule:?}");
        assert_eq!(rule.code(Message), ErrorCode(message), "{rule:?}");
    }
    assert_eq!(Seed.limits().failure_scope, Request);
    assert_eq!(Current.limits().failure_scope, Message);
}

// ---------------------------------------------------------------------------------------------
// message_size (digest §7 Q8)

/// `message_size` is the byte length of the compact JSON of `MsgBody`, plus the raw bytes of
/// `CloudCustomData`. The expected numbers are counted by hand:
///
/// - `{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}`:
///   1 + 9 `"MsgType"` + 1 + 13 `"TIMTextElem"` + 1 + 12 `"MsgContent"` + 1 + 1 + 6 `"Text"` + 1
///   + 12 `"red packet"` + 1 + 1 = 60;
/// - `{"MsgType":"TIMFaceElem","MsgContent":{"Data":"abc\u0000\u0001","Index":6}}`: 1 + 9 + 1 + 13
///   + 1 + 12 + 1 + 1 + 6 `"Data"` + 1 + 17 (`"abc` + two 6-byte escapes + `"`) + 1 + 7 `"Index"`
///   + 1 + 1 `6` + 1 + 1 = 75;
/// - the seed sample's first body `[text,face]`: 1 + 60 + 1 + 75 + 1 = 138.
#[rstest]
#[case::seed_sample_first_message(vec![text("red packet"), face_sample()], None, 138)]
#[case::one_text(vec![text("red packet")], None, 62)]
#[case::empty_text(vec![text("")], None, TEXT_BODY_OVERHEAD)]
#[case::utf8_counts_bytes(vec![text("红包")], None, TEXT_BODY_OVERHEAD + 6)]
#[case::quote_is_escaped(vec![text("a\"b")], None, TEXT_BODY_OVERHEAD + 4)]
#[case::cloud_custom_data_raw_bytes(vec![text("红包")], Some("a\"红"), TEXT_BODY_OVERHEAD + 6 + 5)]
#[case::empty_body(vec![], Some("abc"), 2 + 3)]
fn message_size_is_compact_json_bytes(
    #[case] body: Vec<MsgElement>,
    #[case] ccd: Option<&str>,
    #[case] want: usize,
) {
    let mut m = ImportMsg::new("leckie", T0, body);
    m.cloud_custom_data = ccd.map(str::to_owned);
    assert_eq!(message_size(&m), want);
    assert_eq!(
        message_size(&m),
        serde_json::to_vec(&m.msg_body).unwrap().len() + ccd.map_or(0, str::len)
    );
}

fn face_sample() -> MsgElement {
    serde_json::from_value(
        json!({"MsgType": "TIMFaceElem", "MsgContent": {"Index": 6, "Data": "abc\u{0}\u{1}"}}),
    )
    .unwrap()
}

#[test]
fn message_size_ignores_wire_whitespace_and_key_order() {
    let pretty = br#"[ { "MsgContent" : { "Index" : 6 , "Data" : "abc\u0000\u0001" } , "MsgType" : "TIMFaceElem" } ]"#;
    let body: Vec<MsgElement> = decode_json(pretty).unwrap();
    assert_eq!(message_size(&ImportMsg::new("peter", T0, body)), 1 + 75 + 1);
}

#[test]
fn limits_documented_for_each_edition() {
    let (s, c) = (Seed.limits(), Current.limits());
    assert_eq!((s.msgs_per_request, c.msgs_per_request), (20, 7));
    assert_eq!((s.msg_max_bytes, c.msg_max_bytes), (8000, 8000));
    assert!(s.allow_equal_send_time && c.allow_equal_send_time);
    assert!(!s.recent_contact_flag && c.recent_contact_flag);
}

/// `ErrorInfo` says what is wrong with a value that is present: out of range, or not 2.
///
/// A present but invalid value (`Latitude: 90.5`, `Download_Flag: 1`) is described as what it is,
/// not as "is required", which is kept for absent fields.
#[rstest]
#[case::latitude(location(json!(90.5), json!(0)), "Latitude")]
#[case::longitude(location(json!(0), json!(-181)), "Longitude")]
#[case::sound_flag(elem_with(SOUND, "Download_Flag", Some(json!(1))), "Download_Flag")]
#[case::video_flag(elem_with(VIDEO, "ThumbDownloadFlag", Some(json!(0))), "ThumbDownloadFlag")]
fn present_but_invalid_values_are_not_called_missing(#[case] e: MsgElement, #[case] field: &str) {
    let mut s = Setup::new(Current);
    s.body(0, vec![e]);
    let problems = s.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].path,
        format!("MsgList[0].MsgBody[0].MsgContent.{field}")
    );
    assert!(
        !problems[0].message.contains("is required"),
        "{}",
        problems[0].message
    );
}

/// A re-sent batch whose messages the store already holds (same supplied `Random`) is not
/// refused for its now-old times: known duplicates skip the per-message rules and do not move the
/// time bound, in both editions; structure rules still apply to them.
#[rstest]
#[case::seed(Seed)]
#[case::current(Current)]
fn known_duplicates_skip_the_per_message_rules(#[case] edition: Edition) {
    let mut s = Setup::new(edition);
    s.msgs(3);
    s.group().last_msg_time = Some(T0 + 20);
    // Messages 0 and 1 are before the group's newest message; 0 also has a restricted word.
    s.body(0, vec![text("forbidden")]);
    s.duplicates = vec![true, true];
    assert_eq!(s.problems(), Vec::<Problem>::new());
    // Message 1 is not a duplicate after all: its old time is a problem again.
    s.duplicates = vec![true, false];
    let problems = s.problems();
    assert_eq!(
        problems.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
        ["MsgList[1].SendTime"]
    );
    // Structure is still checked for duplicates.
    s.duplicates = vec![true, true, true];
    s.msg(0).from_account = String::new();
    let problems = s.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "MsgList[0].From_Account");
}
