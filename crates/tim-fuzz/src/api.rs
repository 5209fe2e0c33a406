//! The request decode + validate path of every command, through `tim_server::service::Service`
//! on a fresh memory store, answered with the envelope the HTTP layer writes.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use serde_json::Value;
use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::api::get_group_info::GetGroupInfoRequest;
use tim_model::api::group_msg_get_simple::GroupMsgGetSimpleRequest;
use tim_model::api::import_group::{GroupProfile, ImportGroupRequest};
use tim_model::api::import_group_member::ImportGroupMemberRequest;
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::api::set_unread_msg_num::SetUnreadMsgNumRequest;
use tim_model::api::ApiRequest;
use tim_model::{decode_json, ids, Command, Edition, Envelope, ErrorCode, GroupType, Response};
use tim_server::clock::ManualClock;
use tim_server::error::ApiError;
use tim_server::service::{ApiBody, Service, ServiceConfig};
use tim_server::store::memory::MemoryStore;
use tim_server::store::{DedupRule, NewGroup, NewMember, NewMessage, Role};

use crate::{CREATE_TIME, NOW, RESTRICTED_WORD, SDKAPPID};

/// Most groups and accounts a target sets up from one body.
const SETUP_MAX: usize = 8;

/// Messages stored in each group set up by [`api_command`] (so unread counts have room).
const SETUP_MESSAGES: u32 = 3;

/// `import_group_msg`: the body as sent, under each edition's limits, into a group that exists
/// (created from the body's `GroupId`), then sent again as a client re-sends after a lost reply.
pub fn import_group_msg(data: &[u8]) {
    for edition in [Edition::Seed, Edition::Current] {
        let service = service(edition);
        let wanted = Wanted::of(data);
        setup(&service, &wanted, 0);
        let group_id = wanted.groups.first();
        let before = next_seq(&service, group_id);
        let first = service.call(Command::ImportGroupMsg, data);
        let req = check_answer::<ImportGroupMsgRequest>(data, &first);
        let after = next_seq(&service, group_id);
        let Some(req) = req else {
            assert_eq!(before, after, "a refused body changed the group");
            continue;
        };
        let results = match &first {
            Ok(ApiBody::ImportGroupMsg(r)) => &r.import_msg_result,
            Ok(other) => panic!("import_group_msg answered {other:?}"),
            Err(_) => {
                assert_eq!(before, after, "a refused request stored messages");
                continue;
            }
        };
        assert_eq!(results.len(), req.msg_list.len(), "one result per message");
        // Every stored message got a new sequence number above the group's NextMsgSeq before.
        let before = before.expect("an accepted import names an existing group");
        let after = after.expect("an accepted import keeps its group");
        let new: BTreeSet<u64> = results
            .iter()
            .filter(|r| r.result.is_ok() && r.msg_seq >= before)
            .map(|r| r.msg_seq)
            .collect();
        assert_eq!(
            after - before,
            new.len() as u64,
            "NextMsgSeq grew by the number of new messages: {results:?}"
        );
        for r in results.iter().filter(|r| r.result.is_ok()) {
            assert!(
                r.msg_seq >= 1 && r.msg_seq < after,
                "MsgSeq out of range: {r:?}"
            );
        }
        // A re-sent batch (every message with its Random) gets the same answer, stores nothing.
        let all_ok = results.iter().all(|r| r.result.is_ok());
        let all_random = req
            .msg_list
            .iter()
            .all(|m| m.random.is_some_and(|r| u32::try_from(r).is_ok()));
        if all_ok && all_random && !req.msg_list.is_empty() {
            let again = service.call(Command::ImportGroupMsg, data);
            check_answer::<ImportGroupMsgRequest>(data, &again);
            match &again {
                Ok(ApiBody::ImportGroupMsg(r)) => assert_eq!(
                    &r.import_msg_result, results,
                    "a re-sent batch was answered differently"
                ),
                other => panic!("a re-sent accepted batch was answered {other:?}"),
            }
            assert_eq!(
                next_seq(&service, group_id),
                Some(after),
                "a re-sent batch stored messages again"
            );
        }
    }
}

