//! Importing message history: edition-sized batches in order, one batch in flight per group,
//! many groups at once, and per-message outcomes. In the seed edition one bad message fails the
//! whole request; the client then isolates it by splitting the batch, so that the good messages
//! still land and only the bad ones are rejected.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::Serialize;
use tim_model::api::get_group_info::{GetGroupInfoRequest, GroupBaseInfo};
use tim_model::api::group_msg_get_simple::{GroupMsgGetSimpleRequest, HistoryWalk, PageStep};
use tim_model::api::import_group_msg::{ImportGroupMsgRequest, ImportMsg};
use tim_model::{Command, ErrorCode};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info};

use crate::client::{only_base_fields, Client};
use crate::error::Error;
use crate::response::into_body;

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MsgOutcome {
    /// Stored now, with this sequence number.
    Imported {
        /// `MsgSeq` assigned.
        msg_seq: u64,
        /// `MsgTime`.
        msg_time: i64,
    },
    /// Already stored by an earlier import (same `Random` within the duplicate window): the server
    /// answered with the original's sequence number and stored no copy.
    Duplicate {
        /// The original's `MsgSeq`.
        msg_seq: u64,
        /// `MsgTime`.
        msg_time: i64,
    },
    /// Refused by the server; not stored.
    Rejected {
        /// The per-message `Result`, or the request's `ErrorCode` that the message alone caused.
        code: ErrorCode,
        /// Why, from the server's `ErrorInfo` or the code registry.
        reason: String,
    },
}

impl MsgOutcome {
    /// The sequence number of a stored message (imported now or before).
    pub fn msg_seq(&self) -> Option<u64> {
        match self {
            MsgOutcome::Imported { msg_seq, .. } | MsgOutcome::Duplicate { msg_seq, .. } => {
                Some(*msg_seq)
            }
            MsgOutcome::Rejected { .. } => None,
        }
    }
}

/// Where one group's import stands: the next `MsgSeq` the server will assign, when known. Keep
/// one per group and pass it to every [`Client::import_batch`] of that group, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCursor {
    /// The group.
    pub group_id: String,
    /// The group's `NextMsgSeq` before the next batch; `None` makes the client read it first
    /// (with `get_group_info`), so that re-sent messages are told apart from new ones.
    pub next_seq: Option<u64>,
    /// Whether an earlier batch had an attempt whose fate was unknown (a lost reply, a timeout,
    /// a 5xx, 10002): such a request may still be applied late, so the client confirms the
    /// group's `NextMsgSeq` again before the next batch.
    pub recheck: bool,
}

impl GroupCursor {
    /// A cursor whose position the client reads from the server before the first batch.
    pub fn new(group_id: impl Into<String>) -> GroupCursor {
        GroupCursor {
            group_id: group_id.into(),
            next_seq: None,
            recheck: false,
        }
    }

    /// A cursor at a known `NextMsgSeq`.
    pub fn at(group_id: impl Into<String>, next_seq: u64) -> GroupCursor {
        GroupCursor {
            next_seq: Some(next_seq),
            ..GroupCursor::new(group_id)
        }
    }
}

/// Whether `e` leaves an import attempt's fate unknown and is worth another attempt after a
/// read-back: a failure that may have been applied and that the retry policy would retry
/// (transport errors after sending, 5xx pages, 10002). Undecodable answers are not retried.
fn in_doubt(e: &Error) -> bool {
    let inner = match e {
        Error::NotResent { source, .. } => source.as_ref(),
        Error::RetriesExhausted {
            maybe_applied: true,
            last,
            ..
        } => last.as_ref(),
        e => e,
    };
    inner.maybe_applied() && crate::retry::disposition(inner) == crate::retry::Disposition::Retry
}

/// The failure itself, without the "not re-sent" wrapper.
fn doubt_source(e: Error) -> Error {
    match e {
        Error::NotResent { source, .. } => *source,
        Error::RetriesExhausted { last, .. } => *last,
        e => e,
    }
}

/// Most history pages one read-back walks (20 messages each).
const MAX_CONFIRM_PAGES: usize = 64;

/// One group's outcome in [`Client::import_groups`]: its ID and its messages' outcomes.
pub type GroupResult = (String, Result<Vec<MsgOutcome>, Error>);

