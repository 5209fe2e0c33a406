//! `POST /v4/group_open_http_svc/group_msg_get_simple`: read group history, newest first.
//!
//! Digest §4.8 ([SEED-ERA], [GET-SIMPLE], [SDK-2022]).

use serde::{Deserialize, Serialize};

use super::{ApiRequest, Extra};
use crate::element::MsgElement;
use crate::endpoint::Command;

/// Request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMsgGetSimpleRequest {
    /// The group.
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// How many messages to return (at most 20 are returned).
    #[serde(rename = "ReqMsgNumber")]
    pub req_msg_number: i64,
    /// Return messages with seq ≤ this; absent means the newest.
    #[serde(rename = "ReqMsgSeq", default, skip_serializing_if = "Option::is_none")]
    pub req_msg_seq: Option<u64>,
    /// 1 includes recalled messages (current edition).
    #[serde(
        rename = "WithRecalledMsg",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub with_recalled_msg: Option<i64>,
}

/// Response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMsgGetSimpleResponse {
    /// The group.
    #[serde(rename = "GroupId", default, skip_serializing_if = "String::is_empty")]
    pub group_id: String,
    /// 1 when the whole requested range was returned, 0 otherwise.
    #[serde(rename = "IsFinished", default)]
    pub is_finished: i64,
    /// Messages, newest first.
    #[serde(rename = "RspMsgList", default)]
    pub rsp_msg_list: Vec<HistoryMsg>,
}

/// A message as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryMsg {
    /// Sender.
    #[serde(rename = "From_Account")]
    pub from_account: String,
    /// 1 when the body was deleted or expired; 0 otherwise.
    #[serde(rename = "IsPlaceMsg")]
    pub is_place_msg: i64,
    /// Content.
    #[serde(rename = "MsgBody")]
    pub msg_body: Vec<MsgElement>,
    /// The message's random (supplied or generated).
    #[serde(rename = "MsgRandom")]
    pub msg_random: u32,
    /// Sequence number.
    #[serde(rename = "MsgSeq")]
    pub msg_seq: u64,
    /// Timestamp.
    #[serde(rename = "MsgTimeStamp")]
    pub msg_time_stamp: i64,
    /// Custom data, when the message had some.
    #[serde(
        rename = "CloudCustomData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_custom_data: Option<String>,
    /// Fields this crate does not model (current edition: `MsgPriority`, `IsSystemMsg`, …), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ApiRequest for GroupMsgGetSimpleRequest {
    const COMMAND: Command = Command::GroupMsgGetSimple;
    type Response = GroupMsgGetSimpleResponse;
}

/// The one history pager of the workspace (client, importer, conformance runner): a walk down a
/// group's history, newest first, with `ReqMsgSeq` = the lowest `MsgSeq` read − 1. It holds no
/// messages, only where the walk is; the caller sends the requests and feeds back each page's
/// `MsgSeq`s.
///
/// Every next `ReqMsgSeq` is strictly below the one before, so a walk always ends; a page
/// holding a message above the `ReqMsgSeq` asked for (a server that ignores it and always
/// answers the newest page) stops the walk as [`PageStep::Stuck`] instead of paging forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryWalk {
    asked: Option<u64>,
    floor: u64,
}

/// What a [`HistoryWalk`] does after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStep {
    /// Ask next with [`HistoryWalk::req_msg_seq`].
    Next,
    /// The walk reached its floor, `MsgSeq` 1 or an empty page.
    Done,
    /// The page did not move back: it holds `got`, above the `asked` `ReqMsgSeq`.
    Stuck {
        /// The `ReqMsgSeq` asked for.
        asked: u64,
        /// The largest `MsgSeq` of the page.
        got: u64,
    },
}

impl HistoryWalk {
    /// A walk from the newest message down to (and including) `MsgSeq` `floor + 1`: `floor` 0
    /// reads the whole history.
    pub fn down_to_after(floor: u64) -> HistoryWalk {
        HistoryWalk { asked: None, floor }
    }

    /// A walk down to `floor` (as [`HistoryWalk::down_to_after`]) whose next request asks with
    /// `ReqMsgSeq` = `asked` (`None`: the first page), for callers that keep the place themselves.
    pub fn resumed(asked: Option<u64>, floor: u64) -> HistoryWalk {
        HistoryWalk { asked, floor }
    }

    /// The `ReqMsgSeq` of the next request (`None`: the first page, the newest messages).
    pub fn req_msg_seq(&self) -> Option<u64> {
        self.asked
    }

    /// Feeds back the `MsgSeq`s of the page just read.
    pub fn advance(&mut self, page: impl IntoIterator<Item = u64>) -> PageStep {
        let (mut lowest, mut highest) = (u64::MAX, 0);
        for s in page {
            lowest = lowest.min(s);
            highest = highest.max(s);
        }
        if lowest == u64::MAX {
            return PageStep::Done;
        }
        if let Some(asked) = self.asked {
            if highest > asked {
                return PageStep::Stuck {
                    asked,
                    got: highest,
                };
            }
        }
        if lowest <= self.floor.saturating_add(1) {
            return PageStep::Done;
        }
        self.asked = Some(lowest - 1);
        PageStep::Next
    }
}

#[cfg(test)]
mod walk_tests {
    use super::*;

    #[test]
    fn walks_down_to_its_floor_and_stops() {
        let mut w = HistoryWalk::down_to_after(0);
        assert_eq!(w.req_msg_seq(), None);
        assert_eq!(w.advance(26..=45), PageStep::Next);
        assert_eq!(w.req_msg_seq(), Some(25));
        assert_eq!(w.advance(6..=25), PageStep::Next);
        assert_eq!(w.advance(1..=5), PageStep::Done);
        let mut w = HistoryWalk::down_to_after(30);
        assert_eq!(w.advance(26..=45), PageStep::Done, "the floor was passed");
        assert_eq!(HistoryWalk::down_to_after(0).advance([]), PageStep::Done);
    }

    #[test]
    fn a_page_that_does_not_move_back_is_stuck() {
        let mut w = HistoryWalk::down_to_after(0);
        assert_eq!(w.advance(26..=45), PageStep::Next);
        assert_eq!(w.advance(26..=45), PageStep::Stuck { asked: 25, got: 45 });
    }
}
