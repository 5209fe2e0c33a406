//! `POST /v4/group_open_http_svc/import_group_member`: import members.
//!
//! Digest §4.3 ([IMP-MEM], [SDK-2022]).

use serde::{Deserialize, Serialize};

use super::ApiRequest;
use crate::endpoint::Command;

/// Request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportGroupMemberRequest {
    /// The group.
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// The members to import.
    #[serde(rename = "MemberList")]
    pub member_list: Vec<ImportMember>,
}

/// A member to import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMember {
    /// Member account.
    #[serde(rename = "Member_Account")]
    pub member_account: String,
    /// `Admin`, or absent for an ordinary member.
    #[serde(rename = "Role", default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Join time, Unix seconds; must be after the group's creation and not in the future.
    #[serde(rename = "JoinTime", default, skip_serializing_if = "Option::is_none")]
    pub join_time: Option<i64>,
    /// Unread count, clamped to the group's message count.
    #[serde(
        rename = "UnreadMsgNum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unread_msg_num: Option<i64>,
}

/// `Result` of one member: 0 failed, 1 added, 2 already a member.
pub mod member_result {
    /// The member could not be imported.
    pub const FAILED: u32 = 0;
    /// The member was imported.
    pub const ADDED: u32 = 1;
    /// The account was already a member.
    pub const ALREADY_MEMBER: u32 = 2;
}

/// Response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportGroupMemberResponse {
    /// One result per member, in request order.
    #[serde(rename = "MemberList", default, skip_serializing_if = "Vec::is_empty")]
    pub member_list: Vec<MemberResult>,
}

/// The outcome for one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberResult {
    /// Member account.
    #[serde(rename = "Member_Account")]
    pub member_account: String,
    /// See [`member_result`].
    #[serde(rename = "Result")]
    pub result: u32,
}

impl ApiRequest for ImportGroupMemberRequest {
    const COMMAND: Command = Command::ImportGroupMember;
    type Response = ImportGroupMemberResponse;
}