/// Codes with which one message can fail a whole seed-edition request (time, size, words): the
/// batch is split to find it.
const ISOLATABLE: [ErrorCode; 4] = [
    ErrorCode::INVALID_PARAMETER,
    ErrorCode::MSG_TOO_LONG,
    ErrorCode::RESTRICTED_WORDS,
    ErrorCode::MSG_BODY_TOO_LONG,
];

fn reason_of(code: ErrorCode, info: &str) -> String {
    if !info.is_empty() {
        return info.to_owned();
    }
    code.info()
        .map(|i| i.meaning.to_owned())
        .unwrap_or_else(|| format!("error {}", code.0))
}

impl Client {
    /// The group's `NextMsgSeq` (the sequence number its next message will get). Asks for that
    /// field alone (`ResponseFilter`), not for the whole profile and member list.
    pub async fn next_msg_seq(&self, group_id: &str) -> Result<u64, Error> {
        let filter = only_base_fields(&GroupBaseInfo {
            next_msg_seq: Some(0),
            ..GroupBaseInfo::default()
        });
        let resp = self
            .get_group_info(&GetGroupInfoRequest {
                group_id_list: vec![group_id.to_owned()],
                response_filter: Some(filter),
            })
            .await?;
        let info = resp
            .group_info
            .into_iter()
            .find(|g| g.group_id == group_id)
            .ok_or_else(|| {
                Error::protocol(Command::GetGroupInfo, "the group is missing from GroupInfo")
            })?;
        if !info.error_code.is_ok() {
            return Err(Error::Api {
                command: Command::GetGroupInfo,
                code: info.error_code,
                class: info.error_code.class(),
                info: info.error_info,
                request_id: None,
            });
        }
        info.base
            .next_msg_seq
            .ok_or_else(|| Error::protocol(Command::GetGroupInfo, "NextMsgSeq is missing"))
    }

