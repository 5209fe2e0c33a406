//! The durable backend: one SQLite file in WAL mode, one transaction per call.
//!
//! Every [`Store`] method locks the single connection, opens one transaction (`IMMEDIATE` for
//! writes, so the write lock is taken up front; deferred for reads), runs cached statements and
//! commits. With `synchronous=FULL` a returned `Ok` means the commit reached the disk; an `Err`
//! rolls the transaction back, so nothing of the call is kept.
//!
//! The schema version lives in `PRAGMA user_version`; [`MIGRATIONS`] are applied in order on
//! open.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use tim_model::api::import_group::GroupProfile;
use tim_model::GroupType;

use super::{
    GroupRecord, MemberInsert, MemberRecord, NewGroup, NewMember, NewMessage, Role, Store,
    StoreError, StoreResult, StoredMessage, StoredOutcome,
};

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
const FIND_DUPLICATE: &str = "
    SELECT msg_seq, send_time FROM messages
    WHERE group_id = ?1 AND random = ?2 AND random_supplied = 1 AND send_time BETWEEN ?3 AND ?4
    ORDER BY msg_seq LIMIT 1";
const INSERT_MESSAGE: &str = "
    INSERT INTO messages
        (group_id, msg_seq, from_account, send_time, random, random_supplied, body_json, cloud_custom_data)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const SELECT_HISTORY: &str = "
    SELECT msg_seq, from_account, send_time, random, body_json, cloud_custom_data FROM messages
    WHERE group_id = ?1 AND msg_seq <= ?2 ORDER BY msg_seq DESC LIMIT ?3";

/// A [`Store`] on an SQLite file: durable, one transaction per call.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
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

