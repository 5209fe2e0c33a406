//! `POST /v4/group_open_http_svc/set_unread_msg_num`: set one member's unread count.
//!
//! Digest §4.4 ([SEED-ERA], [SDK-2022]). Values above the group's message count are clamped.

use serde::{Deserialize, Serialize};

use super::ApiRequest;
use crate::endpoint::Command;
use crate::envelope::Empty;

/// Request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetUnreadMsgNumRequest {
    /// The group.
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// The member.
    #[serde(rename = "Member_Account")]
    pub member_account: String,
    /// The unread count to set.
    #[serde(rename = "UnreadMsgNum")]
    pub unread_msg_num: i64,
}

impl ApiRequest for SetUnreadMsgNumRequest {
    const COMMAND: Command = Command::SetUnreadMsgNum;
    type Response = Empty;
}
