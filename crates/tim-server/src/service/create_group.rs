//! `create_group` (digest §4.5).

use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::import_group::GroupIdResponse;
use tim_model::GroupType;

use super::{check_account, type_refused, Service};
use crate::error::ApiError;
use crate::store::{NewMember, Role};

impl Service {
    /// `create_group` (digest §4.5).
    pub fn create_group(&self, req: CreateGroupRequest) -> Result<GroupIdResponse, ApiError> {
        let now = self.clock.now();
        let t = &req.profile.group_type;
        if !self.limits().can_create(t) {
            return Err(type_refused("create_group", t));
        }
        let list = req.member_list.unwrap_or_default();
        if *t == GroupType::AVChatRoom && !list.is_empty() {
            return Err(ApiError::PermissionDenied(
                "an AVChatRoom cannot be created with members".into(),
            ));
        }
        let mut members = Vec::with_capacity(list.len());
        for (i, m) in list.into_iter().enumerate() {
            check_account(
                &format!("MemberList[{i}].Member_Account"),
                &m.member_account,
            )?;
            let role = match m.role.as_deref().map(|r| (r, Role::parse(r))) {
                None | Some((_, Some(Role::Member))) => Role::Member,
                Some((_, Some(Role::Admin))) => Role::Admin,
                Some((other, _)) => {
                    return Err(ApiError::InvalidParameter(format!(
                    "MemberList[{i}].Role: {other:?} is not allowed; use \"Admin\" or leave it out"
                )))
                }
            };
            let join_time = m.join_time.unwrap_or(now);
            if join_time > now {
                return Err(ApiError::InvalidParameter(format!(
                    "MemberList[{i}].JoinTime: {join_time} is in the future"
                )));
            }
            members.push(NewMember {
                account: m.member_account,
                role,
                join_time,
                unread_msg_num: None,
            });
        }
        self.create(req.profile, now, members)
    }
}