    /// Imports one batch (at most the edition's `msgs_per_request` messages, in `SendTime` order)
    /// into `cursor`'s group and returns one outcome per message, in order.
    ///
    /// A message without `Random` gets a random one before the first attempt. **Confirm, don't
    /// trust:** an attempt that may have been applied (a timeout after sending, a closed
    /// connection, a 5xx page, 10002) is never sent again blindly; the client reads the group back
    /// (`NextMsgSeq`, then the history above the cursor, matched by `Random` and `From_Account`),
    /// takes what the server holds as imported, and sends only the rest. So the batch lands
    /// exactly once whatever the server's duplicate rule (on `SendTime`, on the wall clock,
    /// answered with the original `MsgSeq` or refused, or none at all), as long as this client is
    /// the group's only writer: history above the cursor that matches nothing of the batch is
    /// another writer's, and fails the batch ([`Error::OtherWriter`]).
    ///
    /// A whole-request failure that one message can cause (10004, 10020, 80001, 80002) is
    /// isolated by splitting the batch in halves until the bad messages stand alone; other API
    /// errors (10010 group missing, 10007 wrong type, auth errors …) are returned as errors.
    pub async fn import_batch(
        &self,
        cursor: &mut GroupCursor,
        msgs: &[ImportMsg],
    ) -> Result<Vec<MsgOutcome>, Error> {
        let max = self.limits().msgs_per_request;
        if msgs.is_empty() || msgs.len() > max {
            return Err(Error::InvalidInput(format!(
                "a batch holds 1 to {max} messages in the {} edition, not {}",
                self.limits().edition,
                msgs.len()
            )));
        }
        let mut next_seq = match cursor.next_seq {
            Some(n) => n,
            None => self.next_msg_seq(&cursor.group_id).await?,
        };
        if cursor.recheck {
            // A request of an earlier batch whose fate was unknown may have landed late.
            let now = self.next_msg_seq(&cursor.group_id).await?;
            if now != next_seq {
                return Err(Error::OtherWriter {
                    group_id: cursor.group_id.clone(),
                    detail: format!(
                        "NextMsgSeq is {now}, expected {next_seq}: a request of an earlier batch was applied after its read-back, or another writer imports into this group; stop and verify this group"
                    ),
                });
            }
            cursor.recheck = false;
        }
        let batch_start = next_seq;
        let msgs: Vec<ImportMsg> = msgs
            .iter()
            .map(|m| {
                let mut m = m.clone();
                m.random
                    .get_or_insert_with(|| i64::from(rand::random::<u32>()));
                m
            })
            .collect();
        let mut outcomes: Vec<Option<MsgOutcome>> = vec![None; msgs.len()];
        let mut seen = HashSet::new();
        let mut confirms = 0u32;
        let started = std::time::Instant::now();
        let mut work: VecDeque<Vec<usize>> = VecDeque::from([(0..msgs.len()).collect()]);
        while let Some(idx) = work.pop_front() {
            let req = ImportGroupMsgRequest::new(
                cursor.group_id.clone(),
                idx.iter().map(|&i| msgs[i].clone()).collect(),
            );
            let resp = match self.call_envelope_unsent_on_doubt(&req).await {
                Ok(resp) => resp,
                Err(e) if in_doubt(&e) && confirms + 1 >= self.inner.retry.max_attempts.max(1) => {
                    let (attempts, last) = (confirms + 1, doubt_source(e));
                    return Err(Error::RetriesExhausted {
                        attempts,
                        elapsed: started.elapsed(),
                        maybe_applied: true,
                        last: Box::new(last),
                    });
                }
                Err(e) if in_doubt(&e) => {
                    confirms += 1;
                    info!(group_id = %cursor.group_id, error = %e,
                        "an import attempt may have been applied: reading the group back before sending again");
                    let found = self
                        .confirm_batch(&cursor.group_id, batch_start, &msgs, &outcomes)
                        .await?;
                    let mut rest = Vec::new();
                    for i in idx {
                        match found.get(&i) {
                            Some(&(msg_seq, msg_time)) => {
                                seen.insert(msg_seq);
                                outcomes[i] = Some(MsgOutcome::Imported { msg_seq, msg_time });
                            }
                            None => rest.push(i),
                        }
                    }
                    if !rest.is_empty() {
                        // The attempt was not (wholly) applied when read back; it may still be
                        // applied late, after the re-send: confirm again before the next batch.
                        cursor.recheck = true;
                        tokio::time::sleep(self.inner.retry.backoff(confirms - 1)).await;
                        work.push_front(rest);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let code = resp.envelope.error_code;
            if code.is_ok() {
                let results = resp.body.import_msg_result;
                if results.len() != idx.len() {
                    return Err(Error::protocol(
                        Command::ImportGroupMsg,
                        format!("{} results for {} messages", results.len(), idx.len()),
                    ));
                }
                for (&i, r) in idx.iter().zip(results) {
                    outcomes[i] = Some(if r.result.is_ok() {
                        if r.msg_seq < batch_start || !seen.insert(r.msg_seq) {
                            MsgOutcome::Duplicate {
                                msg_seq: r.msg_seq,
                                msg_time: r.msg_time,
                            }
                        } else {
                            MsgOutcome::Imported {
                                msg_seq: r.msg_seq,
                                msg_time: r.msg_time,
                            }
                        }
                    } else {
                        MsgOutcome::Rejected {
                            code: r.result,
                            reason: reason_of(r.result, ""),
                        }
                    });
                }
            } else if ISOLATABLE.contains(&code) {
                if idx.len() == 1 {
                    outcomes[idx[0]] = Some(MsgOutcome::Rejected {
                        code,
                        reason: reason_of(code, &resp.envelope.error_info),
                    });
                } else {
                    let (a, b) = idx.split_at(idx.len() / 2);
                    work.push_front(b.to_vec());
                    work.push_front(a.to_vec());
                }
            } else {
                into_body(Command::ImportGroupMsg, resp)?;
            }
        }
        for o in outcomes.iter().flatten() {
            if let MsgOutcome::Imported { msg_seq, .. } = o {
                next_seq = next_seq.max(msg_seq + 1);
            }
        }
        cursor.next_seq = Some(next_seq);
        outcomes
            .into_iter()
            .map(|o| {
                o.ok_or_else(|| Error::protocol(Command::ImportGroupMsg, "a message got no result"))
            })
            .collect()
    }

    /// After an attempt whose fate is unknown: which messages of the batch the group holds, by
    /// index, with their `MsgSeq` and time. Reads the history from the newest message down to
    /// `batch_start` (the batch's first possible `MsgSeq`: one page when the batch fits a page and
    /// the group holds nothing newer), and matches each
    /// stored message to an unsettled message of the batch with the same `Random` and sender.
    /// A stored message above `batch_start` that matches neither an unsettled message nor one
    /// already settled in this batch is another writer's: an error.
    async fn confirm_batch(
        &self,
        group_id: &str,
        batch_start: u64,
        msgs: &[ImportMsg],
        settled: &[Option<MsgOutcome>],
    ) -> Result<HashMap<usize, (u64, i64)>, Error> {
        let mut found = HashMap::new();
        let known: HashSet<u64> = settled
            .iter()
            .flatten()
            .filter_map(MsgOutcome::msg_seq)
            .collect();
        let page_max = self.limits().history_page_max.max(1);
        // The first page is the newest messages (no `ReqMsgSeq`): for a batch of up to a page,
        // one call says what the group holds above the batch's start. The walk is the
        // workspace's one pager ([`HistoryWalk`]), down to the batch's start.
        let mut walk = HistoryWalk::down_to_after(batch_start.saturating_sub(1));
        let mut pages = 0;
        loop {
            let top = walk.req_msg_seq();
            let want = match top {
                Some(t) => (t - batch_start + 1).min(page_max as u64),
                None => page_max as u64,
            };
            let page = self
                .group_msg_get_simple(&GroupMsgGetSimpleRequest {
                    group_id: group_id.to_owned(),
                    req_msg_number: want as i64,
                    req_msg_seq: top,
                    with_recalled_msg: None,
                })
                .await?;
            let step = walk.advance(page.rsp_msg_list.iter().map(|m| m.msg_seq));
            let ceiling = top.unwrap_or(u64::MAX);
            for m in page.rsp_msg_list {
                if m.msg_seq < batch_start || m.msg_seq > ceiling || known.contains(&m.msg_seq) {
                    continue;
                }
                let hit = msgs.iter().enumerate().position(|(i, want)| {
                    settled[i].is_none()
                        && !found.contains_key(&i)
                        && want.random == Some(i64::from(m.msg_random))
                        && want.from_account == m.from_account
                });
                match hit {
                    Some(i) => {
                        found.insert(i, (m.msg_seq, m.msg_time_stamp));
                    }
                    None => {
                        return Err(Error::OtherWriter {
                            group_id: group_id.to_owned(),
                            detail: format!(
                                "MsgSeq {} (Random {}, From_Account {:?}) is not a message of this batch: another writer imports into this group; stop and verify it",
                                m.msg_seq, m.msg_random, m.from_account
                            ),
                        });
                    }
                }
            }
            pages += 1;
            // Stop at the batch's start, or when the server does not page back (it ignores
            // ReqMsgSeq: Stuck), or after too many pages.
            if step != PageStep::Next || pages >= MAX_CONFIRM_PAGES {
                break;
            }
        }
        debug!(
            group_id,
            found = found.len(),
            "read-back after an uncertain attempt"
        );
        Ok(found)
    }

    /// Imports `msgs` (in `SendTime` order) into one group, batch after batch, and returns one
    /// outcome per message. Stops at the first error that is not about a single message.
    pub async fn import_group_messages(
        &self,
        group_id: &str,
        msgs: &[ImportMsg],
    ) -> Result<Vec<MsgOutcome>, Error> {
        let mut cursor = GroupCursor::new(group_id);
        let mut out = Vec::with_capacity(msgs.len());
        for batch in msgs.chunks(self.limits().msgs_per_request.max(1)) {
            out.extend(self.import_batch(&mut cursor, batch).await?);
        }
        Ok(out)
    }

    /// Imports many groups at once, `concurrency` groups in flight (each group one batch at a
    /// time, in order); all share this client's pacing. Results come back in input order.
    pub async fn import_groups(
        &self,
        groups: Vec<(String, Vec<ImportMsg>)>,
        concurrency: usize,
    ) -> Vec<GroupResult> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let n = groups.len();
        for (i, (group_id, msgs)) in groups.into_iter().enumerate() {
            let client = self.clone();
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let res = client.import_group_messages(&group_id, &msgs).await;
                (i, group_id, res)
            });
        }
        let mut out: Vec<Option<GroupResult>> = (0..n).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, group_id, res)) => out[i] = Some((group_id, res)),
                // A panic in a group's task is a bug: surface it rather than drop the group.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
        out.into_iter().flatten().collect()
    }
}
