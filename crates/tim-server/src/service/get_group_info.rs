//! `get_group_info` (digest §4.7): every documented field, narrowed by `ResponseFilter`.

use tim_model::api::get_group_info::{
    GetGroupInfoRequest, GetGroupInfoResponse, GroupBaseInfo, GroupInfo, MemberBaseInfo,
    MemberInfo, MSG_FLAG_ACCEPT_AND_NOTIFY, SHUT_UP_ALL_MEMBER_OFF,
};
use tim_model::api::import_group::DEFAULT_APPLY_JOIN_OPTION;
use tim_model::ErrorCode;

use super::Service;
use crate::error::ApiError;
use crate::store::GroupRecord;

/// `InfoSeq` of a profile as created; a profile change would add 1 (and set `LastInfoTime`).
const FIRST_INFO_SEQ: u64 = 1;

impl Service {
    /// `get_group_info` (digest §4.7): each group gets its own `ErrorCode`.
    pub fn get_group_info(
        &self,
        req: GetGroupInfoRequest,
    ) -> Result<GetGroupInfoResponse, ApiError> {
        let max = self.limits().group_info_max_ids;
        if req.group_id_list.is_empty() || req.group_id_list.len() > max {
            return Err(ApiError::InvalidParameter(format!(
                "GroupIdList has {} entries; send 1 to {max}",
                req.group_id_list.len()
            )));
        }
        let mut out = Vec::with_capacity(req.group_id_list.len());
        for id in req.group_id_list {
            let info = match self.existing_group(&id) {
                Ok(g) => {
                    let mut info = self.group_info(g)?;
                    if let Some(filter) = &req.response_filter {
                        filter
                            .apply(&mut info)
                            .map_err(|e| ApiError::Internal(e.to_string()))?;
                    }
                    info
                }
                Err(e) => GroupInfo::error(id, e.code(), e.info()),
            };
            out.push(info);
        }
        Ok(GetGroupInfoResponse { group_info: out })
    }

    /// The full entry of `g` (every field of digest §4.7), before any `ResponseFilter`.
    fn group_info(&self, g: GroupRecord) -> Result<GroupInfo, ApiError> {
        let members = self.store.members(&g.group_id)?;
        let last_seq = g.next_msg_seq.saturating_sub(1);
        let keeps_unread = self.limits().keeps_unread_counts(&g.group_type);
        let p = g.profile;
        let base = GroupBaseInfo {
            max_member_num: Some(
                p.max_member_count
                    .unwrap_or_else(|| g.group_type.default_max_member_num()),
            ),
            group_type: Some(g.group_type),
            name: Some(p.name),
            appid: Some(self.config.sdkappid),
            introduction: Some(p.introduction.unwrap_or_default()),
            notification: Some(p.notification.unwrap_or_default()),
            face_url: Some(p.face_url.unwrap_or_default()),
            owner_account: Some(p.owner_account.unwrap_or_default()),
            create_time: Some(g.create_time),
            // The profile is written once, at creation: no API of this server changes it.
            info_seq: Some(FIRST_INFO_SEQ),
            last_info_time: Some(g.create_time),
            last_msg_time: Some(g.last_msg_time.unwrap_or(0)),
            next_msg_seq: Some(g.next_msg_seq),
            member_num: Some(g.member_num),
            apply_join_option: Some(
                p.apply_join_option
                    .unwrap_or_else(|| DEFAULT_APPLY_JOIN_OPTION.into()),
            ),
            shut_up_all_member: Some(SHUT_UP_ALL_MEMBER_OFF.into()),
        };
        let member_list = members
            .into_iter()
            .map(|m| {
                // On a type without unread counts every member has read everything (digest §4.4).
                let unread = if keeps_unread { m.unread_msg_num } else { 0 };
                MemberInfo {
                    member_account: m.account,
                    base: MemberBaseInfo {
                        role: Some(m.role.as_str().to_owned()),
                        join_time: Some(m.join_time),
                        msg_seq: Some(last_seq.saturating_sub(unread)),
                        msg_flag: Some(MSG_FLAG_ACCEPT_AND_NOTIFY.into()),
                        last_send_msg_time: Some(m.last_send_msg_time.unwrap_or(0)),
                        name_card: Some(String::new()),
                        shut_up_until: Some(0),
                        unread_msg_num: Some(unread),
                    },
                    app_member_defined_data: Some(Vec::new()),
                    extra: Default::default(),
                }
            })
            .collect();
        Ok(GroupInfo {
            base,
            app_defined_data: Some(p.app_defined_data.unwrap_or_default()),
            member_list: Some(member_list),
            ..GroupInfo::error(g.group_id, ErrorCode::OK, "")
        })
    }
}
