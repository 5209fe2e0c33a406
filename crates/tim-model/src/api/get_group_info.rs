//! `POST /v4/group_open_http_svc/get_group_info`: read group profiles.
//!
//! Digest §4.7 ([SDK-2022]). Each group in the answer carries its own `ErrorCode`. A
//! [`ResponseFilter`] narrows what each entry reports: the fields that every entry keeps whatever
//! the filter says (`ErrorCode`, `ErrorInfo`, `GroupId`; a member's `Member_Account`) live in
//! [`GroupInfo`] and [`MemberInfo`] themselves, the filterable ones in [`GroupBaseInfo`] and
//! [`MemberBaseInfo`], so that each wire name is written once, in its `serde` attribute.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiRequest, AppDefinedData, Extra};
use crate::endpoint::Command;
use crate::error_code::ErrorCode;
use crate::group_type::GroupType;

/// `ShutUpAllMember` of a group in which nobody is muted.
pub const SHUT_UP_ALL_MEMBER_OFF: &str = "Off";

/// `MsgFlag` of a member who receives messages and notifications (the default).
pub const MSG_FLAG_ACCEPT_AND_NOTIFY: &str = "AcceptAndNotify";

/// Request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetGroupInfoRequest {
    /// The groups to read.
    #[serde(rename = "GroupIdList")]
    pub group_id_list: Vec<String>,
    /// Which fields to return; absent means every field.
    #[serde(
        rename = "ResponseFilter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_filter: Option<ResponseFilter>,
}

/// `ResponseFilter`: each list names what to return; an absent list means "everything".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseFilter {
    /// Names of [`GroupBaseInfo`] fields to return.
    #[serde(
        rename = "GroupBaseInfoFilter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub group_base_info_filter: Option<Vec<String>>,
    /// Names of [`MemberBaseInfo`] fields to return for every member.
    #[serde(
        rename = "MemberInfoFilter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub member_info_filter: Option<Vec<String>>,
    /// Keys of the group's `AppDefinedData` to return.
    #[serde(
        rename = "AppDefinedDataFilter_Group",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_defined_data_filter_group: Option<Vec<String>>,
    /// Keys of every member's `AppMemberDefinedData` to return.
    #[serde(
        rename = "AppDefinedDataFilter_GroupMember",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_defined_data_filter_group_member: Option<Vec<String>>,
    /// Other filter fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Why a filter could not be applied (a field that does not survive its own re-encoding: a bug).
#[derive(Debug, thiserror::Error)]
#[error("cannot apply ResponseFilter: {0}")]
pub struct FilterError(#[from] serde_json::Error);

impl ResponseFilter {
    /// Narrows `info` to what this filter asks for. `GroupId`, `ErrorCode`, `ErrorInfo` and each
    /// member's `Member_Account` always stay; a list that is absent keeps everything it governs.
    pub fn apply(&self, info: &mut GroupInfo) -> Result<(), FilterError> {
        if let Some(names) = &self.group_base_info_filter {
            retain_named(&mut info.base, names)?;
        }
        if let (Some(keys), Some(data)) = (
            &self.app_defined_data_filter_group,
            &mut info.app_defined_data,
        ) {
            data.retain(|d| keys.contains(&d.key));
        }
        for m in info.member_list.iter_mut().flatten() {
            if let Some(names) = &self.member_info_filter {
                retain_named(&mut m.base, names)?;
            }
            if let (Some(keys), Some(data)) = (
                &self.app_defined_data_filter_group_member,
                &mut m.app_member_defined_data,
            ) {
                data.retain(|d| keys.contains(&d.key));
            }
        }
        Ok(())
    }
}

/// Keeps the fields of `value` whose wire names are in `names`, by re-encoding it: the names
/// come from the type's own `serde` attributes. Every field of `T` must be optional.
fn retain_named<T: Serialize + DeserializeOwned>(
    value: &mut T,
    names: &[String],
) -> Result<(), serde_json::Error> {
    let Value::Object(mut map) = serde_json::to_value(&*value)? else {
        return Ok(());
    };
    map.retain(|k, _| names.iter().any(|n| n == k));
    *value = serde_json::from_value(Value::Object(map))?;
    Ok(())
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
    /// The profile fields that `GroupBaseInfoFilter` selects.
    #[serde(flatten)]
    pub base: GroupBaseInfo,
    /// App-defined group data (narrowed by `AppDefinedDataFilter_Group`).
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
    /// Fields this crate does not model, kept.
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
            base: GroupBaseInfo::default(),
            app_defined_data: None,
            member_list: None,
            extra: Extra::new(),
        }
    }
}

/// A group's base profile (digest §4.7): the fields `GroupBaseInfoFilter` names. Each is absent
/// when filtered out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupBaseInfo {
    /// Group type.
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<GroupType>,
    /// Name.
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The SDKAppID the group belongs to.
    #[serde(rename = "Appid", default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<u64>,
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
    /// Version of the profile: grows with every profile change.
    #[serde(rename = "InfoSeq", default, skip_serializing_if = "Option::is_none")]
    pub info_seq: Option<u64>,
    /// Time of the last profile change, Unix seconds.
    #[serde(
        rename = "LastInfoTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_info_time: Option<i64>,
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
    /// Whether every member is muted (`"On"`, or [`SHUT_UP_ALL_MEMBER_OFF`]).
    #[serde(
        rename = "ShutUpAllMember",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub shut_up_all_member: Option<String>,
}

/// A member as reported by `get_group_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Member account.
    #[serde(rename = "Member_Account")]
    pub member_account: String,
    /// The member fields that `MemberInfoFilter` selects.
    #[serde(flatten)]
    pub base: MemberBaseInfo,
    /// App-defined member data (narrowed by `AppDefinedDataFilter_GroupMember`).
    #[serde(
        rename = "AppMemberDefinedData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_member_defined_data: Option<Vec<AppDefinedData>>,
    /// Fields this crate does not model, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A member's fields that `MemberInfoFilter` names (digest §4.7). Each is absent when filtered out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberBaseInfo {
    /// `Owner`, `Admin` or `Member`.
    #[serde(rename = "Role", default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Join time, Unix seconds.
    #[serde(rename = "JoinTime", default, skip_serializing_if = "Option::is_none")]
    pub join_time: Option<i64>,
    /// Sequence number the member has read up to.
    #[serde(rename = "MsgSeq", default, skip_serializing_if = "Option::is_none")]
    pub msg_seq: Option<u64>,
    /// How the member receives messages ([`MSG_FLAG_ACCEPT_AND_NOTIFY`], …).
    #[serde(rename = "MsgFlag", default, skip_serializing_if = "Option::is_none")]
    pub msg_flag: Option<String>,
    /// Time of the member's newest message in the group, Unix seconds (0 when none).
    #[serde(
        rename = "LastSendMsgTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_send_msg_time: Option<i64>,
    /// The member's name card in the group.
    #[serde(rename = "NameCard", default, skip_serializing_if = "Option::is_none")]
    pub name_card: Option<String>,
    /// Muted until this Unix time (0: not muted).
    #[serde(
        rename = "ShutUpUntil",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub shut_up_until: Option<i64>,
    /// Unread count (reference-server extension, not in the documents; consistent with `MsgSeq`).
    #[serde(
        rename = "UnreadMsgNum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unread_msg_num: Option<u64>,
}

impl ApiRequest for GetGroupInfoRequest {
    const COMMAND: Command = Command::GetGroupInfo;
    type Response = GetGroupInfoResponse;
}
