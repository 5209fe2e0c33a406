//! `import_group_msg` (seed §2, digest §1): the message rules and the atomic store call.
//!
//! Two forms share the rules: [`Service::import_group_msg`] (synchronous: locks the group, reads,
//! validates, stores, answers) and [`Service::import_group_msg_async`], which does the same work on
//! the blocking pool but hands the write to the store ([`Store::submit_import_messages`]) and
//! awaits the commit as a task, with the group's lock held until the write is committed.
//!
//! [`Store::submit_import_messages`]: crate::store::Store::submit_import_messages

use std::sync::Arc;

use tim_model::api::import_group_msg::{
    ImportGroupMsgRequest, ImportGroupMsgResponse, ImportMsgResult,
};
use tim_model::validate::{self, Context, Verdict};
use tim_model::{decode_json, ids, ErrorCode};
use tokio::sync::OwnedMutexGuard;

use super::Service;
use crate::error::ApiError;
use crate::store::{NewMessage, Pending, StoredOutcome};

/// A validated batch whose accepted messages went to the store: what the answer is built from.
struct Accepted {
    group_id: String,
    /// Per message: `None` when it was handed to the store, else the code it failed with.
    outcomes: Vec<Option<ErrorCode>>,
    /// Per message, its `SendTime` (the `MsgTime` of a message that failed alone).
    send_times: Vec<i64>,
}

/// Where the first blocking-pool step of an async import left it.
enum Step {
    /// The group's lock was free: the batch was validated and its write submitted.
    Submitted(Accepted, Pending<Vec<StoredOutcome>>, OwnedMutexGuard<()>),
    /// Another call holds the group's lock: await it, then validate and submit.
    Busy(ImportGroupMsgRequest, Arc<tokio::sync::Mutex<()>>),
}

impl Service {
    /// Whether [`Service::import_group_msg_async`] serves `import_group_msg` (the reference
    /// rules; a server variant whose answer rewrites live in `mutant::call` uses [`Service::call`]).
    pub fn imports_async(&self) -> bool {
        #[cfg(feature = "mutants")]
        if self.config.variant.is_some() {
            return false;
        }
        true
    }

    /// `import_group_msg` (seed §2, digest §1).
    pub fn import_group_msg(
        &self,
        req: ImportGroupMsgRequest,
    ) -> Result<ImportGroupMsgResponse, ApiError> {
        let _guard = self.lock(&req.group_id);
        let (accepted, to_store) = self.validate_import(&req)?;
        let stored = self.store.import_messages(
            &req.group_id,
            &to_store,
            self.config.limits.dedup_window_secs,
        )?;
        answer(accepted, stored)
    }

    /// `import_group_msg` from its body, as a task: decoding, reading and validating run on the
    /// blocking pool; the wait for the group's lock and for the commit hold no thread. Run it in
    /// its own task (`tokio::spawn`): once the write is submitted, the lock must stay held until
    /// the commit, whatever happens to the caller.
    pub async fn import_group_msg_async(
        self: Arc<Self>,
        body: Vec<u8>,
    ) -> Result<ImportGroupMsgResponse, ApiError> {
        let service = Arc::clone(&self);
        let step = blocking(move || {
            let req: ImportGroupMsgRequest = decode_json(&body)?;
            let stripe = Arc::clone(service.stripe(&req.group_id));
            match Arc::clone(&stripe).try_lock_owned() {
                Ok(guard) => {
                    let (accepted, pending) = service.submit_import(&req)?;
                    Ok(Step::Submitted(accepted, pending, guard))
                }
                Err(_) => Ok(Step::Busy(req, stripe)),
            }
        })
        .await?;
        let (accepted, pending, guard) = match step {
            Step::Submitted(accepted, pending, guard) => (accepted, pending, guard),
            Step::Busy(req, stripe) => {
                let guard = stripe.lock_owned().await;
                let service = Arc::clone(&self);
                let (accepted, pending) = blocking(move || service.submit_import(&req)).await?;
                (accepted, pending, guard)
            }
        };
        let stored = pending.await.map_err(|_| {
            ApiError::Internal("the store stopped before answering the import".into())
        })?;
        drop(guard);
        answer(accepted, stored?)
    }

