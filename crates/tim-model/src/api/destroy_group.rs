//! `POST /v4/group_open_http_svc/destroy_group`: dismiss a group.
//!
//! Digest §4.6 ([SDK-2022]). Later calls on the group get 10010.

use serde::{Deserialize, Serialize};

use super::ApiRequest;
use crate::endpoint::Command;
use crate::envelope::Empty;

/// Request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestroyGroupRequest {
    /// The group to dismiss.
    #[serde(rename = "GroupId")]
    pub group_id: String,
}

impl ApiRequest for DestroyGroupRequest {
    const COMMAND: Command = Command::DestroyGroup;
    type Response = Empty;
}
