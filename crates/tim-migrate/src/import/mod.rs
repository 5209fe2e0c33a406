//! `tim-migrate import`: groups, then messages, then members, at the quota, resumable.
//!
//! The flow:
//! 1. Read the groups and members files, and sort the messages per group on disk ([`Prepared`]);
//!    every message gets its deterministic `Random` there.
//! 2. Open or create the checkpoint (`--resume` refuses another input or target).
//! 3. `import_group` every group the checkpoint does not record as created (an ID already
//!    in use, 10021 or 10025, counts as created: the group exists, so its messages can go in; see
//!    `groups.rs`).
//! 4. Messages: many groups at once, one batch in flight per group, in `SendTime` order, each
//!    group continuing after what the checkpoint confirmed. Messages the checkpoint missed (the
//!    importer died between the server's answer and the next checkpoint write) are found on the
//!    server by their `Random` and not sent again (`messages.rs`); one whose answer was lost is
//!    re-sent with the same `Random` and answered with its original `MsgSeq`.
//! 5. Members last (importing messages resets unread counts, digest Q17), with `UnreadMsgNum`.
//!
//! The checkpoint is rewritten atomically at most twice a second and at the end; the rejects file
//! is synced before each write and its length recorded, so a checkpoint never counts a reject the
//! file does not hold, and `--resume` cuts off rejects it does not count. A group's starting
//! `NextMsgSeq` is saved (one save serves every group starting at that moment) before its first
//! message is sent, so `--resume` reads back every group the importer may have written to.
//! A checkpoint that cannot be written stops the import the same way (exit 1, naming the file and
//! the OS error): the import never runs on without one.
//! Ctrl-C stops cleanly after the requests in flight (exit 130); a second Ctrl-C aborts at once
//! (exit 130; `--resume` reads back what the last saved checkpoint does not confirm).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::ProgressStyle;
use tim_client::{Error as ClientError, Rate};
use tim_model::api::import_group::ImportGroupRequest;
use tim_model::api::import_group_member::ImportMember;
use tim_model::Command;
use tracing::{info, info_span, warn};
use tracing_indicatif::span_ext::IndicatifSpanExt;

use crate::checkpoint::{Checkpoint, CheckpointError, InputFingerprint, Target};
use crate::cli::{Exit, ImportArgs};
use crate::input::{self, GroupReader, MemberReader, Record};
use crate::prepare::{PrepareError, Prepared};
use crate::rejects::RejectsWriter;
use crate::report::ImportReport;

mod groups;
mod members;
mod messages;
mod state;