    /// Validates `req` (the caller holds the group's lock) and submits its accepted messages.
    fn submit_import(
        &self,
        req: &ImportGroupMsgRequest,
    ) -> Result<(Accepted, Pending<Vec<StoredOutcome>>), ApiError> {
        let (accepted, to_store) = self.validate_import(req)?;
        let pending = self.store.submit_import_messages(
            &req.group_id,
            to_store,
            self.config.limits.dedup_window_secs,
        );
        Ok((accepted, pending))
    }

    /// Reads the group, applies the rules, and encodes the messages to store (the caller holds
    /// the group's lock).
    fn validate_import(
        &self,
        req: &ImportGroupMsgRequest,
    ) -> Result<(Accepted, Vec<NewMessage>), ApiError> {
        let limits = &self.config.limits;
        // Messages the store already holds (a batch re-sent after a lost reply) are answered with
        // their original sequence numbers, whatever their times look like now.
        let candidates: Vec<Option<(u32, i64)>> = req
            .msg_list
            .iter()
            .map(|m| Some((u32::try_from(m.random?).ok()?, m.send_time)))
            .collect();
        let stored = if ids::check_group_id(&req.group_id).is_ok() {
            self.store
                .import_snapshot(&req.group_id, &candidates, limits.dedup_window_secs)?
        } else {
            None
        };
        let (snapshot, duplicates) = match stored {
            Some(s) => (Some(s.group), s.duplicates),
            None => (None, Vec::new()),
        };
        #[cfg(feature = "mutants")]
        let snapshot = crate::mutant::snapshot(self.config.variant, snapshot);
        let now = self.clock.now();
        #[cfg(feature = "mutants")]
        let now = crate::mutant::import_now(self.config.variant, now);
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
        let outcomes = match validate::verdict(&problems, req.msg_list.len(), limits) {
            Verdict::Reject { code, info } => return Err(ApiError::Rejected { code, info }),
            Verdict::Accept { outcomes } => outcomes,
        };
        let mut to_store = Vec::with_capacity(req.msg_list.len());
        for ((msg, outcome), candidate) in req.msg_list.iter().zip(&outcomes).zip(&candidates) {
            if outcome.is_some() {
                continue;
            }
            let body_json = serde_json::to_string(&msg.msg_body)
                .map_err(|e| ApiError::Internal(format!("cannot encode MsgBody: {e}")))?;
            // `candidates` holds the supplied Random of every message (validation checked its range).
            let (random, random_supplied) = match candidate {
                Some((r, _)) => (
                    *r,
                    !variant!(self.config.variant, Mutant::DuplicateStoredTwice),
                ),
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
        Ok((
            Accepted {
                group_id: req.group_id.clone(),
                outcomes,
                send_times: req.msg_list.iter().map(|m| m.send_time).collect(),
            },
            to_store,
        ))
    }
}

/// Runs `f` on the blocking pool, in the current span.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| ApiError::Internal(format!("handler task failed: {e}")))?
}

/// The answer: one result per message, the stored ones with the store's outcomes in order.
fn answer(
    accepted: Accepted,
    stored: Vec<StoredOutcome>,
) -> Result<ImportGroupMsgResponse, ApiError> {
    let mut stored = stored.into_iter();
    let mut results = Vec::with_capacity(accepted.outcomes.len());
    for (outcome, msg_time) in accepted.outcomes.into_iter().zip(accepted.send_times) {
        results.push(match outcome {
            Some(code) => ImportMsgResult {
                result: code,
                msg_seq: 0,
                msg_time,
            },
            None => {
                let s = stored
                    .next()
                    .ok_or_else(|| ApiError::Internal("store returned too few outcomes".into()))?;
                ImportMsgResult {
                    result: ErrorCode::OK,
                    msg_seq: s.msg_seq,
                    msg_time: s.msg_time,
                }
            }
        });
    }
    tracing::debug!(group_id = %accepted.group_id, batch = results.len(), "messages imported");
    Ok(ImportGroupMsgResponse {
        import_msg_result: results,
    })
}
