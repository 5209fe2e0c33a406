//! The writer thread (group commit, each call in its own savepoint) and the syncer thread that
//! fsyncs the WAL after a commit while the writer runs the next one.

use std::sync::{mpsc, Mutex, PoisonError};

use rusqlite::Connection;

use super::{Fail, StoreError, StoreResult};

/// Most calls committed in one transaction by the writer.
const MAX_GROUP_COMMIT: usize = 256;
/// One call queued for the writer.
pub(super) trait Job: Send {
    /// Runs the call on the writer connection, inside the batch transaction; `true` on success.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: with its own outcome, or with `failed` (why the batch did not
    /// commit) when the call had succeeded or never ran.
    fn reply(self: Box<Self>, failed: Option<&str>);
}

/// A [`Job`] computing a `T`.
pub(super) struct Call<T, F> {
    pub(super) op: &'static str,
    pub(super) f: Option<F>,
    pub(super) result: Option<Result<T, Fail>>,
    pub(super) answer: mpsc::SyncSender<StoreResult<T>>,
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, Fail> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| {
                Err(Fail::Store(StoreError::Backend(format!(
                    "sqlite {}: the call panicked",
                    self.op
                ))))
            });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn reply(self: Box<Self>, failed: Option<&str>) {
        let op = self.op;
        let answer = match (self.result, failed) {
            (Some(Err(e)), _) => Err(e.into_store(op)),
            (Some(Ok(v)), None) => Ok(v),
            (_, Some(why)) => Err(StoreError::Backend(format!("sqlite {op}: {why}"))),
            (None, None) => Err(StoreError::Backend(format!("sqlite {op}: not run"))),
        };
        // The caller waits for this answer; if it is gone there is nobody left to tell.
        let _ = self.answer.send(answer);
    }
}

/// The writer thread and the queue into it.
#[derive(Debug)]
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Whether commits are fsynced before they are answered ([`Durability::Full`] on a file).
    pub(super) syncs_wal: bool,
}

impl Writer {
    /// Starts the writer on `conn`. With `wal` (the open WAL file), every commit is answered only
    /// after that file was fsynced.
    pub(super) fn start(conn: Connection, wal: Option<std::fs::File>) -> StoreResult<Writer> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let syncs_wal = wal.is_some();
        let thread = std::thread::Builder::new()
            .name("tim-sqlite-writer".into())
            .spawn(move || write_loop(&conn, &jobs, wal))
            .map_err(|e| StoreError::Backend(format!("sqlite: cannot start the writer: {e}")))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
            syncs_wal,
        })
    }

    /// Runs `f` in the next group commit and returns its outcome once that commit is durable.
    pub(super) fn call<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        let (answer, reply) = mpsc::sync_channel(1);
        let job = Box::new(Call {
            op,
            f: Some(f),
            result: None,
            answer,
        });
        let gone = || StoreError::Backend(format!("sqlite {op}: the writer has stopped"));
        self.queue
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        reply.recv().map_err(|_| gone())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the loop once the queued calls are done; joining closes the file.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Makes committed batches durable: fsyncs the WAL file, then answers their calls. After a
/// failed fsync nothing more is known to reach the disk, so every later write is refused.
struct WalSync {
    wal: std::fs::File,
    /// Why writes are refused, once an fsync failed.
    broken: Mutex<Option<String>>,
}

impl WalSync {
    /// Fsyncs the WAL file: every commit that returned before this call is then on the disk.
    fn sync(&self) -> Option<String> {
        let result = self.wal.sync_all();
        let mut broken = self.broken.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = result {
            tracing::error!(error = %e, "sqlite: fsync of the WAL failed; refusing further writes");
            broken.get_or_insert_with(|| {
                format!("fsync of the WAL failed ({e}); writes are refused until a restart")
            });
        }
        broken.clone()
    }

