//! The durable backend: one SQLite file in WAL mode, with group commit.
//!
//! Write calls go to one writer thread, which commits every call waiting at that moment in one
//! `IMMEDIATE` transaction, each call inside its own savepoint: a call that fails is rolled back
//! to its savepoint alone, and the others commit. Callers are answered only after the commit is
//! durable: with [`Durability::Full`] (the default) the WAL file is fsynced after COMMIT — by the
//! writer, or by a syncer thread while the writer already runs the next transaction — so a
//! returned `Ok` means the call reached the disk, and an `Err` means nothing of the call is kept
//! (unless that fsync itself failed: then the store refuses every later write). Reads run in their
//! own deferred transaction on a pool of read connections and do not wait for the writer.
//!
//! The schema version lives in `PRAGMA user_version`; [`MIGRATIONS`] are applied in order on
//! open.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Deserialize;
use tim_model::api::import_group::GroupProfile;
use tim_model::edition::DedupClock;
use tim_model::validate::GroupSnapshot;
use tim_model::GroupType;

use super::{
    DedupRule, GroupRecord, ImportSnapshot, MemberInsert, MemberRecord, NewGroup, NewMember,
    NewMessage, Role, Store, StoreError, StoreResult, StoredMessage, StoredOutcome,
};

/// Page cache of the writer connection, KiB (SQLite's default is 2 MiB): duplicate lookups and
/// index inserts land all over the `messages_dedup` index, which outgrows the default quickly.
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// Bytes of the database file each connection maps instead of reading page by page.
const MMAP_BYTES: i64 = 256 << 20;

/// WAL pages after which a commit checkpoints them into the database file (SQLite's default is
/// 1,000). Under load most pages of a commit were already written by a recent one (group rows,
/// index leaves), so a larger WAL copies each of them once for many commits, and the two fsyncs
/// of a checkpoint come less often.
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// How long a call waits for another process holding the database lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations; migration `i` takes `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: groups, members, messages.
    "
    CREATE TABLE groups (
        group_id      TEXT    NOT NULL PRIMARY KEY,
        type          TEXT    NOT NULL,
        create_time   INTEGER NOT NULL,
        profile_json  TEXT    NOT NULL,
        next_msg_seq  INTEGER NOT NULL CHECK (next_msg_seq >= 1),
        last_msg_time INTEGER,
        msg_count     INTEGER NOT NULL CHECK (msg_count >= 0)
    ) STRICT;

    CREATE TABLE members (
        group_id  TEXT    NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
        account   TEXT    NOT NULL,
        role      TEXT    NOT NULL CHECK (role IN ('Owner', 'Admin', 'Member')),
        join_time INTEGER NOT NULL,
        unread    INTEGER NOT NULL CHECK (unread >= 0),
        PRIMARY KEY (group_id, account)
    ) STRICT, WITHOUT ROWID;

    CREATE INDEX members_by_join ON members (group_id, join_time, account);

    CREATE TABLE messages (
        group_id          TEXT    NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
        msg_seq           INTEGER NOT NULL CHECK (msg_seq >= 1),
        from_account      TEXT    NOT NULL,
        send_time         INTEGER NOT NULL,
        random            INTEGER NOT NULL CHECK (random BETWEEN 0 AND 4294967295),
        random_supplied   INTEGER NOT NULL CHECK (random_supplied IN (0, 1)),
        body_json         TEXT    NOT NULL,
        cloud_custom_data TEXT,
        PRIMARY KEY (group_id, msg_seq)
    ) STRICT;

    -- Duplicate detection looks up supplied randoms only.
    CREATE INDEX messages_dedup ON messages (group_id, random, send_time) WHERE random_supplied = 1;
    ",
    // 2: when each message was imported (the server's clock), for the wall-clock duplicate
    // window. Rows stored before this migration keep NULL and never match that window. The wall
    // lookup finds a random's rows through `messages_dedup` and filters on this column.
    "
    ALTER TABLE messages ADD COLUMN imported_at INTEGER;
    ",
];

const SELECT_GROUP: &str = "
    SELECT type, create_time, profile_json, next_msg_seq, last_msg_time, msg_count,
           (SELECT COUNT(*) FROM members m WHERE m.group_id = g.group_id)
    FROM groups g WHERE group_id = ?1";
const SELECT_GROUP_COUNTERS: &str =
    "SELECT next_msg_seq, msg_count, last_msg_time FROM groups WHERE group_id = ?1";