use groups::import_groups;
use members::import_members;
use messages::import_messages;
use state::{Run, Shared};

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
    /// The checkpoint could not be written during the import, which stopped (exit 1).
    #[error("the import stopped because the checkpoint cannot be written (fix the cause below, then run the same command with --resume)")]
    CheckpointWrite(#[source] CheckpointError),
    /// The target refused or could not be reached; nothing more can be sent.
    #[error("the import stopped (the checkpoint is saved: fix the cause below, then run the same command with --resume)")]
    Target(#[source] ClientError),
}

/// The exit status after an interruption (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

impl ImportError {
    /// The exit status for this error: 1 when the import stopped midway because the checkpoint
    /// could not be written, else 2 (usage, unreadable input, unusable target).
    pub fn exit(&self) -> Exit {
        match self {
            ImportError::CheckpointWrite(_) => Exit::Problems,
            _ => Exit::Usage,
        }
    }
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
    let mut checkpoint = match (Checkpoint::load(&args.checkpoint)?, args.resume) {
        (Some(mut cp), true) => {
            cp.ensure_matches(&args.checkpoint, &target, &fingerprint)?;
            // Same files (checked above): keep this run's fingerprints, whole-file hashes included.
            cp.input.groups = fingerprint.groups;
            cp.input.members = fingerprint.members;
            cp
        }
        (Some(_), false) => return Err(ImportError::CheckpointExists(shown_ckpt)),
        (None, true) => return Err(ImportError::NothingToResume(shown_ckpt)),
        (None, false) => {
            let mut cp = Checkpoint::new(target, fingerprint);
            if args.rejects.is_some() {
                cp.rejects_len = Some(0);
            }
            cp.save(&args.checkpoint)?;
            cp
        }
    };
    let rejects = match &args.rejects {
        None => None,
        Some(p) => {
            let io_err = |source| ImportError::Io {
                what: "rejects file",
                path: input::display_path(p),
                source,
            };
            Some(if args.resume {
                let (w, resumed) =
                    RejectsWriter::resume(p, checkpoint.rejects_len).map_err(io_err)?;
                if resumed.truncated > 0 {
                    info!(
                        rejects = %p.display(),
                        bytes = resumed.truncated,
                        "cut the rejects file back to what the checkpoint confirms (those batches are sent again)"
                    );
                }
                if resumed.shorter {
                    warn!(
                        rejects = %p.display(),
                        recorded = checkpoint.rejects_len.unwrap_or_default(),
                        "the rejects file is shorter than the checkpoint records (moved or edited?): new rejects are appended to what is there"
                    );
                }
                w
            } else {
                RejectsWriter::create(p).map_err(io_err)?
            })
        }
    };

    info!(messages = %paths.messages.display(), "sorting messages per group");
    let groups = read_groups(paths.groups.as_deref())?;
    let members = read_members(paths.members.as_deref())?;
    let prepared = Prepared::build(&paths.messages, &args.input.prepare_options(&limits))?;
    // The whole-file hash of the sort pass: recorded on a new import, compared on a resume (a
    // file edited in the middle keeps its size and both ends).
    checkpoint.check_messages_hash(
        &args.checkpoint,
        &input::display_path(&paths.messages),
        prepared.sha256(),
    )?;
    checkpoint.save(&args.checkpoint)?;
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
        messages_per_request: client.limits().msgs_per_request as u64,
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
            generation: 0,
            fatal: None,
            halted: None,
        }),
        stop: AtomicBool::new(false),
        saving: Mutex::new(()),
        saved_generation: AtomicU64::new(0),
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

    // Ctrl-C: finish the requests in flight, save, exit 130. A second one: exit 130 at once.
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let run = Arc::clone(&run);
        let interrupted = Arc::clone(&interrupted);
        let mut ctrl_c = CtrlC::listen();
        tokio::spawn(async move {
            if !ctrl_c.next().await {
                return;
            }
            warn!("interrupted: finishing the requests in flight, then saving the checkpoint (Ctrl-C again to abort at once)");
            interrupted.store(true, Ordering::Relaxed);
            run.stop.store(true, Ordering::Relaxed);
            if ctrl_c.next().await {
                eprintln!("tim-migrate: aborted; run the same command with --resume to continue (it reads back what the server stored after the last checkpoint save)");
                std::process::exit(i32::from(EXIT_INTERRUPTED));
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
                    // Never run on without a checkpoint: stop after the requests in flight.
                    warn!("cannot write the checkpoint: stopping after the requests in flight");
                    run.halt(e);
                    return;
                }
                let now = (
                    Instant::now(),
                    run.client.stats().requests_for(Command::ImportGroupMsg),
                );
                let rps =
                    (now.1 - last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(0.001);
                last = now;
                let mut msg = match run.client.requests_per_second() {
                    Some(q) => format!(
                        "{rps:.1} req/s ({:.0}% of the {q}/s quota)",
                        100.0 * rps / f64::from(q)
                    ),
                    None => format!("{rps:.1} req/s"),
                };
                if let Some((group, eta)) = messages::slowest_eta() {
                    msg.push_str(&format!(
                        "; slowest group {group}: ETA {}",
                        humantime::format_duration(eta)
                    ));
                }
                run.bar.pb_set_message(&msg);
            }
        })
    };

    let concurrency = args.concurrency.max(1);
    import_groups(&run, &groups, concurrency).await?;
    let messages_started = Instant::now();
    let msg_requests_before = client.stats().requests_for(Command::ImportGroupMsg);
    if !run.stopping() {
        match import_messages(&run, &prepared, concurrency).await {
            // A group's start could not be saved: stop like the ticker does, with the summary.
            Err(e @ ImportError::CheckpointWrite(_)) => run.halt(e),
            r => r?,
        }
    }
    let messages_secs = messages_started.elapsed().as_secs_f64().max(0.001);
    if !run.stopping() {
        import_members(&run, &members, concurrency).await?;
    }
    ticker.abort();
    run.lock().dirty = true;
    let final_save = run.save();

    let stats = client.stats();
    let (report, fatal, halted) = {
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
        (s.report.clone(), s.fatal.take(), s.halted.take())
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
    if let Some(err) = halted {
        return Err(err);
    }
    final_save?;
    if let Some(err) = fatal {
        return Err(ImportError::Target(err));
    }
    if report.interrupted {
        println!("interrupted: run the same command with --resume to continue");
        return Ok(Exit::Interrupted);
    }
    Ok(
        if report.messages.rejected > 0
            || report.messages.duplicates_unexpected > 0
            || report.groups.failed > 0
            || report.groups.stopped > 0
            || report.members.failed > 0
        {
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
pub(super) type MembersByGroup = BTreeMap<String, Vec<(u64, String, ImportMember)>>;

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

/// Ctrl-C, as many times as it is pressed. On Unix the handler is installed at once (a press
/// before the first `next` is not lost) and one stream serves every press.
struct CtrlC {
    #[cfg(unix)]
    sigint: Option<tokio::signal::unix::Signal>,
}

impl CtrlC {
    fn listen() -> CtrlC {
        CtrlC {
            #[cfg(unix)]
            sigint: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
        }
    }

    /// Waits for the next Ctrl-C; `false` when none can be received.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            match self.sigint.as_mut() {
                Some(s) => s.recv().await.is_some(),
                None => tokio::signal::ctrl_c().await.is_ok(),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}
