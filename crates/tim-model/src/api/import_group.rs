//! `POST /v4/group_open_http_svc/import_group`: import a group's base profile.
//!
//! Digest §4.2 ([IMP-GRP], [SDK-2022]).

use serde::{Deserialize, Serialize};

use super::{ApiRequest, AppDefinedData, Extra};
use crate::endpoint::Command;
use crate::group_type::GroupType;

/// Longest `Name`, in UTF-8 bytes (digest §4.1).
pub const NAME_MAX_BYTES: usize = 30;
/// Longest `Introduction`, in UTF-8 bytes.
pub const INTRODUCTION_MAX_BYTES: usize = 240;
/// Longest `Notification`, in UTF-8 bytes.
pub const NOTIFICATION_MAX_BYTES: usize = 300;
/// Longest `FaceUrl`, in UTF-8 bytes.
pub const FACE_URL_MAX_BYTES: usize = 100;
/// The `ApplyJoinOption` values (digest §4.2); `NeedPermission` is the default.
pub const APPLY_JOIN_OPTIONS: [&str; 3] = ["FreeAccess", "NeedPermission", "DisableApply"];
/// The default `ApplyJoinOption`.
pub const DEFAULT_APPLY_JOIN_OPTION: &str = "NeedPermission";

/// Profile fields shared by `import_group` and `create_group`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupProfile {
    /// Owner account; absent means no owner.
    #[serde(
        rename = "Owner_Account",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub owner_account: Option<String>,
    /// Group type.
    #[serde(rename = "Type")]
    pub group_type: GroupType,
    /// Custom group ID; absent means the server assigns one.
    #[serde(rename = "GroupId", default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Group name (≤ 30 bytes).
    #[serde(rename = "Name")]
    pub name: String,
    /// Introduction (≤ 240 bytes).
    #[serde(
        rename = "Introduction",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub introduction: Option<String>,
    /// Notification (≤ 300 bytes).
    #[serde(
        rename = "Notification",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notification: Option<String>,
    /// Avatar URL (≤ 100 bytes).
    #[serde(rename = "FaceUrl", default, skip_serializing_if = "Option::is_none")]
    pub face_url: Option<String>,
    /// Member capacity.
    #[serde(
        rename = "MaxMemberCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_member_count: Option<u64>,
    /// `FreeAccess`, `NeedPermission` (default) or `DisableApply`.
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
    /// Community only: whether topics are supported (1/0).
    #[serde(
        rename = "SupportTopic",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub support_topic: Option<i64>,
    /// Unmodelled fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl GroupProfile {
    /// A profile with the required fields.
    pub fn new(group_type: GroupType, name: impl Into<String>) -> Self {
        GroupProfile {
            owner_account: None,
            group_type,
            group_id: None,
            name: name.into(),
            introduction: None,
            notification: None,
            face_url: None,
            max_member_count: None,
            apply_join_option: None,
            app_defined_data: None,
            support_topic: None,
            extra: Extra::new(),
        }
    }
}

/// Request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportGroupRequest {
    /// Creation time, Unix seconds; defaults to the request time. Lower bound for message and join times.
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
    /// The profile.
    #[serde(flatten)]
    pub profile: GroupProfile,
}

// Decoded through `GroupProfile` (not a flatten) so that errors keep their JSON path.
impl<'de> Deserialize<'de> for ImportGroupRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut profile = GroupProfile::deserialize(d)?;
        let create_time = super::take_field(&mut profile.extra, "CreateTime")?;
        Ok(ImportGroupRequest {
            create_time,
            profile,
        })
    }
}

/// Response body of `import_group` and `create_group`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupIdResponse {
    /// The group ID, assigned or echoed.
    #[serde(rename = "GroupId", default, skip_serializing_if = "String::is_empty")]
    pub group_id: String,
}

impl ApiRequest for ImportGroupRequest {
    const COMMAND: Command = Command::ImportGroup;
    type Response = GroupIdResponse;
}
