//! The schema: migrations, applied in order on open; the version lives in `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::{Fail, StoreError, StoreResult};

/// Schema migrations; migration `i` takes `user_version` from `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
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

/// Applies the migrations the file has not seen yet, all in one transaction.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
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
