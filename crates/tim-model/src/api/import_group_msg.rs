//! `POST /v4/group_open_http_svc/import_group_msg`: import historical group messages.
//!
//! Seed document §2.7–§2.11; current edition digest §1.4–§1.8.

use serde::{Deserialize, Serialize};

use super::{ApiRequest, Extra};
use crate::element::MsgElement;
use crate::endpoint::Command;
use crate::error_code::ErrorCode;

/// Request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportGroupMsgRequest {
    /// The group to import into.
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// `1` also updates recent contacts (current edition only).
    #[serde(
        rename = "RecentContactFlag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub recent_contact_flag: Option<i64>,
    /// The messages, in `SendTime` order.
    #[serde(rename = "MsgList")]
    pub msg_list: Vec<ImportMsg>,
    /// Unmodelled fields (e.g. `TopicId`), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ImportGroupMsgRequest {
    /// A request with the required fields.
    pub fn new(group_id: impl Into<String>, msg_list: Vec<ImportMsg>) -> Self {
        ImportGroupMsgRequest {
            group_id: group_id.into(),
            recent_contact_flag: None,
            msg_list,
            extra: Extra::new(),
        }
    }
}

/// One message of `MsgList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportMsg {
    /// Sender account.
    #[serde(rename = "From_Account")]
    pub from_account: String,
    /// Send time, Unix seconds.
    #[serde(rename = "SendTime")]
    pub send_time: i64,
    /// 32-bit random used for duplicate detection (read as i64 so that out-of-range values are reported).
    #[serde(rename = "Random", default, skip_serializing_if = "Option::is_none")]
    pub random: Option<i64>,
    /// Message content: an array of elements.
    #[serde(rename = "MsgBody")]
    pub msg_body: Vec<MsgElement>,
    /// Custom data stored with the message (digest §7 Q16: accepted, never required).
    #[serde(
        rename = "CloudCustomData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_custom_data: Option<String>,
    /// Unmodelled fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ImportMsg {
    /// A message with the required fields.
    pub fn new(from_account: impl Into<String>, send_time: i64, msg_body: Vec<MsgElement>) -> Self {
        ImportMsg {
            from_account: from_account.into(),
            send_time,
            random: None,
            msg_body,
            cloud_custom_data: None,
            extra: Extra::new(),
        }
    }
}

/// Response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportGroupMsgResponse {
    /// One result per message, in request order (absent on `FAIL`).
    #[serde(
        rename = "ImportMsgResult",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub import_msg_result: Vec<ImportMsgResult>,
}

/// The outcome of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMsgResult {
    /// 0 imported; 10004 invalid send time; 80001 restricted words; 80002 too long.
    #[serde(rename = "Result")]
    pub result: ErrorCode,
    /// Sequence number assigned in the group (0 when the message was not stored, digest §7 Q3).
    #[serde(rename = "MsgSeq")]
    pub msg_seq: u64,
    /// Message timestamp (= `SendTime`).
    #[serde(rename = "MsgTime")]
    pub msg_time: i64,
}

impl ApiRequest for ImportGroupMsgRequest {
    const COMMAND: Command = Command::ImportGroupMsg;
    type Response = ImportGroupMsgResponse;
}
