//! `tim-migrate import`: groups, then messages, then members, at the quota, resumable.
//!
//! The flow:
//! 1. Read the groups and members files, and sort the messages per group on disk ([`Prepared`]);
//!    every message gets its deterministic `Random` there.
//! 2. Open or create the checkpoint (`--resume` refuses another input or target).
//! 3. `import_group` every group the checkpoint does not record as created (an ID already in use
//!    counts as created: the group exists, so its messages can go in).
//! 4. Messages: many groups at once, one batch in flight per group, in `SendTime` order, each
//!    group continuing after what the checkpoint confirmed. A message the checkpoint missed (the
//!    importer died between the server's answer and the next checkpoint write) is re-sent with the
//!    same `Random`, so the server answers with the original `MsgSeq` instead of storing a copy.
//! 5. Members last (importing messages resets unread counts, digest Q17), with `UnreadMsgNum`.
//!
//! The checkpoint is rewritten atomically at most twice a second and at the end; the rejects file
//! is synced before each write, so a checkpoint never counts a reject the file does not hold.
//! Ctrl-C stops cleanly after the requests in flight (exit 130).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::ProgressStyle;
use tim_client::{Client, Error as ClientError, GroupCursor, MsgOutcome, Rate};
use tim_model::api::import_group::ImportGroupRequest;
use tim_model::api::import_group_member::{member_result, ImportGroupMemberRequest, ImportMember};
use tim_model::{Command, ErrorClass, ErrorCode};
use tokio::task::JoinSet;
use tracing::{info, info_span, warn, Span};
use tracing_indicatif::span_ext::IndicatifSpanExt;

use crate::checkpoint::{Checkpoint, CheckpointError, InputFingerprint, Target};
use crate::cli::{Exit, ImportArgs};
use crate::input::{self, GroupReader, MemberReader, Record};
use crate::prepare::{GroupSlice, PrepareError, Prepared};
use crate::rejects::{Reject, RejectsWriter};
use crate::report::ImportReport;

