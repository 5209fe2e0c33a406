//! `group_msg_get_simple` (digest §4.8).

use tim_model::api::group_msg_get_simple::{
    GroupMsgGetSimpleRequest, GroupMsgGetSimpleResponse, HistoryMsg,
};
use tim_model::GroupType;

use super::{type_refused, Service};
use crate::error::ApiError;

impl Service {
    /// `group_msg_get_simple` (digest §4.8): newest first, at most `history_page_max` per call.
    pub fn group_msg_get_simple(
        &self,
        req: GroupMsgGetSimpleRequest,
    ) -> Result<GroupMsgGetSimpleResponse, ApiError> {
        let g = self.existing_group(&req.group_id)?;
        if matches!(g.group_type, GroupType::AVChatRoom | GroupType::BChatRoom) {
            return Err(type_refused("group_msg_get_simple", &g.group_type));
        }
        if req.req_msg_number <= 0 {
            return Err(ApiError::InvalidParameter(format!(
                "ReqMsgNumber is {}; ask for 1 or more messages",
                req.req_msg_number
            )));
        }
        let page_max = self.limits().history_page_max;
        let wanted = usize::try_from(req.req_msg_number).unwrap_or(usize::MAX);
        let rows = self
            .store
            .history(&req.group_id, req.req_msg_seq, wanted.min(page_max))?;
        let mut list = Vec::with_capacity(rows.len());
        for m in rows {
            let msg_body = serde_json::from_str(&m.body_json).map_err(|e| {
                ApiError::Internal(format!(
                    "stored MsgBody of seq {} is unreadable: {e}",
                    m.msg_seq
                ))
            })?;
            list.push(HistoryMsg {
                from_account: m.from_account,
                is_place_msg: 0,
                msg_body,
                msg_random: m.random,
                msg_seq: m.msg_seq,
                msg_time_stamp: m.send_time,
                cloud_custom_data: m.cloud_custom_data,
                extra: Default::default(),
            });
        }
        Ok(GroupMsgGetSimpleResponse {
            group_id: g.group_id,
            is_finished: i64::from(wanted <= page_max),
            rsp_msg_list: list,
        })
    }
}
