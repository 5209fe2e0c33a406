//! `POST /v4/group_open_http_svc/create_group`: create a group.
//!
//! Digest §4.5 ([SDK-2022]).

use serde::{Deserialize, Serialize};

use super::import_group::{GroupIdResponse, GroupProfile};
use super::{ApiRequest, AppDefinedData};
use crate::endpoint::Command;

/// Request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateGroupRequest {
    /// Initial members.
    #[serde(
        rename = "MemberList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub member_list: Option<Vec<CreateGroupMember>>,
    /// The profile.
    #[serde(flatten)]
    pub profile: GroupProfile,
}

// Decoded through `GroupProfile` (not a flatten) so that errors keep their JSON path.
impl<'de> Deserialize<'de> for CreateGroupRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut profile = GroupProfile::deserialize(d)?;
        let member_list = super::take_field(&mut profile.extra, "MemberList")?;
        Ok(CreateGroupRequest {
            member_list,
            profile,
        })
    }
}

/// An initial member of `create_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateGroupMember {
    /// Member account.
    #[serde(rename = "Member_Account")]
    pub member_account: String,
    /// `Admin` or absent.
    #[serde(rename = "Role", default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Join time, Unix seconds.
    #[serde(rename = "JoinTime", default, skip_serializing_if = "Option::is_none")]
    pub join_time: Option<i64>,
    /// Message sequence the member has read up to.
    #[serde(rename = "MsgSeq", default, skip_serializing_if = "Option::is_none")]
    pub msg_seq: Option<u64>,
    /// Message receive option.
    #[serde(rename = "MsgFlag", default, skip_serializing_if = "Option::is_none")]
    pub msg_flag: Option<String>,
    /// Name card.
    #[serde(rename = "NameCard", default, skip_serializing_if = "Option::is_none")]
    pub name_card: Option<String>,
    /// Last message time.
    #[serde(
        rename = "LastSendMsgTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_send_msg_time: Option<i64>,
    /// App-defined member data.
    #[serde(
        rename = "AppMemberDefinedData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_member_defined_data: Option<Vec<AppDefinedData>>,
}

impl ApiRequest for CreateGroupRequest {
    const COMMAND: Command = Command::CreateGroup;
    type Response = GroupIdResponse;
}