/// Why an import could not run (exit 2), as opposed to messages being rejected (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An input file could not be read or decoded.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// The messages could not be sorted.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The checkpoint cannot be used.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A new import would overwrite an existing checkpoint.
    #[error("checkpoint {0} already exists: add --resume to continue that import, or remove the file to start again")]
    CheckpointExists(String),
    /// `--resume` without a checkpoint file.
    #[error("--resume: checkpoint {0} does not exist; run without --resume to start the import")]
    NothingToResume(String),
    /// A local file could not be written.
    #[error("{what} {path}")]
    Io {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The target cannot be used.
    #[error(transparent)]
    Connect(#[from] crate::target::ConnectError),
    /// The target refused or could not be reached; nothing more can be sent.
    #[error("the import stopped (the checkpoint is saved: fix the cause below, then run the same command with --resume)")]
    Target(#[source] ClientError),
}

/// The exit status after an interruption (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Shared state of a running import.
struct Shared {
    checkpoint: Checkpoint,
    rejects: Option<RejectsWriter>,
    /// The rejects file as the user named it, for error messages.
    rejects_path: String,
    report: ImportReport,
    dirty: bool,
    fatal: Option<ClientError>,
}

impl Shared {
    /// Writes a rejected line to the rejects file, if there is one.
    fn reject(
        &mut self,
        file: &str,
        line: u64,
        group_id: &str,
        code: ErrorCode,
        reason: &str,
        raw: &str,
    ) -> Result<(), ImportError> {
        if let Some(w) = self.rejects.as_mut() {
            w.write(&Reject {
                file: file.to_owned(),
                line,
                group_id: group_id.to_owned(),
                code: code.0,
                reason: reason.to_owned(),
                input: raw.to_owned(),
            })
            .map_err(|source| ImportError::Io {
                what: "rejects file",
                path: self.rejects_path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

struct Run {
    client: Client,
    shared: Mutex<Shared>,
    stop: AtomicBool,
    checkpoint_path: std::path::PathBuf,
    messages_file: String,
    members_file: String,
    bar: Span,
}

impl Run {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Records an error after which nothing more can be sent, and stops every task.
    fn fail(&self, err: ClientError) {
        let mut s = self.lock();
        if s.fatal.is_none() {
            s.fatal = Some(err);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Syncs the rejects file, then writes the checkpoint (if anything changed).
    fn save(&self) -> Result<(), ImportError> {
        let snapshot = {
            let mut s = self.lock();
            if !s.dirty {
                return Ok(());
            }
            if let Some(r) = s.rejects.as_mut() {
                r.sync().map_err(|source| ImportError::Io {
                    what: "rejects file",
                    path: s.rejects_path.clone(),
                    source,
                })?;
            }
            s.dirty = false;
            s.checkpoint.clone()
        };
        snapshot.save(&self.checkpoint_path)?;
        Ok(())
    }
}

/// Whether an API error concerns only this group (its messages are rejected, the import goes on),
/// as opposed to the whole import (credentials, permissions, an unreachable target).
fn group_scoped(err: &ClientError) -> bool {
    matches!(
        err,
        ClientError::Api {
            class: ErrorClass::Caller,
            ..
        }
    ) || matches!(err, ClientError::Api { code, .. } if *code == ErrorCode::PERMISSION_DENIED)
}

/// Runs `tim-migrate import`.
pub async fn run(args: &ImportArgs) -> Result<Exit, ImportError> {
    let started = Instant::now();
    let limits = args.target.edition.limits();
    let paths = args.input.paths();
    paths.ensure_readable()?;
    let client =
        crate::target::connect(&args.target, args.rate.map_or(Rate::Quota, Rate::PerSecond))
            .await?;

    // Checkpoint first: a refused resume should not cost a sort of the whole input.
    let target = Target {
        base_url: client.base_url().to_owned(),
        sdkappid: args.target.sdkappid,
        edition: limits.edition,
    };
    let fingerprint = InputFingerprint::of(&paths).map_err(|source| ImportError::Io {
        what: "input",
        path: input::display_path(&paths.messages),
        source,
    })?;
    let shown_ckpt = input::display_path(&args.checkpoint);
    let checkpoint = match (Checkpoint::load(&args.checkpoint)?, args.resume) {
        (Some(cp), true) => {
            cp.ensure_matches(&args.checkpoint, &target, &fingerprint)?;
            cp
        }
        (Some(_), false) => return Err(ImportError::CheckpointExists(shown_ckpt)),
        (None, true) => return Err(ImportError::NothingToResume(shown_ckpt)),
        (None, false) => {
            let cp = Checkpoint::new(target, fingerprint);
            cp.save(&args.checkpoint)?;
            cp
        }
    };
    let rejects = match &args.rejects {
        None => None,
        Some(p) => Some(
            if args.resume {
                RejectsWriter::append(p)
            } else {
                RejectsWriter::create(p)
            }
            .map_err(|source| ImportError::Io {
                what: "rejects file",
                path: input::display_path(p),
                source,
            })?,
        ),
    };

    info!(messages = %paths.messages.display(), "sorting messages per group");
    let groups = read_groups(paths.groups.as_deref())?;
    let members = read_members(paths.members.as_deref())?;
    let prepared = Prepared::build(&paths.messages, &args.input.prepare_options(&limits))?;
    let total: u64 = prepared.groups().iter().map(|g| g.count).sum();

    let bar = info_span!("import");
    bar.pb_set_style(
        &ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} messages  {msg}  ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.pb_set_length(total);
    let _entered = bar.enter();

    let report = ImportReport {
        edition: limits.edition.to_string(),
        quota_per_second: client.requests_per_second(),
        ..ImportReport::default()
    };
    let run = Arc::new(Run {
        client: client.clone(),
        shared: Mutex::new(Shared {
            checkpoint,
            rejects,
            rejects_path: args
                .rejects
                .as_deref()
                .map(input::display_path)
                .unwrap_or_default(),
            report,
            dirty: false,
            fatal: None,
        }),
        stop: AtomicBool::new(false),
        checkpoint_path: args.checkpoint.clone(),
        messages_file: input::display_path(&paths.messages),
        members_file: paths
            .members
            .as_deref()
            .map(input::display_path)
            .unwrap_or_default(),
        bar: bar.clone(),
    });
    {
        let mut s = run.lock();
        s.report.messages.total = total;
        s.report.groups.total = groups.len() as u64;
        s.report.members.total = members.values().map(|m| m.len() as u64).sum();
    }

    // Ctrl-C: finish the requests in flight, save, exit 130.
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let run = Arc::clone(&run);
        let interrupted = Arc::clone(&interrupted);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                warn!("interrupted: finishing the requests in flight, then saving the checkpoint");
                interrupted.store(true, Ordering::Relaxed);
                run.stop.store(true, Ordering::Relaxed);
            }
        });
    }
    // Checkpoint writer and progress message, twice a second.
    let ticker = {
        let run = Arc::clone(&run);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(500));
            let mut last = (Instant::now(), 0u64);
            loop {
                every.tick().await;
                if let Err(e) = run.save() {
                    warn!(error = %e, "cannot write the checkpoint");
                }
                let now = (
                    Instant::now(),
                    run.client.stats().requests_for(Command::ImportGroupMsg),
                );
                let rps =
                    (now.1 - last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(0.001);
                last = now;
                let msg = match run.client.requests_per_second() {
                    Some(q) => format!(
                        "{rps:.1} req/s ({:.0}% of the {q}/s quota)",
                        100.0 * rps / f64::from(q)
                    ),
                    None => format!("{rps:.1} req/s"),
                };
                run.bar.pb_set_message(&msg);
            }
        })
    };

    let concurrency = args.concurrency.max(1);
    import_groups(&run, &groups, concurrency).await?;
    let messages_started = Instant::now();
    let msg_requests_before = client.stats().requests_for(Command::ImportGroupMsg);
    if !run.stopping() {
        import_messages(&run, &prepared, concurrency).await?;
    }
    let messages_secs = messages_started.elapsed().as_secs_f64().max(0.001);
    if !run.stopping() {
        import_members(&run, &members, concurrency).await?;
    }
    ticker.abort();
    run.lock().dirty = true;
    run.save()?;

    let stats = client.stats();
    let (report, fatal) = {
        let mut s = run.lock();
        let elapsed = started.elapsed().as_secs_f64();
        let r = &mut s.report;
        r.requests = stats.requests;
        r.rate_limited = stats.rate_limited;
        r.elapsed_secs = elapsed;
        // The quota is per API: the rate that matters is import_group_msg's during the message phase.
        let msg_requests = stats.requests_for(Command::ImportGroupMsg) - msg_requests_before;
        r.requests_per_second = msg_requests as f64 / messages_secs;
        r.messages_per_second = (r.messages.imported + r.messages.duplicates + r.messages.rejected)
            as f64
            / messages_secs;
        r.quota_share = r
            .quota_per_second
            .map(|q| r.requests_per_second / f64::from(q));
        r.interrupted = interrupted.load(Ordering::Relaxed);
        (s.report.clone(), s.fatal.take())
    };
    drop(_entered);
    if let Some(p) = &args.report {
        let json = serde_json::to_vec_pretty(&report).map_err(|e| ImportError::Io {
            what: "report",
            path: input::display_path(p),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(p, json).map_err(|source| ImportError::Io {
            what: "report",
            path: input::display_path(p),
            source,
        })?;
    }
    print!("{}", report.render_human());
    if let Some(err) = fatal {
        return Err(ImportError::Target(err));
    }
    if report.interrupted {
        println!("interrupted: run the same command with --resume to continue");
        return Ok(Exit::Interrupted);
    }
    Ok(
        if report.messages.rejected > 0 || report.groups.failed > 0 || report.members.failed > 0 {
            Exit::Problems
        } else {
            Exit::Ok
        },
    )
}

fn read_groups(path: Option<&Path>) -> Result<Vec<(String, ImportGroupRequest)>, ImportError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for r in GroupReader::open(path)? {
        let Record { value, .. } = r?;
        out.push((value.group_id, value.request));
    }
    Ok(out)
}

/// Members by group, each with its line number and original line.
type MembersByGroup = BTreeMap<String, Vec<(u64, String, ImportMember)>>;

fn read_members(path: Option<&Path>) -> Result<MembersByGroup, ImportError> {
    let mut out = MembersByGroup::new();
    let Some(path) = path else { return Ok(out) };
    for r in MemberReader::open(path)? {
        let Record { line, raw, value } = r?;
        out.entry(value.group_id)
            .or_default()
            .push((line, raw, value.member));
    }
    Ok(out)
}

async fn import_groups(
    run: &Arc<Run>,
    groups: &[(String, ImportGroupRequest)],
    concurrency: usize,
) -> Result<(), ImportError> {
    let mut tasks = JoinSet::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    for (group_id, req) in groups {
        if run
            .lock()
            .checkpoint
            .groups
            .get(group_id)
            .is_some_and(|g| g.created)
        {
            continue;
        }
        let (run, permits, group_id, req) = (
            Arc::clone(run),
            Arc::clone(&permits),
            group_id.clone(),
            req.clone(),
        );
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            if run.stopping() {
                return;
            }
            let res = match run.client.import_group(&req).await {
                Ok(_) => Ok(()),
                // Created by an earlier run whose checkpoint missed it, or by the user: import into it.
                Err(e) if e.code() == Some(ErrorCode::GROUP_ID_IN_USE) => Ok(()),
                Err(e) => Err(e),
            };
            match res {
                Ok(()) => {
                    let mut s = run.lock();
                    s.checkpoint.group_mut(&group_id).created = true;
                    s.report.groups.done += 1;
                    s.dirty = true;
                }
                Err(e) if group_scoped(&e) => {
                    warn!(group_id, error = %e, "import_group failed; the group's messages will be tried anyway");
                    run.lock().report.groups.failed += 1;
                }
                Err(e) => run.fail(e),
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn import_messages(
    run: &Arc<Run>,
    prepared: &Prepared,
    concurrency: usize,
) -> Result<(), ImportError> {
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut first_error = None;
    // Groups are started as others finish, so only `concurrency` group files are open at once.
    let mut pending = prepared.groups().iter();
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
    let mut stored = match stored_since_checkpoint(&run, &slice.group_id, &mut cursor).await {
        Ok(stored) => stored,
        Err(e) => {
            run.fail(e);
            return Ok(());
        }
    };
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
                let random = p.msg.random.unwrap_or_default() as u32;
                stored
                    .remove(&random)
                    .map(|(msg_seq, msg_time)| MsgOutcome::Duplicate { msg_seq, msg_time })
            })
            .collect();
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
            Err(e) => {
                run.fail(e);
                return Ok(());
            }
        };
        let mut s = run.lock();
        for (p, o) in batch.iter().zip(&outcomes) {
            match o {
                MsgOutcome::Imported { .. } => s.report.messages.imported += 1,
                MsgOutcome::Duplicate { .. } => s.report.messages.duplicates += 1,
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
    }
}

/// On a resumed group, the messages the server holds beyond the checkpoint's `last_seq`, by
/// `Random`: confirmed by the server after the last checkpoint save (the importer died in
/// between). They are counted as duplicates without being sent again, so a resume does not rely on
/// the server's 5-minute duplicate window (which Tencent may measure in wall-clock time, digest Q6).
/// Also sets the cursor to the group's `NextMsgSeq`.
async fn stored_since_checkpoint(
    run: &Run,
    group_id: &str,
    cursor: &mut GroupCursor,
) -> Result<HashMap<u32, (u64, i64)>, ClientError> {
    let progress = run.lock().checkpoint.groups.get(group_id).cloned();
    let Some(progress) = progress.filter(|g| g.confirmed > 0) else {
        return Ok(HashMap::new());
    };
    let next_seq = match run.client.next_msg_seq(group_id).await {
        Ok(n) => n,
        // A group refused as a whole is handled by the first batch, like on a fresh run.
        Err(e) if group_scoped(&e) => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    cursor.next_seq = Some(next_seq);
    let last_seq = progress.last_seq.unwrap_or(0);
    if next_seq <= last_seq + 1 {
        return Ok(HashMap::new());
    }
    let history = crate::verify::read_history_after(&run.client, group_id, last_seq).await?;
    info!(
        group_id,
        messages = history.len(),
        "the server holds messages confirmed after the last checkpoint save; they are not sent again"
    );
    Ok(history
        .into_iter()
        .map(|m| (m.msg_random, (m.msg_seq, m.msg_time_stamp)))
        .collect())
}

async fn import_members(
    run: &Arc<Run>,
    members: &MembersByGroup,
    concurrency: usize,
) -> Result<(), ImportError> {
    let per_request = run.client.limits().members_per_request.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for (group_id, list) in members {
        let done = run
            .lock()
            .checkpoint
            .groups
            .get(group_id)
            .map_or(0, |g| g.members_done) as usize;
        if done >= list.len() {
            continue;
        }
        let (run, permits, group_id, list) = (
            Arc::clone(run),
            Arc::clone(&permits),
            group_id.clone(),
            list[done..].to_vec(),
        );
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            for chunk in list.chunks(per_request) {
                if run.stopping() {
                    return Ok(());
                }
                let req = ImportGroupMemberRequest {
                    group_id: group_id.clone(),
                    member_list: chunk.iter().map(|(_, _, m)| m.clone()).collect(),
                };
                let res = run.client.import_group_member(&req).await;
                let mut s = run.lock();
                match res {
                    Ok(resp) => {
                        for (line, raw, m) in chunk {
                            let result = resp.member_list.iter().find(|r| r.member_account == m.member_account);
                            match result.map(|r| r.result) {
                                Some(member_result::ADDED) | Some(member_result::ALREADY_MEMBER) => s.report.members.done += 1,
                                other => {
                                    s.report.members.failed += 1;
                                    let reason = match other {
                                        Some(_) => "the server refused this member (JoinTime before the group's CreateTime or in the future, or an invalid account)",
                                        None => "the server's answer has no result for this member",
                                    };
                                    s.reject(&run.members_file, *line, &group_id, ErrorCode::INVALID_PARAMETER, reason, raw)?;
                                }
                            }
                        }
                    }
                    Err(e) if group_scoped(&e) => {
                        let code = e.code().unwrap_or(ErrorCode::INVALID_PARAMETER);
                        for (line, raw, _) in chunk {
                            s.report.members.failed += 1;
                            s.reject(&run.members_file, *line, &group_id, code, &e.to_string(), raw)?;
                        }
                    }
                    Err(e) => {
                        drop(s);
                        run.fail(e);
                        return Ok(());
                    }
                }
                s.checkpoint.group_mut(&group_id).members_done += chunk.len() as u64;
                s.dirty = true;
            }
            Ok::<(), ImportError>(())
        });
    }
    let mut first_error = None;
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
