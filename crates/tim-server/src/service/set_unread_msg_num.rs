//! `set_unread_msg_num` (digest §4.4).

use tim_model::api::set_unread_msg_num::SetUnreadMsgNumRequest;
use tim_model::envelope::Empty;

use super::{check_account, Service};
use crate::error::ApiError;

impl Service {
    /// `set_unread_msg_num` (digest §4.4).
    pub fn set_unread_msg_num(&self, req: SetUnreadMsgNumRequest) -> Result<Empty, ApiError> {
        check_account("Member_Account", &req.member_account)?;
        if req.unread_msg_num < 0 {
            return Err(ApiError::InvalidParameter(format!(
                "UnreadMsgNum {} is negative",
                req.unread_msg_num
            )));
        }
        let _guard = self.lock(&req.group_id);
        let g = self.existing_group(&req.group_id)?;
        if !self.limits().keeps_unread_counts(&g.group_type) {
            // No unread counts on this type in this edition: no effect, and no error (digest §4.4).
            return Ok(Empty {});
        }
        match self
            .store
            .set_unread(&req.group_id, &req.member_account, req.unread_msg_num)?
        {
            Some(_) => Ok(Empty {}),
            None => Err(ApiError::InvalidParameter(format!(
                "Member_Account {:?} is not a member of group {:?}",
                req.member_account, req.group_id
            ))),
        }
    }
}
