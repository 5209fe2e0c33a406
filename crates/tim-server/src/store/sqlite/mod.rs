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
//! The schema version lives in `PRAGMA user_version`; `schema::MIGRATIONS` are applied in order
//! on open.
//!
//! One job per file: `writer` (the writer and syncer threads, group commit), `readers` (the
//! pool of read connections), `schema` (migrations), `calls` (the [`Store`](super::Store)
//! calls: their SQL and the helpers they share); this file opens the store and holds what they
//! share.

mod calls;
mod readers;
mod schema;
mod writer;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use serde::Deserialize;

use super::{StoreError, StoreResult};
use readers::Readers;
use writer::Writer;

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

/// A [`Store`](super::Store) on an SQLite file: durable, with group commit.
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
        schema::migrate(&mut conn)?;
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use rusqlite::params;

    use super::calls::{FIND_SUPPLIED, FIND_SUPPLIED_WALL, INSERT_GROUP};
    use super::schema::{migrate, MIGRATIONS};
    use super::writer::{commit_batch, Call, Job};
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