    fn broken(&self) -> Option<String> {
        self.broken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The syncer thread: takes every batch committed since its last fsync, fsyncs once, answers.
    fn run(&self, batches: &mpsc::Receiver<Vec<Box<dyn Job>>>) {
        while let Ok(first) = batches.recv() {
            let mut all = vec![first];
            all.extend(batches.try_iter());
            let failed = self.sync();
            for job in all.into_iter().flatten() {
                job.reply(failed.as_deref());
            }
        }
    }
}

/// The writer thread: takes every queued call, commits them together, answers (after an fsync
/// of the WAL when `wal` is given), repeats.
///
/// With `wal`, the fsync of a batch overlaps the next one: when calls are already waiting after a
/// COMMIT, the committed batch goes to a syncer thread, which fsyncs and answers it while the
/// writer runs the next transaction; otherwise the writer fsyncs and answers it itself. SQLite's
/// own `synchronous=FULL` does the same fsync, inside COMMIT, with the writer waiting for it.
fn write_loop(conn: &Connection, jobs: &mpsc::Receiver<Box<dyn Job>>, wal: Option<std::fs::File>) {
    let sync = wal.map(|wal| {
        std::sync::Arc::new(WalSync {
            wal,
            broken: Mutex::new(None),
        })
    });
    let syncer = sync.as_ref().and_then(|sync| {
        let (to_syncer, batches) = mpsc::channel::<Vec<Box<dyn Job>>>();
        let sync = std::sync::Arc::clone(sync);
        std::thread::Builder::new()
            .name("tim-sqlite-sync".into())
            .spawn(move || sync.run(&batches))
            .ok()
            .map(|thread| (to_syncer, thread))
    });
    let mut batch: Vec<Box<dyn Job>> = Vec::new();
    let mut next = None;
    loop {
        let Some(first) = next.take().or_else(|| jobs.recv().ok()) else {
            break;
        };
        batch.push(first);
        batch.extend(jobs.try_iter().take(MAX_GROUP_COMMIT - 1));
        if let Some(why) = sync.as_ref().and_then(|s| s.broken()) {
            for job in batch.drain(..) {
                job.reply(Some(&why));
            }
            continue;
        }
        let started = std::time::Instant::now();
        let failed = commit_batch(conn, &mut batch)
            .err()
            .map(|e| format!("group commit failed: {e}"));
        tracing::debug!(
            calls = batch.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "sqlite group commit"
        );
        if let Some(why) = &failed {
            tracing::error!(error = %why, calls = batch.len(), "sqlite group commit failed");
        }
        let failed = match (&failed, &sync) {
            (None, Some(sync)) => {
                // Committed to the WAL file; durable once that file is fsynced.
                next = jobs.try_recv().ok();
                if let (Some(_), Some((to_syncer, _))) = (&next, &syncer) {
                    match to_syncer.send(std::mem::take(&mut batch)) {
                        Ok(()) => continue,
                        Err(mpsc::SendError(back)) => batch = back,
                    }
                }
                sync.sync()
            }
            _ => failed,
        };
        for job in batch.drain(..) {
            job.reply(failed.as_deref());
        }
    }
    if let Some((to_syncer, thread)) = syncer {
        drop(to_syncer);
        let _ = thread.join();
    }
}

/// Runs `batch` in one transaction, each call in its own savepoint, and commits. On `Err` the
/// whole transaction was rolled back.
pub(super) fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    let exec = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    let mut run = || -> rusqlite::Result<()> {
        exec("BEGIN IMMEDIATE")?;
        for job in batch.iter_mut() {
            exec("SAVEPOINT call")?;
            if !job.run(conn) {
                exec("ROLLBACK TO call")?;
            }
            exec("RELEASE call")?;
        }
        let calls_done = std::time::Instant::now();
        exec("COMMIT")?;
        tracing::debug!(
            calls = batch.len(),
            commit_us = calls_done.elapsed().as_micros() as u64,
            "sqlite commit"
        );
        Ok(())
    };
    run().inspect_err(|_| {
        if !conn.is_autocommit() {
            // Nothing of the batch may stay; a failed rollback leaves it to SQLite's own recovery.
            let _ = conn.execute_batch("ROLLBACK");
        }
    })
}
