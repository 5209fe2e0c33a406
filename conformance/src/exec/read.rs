//! The history pager behind every read-back: `group_msg_get_simple` newest first, walked down
//! with `ReqMsgSeq`, stopping when a page does not move back.

use serde_json::{json, Value};
use tim_model::{Command, ErrorCode};

use super::{compact, Abort, CaseRun};
use crate::check;
use crate::report::ExchangeKind;

impl CaseRun<'_> {
    /// [`Self::history`] without recording the reads in the transcript.
    pub(super) async fn quiet_history(&mut self, alias: &str) -> Result<Option<Vec<Value>>, Abort> {
        self.quiet = true;
        let h = self.history(alias).await;
        self.quiet = false;
        h
    }

    /// Every stored message of `alias`, newest first (`None`: the group does not exist, 10010).
    pub(super) async fn history(&mut self, alias: &str) -> Result<Option<Vec<Value>>, Abort> {
        let id = self.vars.group(alias).id.clone();
        let page = self.shared.limits.history_page_max.max(1);
        let mut all: Vec<Value> = Vec::new();
        let mut next: Option<u64> = None;
        let at = self.at.clone();
        loop {
            let mut body = json!({ "GroupId": id, "ReqMsgNumber": page });
            if let Some(s) = next {
                body["ReqMsgSeq"] = json!(s);
            }
            let reply = self
                .call(ExchangeKind::Check, Command::GroupMsgGetSimple, body)
                .await?;
            if reply.body.get("ErrorCode").and_then(Value::as_i64)
                == Some(i64::from(ErrorCode::GROUP_NOT_FOUND.0))
            {
                return Ok(None);
            }
            if !check::is_ok(&reply) {
                return Err(Abort::Setup(format!(
                    "read-back of {alias} failed: {}",
                    compact(&reply.body)
                )));
            }
            let list = reply
                .body
                .get("RspMsgList")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let step = check::next_page(next, &list, &at);
            all.extend(list);
            match step {
                check::PageNext::Next(s) => next = Some(s),
                check::PageNext::Done => break,
                check::PageNext::Stuck(f) => {
                    self.push_failures(vec![f]);
                    break;
                }
            }
        }
        Ok(Some(all))
    }
}
