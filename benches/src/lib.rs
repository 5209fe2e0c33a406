//! Shared inputs for the criterion benches and the load driver ([`load`], binary `tim-load`),
//! and the bare axum [`baseline`] both compare the reference server with.
//!
//! Every builder is deterministic: the same call gives the same bytes, so bench numbers compare
//! across runs. The import batches are fully valid against [`group_snapshot`], [`restricted_words`]
//! and [`NOW`], so a bench of decode → validate → verdict walks every rule without stopping early.

pub mod baseline;
pub mod load;

use tim_model::api::import_group_msg::{
    ImportGroupMsgRequest, ImportGroupMsgResponse, ImportMsg, ImportMsgResult,
};
use tim_model::element::{CustomElem, Extra, FaceElem};
use tim_model::validate::GroupSnapshot;
use tim_model::{Edition, ErrorCode, GroupType, MsgElement, Response};

/// The group every input targets (the ID of the spec samples).
pub const GROUP_ID: &str = "@TGS#2C5SZEAEF";
/// Creation time of the bench group, Unix seconds.
pub const CREATE_TIME: i64 = 1_448_357_000;
/// `SendTime` of the first message of a batch; message `i` is sent `10 × i` seconds later.
pub const FIRST_SEND_TIME: i64 = CREATE_TIME + 3_600;
/// The validation clock of the benches, Unix seconds.
pub const NOW: i64 = 1_700_000_000;

const SENDERS: [&str; 4] = ["leckie", "peter", "tommy", "jared"];

/// Message `i` of a batch: about 200 bytes as [`tim_model::validate::message_size`] counts them,
/// cycling through a text element, a text + face pair and a custom element.
pub fn message(i: usize) -> ImportMsg {
    let body = match i % 3 {
        0 => vec![MsgElement::text(format!(
            "Message {i:03} imported from the legacy system: the planning meeting moved to Thursday \
             15:00 in room 4B; please bring the budget draft and the Q3 numbers."
        ))],
        1 => vec![
            MsgElement::text(format!("Congratulations on the launch, team! Message {i:03}, 红包 for everyone 🎉")),
            MsgElement::Face(FaceElem {
                index: (i % 20) as i64,
                data: Some(format!("face_{i:03}\u{0}\u{1}")),
                extra: Extra::new(),
            }),
        ],
        _ => vec![MsgElement::Custom(CustomElem {
            data: format!(r#"{{"businessID":"order","orderId":"A2021-{i:05}","amount":128.5,"currency":"CNY"}}"#),
            desc: Some("order update".to_owned()),
            ext: Some(format!("https://example.com/orders/A2021-{i:05}")),
            sound: None,
            extra: Extra::new(),
        })],
    };
    let mut m = ImportMsg::new(
        SENDERS[i % SENDERS.len()],
        FIRST_SEND_TIME + 10 * i as i64,
        body,
    );
    m.random = Some(i64::from((i as u32).wrapping_mul(2_654_435_761)));
    m
}

/// A request of `n` messages ([`message`] `0..n`) into [`GROUP_ID`].
pub fn import_batch(n: usize) -> ImportGroupMsgRequest {
    ImportGroupMsgRequest::new(GROUP_ID, (0..n).map(message).collect())
}

/// A full batch for `edition` (20 messages for seed, 7 for current, with `RecentContactFlag: 1`
/// in current), as the compact JSON body a client sends.
pub fn import_batch_json(edition: Edition) -> Vec<u8> {
    let mut req = import_batch(edition.limits().msgs_per_request);
    if edition == Edition::Current {
        req.recent_contact_flag = Some(1);
    }
    serde_json::to_vec(&req).expect("an import request always serializes")
}

/// The target group: `Public`, created at [`CREATE_TIME`], newest message one second before
/// [`FIRST_SEND_TIME`].
pub fn group_snapshot() -> GroupSnapshot {
    GroupSnapshot {
        group_type: GroupType::Public,
        create_time: CREATE_TIME,
        last_msg_time: Some(FIRST_SEND_TIME - 1),
    }
}

/// A restricted-word list of realistic length that no bench message contains.
pub fn restricted_words() -> Vec<String> {
    (0..50).map(|i| format!("blocked-term-{i:02}")).collect()
}

/// A success response to a batch of `n` messages ([`message`] `0..n`): sequence numbers from 1 and
/// `MsgTime` = `SendTime`, with a `RequestId` as the current edition sends it.
pub fn import_response(n: usize) -> Response<ImportGroupMsgResponse> {
    let mut resp = Response::ok(ImportGroupMsgResponse {
        import_msg_result: (0..n)
            .map(|i| ImportMsgResult {
                result: ErrorCode::OK,
                msg_seq: i as u64 + 1,
                msg_time: FIRST_SEND_TIME + 10 * i as i64,
            })
            .collect(),
    });
    resp.envelope.request_id = Some("Id-70e312f1de82af18b2d1ea1f5aa4f7ba-O-Seq-63504".to_owned());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use tim_model::validate::{message_size, validate_import, verdict, Context, Verdict};

    #[test]
    fn messages_are_about_200_bytes() {
        for i in 0..20 {
            let size = message_size(&message(i));
            assert!((170..=250).contains(&size), "message {i} is {size} bytes");
        }
    }

    #[test]
    fn full_batches_are_valid() {
        for edition in [Edition::Seed, Edition::Current] {
            let limits = edition.limits();
            let body = import_batch_json(edition);
            let req: ImportGroupMsgRequest = tim_model::decode_json(&body).unwrap();
            assert_eq!(req.msg_list.len(), limits.msgs_per_request);
            let group = group_snapshot();
            let words = restricted_words();
            let ctx = Context {
                limits: &limits,
                group: Some(&group),
                restricted_words: &words,
                now: NOW,
                duplicates: &[],
            };
            let problems = validate_import(&req, ctx);
            assert_eq!(problems, []);
            assert_eq!(
                verdict(&problems, req.msg_list.len(), &limits),
                Verdict::Accept {
                    outcomes: vec![None; limits.msgs_per_request]
                }
            );
        }
    }

    #[test]
    fn response_has_one_result_per_message() {
        let json = serde_json::to_string(&import_response(20)).unwrap();
        assert_eq!(json.matches("\"Result\":0").count(), 20);
        assert!(
            json.starts_with(r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RequestId":"#)
        );
    }
}
