//! The PostgreSQL schema and its migrations.
//!
//! Versions are rows of `tim_schema_migrations`; [`MIGRATIONS`] are applied in order on open,
//! in one transaction under an advisory lock, so replicas starting together migrate once. A
//! database at a newer version than this build knows is refused rather than misread.

use deadpool_postgres::Client;

use super::{pg, StoreError, StoreResult};

/// Key of the advisory lock held while migrating (any constant; `tim` in ASCII).
const MIGRATION_LOCK: i64 = 0x0074_696d;

/// Schema migrations; migration `i` takes the schema from version `i` to `i + 1`.
///
/// Identifiers the suite orders by (`group_id`, `account`) are `COLLATE "C"`: byte order, as
/// the other backends page and sort, whatever the database's locale.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: groups, members, messages.
    r#"
    CREATE TABLE tim_groups (
        group_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        type          TEXT   NOT NULL,
        create_time   BIGINT NOT NULL,
        profile_json  TEXT   NOT NULL,
        next_msg_seq  BIGINT NOT NULL CHECK (next_msg_seq >= 1),
        last_msg_time BIGINT,
        msg_count     BIGINT NOT NULL CHECK (msg_count >= 0)
    );

    CREATE TABLE tim_members (
        group_id  TEXT COLLATE "C" NOT NULL REFERENCES tim_groups (group_id) ON DELETE CASCADE,
        account   TEXT COLLATE "C" NOT NULL,
        role      TEXT   NOT NULL CHECK (role IN ('Owner', 'Admin', 'Member')),
        join_time BIGINT NOT NULL,
        unread    BIGINT NOT NULL CHECK (unread >= 0),
        PRIMARY KEY (group_id, account)
    );

    CREATE INDEX tim_members_by_join ON tim_members (group_id, join_time, account);

    CREATE TABLE tim_messages (
        group_id          TEXT COLLATE "C" NOT NULL REFERENCES tim_groups (group_id) ON DELETE CASCADE,
        msg_seq           BIGINT  NOT NULL CHECK (msg_seq >= 1),
        from_account      TEXT    COLLATE "C" NOT NULL,
        send_time         BIGINT  NOT NULL,
        random            BIGINT  NOT NULL CHECK (random BETWEEN 0 AND 4294967295),
        random_supplied   BOOLEAN NOT NULL,
        body_json         TEXT    NOT NULL,
        cloud_custom_data TEXT,
        imported_at       BIGINT  NOT NULL,
        PRIMARY KEY (group_id, msg_seq)
    );

    -- Duplicate detection looks up supplied randoms only.
    CREATE INDEX tim_messages_dedup ON tim_messages (group_id, random, send_time)
        WHERE random_supplied;
    "#,
    // 2: what the replicas share besides the data: the rate limit (one GCRA row per app and
    // command, its theoretical arrival time in nanoseconds on the database's clock) and the
    // run-time configuration (one row; every change bumps `version` and is announced with
    // NOTIFY on channel `tim_config`).
    r#"
    CREATE TABLE tim_rate_limits (
        key    TEXT   NOT NULL PRIMARY KEY,
        tat_ns BIGINT NOT NULL
    );

    CREATE TABLE tim_config (
        id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        version     BIGINT  NOT NULL,
        origin      BIGINT  NOT NULL,
        config_json TEXT    NOT NULL
    );
    "#,
];

/// Checks the database's encoding and applies the migrations it has not seen yet.
pub(super) async fn migrate(client: &mut Client) -> StoreResult<()> {
    let op = "migrate";
    let encoding: String = client
        .query_one("SHOW server_encoding", &[])
        .await
        .map_err(pg(op))?
        .get(0);
    if !encoding.eq_ignore_ascii_case("UTF8") {
        return Err(StoreError::Backend(format!(
            "postgres: the database's encoding is {encoding}, tim-server needs UTF8 \
             (CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0)"
        )));
    }
    let tx = client.transaction().await.map_err(pg(op))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg(op))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS tim_schema_migrations (
             version    INTEGER     NOT NULL PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg(op))?;
    let version: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM tim_schema_migrations",
            &[],
        )
        .await
        .map_err(pg(op))?
        .get(0);
    let known = MIGRATIONS.len();
    let from = usize::try_from(version).unwrap_or(0);
    if from > known {
        return Err(StoreError::Backend(format!(
            "postgres migrate: the database's schema version {version} is newer than this build \
             supports ({known}); run a newer tim-server, or point --data at another database"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.batch_execute(sql).await.map_err(pg(op))?;
        let to = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO tim_schema_migrations (version) VALUES ($1)",
            &[&to],
        )
        .await
        .map_err(pg(op))?;
        tracing::info!(version = to, "postgres: schema migrated");
    }
    tx.commit().await.map_err(pg(op))
}