/// Maps an SQLite error to [`StoreError::Backend`]. SQLite's messages name tables, columns and
/// constraints, never bound values, so message bodies cannot leak into them.
fn backend(op: &str, e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite {op}: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path).map_err(|e| backend("open", &e))?;
        Self::init(conn, true)
    }

    /// Opens a private in-memory database (for tests; not durable, no WAL).
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(|e| backend("open", &e))?;
        Self::init(conn, false)
    }

    fn init(mut conn: Connection, on_disk: bool) -> StoreResult<Self> {
        let configure = |conn: &Connection| -> rusqlite::Result<String> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.set_prepared_statement_cache_capacity(32);
            Ok(mode)
        };
        let mode = configure(&conn).map_err(|e| backend("configure", &e))?;
        if on_disk && !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "sqlite configure: WAL journal mode unavailable (got {mode})"
            )));
        }
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` in one transaction and commits it; any error rolls everything back.
    fn run<T>(
        &self,
        op: &str,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fail>,
    ) -> StoreResult<T> {
        // A panic inside `f` dropped its transaction, which rolled back: the connection is still sound.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let result: Result<T, Fail> = (|| {
            let tx = conn.transaction_with_behavior(behavior)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        result.map_err(|e| match e {
            Fail::Store(e) => e,
            Fail::Sql(e) => backend(op, &e),
        })
    }

    fn write<T>(
        &self,
        op: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fail>,
    ) -> StoreResult<T> {
        self.run(op, TransactionBehavior::Immediate, f)
    }

    fn read<T>(
        &self,
        op: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fail>,
    ) -> StoreResult<T> {
        self.run(op, TransactionBehavior::Deferred, f)
    }
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
    run(conn).map_err(|e| match e {
        Fail::Store(e) => e,
        Fail::Sql(e) => backend("migrate", &e),
    })
}

/// `(next_msg_seq, msg_count, last_msg_time)` of a group, or [`StoreError::GroupNotFound`].
fn counters(tx: &Transaction<'_>, group_id: &str) -> Result<(u64, u64, Option<i64>), Fail> {
    tx.prepare_cached(SELECT_GROUP_COUNTERS)?
        .query_row(params![group_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or(Fail::Store(StoreError::GroupNotFound))
}

/// `(msg_seq, send_time)` of the earliest stored message with supplied `random` whose send time is
/// within `window` of `send_time` (never, for a negative window). `find` is [`FIND_DUPLICATE`].
fn find_original(
    find: &mut rusqlite::CachedStatement<'_>,
    group_id: &str,
    random: u32,
    send_time: i64,
    window: i64,
) -> rusqlite::Result<Option<(u64, i64)>> {
    if window < 0 {
        return Ok(None);
    }
    find.query_row(
        params![
            group_id,
            random,
            send_time.saturating_sub(window),
            send_time.saturating_add(window)
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
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
        self.write("create_group", |tx| {
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
                group_id: group.group_id.clone(),
                group_type: group.profile.group_type.clone(),
                create_time: group.create_time,
                profile: group.profile.clone(),
                next_msg_seq: 1,
                last_msg_time: None,
                msg_count: 0,
                member_num,
            })
        })
    }

    fn group(&self, group_id: &str) -> StoreResult<Option<GroupRecord>> {
        let row = self.read("group", |tx| {
            let row = tx
                .prepare_cached(SELECT_GROUP)?
                .query_row(params![group_id], |r| {
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
        self.write("destroy_group", |tx| {
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
        dedup_window_secs: i64,
    ) -> StoreResult<Vec<StoredOutcome>> {
        self.write("import_messages", |tx| {
            let (mut next_seq, mut msg_count, mut last_msg_time) = counters(tx, group_id)?;
            let mut find = tx.prepare_cached(FIND_DUPLICATE)?;
            let mut insert = tx.prepare_cached(INSERT_MESSAGE)?;
            let mut outcomes = Vec::with_capacity(messages.len());
            for m in messages {
                if m.random_supplied {
                    // Messages stored earlier in this call are visible here: same transaction.
                    let original = find_original(
                        &mut find,
                        group_id,
                        m.random,
                        m.send_time,
                        dedup_window_secs,
                    )?;
                    if let Some((msg_seq, msg_time)) = original {
                        outcomes.push(StoredOutcome {
                            msg_seq,
                            msg_time,
                            duplicate: true,
                        });
                        continue;
                    }
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
        dedup_window_secs: i64,
    ) -> StoreResult<Vec<bool>> {
        self.read("find_duplicates", |tx| {
            counters(tx, group_id)?;
            let mut find = tx.prepare_cached(FIND_DUPLICATE)?;
            let mut found = Vec::with_capacity(candidates.len());
            for c in candidates {
                found.push(match *c {
                    Some((random, send_time)) => {
                        find_original(&mut find, group_id, random, send_time, dedup_window_secs)?
                            .is_some()
                    }
                    None => false,
                });
            }
            Ok(found)
        })
    }

    fn import_members(
        &self,
        group_id: &str,
        members: &[NewMember],
    ) -> StoreResult<Vec<MemberInsert>> {
        self.write("import_members", |tx| {
            let (_, msg_count, _) = counters(tx, group_id)?;
            let mut insert = tx.prepare_cached(INSERT_MEMBER)?;
            let mut outcomes = Vec::with_capacity(members.len());
            for m in members {
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
        self.read("members", |tx| {
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
        self.write("set_unread", |tx| {
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
        self.read("history", |tx| {
            counters(tx, group_id)?;
            let mut select = tx.prepare_cached(SELECT_HISTORY)?;
            let rows = select.query_map(params![group_id, max_seq, limit], |r| {
                Ok(StoredMessage {
                    msg_seq: r.get(0)?,
                    from_account: r.get(1)?,
                    send_time: r.get(2)?,
                    random: r.get(3)?,
                    body_json: r.get(4)?,
                    cloud_custom_data: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The duplicate lookup must use the partial index, not scan the group's messages.
    #[test]
    fn dedup_lookup_uses_partial_index() {
        let store = SqliteStore::open_in_memory().unwrap();
        let conn = store.conn.lock().unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {FIND_DUPLICATE}"))
            .unwrap()
            .query_map(params!["g", 1, 0, 10], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            plan.iter().any(|p| p.contains("messages_dedup")),
            "plan: {plan:?}"
        );
    }

    /// Opening a file twice does not re-run migrations, and the version is recorded.
    #[test]
    fn schema_version_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tim.db");
        drop(SqliteStore::open(&path).unwrap());
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.conn.lock().unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
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
            matches!(err, StoreError::Backend(ref m) if m.contains("newer")),
            "{err}"
        );
    }
}
