//! `get_group_info` (digest §4.7).

use tim_model::api::get_group_info::{
    GetGroupInfoRequest, GetGroupInfoResponse, GroupInfo, MemberInfo,
};
use tim_model::api::import_group::DEFAULT_APPLY_JOIN_OPTION;
use tim_model::ErrorCode;

use super::Service;
use crate::error::ApiError;
use crate::store::GroupRecord;

impl Service {
    /// `get_group_info` (digest §4.7): each group gets its own `ErrorCode`.
    pub fn get_group_info(
        &self,
        req: GetGroupInfoRequest,
    ) -> Result<GetGroupInfoResponse, ApiError> {
        let max = self.config.limits.group_info_max_ids;
        if req.group_id_list.is_empty() || req.group_id_list.len() > max {
            return Err(ApiError::InvalidParameter(format!(
                "GroupIdList has {} entries; send 1 to {max}",
                req.group_id_list.len()
            )));
        }
        let mut out = Vec::with_capacity(req.group_id_list.len());
        for id in req.group_id_list {
            let info = match self.existing_group(&id) {
                Ok(g) => self.group_info(g)?,
                Err(e) => GroupInfo::error(id, e.code(), e.info()),
            };
            out.push(info);
        }
        Ok(GetGroupInfoResponse { group_info: out })
    }

    fn group_info(&self, g: GroupRecord) -> Result<GroupInfo, ApiError> {
        let members = self.store.members(&g.group_id)?;
        let last_seq = g.next_msg_seq.saturating_sub(1);
        let p = g.profile;
        let mut info = GroupInfo::error(g.group_id, ErrorCode::OK, "");
        info.group_type = Some(g.group_type);
        info.name = Some(p.name);
        info.introduction = Some(p.introduction.unwrap_or_default());
        info.notification = Some(p.notification.unwrap_or_default());
        info.face_url = Some(p.face_url.unwrap_or_default());
        info.owner_account = Some(p.owner_account.unwrap_or_default());
        info.create_time = Some(g.create_time);
        info.last_msg_time = Some(g.last_msg_time.unwrap_or(0));
        info.next_msg_seq = Some(g.next_msg_seq);
        info.member_num = Some(g.member_num);
        info.max_member_num = p.max_member_count;
        info.apply_join_option = Some(
            p.apply_join_option
                .unwrap_or_else(|| DEFAULT_APPLY_JOIN_OPTION.into()),
        );
        info.app_defined_data = p.app_defined_data;
        info.member_list = Some(
            members
                .into_iter()
                .map(|m| MemberInfo {
                    member_account: m.account,
                    role: m.role.as_str().to_owned(),
                    join_time: Some(m.join_time),
                    msg_seq: Some(last_seq.saturating_sub(m.unread_msg_num)),
                    unread_msg_num: Some(m.unread_msg_num),
                    extra: Default::default(),
                })
                .collect(),
        );
        Ok(info)
    }
}