const INSERT_GROUP: &str = "
    INSERT INTO groups (group_id, type, create_time, profile_json, next_msg_seq, last_msg_time, msg_count)
    VALUES (?1, ?2, ?3, ?4, 1, NULL, 0)";
const UPDATE_GROUP_COUNTERS: &str =
    "UPDATE groups SET next_msg_seq = ?2, msg_count = ?3, last_msg_time = ?4 WHERE group_id = ?1";
const DELETE_GROUP: &str = "DELETE FROM groups WHERE group_id = ?1";
const INSERT_MEMBER: &str = "
    INSERT INTO members (group_id, account, role, join_time, unread) VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (group_id, account) DO NOTHING";
// One pass over the group's messages for every sender's newest time (no index on senders: the
// import path stays as it is; get_group_info is not a hot path).
const SELECT_MEMBERS: &str = "
    SELECT m.account, m.role, m.join_time, m.unread, s.last_send
    FROM members m
    LEFT JOIN (SELECT from_account, MAX(send_time) AS last_send FROM messages
               WHERE group_id = ?1 GROUP BY from_account) s ON s.from_account = m.account
    WHERE m.group_id = ?1 ORDER BY m.join_time, m.account";
const UPDATE_UNREAD: &str = "UPDATE members SET unread = ?3 WHERE group_id = ?1 AND account = ?2";
const RESET_UNREAD: &str = "UPDATE members SET unread = 0 WHERE group_id = ?1 AND unread <> 0";
/// The stored messages of a group with supplied `random` `?2` and a send time in `?3..=?4`:
/// the possible originals of a message on the [`DedupClock::SendTime`] clock. No `ORDER BY`
/// (nor an `IN` list): either would make SQLite build a temporary b-tree per execution; the
/// earliest is picked in Rust.
const FIND_SUPPLIED: &str = "
    SELECT msg_seq, send_time, imported_at FROM messages
    WHERE group_id = ?1 AND random = ?2 AND random_supplied = 1 AND send_time BETWEEN ?3 AND ?4";
/// The stored messages of a group with supplied `random` `?2` imported at `?3` or later: the
/// possible originals of a message on the [`DedupClock::Wall`] clock. `messages_dedup` finds the
/// random's rows; `imported_at` (NULL for rows older than the column, which never match) is
/// checked on them.
const FIND_SUPPLIED_WALL: &str = "
    SELECT msg_seq, send_time, imported_at FROM messages
    WHERE group_id = ?1 AND random = ?2 AND random_supplied = 1 AND imported_at >= ?3";
const SELECT_IMPORT_SNAPSHOT: &str =
    "SELECT type, create_time, last_msg_time FROM groups WHERE group_id = ?1";
const INSERT_MESSAGE: &str = "
    INSERT INTO messages
        (group_id, msg_seq, from_account, send_time, random, random_supplied, body_json,
         cloud_custom_data, imported_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const SELECT_HISTORY: &str = "
    SELECT msg_seq, from_account, send_time, random, body_json, cloud_custom_data FROM messages
    WHERE group_id = ?1 AND msg_seq <= ?2 ORDER BY msg_seq DESC LIMIT ?3";
const SELECT_MESSAGES_AFTER: &str = "
    SELECT msg_seq, from_account, send_time, random, body_json, cloud_custom_data FROM messages
    WHERE group_id = ?1 AND msg_seq > ?2 ORDER BY msg_seq LIMIT ?3";
const SELECT_GROUP_IDS: &str = "SELECT group_id FROM groups ORDER BY group_id LIMIT ?1";
const SELECT_GROUP_IDS_AFTER: &str =
    "SELECT group_id FROM groups WHERE group_id > ?1 ORDER BY group_id LIMIT ?2";
/// Children first, so that deleting the groups cascades to nothing.
const RESET: [&str; 3] = [
    "DELETE FROM messages",
    "DELETE FROM members",
    "DELETE FROM groups",
];

/// How a commit reaches the disk before it is acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit is fsynced before it is acknowledged, so an acknowledged call survives a
    /// process kill, an OS crash and a power loss. The writer connection runs with
    /// `synchronous=NORMAL` and the store fsyncs the WAL after each COMMIT itself (SQLite's `FULL`
    /// does the same fsync inside COMMIT), which lets the fsync overlap the next transaction.
    #[default]
    Full,
    /// `synchronous=NORMAL`: commits are written to the WAL but fsynced only at checkpoints. An
    /// acknowledged call survives a process kill (`SIGKILL`), but an OS crash or power loss can
    /// lose the last acknowledged commits, after which their `MsgSeq`s are assigned again.
    Normal,
}

