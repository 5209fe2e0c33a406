//! `import_group_member` (digest §4.3).

use tim_model::api::import_group_member::{
    member_result, ImportGroupMemberRequest, ImportGroupMemberResponse, MemberResult,
};
use tim_model::ids;

use super::{check_group_id, type_refused, Service};
use crate::error::ApiError;
use crate::store::{MemberInsert, NewMember, Role};

impl Service {
    /// `import_group_member` (digest §4.3).
    pub fn import_group_member(
        &self,
        req: ImportGroupMemberRequest,
    ) -> Result<ImportGroupMemberResponse, ApiError> {
        let limits = self.limits();
        let limits = &*limits;
        check_group_id(&req.group_id)?;
        let n = req.member_list.len();
        if n == 0 || n > limits.members_per_request {
            return Err(ApiError::InvalidParameter(format!(
                "MemberList has {n} members; send 1 to {} per request ({} edition)",
                limits.members_per_request, limits.edition
            )));
        }
        let _guard = self.lock(&req.group_id);
        let g = self.existing_group(&req.group_id)?;
        if !limits.can_import_into(&g.group_type) {
            return Err(type_refused("import_group_member", &g.group_type));
        }
        let now = self.clock.now();
        // On a type without unread counts `UnreadMsgNum` is accepted and has no effect (digest §4.4).
        let keeps_unread = limits.keeps_unread_counts(&g.group_type);
        let mut results: Vec<Option<u32>> = vec![None; n];
        let mut valid = Vec::with_capacity(n);
        let mut valid_idx = Vec::with_capacity(n);
        for (i, m) in req.member_list.iter().enumerate() {
            // A supplied JoinTime must be after CreateTime (strictly: only the owner joins at
            // CreateTime) and not in the future (digest §4.3); the default is now.
            let join_time_ok = m.join_time.is_none_or(|t| t > g.create_time && t <= now);
            let join_time = m.join_time.unwrap_or(now.max(g.create_time));
            let ok = ids::check_account(&m.member_account).is_ok()
                && join_time_ok
                && m.unread_msg_num.is_none_or(|u| u >= 0);
            if !ok {
                results[i] = Some(member_result::FAILED);
                continue;
            }
            valid.push(NewMember {
                account: m.member_account.clone(),
                role: match m.role.as_deref().and_then(Role::parse) {
                    Some(Role::Admin) => Role::Admin,
                    _ => Role::Member,
                },
                join_time,
                unread_msg_num: m.unread_msg_num.filter(|_| keeps_unread),
            });
            valid_idx.push(i);
        }
        let inserted = self.store.import_members(&req.group_id, &valid)?;
        for (i, r) in valid_idx.into_iter().zip(inserted) {
            results[i] = Some(match r {
                MemberInsert::Added => member_result::ADDED,
                MemberInsert::AlreadyMember => member_result::ALREADY_MEMBER,
            });
        }
        Ok(ImportGroupMemberResponse {
            member_list: req
                .member_list
                .into_iter()
                .zip(results)
                .map(|(m, r)| MemberResult {
                    member_account: m.member_account,
                    result: r.unwrap_or(member_result::FAILED),
                })
                .collect(),
        })
    }
}