/// Every other command: the first byte chooses the command (bits 0–2, in `Command::ALL`
/// order), the edition (bit 6: current) and whether the groups and accounts the body names
/// exist beforehand (bit 7); the rest is the body.
pub fn api_command(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let command = Command::ALL[usize::from(selector & 7)];
    let edition = match selector & 0x40 {
        0 => Edition::Seed,
        _ => Edition::Current,
    };
    let service = service(edition);
    if selector & 0x80 != 0 {
        setup(&service, &Wanted::of(body), SETUP_MESSAGES);
    }
    let answer = service.call(command, body);
    match command {
        Command::ImportGroupMsg => {
            check_answer::<ImportGroupMsgRequest>(body, &answer);
        }
        Command::ImportGroup => {
            check_answer::<ImportGroupRequest>(body, &answer);
            created(&service, &answer);
        }
        Command::CreateGroup => {
            check_answer::<CreateGroupRequest>(body, &answer);
            created(&service, &answer);
        }
        Command::DestroyGroup => {
            if let Some(req) = check_answer::<DestroyGroupRequest>(body, &answer) {
                if answer.is_ok() {
                    let gone = service.store().group(&req.group_id).expect("memory store");
                    assert!(gone.is_none(), "a destroyed group is still there");
                }
            }
        }
        Command::GetGroupInfo => {
            check_answer::<GetGroupInfoRequest>(body, &answer);
        }
        Command::ImportGroupMember => {
            check_answer::<ImportGroupMemberRequest>(body, &answer);
        }
        Command::SetUnreadMsgNum => {
            check_answer::<SetUnreadMsgNumRequest>(body, &answer);
        }
        Command::GroupMsgGetSimple => {
            check_answer::<GroupMsgGetSimpleRequest>(body, &answer);
        }
    }
}

/// A service as the reference server runs it, at [`NOW`], on an empty memory store.
fn service(edition: Edition) -> Service {
    let mut config = ServiceConfig::new(SDKAPPID, edition.limits());
    config.restricted_words = vec![RESTRICTED_WORD.to_owned()];
    config.rng_seed = Some(7);
    Service::new(
        Arc::new(MemoryStore::new()),
        Arc::new(ManualClock::new(NOW)),
        config,
    )
}

/// The groups and accounts a body names (without decoding it as a request).
#[derive(Debug, Default)]
struct Wanted {
    groups: Vec<String>,
    accounts: Vec<String>,
}

impl Wanted {
    fn of(body: &[u8]) -> Wanted {
        let mut w = Wanted::default();
        let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
            return w;
        };
        let mut group = |v: Option<&Value>| {
            if let Some(Value::String(s)) = v {
                if ids::check_group_id(s).is_ok() && !w.groups.contains(s) {
                    w.groups.push(s.clone());
                }
            }
        };
        group(o.get("GroupId"));
        if let Some(Value::Array(list)) = o.get("GroupIdList") {
            list.iter().take(SETUP_MAX).for_each(|v| group(Some(v)));
        }
        let mut account = |v: Option<&Value>| {
            if let Some(Value::String(s)) = v {
                if ids::check_account(s).is_ok() && !w.accounts.contains(s) {
                    w.accounts.push(s.clone());
                }
            }
        };
        account(o.get("Member_Account"));
        for list in ["MemberList", "MsgList"] {
            if let Some(Value::Array(items)) = o.get(list) {
                for item in items.iter().take(SETUP_MAX) {
                    account(item.get("Member_Account"));
                    account(item.get("From_Account"));
                }
            }
        }
        w.groups.truncate(SETUP_MAX);
        w.accounts.truncate(SETUP_MAX);
        w
    }
}

/// The type of a group set up for the fuzzer: chosen by the ID's length, so that a mutation can
/// reach every type (`fuzz-group`, the seeds' ID, is `Public`).
fn group_type_for(id: &str) -> GroupType {
    use GroupType::*;
    [
        Public, Private, Public, ChatRoom, AVChatRoom, Community, Work, Meeting, BChatRoom,
    ][id.len() % 9]
        .clone()
}

