//! `import_group_msg` (seed §2, digest §1): the message rules and the atomic store call.

use tim_model::api::import_group_msg::{
    ImportGroupMsgRequest, ImportGroupMsgResponse, ImportMsgResult,
};
use tim_model::control::MessageFault;
use tim_model::edition::{DedupClock, DuplicateAnswer};
use tim_model::validate::{self, Context, Verdict};
use tim_model::{ids, ErrorCode};

use super::Service;
use crate::error::ApiError;
use crate::store::{DedupRule, ImportSnapshot, NewMessage};

impl Service {
    /// `import_group_msg` (seed §2, digest §1).
    pub fn import_group_msg(
        &self,
        req: ImportGroupMsgRequest,
    ) -> Result<ImportGroupMsgResponse, ApiError> {
        self.import_group_msg_with(req, None)
    }

    /// `import_group_msg`, with message `fault.index` failing alone with `fault.result` when
    /// the request is otherwise accepted (the control plane's `message_result` fault).
    pub fn import_group_msg_with(
        &self,
        req: ImportGroupMsgRequest,
        fault: Option<&MessageFault>,
    ) -> Result<ImportGroupMsgResponse, ApiError> {
        let limits = self.limits();
        let limits = &*limits;
        let _guard = self.lock(&req.group_id);
        let dedup = DedupRule {
            window_secs: limits.dedup_window_secs,
            clock: limits.dedup_clock,
            now: self.clock.now(),
        };
        // Messages the store already holds (a batch re-sent after a lost reply) are answered with
        // their original sequence numbers, whatever their times look like now.
        let candidates: Vec<Option<(u32, i64)>> = req
            .msg_list
            .iter()
            .map(|m| Some((u32::try_from(m.random?).ok()?, m.send_time)))
            .collect();
        // The store reads the group and the messages it already holds, `decide` applies the
        // rules to them, and the store keeps what `decide` accepts, with no other import into
        // the group in between (on every replica sharing the store).
        let mut decided: Option<Result<Vec<Option<ErrorCode>>, ApiError>> = None;
        let mut decide = |stored: Option<ImportSnapshot>| -> Option<Vec<NewMessage>> {
            match self.decide_import(&req, limits, dedup, &candidates, fault, stored) {
                Ok((outcomes, to_store)) => {
                    decided = Some(Ok(outcomes));
                    Some(to_store)
                }
                Err(e) => {
                    decided = Some(Err(e));
                    None
                }
            }
        };
        let stored = if ids::check_group_id(&req.group_id).is_ok() {
            self.store
                .import_checked(&req.group_id, &candidates, dedup, &mut decide)?
        } else {
            decide(None);
            None
        };
        let outcomes = match decided {
            Some(decided) => decided?,
            None => return Err(ApiError::Internal("the import was not decided".into())),
        };
        let stored = stored.ok_or_else(|| ApiError::Internal("the store kept nothing".into()))?;
        let mut stored = stored.into_iter();
        let mut results = Vec::with_capacity(req.msg_list.len());
        for (msg, outcome) in req.msg_list.iter().zip(outcomes) {
            results.push(match outcome {
                Some(code) => ImportMsgResult {
                    result: code,
                    msg_seq: 0,
                    msg_time: msg.send_time,
                },
                None => {
                    let s = stored.next().ok_or_else(|| {
                        ApiError::Internal("store returned too few outcomes".into())
                    })?;
                    ImportMsgResult {
                        result: ErrorCode::OK,
                        msg_seq: s.msg_seq,
                        msg_time: s.msg_time,
                    }
                }
            });
        }
        tracing::debug!(group_id = %req.group_id, batch = results.len(), "messages imported");
        Ok(ImportGroupMsgResponse {
            import_msg_result: results,
        })
    }

    /// Applies the message rules to a batch against what the store holds (`stored`: `None` when
    /// the group does not exist): the outcome of each message (`None` = to store) and the
    /// messages to store, in order; or the whole batch's refusal.
    fn decide_import(
        &self,
        req: &ImportGroupMsgRequest,
        limits: &tim_model::Limits,
        dedup: DedupRule,
        candidates: &[Option<(u32, i64)>],
        fault: Option<&MessageFault>,
        stored: Option<ImportSnapshot>,
    ) -> Result<(Vec<Option<ErrorCode>>, Vec<NewMessage>), ApiError> {
        let (snapshot, mut duplicates) = match stored {
            Some(s) => (Some(s.group), s.duplicates),
            None => (None, Vec::new()),
        };
        if limits.duplicate_answer == DuplicateAnswer::Refused {
            // Refused duplicates are validation problems, so duplicates within the batch are
            // found here, before validation, instead of by the store.
            mark_duplicates_within(candidates, dedup, &mut duplicates);
        }
        let now = self.clock.now();
        let problems = validate::validate_import(
            req,
            Context {
                limits,
                group: snapshot.as_ref(),
                restricted_words: &self.config.restricted_words,
                now,
                duplicates: &duplicates,
            },
        );
        let mut outcomes = match validate::verdict(&problems, req.msg_list.len(), limits) {
            Verdict::Reject { code, info } => return Err(ApiError::Rejected { code, info }),
            Verdict::Accept { outcomes } => outcomes,
        };
        // A message the group already holds (a re-sent batch) keeps its answer: a fault cannot
        // refuse what is stored.
        if let Some(f) = fault.filter(|f| !duplicates.get(f.index).copied().unwrap_or(false)) {
            if let Some(slot) = outcomes.get_mut(f.index) {
                slot.get_or_insert(f.result);
            }
        }
        let mut to_store = Vec::with_capacity(req.msg_list.len());
        for ((msg, outcome), candidate) in req.msg_list.iter().zip(&outcomes).zip(candidates) {
            if outcome.is_some() {
                continue;
            }
            let body_json = serde_json::to_string(&msg.msg_body)
                .map_err(|e| ApiError::Internal(format!("cannot encode MsgBody: {e}")))?;
            // `candidates` holds the supplied Random of every message (validation checked its range).
            let (random, random_supplied) = match candidate {
                Some((r, _)) => (*r, true),
                None => (self.random_u32(), false),
            };
            to_store.push(NewMessage {
                from_account: msg.from_account.clone(),
                send_time: msg.send_time,
                random,
                random_supplied,
                body_json,
                cloud_custom_data: msg.cloud_custom_data.clone(),
            });
        }
        Ok((outcomes, to_store))
    }
}

/// Marks, in `duplicates` (grown to one flag per candidate), each candidate that repeats the
/// supplied `Random` of an earlier candidate of the same batch within the window of `dedup`
/// (on the wall clock, messages of one batch arrive together: any repeat is a duplicate).
fn mark_duplicates_within(
    candidates: &[Option<(u32, i64)>],
    dedup: DedupRule,
    duplicates: &mut Vec<bool>,
) {
    if dedup.is_off() {
        return;
    }
    duplicates.resize(candidates.len(), false);
    for (i, c) in candidates.iter().enumerate() {
        let Some((random, t)) = *c else { continue };
        let repeats = candidates[..i].iter().enumerate().any(|(j, earlier)| {
            !duplicates[j]
                && earlier.is_some_and(|(r, u)| {
                    r == random
                        && match dedup.clock {
                            DedupClock::SendTime => u.abs_diff(t) <= dedup.window_secs as u64,
                            DedupClock::Wall => true,
                        }
                })
        });
        if repeats {
            duplicates[i] = true;
        }
    }
}
