//! `POST /v4/group_open_http_svc/get_group_info`: read group profiles.
//!
//! Digest §4.7 ([SDK-2022]). Each group in the answer carries its own `ErrorCode`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiRequest, AppDefinedData, Extra};
use crate::endpoint::Command;
use crate::error_code::ErrorCode;
use crate::group_type::GroupType;

/// Request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetGroupInfoRequest {
    /// The groups to read.
    #[serde(rename = "GroupIdList")]
    pub group_id_list: Vec<String>,
    /// Field filters (kept as read; the reference server returns every field).
    #[serde(
        rename = "ResponseFilter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_filter: Option<Value>,
}

/// Response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetGroupInfoResponse {
    /// One entry per requested group, in request order.
    #[serde(rename = "GroupInfo", default, skip_serializing_if = "Vec::is_empty")]
    pub group_info: Vec<GroupInfo>,
}

/// One group's profile, or its error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// 0, or why this group could not be read (e.g. 10010).
    #[serde(rename = "ErrorCode")]
    pub error_code: ErrorCode,
    /// Error text.
    #[serde(rename = "ErrorInfo", default)]
    pub error_info: String,
    /// Group ID.
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// Group type.
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
    /// Name.
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Introduction.
    #[serde(
        rename = "Introduction",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub introduction: Option<String>,
    /// Notification.
    #[serde(
        rename = "Notification",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notification: Option<String>,
    /// Avatar URL.
    #[serde(rename = "FaceUrl", default, skip_serializing_if = "Option::is_none")]
    pub face_url: Option<String>,
    /// Owner account.
    #[serde(
        rename = "Owner_Account",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub owner_account: Option<String>,
    /// Creation time, Unix seconds.
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
    /// Time of the newest message, Unix seconds (0 when there is none).
    #[serde(
        rename = "LastMsgTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_msg_time: Option<i64>,
    /// The next sequence number to be assigned.
    #[serde(
        rename = "NextMsgSeq",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_msg_seq: Option<u64>,
    /// Member count.
    #[serde(rename = "MemberNum", default, skip_serializing_if = "Option::is_none")]
    pub member_num: Option<u64>,
    /// Member capacity.
    #[serde(
        rename = "MaxMemberNum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_member_num: Option<u64>,
    /// Join option.
    #[serde(
        rename = "ApplyJoinOption",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub apply_join_option: Option<String>,
    /// App-defined group data.
    #[serde(
        rename = "AppDefinedData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_defined_data: Option<Vec<AppDefinedData>>,
    /// Members.
    #[serde(
        rename = "MemberList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub member_list: Option<Vec<MemberInfo>>,
    /// Documented fields this crate does not model (`Appid`, `InfoSeq`, `LastInfoTime`,
    /// `ShutUpAllMember`, …), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl GroupInfo {
    /// An entry that reports only an error for `group_id`.
    pub fn error(group_id: impl Into<String>, code: ErrorCode, info: impl Into<String>) -> Self {
        GroupInfo {
            error_code: code,
            error_info: info.into(),
            group_id: group_id.into(),
            group_type: None,
            name: None,
            introduction: None,
            notification: None,
            face_url: None,
            owner_account: None,
            create_time: None,
            last_msg_time: None,
            next_msg_seq: None,
            member_num: None,
            max_member_num: None,
            apply_join_option: None,
            app_defined_data: None,
            member_list: None,
            extra: Extra::new(),
        }
    }
}

/// A member as reported by `get_group_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Member account.
    #[serde(rename = "Member_Account")]
    pub member_account: String,
    /// `Owner`, `Admin` or `Member`.
    #[serde(rename = "Role")]
    pub role: String,
    /// Join time (absent when filtered out).
    #[serde(rename = "JoinTime", default, skip_serializing_if = "Option::is_none")]
    pub join_time: Option<i64>,
    /// Sequence number the member has read up to (absent when filtered out).
    #[serde(rename = "MsgSeq", default, skip_serializing_if = "Option::is_none")]
    pub msg_seq: Option<u64>,
    /// Unread count (reference-server extension; consistent with `MsgSeq`).
    #[serde(
        rename = "UnreadMsgNum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unread_msg_num: Option<u64>,
    /// Documented fields this crate does not model (`MsgFlag`, `LastSendMsgTime`, `NameCard`,
    /// `ShutUpUntil`, `AppMemberDefinedData`, …), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ApiRequest for GetGroupInfoRequest {
    const COMMAND: Command = Command::GetGroupInfo;
    type Response = GetGroupInfoResponse;
}