impl Durability {
    /// The value of SQLite's `synchronous` pragma with this durability when SQLite does the
    /// fsync itself (an in-memory database; the store's writer uses `NORMAL` plus its own fsync).
    pub fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
        })
    }
}

/// Most calls committed in one transaction by the writer.
const MAX_GROUP_COMMIT: usize = 256;
/// Idle read connections kept open. Opening one costs more than a read (schema parse, WAL
/// index mapping), so the pool covers the concurrency of the blocking pool under load.
const MAX_IDLE_READERS: usize = 64;

/// A [`Store`] on an SQLite file: durable, with group commit.
///
/// One writer thread owns the only write connection. Write calls are sent to it and wait; it
/// takes every call waiting at that moment, runs each in its own `SAVEPOINT` inside one
/// transaction (a failing call rolls back to its savepoint and leaves the others alone), commits
/// once (one fsync for all of them) and only then answers each caller. Reads use a small pool of
/// their own connections and, in WAL mode, never wait for the writer. A private in-memory
/// database has no second connection, so its reads go through the writer too.
#[derive(Debug)]
pub struct SqliteStore {
    writer: Writer,
    readers: Option<Readers>,
}

/// Why a call failed inside a transaction: a store-level outcome, or SQLite itself.
enum Fail {
    Store(StoreError),
    Sql(rusqlite::Error),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl Fail {
    fn into_store(self, op: &str) -> StoreError {
        match self {
            Fail::Store(e) => e,
            Fail::Sql(e) => backend(op, &e),
        }
    }
}

/// Maps an SQLite error to [`StoreError::Backend`]. SQLite's messages name tables, columns and
/// constraints, never bound values, so message bodies cannot leak into them.
fn backend(op: &str, e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite {op}: {e}"))
}

/// One call queued for the writer.
trait Job: Send {
    /// Runs the call on the writer connection, inside the batch transaction; `true` on success.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: with its own outcome, or with `failed` (why the batch did not
    /// commit) when the call had succeeded or never ran.
    fn reply(self: Box<Self>, failed: Option<&str>);
}

/// A [`Job`] computing a `T`.
struct Call<T, F> {
    op: &'static str,
    f: Option<F>,
    result: Option<Result<T, Fail>>,
    answer: mpsc::SyncSender<StoreResult<T>>,
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
struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Whether commits are fsynced before they are answered ([`Durability::Full`] on a file).
    syncs_wal: bool,
}

impl Writer {
    /// Starts the writer on `conn`. With `wal` (the open WAL file), every commit is answered only
    /// after that file was fsynced.
    fn start(conn: Connection, wal: Option<std::fs::File>) -> StoreResult<Writer> {
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
    fn call<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
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
fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
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

/// Read connections to the database file, kept for reuse.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Runs `f` in one read transaction on an idle (or new) read connection.
    fn read<T>(&self, op: &str, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> StoreResult<T> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(c) => c,
            None => self.open().map_err(|e| backend(op, &e))?,
        };
        let result: Result<T, Fail> = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        drop(idle);
        result.map_err(|e| e.into_store(op))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` with [`Durability::Full`] and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, Durability::Full)
    }

    /// Opens (creating if needed) the database file at `path` with `durability` and brings its
    /// schema up to date.
    pub fn open_with(path: &Path, durability: Durability) -> StoreResult<Self> {
        let conn = Connection::open(path).map_err(|e| backend("open", &e))?;
        let readers = Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        Self::init(conn, durability, Some(readers))
    }

    /// Opens a private in-memory database (for tests; not durable, no WAL).
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(|e| backend("open", &e))?;
        Self::init(conn, Durability::Full, None)
    }

    fn init(
        mut conn: Connection,
        durability: Durability,
        readers: Option<Readers>,
    ) -> StoreResult<Self> {
        let configure = |conn: &Connection| -> rusqlite::Result<String> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            // With a file and `Full`, the writer fsyncs the WAL itself after COMMIT (see
            // `write_loop`), so SQLite's own commit stops at writing the WAL, as with `Normal`.
            let synchronous = match (durability, readers.is_some()) {
                (Durability::Full, true) => Durability::Normal,
                (d, _) => d,
            };
            conn.pragma_update(None, "synchronous", synchronous.pragma())?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
            conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
            conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
            conn.set_prepared_statement_cache_capacity(32);
            Ok(mode)
        };
        let mode = configure(&conn).map_err(|e| backend("configure", &e))?;
        if readers.is_some() && !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "sqlite configure: WAL journal mode unavailable (got {mode})"
            )));
        }
        migrate(&mut conn)?;
        let wal = match (durability, &readers) {
            (Durability::Full, Some(_)) => Some(open_wal(&conn)?),
            _ => None,
        };
        let writer = Writer::start(conn, wal)?;
        tracing::debug!(fsync_wal = writer.syncs_wal, "sqlite writer started");
        Ok(SqliteStore { writer, readers })
    }

    /// Runs `f` in the writer's next group commit; any error rolls back all of `f`'s effects.
    fn write<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        self.writer.call(op, f)
    }

    /// Runs `f` in one read transaction (on a read connection; on the writer for in-memory).
    fn read<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.read(op, f),
            None => self.writer.call(op, f),
        }
    }
}

/// The writer's WAL file, opened for fsync (SQLite has created it by the time the schema is
/// migrated).
fn open_wal(conn: &Connection) -> StoreResult<std::fs::File> {
    let db = conn
        .path()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| StoreError::Backend("sqlite open: the database has no file".into()))?;
    let path = format!("{db}-wal");
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Backend(format!("sqlite open: cannot open the WAL file: {e}")))
}

/// Applies the migrations the file has not seen yet, all in one transaction.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let run = |conn: &mut Connection| -> Result<(), Fail> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(Fail::Store(StoreError::Backend(format!(
                "sqlite migrate: schema version {version} is newer than this build supports ({known})"
            ))));
        }
        for sql in &MIGRATIONS[usize::try_from(version).unwrap_or(0)..] {
            tx.execute_batch(sql)?;
        }
        if version < known {
            tx.pragma_update(None, "user_version", known)?;
        }
        tx.commit()?;
        Ok(())
    };
    run(conn).map_err(|e| e.into_store("migrate"))
}

/// `(next_msg_seq, msg_count, last_msg_time)` of a group, or [`StoreError::GroupNotFound`].
fn counters(tx: &Connection, group_id: &str) -> Result<(u64, u64, Option<i64>), Fail> {
    tx.prepare_cached(SELECT_GROUP_COUNTERS)?
        .query_row(params![group_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or(Fail::Store(StoreError::GroupNotFound))
}

/// A stored message with a supplied random: `(random, msg_seq, send_time, imported_at)`
/// (`imported_at` is `None` for rows stored before schema version 2).
type Supplied = (u32, u64, i64, Option<i64>);

/// Every stored message of `group_id` that could be the original of one of `candidates` under
/// `dedup` (same supplied random; send time within the window, or imported within the window
/// before `dedup.now`), in a few statements for the whole batch rather than one per message.
/// Nothing when detection is off.
fn find_supplied(
    conn: &Connection,
    group_id: &str,
    candidates: impl Iterator<Item = (u32, i64)>,
    dedup: DedupRule,
) -> rusqlite::Result<Vec<Supplied>> {
    let mut wanted: Vec<(u32, i64)> = candidates.collect();
    if dedup.is_off() || wanted.is_empty() {
        return Ok(Vec::new());
    }
    wanted.sort_unstable();
    let window = dedup.window_secs;
    let mut find = conn.prepare_cached(match dedup.clock {
        DedupClock::SendTime => FIND_SUPPLIED,
        DedupClock::Wall => FIND_SUPPLIED_WALL,
    })?;
    let mut found = Vec::new();
    // One lookup per distinct random: over the send times of every candidate carrying it, or
    // over the import times of the window.
    for same in wanted.chunk_by(|a, b| a.0 == b.0) {
        let (random, lo, hi) = (same[0].0, same[0].1, same[same.len() - 1].1);
        let mut rows = match dedup.clock {
            DedupClock::SendTime => find.query(params![
                group_id,
                random,
                lo.saturating_sub(window),
                hi.saturating_add(window)
            ])?,
            DedupClock::Wall => {
                find.query(params![group_id, random, dedup.now.saturating_sub(window)])?
            }
        };
        while let Some(r) = rows.next()? {
            found.push((random, r.get(0)?, r.get(1)?, r.get(2)?));
        }
    }
    Ok(found)
}

/// `(msg_seq, send_time)` of the earliest of `known` with `random` that `dedup` makes a message
/// sent at `send_time` a duplicate of (never, when detection is off).
fn earliest(
    known: &[Supplied],
    random: u32,
    send_time: i64,
    dedup: DedupRule,
) -> Option<(u64, i64)> {
    if dedup.is_off() {
        return None;
    }
    let window = dedup.window_secs;
    known
        .iter()
        .filter(|&&(r, _, t, imported_at)| {
            r == random
                && match dedup.clock {
                    DedupClock::SendTime => t.abs_diff(send_time) <= window.unsigned_abs(),
                    // `now - imported_at <= window`, without overflow; NULL never matches.
                    DedupClock::Wall => {
                        imported_at.is_some_and(|at| at >= dedup.now.saturating_sub(window))
                    }
                }
        })
        .min_by_key(|&&(_, seq, _, _)| seq)
        .map(|&(_, seq, t, _)| (seq, t))
}

/// For each candidate, whether the group already stores an original of it.
fn duplicate_flags(
    conn: &Connection,
    group_id: &str,
    candidates: &[Option<(u32, i64)>],
    dedup: DedupRule,
) -> rusqlite::Result<Vec<bool>> {
    let known = find_supplied(conn, group_id, candidates.iter().flatten().copied(), dedup)?;
    Ok(candidates
        .iter()
        .map(|c| c.is_some_and(|(random, t)| earliest(&known, random, t, dedup).is_some()))
        .collect())
}

/// Reads one row of [`SELECT_HISTORY`] or [`SELECT_MESSAGES_AFTER`].
fn stored_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        msg_seq: r.get(0)?,
        from_account: r.get(1)?,
        send_time: r.get(2)?,
        random: r.get(3)?,
        body_json: r.get(4)?,
        cloud_custom_data: r.get(5)?,
    })
}

fn clamp_unread(unread: i64, msg_count: u64) -> u64 {
    u64::try_from(unread).unwrap_or(0).min(msg_count)
}

fn parse_role(s: &str) -> Result<Role, Fail> {
    Role::parse(s).ok_or_else(|| {
        Fail::Store(StoreError::Backend(format!(
            "sqlite: unknown member role {s:?}"
        )))
    })
}

impl Store for SqliteStore {
    fn create_group(&self, group: NewGroup) -> StoreResult<GroupRecord> {
        let profile_json = serde_json::to_string(&group.profile)
            .map_err(|e| StoreError::Backend(format!("cannot encode group profile: {e}")))?;
        self.write("create_group", move |tx| {
            let inserted = tx.prepare_cached(INSERT_GROUP)?.execute(params![
                group.group_id,
                group.profile.group_type.as_str(),
                group.create_time,
                profile_json,
            ]);
            match inserted {
                Err(e)
                    if e.sqlite_error().map(|e| e.extended_code)
                        == Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) =>
                {
                    return Err(Fail::Store(StoreError::GroupIdTaken));
                }
                other => other?,
            };
            let mut insert = tx.prepare_cached(INSERT_MEMBER)?;
            let mut member_num = 0;
            for m in &group.members {
                // A new group has no messages, so every unread count clamps to 0; a repeated account keeps its first entry.
                member_num += insert.execute(params![
                    group.group_id,
                    m.account,
                    m.role.as_str(),
                    m.join_time,
                    0
                ])? as u64;
            }
            Ok(GroupRecord {
                group_type: group.profile.group_type.clone(),
                group_id: group.group_id,
                create_time: group.create_time,
                profile: group.profile,
                next_msg_seq: 1,
                last_msg_time: None,
                msg_count: 0,
                member_num,
            })
        })
    }

    fn group(&self, group_id: &str) -> StoreResult<Option<GroupRecord>> {
        let id = group_id.to_owned();
        let row = self.read("group", move |tx| {
            let row = tx
                .prepare_cached(SELECT_GROUP)?
                .query_row(params![id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, u64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, u64>(5)?,
                        r.get::<_, u64>(6)?,
                    ))
                })
                .optional()?;
            Ok(row)
        })?;
        let Some((
            group_type,
            create_time,
            profile_json,
            next_msg_seq,
            last_msg_time,
            msg_count,
            member_num,
        )) = row
        else {
            return Ok(None);
        };
        let profile: GroupProfile = serde_json::from_str(&profile_json).map_err(|e| {
            StoreError::Backend(format!(
                "sqlite group: stored profile is not a valid group profile ({:?} at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        Ok(Some(GroupRecord {
            group_id: group_id.to_owned(),
            group_type: GroupType::parse(&group_type),
            create_time,
            profile,
            next_msg_seq,
            last_msg_time,
            msg_count,
            member_num,
        }))
    }

    fn destroy_group(&self, group_id: &str) -> StoreResult<()> {
        let group_id = group_id.to_owned();
        self.write("destroy_group", move |tx| {
            // Members and messages go with the group (ON DELETE CASCADE).
            match tx
                .prepare_cached(DELETE_GROUP)?
                .execute(params![group_id])?
            {
                0 => Err(Fail::Store(StoreError::GroupNotFound)),
                _ => Ok(()),
            }
        })
    }

    fn import_messages(
        &self,
        group_id: &str,
        messages: &[NewMessage],
        dedup: DedupRule,
    ) -> StoreResult<Vec<StoredOutcome>> {
        let group_id = group_id.to_owned();
        let messages = messages.to_vec();
        self.write("import_messages", move |tx| {
            let group_id = group_id.as_str();
            let (mut next_seq, mut msg_count, mut last_msg_time) = counters(tx, group_id)?;
            let supplied = messages
                .iter()
                .filter(|m| m.random_supplied)
                .map(|m| (m.random, m.send_time));
            // Messages stored earlier in this call join `known` as they are inserted.
            let mut known = find_supplied(tx, group_id, supplied, dedup)?;
            let mut insert = tx.prepare_cached(INSERT_MESSAGE)?;
            let mut outcomes = Vec::with_capacity(messages.len());
            for m in &messages {
                if m.random_supplied {
                    let original = earliest(&known, m.random, m.send_time, dedup);
                    if let Some((msg_seq, msg_time)) = original {
                        outcomes.push(StoredOutcome {
                            msg_seq,
                            msg_time,
                            duplicate: true,
                        });
                        continue;
                    }
                    known.push((m.random, next_seq, m.send_time, Some(dedup.now)));
                }
                insert.execute(params![
                    group_id,
                    next_seq,
                    m.from_account,
                    m.send_time,
                    m.random,
                    m.random_supplied,
                    m.body_json,
                    m.cloud_custom_data,
                    dedup.now,
                ])?;
                outcomes.push(StoredOutcome {
                    msg_seq: next_seq,
                    msg_time: m.send_time,
                    duplicate: false,
                });
                next_seq += 1;
                msg_count += 1;
                last_msg_time = Some(last_msg_time.map_or(m.send_time, |t| t.max(m.send_time)));
            }
            tx.prepare_cached(UPDATE_GROUP_COUNTERS)?.execute(params![
                group_id,
                next_seq,
                msg_count,
                last_msg_time
            ])?;
            tx.prepare_cached(RESET_UNREAD)?
                .execute(params![group_id])?;
            Ok(outcomes)
        })
    }

    fn find_duplicates(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Vec<bool>> {
        let group_id = group_id.to_owned();
        let candidates = candidates.to_vec();
        self.read("find_duplicates", move |tx| {
            let group_id = group_id.as_str();
            counters(tx, group_id)?;
            Ok(duplicate_flags(tx, group_id, &candidates, dedup)?)
        })
    }

    fn import_snapshot(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Option<ImportSnapshot>> {
        let group_id = group_id.to_owned();
        let candidates = candidates.to_vec();
        self.read("import_snapshot", move |tx| {
            let group_id = group_id.as_str();
            let row = tx
                .prepare_cached(SELECT_IMPORT_SNAPSHOT)?
                .query_row(params![group_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                    ))
                })
                .optional()?;
            let Some((group_type, create_time, last_msg_time)) = row else {
                return Ok(None);
            };
            let duplicates = match candidates.iter().any(Option::is_some) {
                true => duplicate_flags(tx, group_id, &candidates, dedup)?,
                false => Vec::new(),
            };
            Ok(Some(ImportSnapshot {
                group: GroupSnapshot {
                    group_type: GroupType::parse(&group_type),
                    create_time,
                    last_msg_time,
                },
                duplicates,
            }))
        })
    }

    fn import_members(
        &self,
        group_id: &str,
        members: &[NewMember],
    ) -> StoreResult<Vec<MemberInsert>> {
        let group_id = group_id.to_owned();
        let members = members.to_vec();
        self.write("import_members", move |tx| {
            let group_id = group_id.as_str();
            let (_, msg_count, _) = counters(tx, group_id)?;
            let mut insert = tx.prepare_cached(INSERT_MEMBER)?;
            let mut outcomes = Vec::with_capacity(members.len());
            for m in &members {
                let unread = clamp_unread(m.unread_msg_num.unwrap_or(0), msg_count);
                let added = insert.execute(params![
                    group_id,
                    m.account,
                    m.role.as_str(),
                    m.join_time,
                    unread
                ])?;
                outcomes.push(if added == 0 {
                    MemberInsert::AlreadyMember
                } else {
                    MemberInsert::Added
                });
            }
            Ok(outcomes)
        })
    }

    fn members(&self, group_id: &str) -> StoreResult<Vec<MemberRecord>> {
        let group_id = group_id.to_owned();
        self.read("members", move |tx| {
            let group_id = group_id.as_str();
            counters(tx, group_id)?;
            let mut select = tx.prepare_cached(SELECT_MEMBERS)?;
            let mut rows = select.query(params![group_id])?;
            let mut list = Vec::new();
            while let Some(r) = rows.next()? {
                let role: String = r.get(1)?;
                list.push(MemberRecord {
                    account: r.get(0)?,
                    role: parse_role(&role)?,
                    join_time: r.get(2)?,
                    unread_msg_num: r.get(3)?,
                    last_send_msg_time: r.get(4)?,
                });
            }
            Ok(list)
        })
    }

    fn set_unread(&self, group_id: &str, account: &str, unread: i64) -> StoreResult<Option<u64>> {
        let (group_id, account) = (group_id.to_owned(), account.to_owned());
        self.write("set_unread", move |tx| {
            let (group_id, account) = (group_id.as_str(), account.as_str());
            let (_, msg_count, _) = counters(tx, group_id)?;
            let value = clamp_unread(unread, msg_count);
            let changed = tx
                .prepare_cached(UPDATE_UNREAD)?
                .execute(params![group_id, account, value])?;
            Ok((changed > 0).then_some(value))
        })
    }

    fn history(
        &self,
        group_id: &str,
        max_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        let max_seq = max_seq.map_or(i64::MAX, |s| i64::try_from(s).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let group_id = group_id.to_owned();
        self.read("history", move |tx| {
            let group_id = group_id.as_str();
            counters(tx, group_id)?;
            let mut select = tx.prepare_cached(SELECT_HISTORY)?;
            let rows = select.query_map(params![group_id, max_seq, limit], stored_message)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn group_ids(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after.map(str::to_owned);
        self.read("group_ids", move |tx| {
            let ids = match &after {
                None => tx
                    .prepare_cached(SELECT_GROUP_IDS)?
                    .query_map(params![limit], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
                Some(after) => tx
                    .prepare_cached(SELECT_GROUP_IDS_AFTER)?
                    .query_map(params![after, limit], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
            };
            Ok(ids)
        })
    }

    fn messages_after(
        &self,
        group_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        // No stored `MsgSeq` exceeds `i64::MAX`, so clamping `after_seq` changes no answer.
        let after_seq = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let group_id = group_id.to_owned();
        self.read("messages_after", move |tx| {
            let group_id = group_id.as_str();
            counters(tx, group_id)?;
            let mut select = tx.prepare_cached(SELECT_MESSAGES_AFTER)?;
            let rows = select.query_map(params![group_id, after_seq, limit], stored_message)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn reset(&self) -> StoreResult<u64> {
        self.write("reset", |tx| {
            let mut removed = 0;
            for sql in RESET {
                removed = tx.prepare_cached(sql)?.execute([])?;
            }
            // The last statement deleted the groups.
            Ok(removed as u64)
        })
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The duplicate lookups (on either clock) must use the partial index, not scan the group's
    /// messages, and must not sort (a temporary b-tree per lookup).
    #[test]
    fn dedup_lookup_uses_partial_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan_of = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Vec<String> {
            conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params, |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        for plan in [
            plan_of(FIND_SUPPLIED, params!["g", 1, 0, 10]),
            plan_of(FIND_SUPPLIED_WALL, params!["g", 1, 0]),
        ] {
            assert!(
                plan.iter()
                    .any(|p| p.contains("messages_dedup") && p.contains("random=?")),
                "plan: {plan:?}"
            );
            assert!(
                !plan.iter().any(|p| p.contains("TEMP B-TREE")),
                "plan: {plan:?}"
            );
        }
    }

    /// Opening a file twice does not re-run migrations, and the version is recorded.
    #[test]
    fn schema_version_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tim.db");
        drop(SqliteStore::open(&path).unwrap());
        let _store = SqliteStore::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    /// A file at version 1 gets the `imported_at` column, NULL on its existing rows, and keeps
    /// them.
    #[test]
    fn version_1_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tim.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(INSERT_GROUP, params!["g", "Public", 0, "{}"])
                .unwrap();
            conn.execute(
                "INSERT INTO messages (group_id, msg_seq, from_account, send_time, random,
                     random_supplied, body_json) VALUES ('g', 1, 'a', 5, 7, 1, '[]')",
                [],
            )
            .unwrap();
        }
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let row: (u64, Option<i64>) = conn
            .query_row("SELECT msg_seq, imported_at FROM messages", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(row, (1, None));
    }

    /// A file from a newer build is refused rather than misread.
    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tim.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::Backend(ref m) if m.contains("newer") && m.contains("(2)")),
            "{err}"
        );
    }

    /// A queued call that inserts a group row with `id`, as the writer runs it.
    fn job(id: &str) -> (Box<dyn Job>, mpsc::Receiver<StoreResult<usize>>) {
        let (answer, reply) = mpsc::sync_channel(1);
        let id = id.to_owned();
        let f = move |c: &Connection| -> Result<usize, Fail> {
            if id == "panics" {
                panic!("test panic");
            }
            Ok(c.execute(INSERT_GROUP, params![id, "Public", 0, "{}"])?)
        };
        let job = Box::new(Call {
            op: "test",
            f: Some(f),
            result: None,
            answer,
        });
        (job, reply)
    }

    fn group_ids(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT group_id FROM groups ORDER BY group_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// In one group commit, a failing or panicking call is rolled back alone: the calls before
    /// and after it commit and are answered `Ok`; it gets its own error.
    #[test]
    fn a_failing_call_does_not_fail_its_batch() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        // "a" twice: the second insert violates the primary key after a savepoint was taken.
        let (jobs, replies): (Vec<_>, Vec<_>) =
            ["a", "b", "a", "panics", "c"].into_iter().map(job).unzip();
        let mut batch = jobs;
        commit_batch(&conn, &mut batch).unwrap();
        for j in batch {
            j.reply(None);
        }
        let answers: Vec<_> = replies.iter().map(|r| r.recv().unwrap()).collect();
        assert!(matches!(answers[0], Ok(1)), "{:?}", answers[0]);
        assert!(matches!(answers[1], Ok(1)), "{:?}", answers[1]);
        assert!(
            matches!(&answers[2], Err(StoreError::Backend(m)) if m.contains("UNIQUE")),
            "{:?}",
            answers[2]
        );
        assert!(
            matches!(&answers[3], Err(StoreError::Backend(m)) if m.contains("panicked")),
            "{:?}",
            answers[3]
        );
        assert!(matches!(answers[4], Ok(1)), "{:?}", answers[4]);
        assert!(conn.is_autocommit(), "the batch transaction was closed");
        assert_eq!(group_ids(&conn), ["a", "b", "c"]);
    }

    /// When the batch cannot commit, every call of it is answered with an error, even the
    /// ones that had succeeded, and nothing of the batch is kept.
    #[test]
    fn a_failed_commit_fails_every_call() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        // A deferred foreign key makes COMMIT itself fail after every call succeeded.
        conn.execute_batch(
            "CREATE TABLE t (g TEXT REFERENCES groups (group_id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TRIGGER bad AFTER INSERT ON groups WHEN NEW.group_id = 'b'
             BEGIN INSERT INTO t VALUES ('missing'); END;
             PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        let (mut batch, replies): (Vec<_>, Vec<_>) = ["a", "b"].into_iter().map(job).unzip();
        let err = commit_batch(&conn, &mut batch).unwrap_err();
        let why = format!("group commit failed: {err}");
        for j in batch {
            j.reply(Some(&why));
        }
        for r in replies {
            let answer = r.recv().unwrap();
            assert!(
                matches!(&answer, Err(StoreError::Backend(m)) if m.contains("group commit failed")),
                "{answer:?}"
            );
        }
        assert!(conn.is_autocommit());
        assert!(group_ids(&conn).is_empty());
    }

    /// `--durability full` fsyncs the WAL after each commit itself (SQLite's part of COMMIT then
    /// stops at writing the WAL, `synchronous=NORMAL` = 1); `normal` leaves the fsync to
    /// checkpoints. An in-memory database has nothing to fsync.
    #[rstest::rstest]
    #[case(Durability::Full, true)]
    #[case(Durability::Normal, false)]
    fn durability_decides_who_fsyncs(#[case] durability: Durability, #[case] syncs_wal: bool) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with(&dir.path().join("tim.db"), durability).unwrap();
        assert_eq!(store.writer.syncs_wal, syncs_wal);
        let got: i64 = store
            .write("test", |c| {
                Ok(c.pragma_query_value(None, "synchronous", |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(got, 1);
        assert!(!SqliteStore::open_in_memory().unwrap().writer.syncs_wal);
    }
}
