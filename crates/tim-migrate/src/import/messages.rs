//! Phase 2: the messages, many groups at once, one batch in flight per group, each group
//! continuing after what the checkpoint confirmed (reconciled with the server on `--resume`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tim_client::{Error as ClientError, GroupCursor, MsgOutcome};
use tim_model::ErrorCode;
use tokio::task::JoinSet;
use tracing::{info, warn};
use tracing_indicatif::span_ext::IndicatifSpanExt;

use super::state::{group_scoped, Run};
use super::ImportError;
use crate::prepare::{GroupSlice, Prepared};

pub(super) async fn import_messages(
    run: &Arc<Run>,
    prepared: &Prepared,
    concurrency: usize,
) -> Result<(), ImportError> {
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut first_error = None;
    // Groups are started as others finish, so only `concurrency` group files are open at once;
    // the largest first, so that the longest group (one batch per round trip) starts at once
    // instead of last.
    let mut pending = prepared.groups_largest_first().into_iter();
    loop {
        while tasks.len() < concurrency {
            let Some(slice) = pending.next() else { break };
            let confirmed = run
                .lock()
                .checkpoint
                .groups
                .get(&slice.group_id)
                .map_or(0, |g| g.confirmed);
            // Every message the checkpoint confirms counts as skipped, whole groups included.
            if confirmed > 0 {
                run.lock().report.messages.skipped += confirmed.min(slice.count);
                run.bar.pb_inc(confirmed.min(slice.count));
            }
            if confirmed >= slice.count {
                continue;
            }
            let reader = match prepared.read_group(slice, confirmed) {
                Ok(r) => r,
                Err(e) => {
                    first_error.get_or_insert(ImportError::Prepare(e));
                    continue;
                }
            };
            tasks.spawn(import_one_group(
                Arc::clone(run),
                slice.clone(),
                reader,
                Arc::clone(&permits),
            ));
        }
        match tasks.join_next().await {
            None => break,
            Some(Ok(Err(e))) => {
                run.stop.store(true, Ordering::Relaxed);
                first_error.get_or_insert(e);
            }
            Some(_) => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn import_one_group(
    run: Arc<Run>,
    slice: GroupSlice,
    mut reader: crate::prepare::GroupReader,
    permits: Arc<tokio::sync::Semaphore>,
) -> Result<(), ImportError> {
    let _permit = permits.acquire_owned().await;
    let batch_size = run.client.limits().msgs_per_request.max(1);
    let mut cursor = GroupCursor::new(slice.group_id.clone());
    let pace = Pace::start(&slice.group_id, reader.remaining());
    let mut stored = match stored_since_checkpoint(&run, &slice.group_id, &mut cursor).await {
        Ok(stored) => stored,
        Err(e) => {
            run.fail(e);
            return Ok(());
        }
    };
    if let Err(e) = record_start(&run, &mut cursor).await {
        match e {
            StartError::Client(e) => run.fail(e),
            StartError::Import(e) => return Err(e),
        }
        return Ok(());
    }
    loop {
        if run.stopping() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(batch_size);
        for m in reader.by_ref().take(batch_size) {
            batch.push(m?);
        }
        if batch.is_empty() {
            return Ok(());
        }
        // Messages the server stored after the last checkpoint save are not sent again.
        let known: Vec<Option<MsgOutcome>> = batch
            .iter()
            .map(|p| {
                stored
                    .remove(&stored_key(
                        p.msg.random.unwrap_or_default() as u32,
                        p.msg.send_time,
                        &p.msg.from_account,
                    ))
                    .map(|(msg_seq, msg_time)| MsgOutcome::Duplicate { msg_seq, msg_time })
            })
            .collect();
        // The group's position before this batch: a message of it answered with a lower MsgSeq
        // (or with the MsgSeq of another message of the batch) was never sent before, so the
        // server took it for a repeat of another message.
        let seq_before = cursor.next_seq;
        let msgs: Vec<_> = batch
            .iter()
            .zip(&known)
            .filter(|(_, k)| k.is_none())
            .map(|(p, _)| p.msg.clone())
            .collect();
        let sent = if msgs.is_empty() {
            Ok(Vec::new())
        } else {
            run.client.import_batch(&mut cursor, &msgs).await
        };
        let sent_before: Vec<bool> = known.iter().map(Option::is_some).collect();
        let outcomes: Vec<MsgOutcome> = match sent {
            Ok(o) => {
                let mut fresh = o.into_iter();
                known
                    .into_iter()
                    .map(|k| k.or_else(|| fresh.next()))
                    .collect::<Option<Vec<_>>>()
                    .expect("import_batch returns one outcome per message sent")
            }
            Err(e) if group_scoped(&e) => {
                // The group itself is refused (missing, wrong type, bad ID): every remaining
                // message of it is rejected with that code.
                let code = e.code().unwrap_or(ErrorCode::INVALID_PARAMETER);
                let reason = e.to_string();
                warn!(group_id = %slice.group_id, error = %e, "group refused; its messages go to the rejects file");
                let mut rest = batch;
                for m in reader.by_ref() {
                    rest.push(m?);
                }
                let mut s = run.lock();
                for p in &rest {
                    s.reject(
                        &run.messages_file,
                        p.line,
                        &slice.group_id,
                        code,
                        &reason,
                        &p.raw,
                    )?;
                }
                let n = rest.len() as u64;
                let g = s.checkpoint.group_mut(&slice.group_id);
                g.confirmed += n;
                g.rejected += n;
                s.report.messages.rejected += n;
                s.dirty = true;
                drop(s);
                run.bar.pb_inc(n);
                return Ok(());
            }
            Err(e) if another_writer(&e) => {
                // Only this group stops: its unconfirmed messages stay in the checkpoint for a
                // --resume once the group has been looked at; the other groups go on.
                tracing::error!(group_id = %slice.group_id, error = %e,
                    "this group stops: the server holds messages this import did not send");
                let mut s = run.lock();
                s.report.groups.stopped += 1;
                return Ok(());
            }
            Err(e) => {
                run.fail(e);
                return Ok(());
            }
        };
        // A MsgSeq given to two messages of the batch: the later one was taken for the earlier.
        let mut seqs = HashMap::new();
        for seq in outcomes.iter().filter_map(MsgOutcome::msg_seq) {
            *seqs.entry(seq).or_insert(0u32) += 1;
        }
        let mut s = run.lock();
        for ((p, o), k) in batch.iter().zip(&outcomes).zip(&sent_before) {
            match o {
                MsgOutcome::Imported { .. } => s.report.messages.imported += 1,
                MsgOutcome::Duplicate { msg_seq, .. } => {
                    s.report.messages.duplicates += 1;
                    if !k && (seq_before.is_some_and(|b| *msg_seq < b) || seqs[msg_seq] > 1) {
                        s.report.messages.duplicates_unexpected += 1;
                        warn!(
                            group_id = %slice.group_id,
                            line = p.line,
                            msg_seq,
                            random = p.msg.random.unwrap_or_default(),
                            "a message sent for the first time was answered as a duplicate of an earlier one: the server may have dropped it"
                        );
                    }
                }
                MsgOutcome::Rejected { code, reason } => {
                    s.report.messages.rejected += 1;
                    s.reject(
                        &run.messages_file,
                        p.line,
                        &slice.group_id,
                        *code,
                        reason,
                        &p.raw,
                    )?;
                }
            }
        }
        let n = batch.len() as u64;
        let rejected = outcomes
            .iter()
            .filter(|o| matches!(o, MsgOutcome::Rejected { .. }))
            .count() as u64;
        let last_seq = outcomes.iter().filter_map(MsgOutcome::msg_seq).max();
        let g = s.checkpoint.group_mut(&slice.group_id);
        g.confirmed += n;
        g.rejected += rejected;
        if let Some(seq) = last_seq {
            g.last_seq = Some(g.last_seq.map_or(seq, |l| l.max(seq)));
        }
        s.dirty = true;
        drop(s);
        run.bar.pb_inc(n);
        pace.advance(n);
    }
}

/// The groups being imported: when each started, messages done and left (for the progress
/// line's ETA of the slowest group). One import runs per process.
static RUNNING: Mutex<BTreeMap<String, GroupPace>> = Mutex::new(BTreeMap::new());

struct GroupPace {
    started: Instant,
    done: u64,
    left: u64,
}

/// A group's entry in [`RUNNING`], removed when the group ends.
struct Pace(String);

impl Pace {
    fn start(group_id: &str, left: u64) -> Pace {
        if let Ok(mut m) = RUNNING.lock() {
            m.insert(
                group_id.to_owned(),
                GroupPace {
                    started: Instant::now(),
                    done: 0,
                    left,
                },
            );
        }
        Pace(group_id.to_owned())
    }

    fn advance(&self, n: u64) {
        if let Some(g) = RUNNING
            .lock()
            .ok()
            .as_mut()
            .and_then(|m| m.get_mut(&self.0))
        {
            g.done += n;
            g.left = g.left.saturating_sub(n);
        }
    }
}

impl Drop for Pace {
    fn drop(&mut self) {
        if let Ok(mut m) = RUNNING.lock() {
            m.remove(&self.0);
        }
    }
}

/// The group being imported that needs the longest to finish at its pace so far, and how long.
pub(super) fn slowest_eta() -> Option<(String, Duration)> {
    let m = RUNNING.lock().ok()?;
    m.iter()
        .filter(|(_, g)| g.done > 0)
        .map(|(id, g)| {
            let per = g.started.elapsed().as_secs_f64() / g.done as f64;
            (id, Duration::from_secs((per * g.left as f64).ceil() as u64))
        })
        .max_by_key(|(_, eta)| *eta)
        .map(|(id, eta)| (id.clone(), eta))
}

/// Key of a stored message: `Random`, `SendTime` (`MsgTimeStamp`), `From_Account`.
type StoredKey = (u32, i64, String);

fn stored_key(random: u32, send_time: i64, from: &str) -> StoredKey {
    (random, send_time, from.to_owned())
}

/// On a resumed group, the messages the server holds beyond what the checkpoint confirms (past its
/// `last_seq`, or past the group's recorded start when no message was confirmed), by `Random`,
/// `SendTime` and `From_Account`: stored by the server after the last checkpoint save (the
/// importer died in between, possibly before its first save). They are counted as duplicates
/// without being sent again, so a resume does not rely on the server's duplicate window (which
/// Tencent may measure in wall-clock time, digest Q6). Also sets the cursor to the group's
/// `NextMsgSeq`.
async fn stored_since_checkpoint(
    run: &Run,
    group_id: &str,
    cursor: &mut GroupCursor,
) -> Result<HashMap<StoredKey, (u64, i64)>, ClientError> {
    let progress = run.lock().checkpoint.groups.get(group_id).cloned();
    let Some(progress) = progress.filter(|g| g.confirmed > 0 || g.start_seq.is_some()) else {
        return Ok(HashMap::new());
    };
    let next_seq = match run.client.next_msg_seq(group_id).await {
        Ok(n) => n,
        // A group refused as a whole is handled by the first batch, like on a fresh run.
        Err(e) if group_scoped(&e) => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    cursor.next_seq = Some(next_seq);
    // Everything up to `after` is accounted for by the checkpoint (or predates the import).
    let after = match (progress.last_seq, progress.start_seq) {
        (Some(last), _) => last,
        (None, Some(start)) => start.saturating_sub(1),
        (None, None) => 0,
    };
    if next_seq <= after + 1 {
        return Ok(HashMap::new());
    }
    let history = crate::verify::read_history_after(&run.client, group_id, after).await?;
    info!(
        group_id,
        messages = history.len(),
        "the server holds messages confirmed after the last checkpoint save; they are not sent again"
    );
    Ok(history
        .into_iter()
        .map(|m| {
            (
                stored_key(m.msg_random, m.msg_time_stamp, &m.from_account),
                (m.msg_seq, m.msg_time_stamp),
            )
        })
        .collect())
}

enum StartError {
    Client(ClientError),
    Import(ImportError),
}

/// Before a group's first message goes out: reads its `NextMsgSeq` (unless the resume already
/// did), records it in the checkpoint as the group's start, and waits until a checkpoint holding
/// it is on disk, so that a crash at any later moment leaves a checkpoint from which `--resume`
/// reads the group back. Groups already started (by this run or a previous one) skip this.
async fn record_start(run: &Arc<Run>, cursor: &mut GroupCursor) -> Result<(), StartError> {
    let started = run
        .lock()
        .checkpoint
        .groups
        .get(&cursor.group_id)
        .is_some_and(|g| g.start_seq.is_some());
    if started {
        return Ok(());
    }
    let next_seq = match cursor.next_seq {
        Some(n) => n,
        None => match run.client.next_msg_seq(&cursor.group_id).await {
            Ok(n) => n,
            // A group refused as a whole: nothing will be stored; the first batch rejects it.
            Err(e) if group_scoped(&e) => return Ok(()),
            Err(e) => return Err(StartError::Client(e)),
        },
    };
    cursor.next_seq = Some(next_seq);
    let generation = {
        let mut s = run.lock();
        s.checkpoint.group_mut(&cursor.group_id).start_seq = Some(next_seq);
        s.dirty = true;
        s.generation += 1;
        s.generation
    };
    // Off the async workers: the save may wait for another one, and fsyncs.
    let run = Arc::clone(run);
    tokio::task::spawn_blocking(move || run.ensure_saved(generation))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        .map_err(StartError::Import)
}

/// Whether `e` says the group holds messages this import did not send (the client's read-back
/// after an uncertain attempt, or its recheck before the next batch): another writer, or a late
/// copy of an earlier attempt.
fn another_writer(e: &ClientError) -> bool {
    matches!(e, ClientError::OtherWriter { .. })
}
