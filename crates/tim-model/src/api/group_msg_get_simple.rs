//! `POST /v4/group_open_http_svc/group_msg_get_simple`: read group history, newest first.
//!
//! Digest §4.8 ([SEED-ERA], [GET-SIMPLE], [SDK-2022]).

use serde::{Deserialize, Serialize};

use super::{ApiRequest, Extra};
use crate::element::MsgElement;
use crate::endpoint::Command;

/// Request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMsgGetSimpleRequest {
    /// The group.
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// How many messages to return (at most 20 are returned).
    #[serde(rename = "ReqMsgNumber")]
    pub req_msg_number: i64,
    /// Return messages with seq ≤ this; absent means the newest.
    #[serde(rename = "ReqMsgSeq", default, skip_serializing_if = "Option::is_none")]
    pub req_msg_seq: Option<u64>,
    /// 1 includes recalled messages (current edition).
    #[serde(
        rename = "WithRecalledMsg",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub with_recalled_msg: Option<i64>,
}

/// Response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMsgGetSimpleResponse {
    /// The group.
    #[serde(rename = "GroupId", default, skip_serializing_if = "String::is_empty")]
    pub group_id: String,
    /// 1 when the whole requested range was returned, 0 otherwise.
    #[serde(rename = "IsFinished", default)]
    pub is_finished: i64,
    /// Messages, newest first.
    #[serde(rename = "RspMsgList", default)]
    pub rsp_msg_list: Vec<HistoryMsg>,
}

/// A message as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryMsg {
    /// Sender.
    #[serde(rename = "From_Account")]
    pub from_account: String,
    /// 1 when the body was deleted or expired; 0 otherwise.
    #[serde(rename = "IsPlaceMsg")]
    pub is_place_msg: i64,
    /// Content.
    #[serde(rename = "MsgBody")]
    pub msg_body: Vec<MsgElement>,
    /// The message's random (supplied or generated).
    #[serde(rename = "MsgRandom")]
    pub msg_random: u32,
    /// Sequence number.
    #[serde(rename = "MsgSeq")]
    pub msg_seq: u64,
    /// Timestamp.
    #[serde(rename = "MsgTimeStamp")]
    pub msg_time_stamp: i64,
    /// Custom data, when the message had some.
    #[serde(
        rename = "CloudCustomData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_custom_data: Option<String>,
    /// Fields this crate does not model (current edition: `MsgPriority`, `IsSystemMsg`, …), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ApiRequest for GroupMsgGetSimpleRequest {
    const COMMAND: Command = Command::GroupMsgGetSimple;
    type Response = GroupMsgGetSimpleResponse;
}