/// Creates `wanted`'s groups with its accounts as members and `messages` messages each.
fn setup(service: &Service, wanted: &Wanted, messages: u32) {
    let store = service.store();
    for id in &wanted.groups {
        let members = wanted
            .accounts
            .iter()
            .map(|a| NewMember {
                account: a.clone(),
                role: Role::Member,
                join_time: CREATE_TIME + 1,
                unread_msg_num: None,
            })
            .collect();
        store
            .create_group(NewGroup {
                group_id: id.clone(),
                create_time: CREATE_TIME,
                profile: GroupProfile::new(group_type_for(id), "fuzz"),
                members,
            })
            .expect("a new group in an empty memory store");
        let batch: Vec<NewMessage> = (0..messages)
            .map(|i| NewMessage {
                from_account: "fuzz-sender".into(),
                send_time: CREATE_TIME + 10 + i64::from(i),
                random: i,
                random_supplied: true,
                body_json: r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]"#.into(),
                cloud_custom_data: None,
            })
            .collect();
        store
            .import_messages(id, &batch, DedupRule::send_time(300))
            .expect("messages into a group just made");
    }
}

fn next_seq(service: &Service, group_id: Option<&String>) -> Option<u64> {
    let id = group_id?;
    let record = service.store().group(id).expect("memory store");
    record.map(|g| g.next_msg_seq)
}

/// After `import_group` / `create_group`: an accepted call made the group it names.
fn created(service: &Service, answer: &Result<ApiBody, ApiError>) {
    if let Ok(ApiBody::GroupId(r)) = answer {
        let found = service.store().group(&r.group_id).expect("memory store");
        assert!(found.is_some(), "group {:?} was not stored", r.group_id);
    }
}

/// The properties every answer has, whatever the command: the answer's code agrees with a
/// second, independent decode of the body as `R`; a decoded request re-encodes to JSON that
/// decodes to it again; a memory store never fails (no 10002); the envelope encodes and reads
/// back. Returns the decoded request, when the body decodes.
fn check_answer<R>(body: &[u8], answer: &Result<ApiBody, ApiError>) -> Option<R>
where
    R: ApiRequest + PartialEq + Debug,
{
    let first = decode_json::<R>(body);
    let second = decode_json::<R>(body);
    assert_eq!(first, second, "decoding the same body twice differs");
    let code = match answer {
        Ok(_) => ErrorCode::OK,
        Err(e) => e.code(),
    };
    assert_ne!(code, ErrorCode::INTERNAL, "internal error: {answer:?}");
    envelope_round_trip(answer, code);
    match (first, answer) {
        (Err(e), Err(ApiError::Decode(got))) => {
            assert_eq!(&e, got, "the service decoded differently");
            assert_eq!(code, e.code());
            None
        }
        (Err(e), other) => panic!("the body does not decode ({e}) but was answered {other:?}"),
        (Ok(_), Err(ApiError::Decode(got))) => {
            panic!("the body decodes but was answered with a decode error: {got}")
        }
        (Ok(req), _) => {
            assert!(
                code != ErrorCode::BODY_JSON_PARSE,
                "a body that decodes was answered 60003"
            );
            let again = serde_json::to_vec(&req).expect("a decoded request encodes");
            match decode_json::<R>(&again) {
                Ok(back) => assert_eq!(back, req, "re-encoding changed the request"),
                Err(e) => panic!(
                    "the re-encoded request does not decode ({e}): {}",
                    String::from_utf8_lossy(&again)
                ),
            }
            Some(req)
        }
    }
}

/// The answer as the HTTP layer writes it, read back: `ActionStatus`, `ErrorCode` and
/// `ErrorInfo` say what the answer is.
fn envelope_round_trip(answer: &Result<ApiBody, ApiError>, code: ErrorCode) {
    let (envelope, body) = match answer {
        Ok(body) => (Envelope::ok(), Some(body)),
        Err(e) => (Envelope::fail(e.code(), e.info()), None),
    };
    let response = Response {
        envelope: Envelope {
            request_id: Some("Id-fuzz".into()),
            ..envelope
        },
        body,
    };
    let bytes = serde_json::to_vec(&response).expect("an answer always encodes");
    let Value::Object(back) = serde_json::from_slice::<Value>(&bytes).expect("answers are JSON")
    else {
        panic!("an answer is not a JSON object");
    };
    let status = if code.is_ok() { "OK" } else { "FAIL" };
    assert_eq!(back.get("ActionStatus"), Some(&Value::from(status)));
    assert_eq!(back.get("ErrorCode"), Some(&Value::from(code.0)));
    assert!(back.get("ErrorInfo").is_some_and(Value::is_string));
    if !code.is_ok() {
        assert!(
            back.len() == 4,
            "a failure carries the envelope only: {back:?}"
        );
    }
}
