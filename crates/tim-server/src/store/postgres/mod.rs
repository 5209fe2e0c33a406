//! The shared backend: one PostgreSQL database behind several `tim-server` replicas.
//!
//! **Crates.** `tokio-postgres` with the `deadpool-postgres` pool: the maintained native client,
//! with `LISTEN`/`NOTIFY` (the shared configuration) and statement caching per pooled
//! connection; sqlx would bring a second SQLite into the graph next to rusqlite's bundled one,
//! and the synchronous `postgres` crate is the same client wrapped in one runtime per
//! connection.
//!
//! **Bridge.** [`Store`] is synchronous and every caller runs it on a blocking thread (the
//! service on the HTTP runtime's blocking pool, the state dump on a thread of its own, tests on
//! plain threads). The store owns a small multi-thread runtime on which the pool's connections
//! live; a call blocks its thread on that runtime until the call's statements are done. Never
//! call it from an async task. [`Shared`] (the rate limit, the configuration) is async instead:
//! the gateway asks on every request from an async handler; its futures run on the store's
//! runtime and are awaited from any other.
//!
//! **Many writers.** An import locks its group's row (`SELECT … FOR NO KEY UPDATE`) in its
//! transaction, reads the counters and the possible originals of its messages under that lock,
//! stores the messages with the next `MsgSeq`s, advances the counters and commits before it
//! answers; a concurrent import into the same group, from any replica, waits for the lock, so
//! `MsgSeq` stays gap-free and in order and the time-order and duplicate rules see every
//! committed message ([`Store::import_checked`]). Writes take the group row first, then members
//! or messages, so they cannot deadlock each other. Each statement commits with the server's
//! `synchronous_commit` (on by default: an `Ok` is on the database's disk).
//!
//! The connection URL may carry a password: it is never logged nor put in an error. Plain TCP
//! or a Unix socket only (`NoTls`): run the database on a private network or a local socket.

mod schema;
mod shared;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tim_model::api::import_group::GroupProfile;
use tim_model::edition::DedupClock;
use tim_model::validate::GroupSnapshot;
use tim_model::GroupType;
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};

use super::{
    clamp_unread, DedupRule, GroupRecord, ImportSnapshot, MemberInsert, MemberRecord, NewGroup,
    NewMember, NewMessage, Role, Shared, Store, StoreError, StoreResult, StoredMessage,
    StoredOutcome, Supplied,
};

/// Most connections the pool opens (plus one listening for configuration changes).
const POOL_SIZE: usize = 16;
/// How long a call waits for a free connection, or for a new one to be made.
const POOL_TIMEOUT: Duration = Duration::from_secs(30);
/// Worker threads of the store's runtime: they only drive connections.
const RUNTIME_THREADS: usize = 2;

const SELECT_GROUP: &str = "
    SELECT type, create_time, profile_json, next_msg_seq, last_msg_time, msg_count,
           (SELECT COUNT(*) FROM tim_members m WHERE m.group_id = g.group_id)
    FROM tim_groups g WHERE group_id = $1";
/// The lock of an import: held until its transaction ends.
const LOCK_GROUP: &str = "
    SELECT type, create_time, last_msg_time, next_msg_seq, msg_count FROM tim_groups
    WHERE group_id = $1 FOR NO KEY UPDATE";
/// The message count of a group, which member writes clamp unread counts to; waits for an
/// import in progress.
const SHARE_GROUP: &str = "SELECT msg_count FROM tim_groups WHERE group_id = $1 FOR SHARE";
const GROUP_EXISTS: &str = "SELECT 1 FROM tim_groups WHERE group_id = $1";
const INSERT_GROUP: &str = "
    INSERT INTO tim_groups (group_id, type, create_time, profile_json, next_msg_seq, last_msg_time, msg_count)
    VALUES ($1, $2, $3, $4, 1, NULL, 0)";
const UPDATE_GROUP_COUNTERS: &str =
    "UPDATE tim_groups SET next_msg_seq = $2, msg_count = $3, last_msg_time = $4 WHERE group_id = $1";
const DELETE_GROUP: &str = "DELETE FROM tim_groups WHERE group_id = $1";
/// Inserts members (`$2..$5`: accounts, roles, join times, unread counts, without repeats);
/// returns the accounts that were not members yet.
const INSERT_MEMBERS: &str = "
    INSERT INTO tim_members (group_id, account, role, join_time, unread)
    SELECT $1, a, r, j, u FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[]) AS m (a, r, j, u)
    ON CONFLICT (group_id, account) DO NOTHING
    RETURNING account";
const SELECT_MEMBERS: &str = "
    SELECT m.account, m.role, m.join_time, m.unread, s.last_send
    FROM tim_members m
    LEFT JOIN (SELECT from_account, MAX(send_time) AS last_send FROM tim_messages
               WHERE group_id = $1 GROUP BY from_account) s ON s.from_account = m.account
    WHERE m.group_id = $1 ORDER BY m.join_time, m.account";
const UPDATE_UNREAD: &str =
    "UPDATE tim_members SET unread = $3 WHERE group_id = $1 AND account = $2";
const RESET_UNREAD: &str = "UPDATE tim_members SET unread = 0 WHERE group_id = $1 AND unread <> 0";
/// The possible originals on the [`DedupClock::SendTime`] clock: for each distinct random
/// `$2[i]`, its stored messages sent in `$3[i]..=$4[i]`.
const FIND_SUPPLIED: &str = "
    SELECT m.random, m.msg_seq, m.send_time, m.imported_at FROM tim_messages m
    JOIN UNNEST($2::BIGINT[], $3::BIGINT[], $4::BIGINT[]) AS w (random, lo, hi)
      ON m.random = w.random AND m.send_time BETWEEN w.lo AND w.hi
    WHERE m.group_id = $1 AND m.random_supplied";
/// The possible originals on the [`DedupClock::Wall`] clock: stored messages with one of the
/// randoms `$2` imported at `$3` or later.
const FIND_SUPPLIED_WALL: &str = "
    SELECT m.random, m.msg_seq, m.send_time, m.imported_at FROM tim_messages m
    WHERE m.group_id = $1 AND m.random_supplied AND m.random = ANY ($2::BIGINT[])
      AND m.imported_at >= $3";
/// Inserts a call's messages in one statement (`$2..$8` one array per column, `$9` the
/// import time).
const INSERT_MESSAGES: &str = "
    INSERT INTO tim_messages
        (group_id, msg_seq, from_account, send_time, random, random_supplied, body_json,
         cloud_custom_data, imported_at)
    SELECT $1, s, f, t, r, rs, b, c, $9
    FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::BOOLEAN[],
                $7::TEXT[], $8::TEXT[]) AS u (s, f, t, r, rs, b, c)";
const SELECT_HISTORY: &str = "
    SELECT msg_seq, from_account, send_time, random, body_json, cloud_custom_data FROM tim_messages
    WHERE group_id = $1 AND msg_seq <= $2 ORDER BY msg_seq DESC LIMIT $3";
const SELECT_MESSAGES_AFTER: &str = "
    SELECT msg_seq, from_account, send_time, random, body_json, cloud_custom_data FROM tim_messages
    WHERE group_id = $1 AND msg_seq > $2 ORDER BY msg_seq LIMIT $3";
const SELECT_GROUP_IDS: &str = "SELECT group_id FROM tim_groups ORDER BY group_id LIMIT $1";
const SELECT_GROUP_IDS_AFTER: &str =
    "SELECT group_id FROM tim_groups WHERE group_id > $1 ORDER BY group_id LIMIT $2";
/// A reset first takes every group's row, in one order, so that it waits for the imports in
/// progress rather than deadlocking with them; then removes children first.
const RESET_LOCK: &str = "SELECT group_id FROM tim_groups ORDER BY group_id FOR UPDATE";
const RESET: [&str; 3] = [
    "DELETE FROM tim_messages",
    "DELETE FROM tim_members",
    "DELETE FROM tim_groups",
];

/// A [`Store`] on a PostgreSQL database that several processes may share.
pub struct PostgresStore {
    /// The store's runtime; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    shared: Arc<shared::PgShared>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closes the connections without waiting (dropping may happen on an async thread).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Maps a client error to [`StoreError::Backend`]. The server's messages name tables and
/// constraints, not bound values, so message bodies do not leak into them.
fn pg(op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        let detail = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        StoreError::Backend(format!("postgres {op}: {detail}"))
    }
}

fn pool_error(op: &'static str) -> impl Fn(deadpool_postgres::PoolError) -> StoreError {
    move |e| {
        StoreError::Backend(format!(
            "postgres {op}: no database connection ({e}); is the server up and the --data URL right?"
        ))
    }
}

/// A count or sequence number as stored (never negative).
fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A count or sequence number to store.
fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn parse_role(s: &str) -> StoreResult<Role> {
    Role::parse(s)
        .ok_or_else(|| StoreError::Backend(format!("postgres: unknown member role {s:?}")))
}

fn stored_message(r: &tokio_postgres::Row) -> StoredMessage {
    StoredMessage {
        msg_seq: unsigned(r.get(0)),
        from_account: r.get(1),
        send_time: r.get(2),
        random: u32::try_from(r.get::<_, i64>(3)).unwrap_or(0),
        body_json: r.get(4),
        cloud_custom_data: r.get(5),
    }
}

/// Every stored message of `group_id` that could be the original of one of `candidates` under
/// `dedup`, in one statement for the whole batch. Nothing when detection is off.
async fn find_supplied(
    tx: &deadpool_postgres::Transaction<'_>,
    group_id: &str,
    candidates: impl Iterator<Item = (u32, i64)>,
    dedup: DedupRule,
) -> StoreResult<Vec<Supplied>> {
    let op = "find duplicates";
    let mut wanted: Vec<(u32, i64)> = candidates.collect();
    if dedup.is_off() || wanted.is_empty() {
        return Ok(Vec::new());
    }
    wanted.sort_unstable();
    let window = dedup.window_secs;
    let mut randoms = Vec::new();
    let (mut lows, mut highs) = (Vec::new(), Vec::new());
    for same in wanted.chunk_by(|a, b| a.0 == b.0) {
        randoms.push(i64::from(same[0].0));
        lows.push(same[0].1.saturating_sub(window));
        highs.push(same[same.len() - 1].1.saturating_add(window));
    }
    let rows = match dedup.clock {
        DedupClock::SendTime => {
            let stmt = tx.prepare_cached(FIND_SUPPLIED).await.map_err(pg(op))?;
            tx.query(&stmt, &[&group_id, &randoms, &lows, &highs]).await
        }
        DedupClock::Wall => {
            let stmt = tx
                .prepare_cached(FIND_SUPPLIED_WALL)
                .await
                .map_err(pg(op))?;
            let since = dedup.now.saturating_sub(window);
            tx.query(&stmt, &[&group_id, &randoms, &since]).await
        }
    }
    .map_err(pg(op))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                u32::try_from(r.get::<_, i64>(0)).unwrap_or(0),
                unsigned(r.get(1)),
                r.get(2),
                Some(r.get(3)),
            )
        })
        .collect())
}

/// For each candidate, whether the group already stores an original of it.
async fn duplicate_flags(
    tx: &deadpool_postgres::Transaction<'_>,
    group_id: &str,
    candidates: &[Option<(u32, i64)>],
    dedup: DedupRule,
) -> StoreResult<Vec<bool>> {
    let known = find_supplied(tx, group_id, candidates.iter().flatten().copied(), dedup).await?;
    Ok(candidates
        .iter()
        .map(|c| c.is_some_and(|(random, t)| dedup.earliest(&known, random, t).is_some()))
        .collect())
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`,
    /// or any form `tokio_postgres::Config` parses) and brings its schema up to date.
    pub fn open(url: &str) -> StoreResult<Self> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Backend(format!(
                "postgres: the --data URL is not a PostgreSQL connection URL \
                 (postgres://user@host:port/database): {e}"
            ))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("tim-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres: cannot start a runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres: cannot build the pool: {e}")))?;
        let seen_version = runtime.block_on(async {
            let op = "open";
            let mut client = pool.get().await.map_err(pool_error(op))?;
            schema::migrate(&mut client).await?;
            let version: i64 = client
                .query_one(shared::CONFIG_VERSION, &[])
                .await
                .map_err(pg(op))?
                .get(0);
            StoreResult::Ok(version)
        })?;
        let shared = Arc::new(shared::PgShared::start(
            runtime.handle().clone(),
            pool.clone(),
            config,
            seen_version,
        ));
        Ok(PostgresStore {
            runtime: Some(runtime),
            pool,
            shared,
        })
    }

    /// Whether `data` names a PostgreSQL database rather than a file.
    pub fn is_url(data: &str) -> bool {
        data.starts_with("postgres://") || data.starts_with("postgresql://")
    }

    /// Runs `f` to completion on the store's runtime, blocking the calling thread.
    fn block_on<T>(&self, f: impl std::future::Future<Output = StoreResult<T>>) -> StoreResult<T> {
        match &self.runtime {
            Some(runtime) => runtime.block_on(f),
            None => Err(StoreError::Backend("postgres: the store is closed".into())),
        }
    }

    async fn client(&self, op: &'static str) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error(op))
    }

    /// Runs the read-only `f` in one repeatable-read transaction, so that its statements see one
    /// state of the database.
    fn read<T>(
        &self,
        op: &'static str,
        f: impl for<'t> AsyncFnOnce(&'t deadpool_postgres::Transaction<'t>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.block_on(async {
            let mut client = self.client(op).await?;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg(op))?;
            let value = f(&tx).await?;
            tx.commit().await.map_err(pg(op))?;
            Ok(value)
        })
    }

    /// Runs `f` in one read-committed transaction and commits it; an `Err` rolls all of it back.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl for<'t> AsyncFnOnce(&'t deadpool_postgres::Transaction<'t>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.block_on(async {
            let mut client = self.client(op).await?;
            let tx = client.transaction().await.map_err(pg(op))?;
            let value = f(&tx).await?;
            tx.commit().await.map_err(pg(op))?;
            Ok(value)
        })
    }

    /// The body of [`Store::import_checked`] and [`Store::import_messages`]: all under the
    /// group's row lock, in one transaction. `Ok(None)`: `decide` refused; nothing was written.
    fn import_locked(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
        decide: &mut dyn FnMut(Option<ImportSnapshot>) -> Option<Vec<NewMessage>>,
    ) -> StoreResult<Option<Vec<StoredOutcome>>> {
        let op = "import_messages";
        self.block_on(async {
            let mut client = self.client(op).await?;
            let tx = client.transaction().await.map_err(pg(op))?;
            let lock = tx.prepare_cached(LOCK_GROUP).await.map_err(pg(op))?;
            let row = tx.query_opt(&lock, &[&group_id]).await.map_err(pg(op))?;
            let (snapshot, counters) = match row {
                None => (None, None),
                Some(r) => {
                    let duplicates = match candidates.iter().any(Option::is_some) {
                        true => duplicate_flags(&tx, group_id, candidates, dedup).await?,
                        false => Vec::new(),
                    };
                    let snapshot = ImportSnapshot {
                        group: GroupSnapshot {
                            group_type: GroupType::parse(r.get(0)),
                            create_time: r.get(1),
                            last_msg_time: r.get(2),
                        },
                        duplicates,
                    };
                    let counters: (i64, i64, Option<i64>) = (r.get(3), r.get(4), r.get(2));
                    (Some(snapshot), Some(counters))
                }
            };
            let Some(messages) = decide(snapshot) else {
                tx.rollback().await.map_err(pg(op))?;
                return Ok(None);
            };
            let Some((mut next_seq, mut msg_count, mut last_msg_time)) = counters else {
                return Err(StoreError::GroupNotFound);
            };
            let supplied = messages
                .iter()
                .filter(|m| m.random_supplied)
                .map(|m| (m.random, m.send_time));
            // Messages stored earlier in this call join `known` as they are assigned.
            let mut known = find_supplied(&tx, group_id, supplied, dedup).await?;
            let mut outcomes = Vec::with_capacity(messages.len());
            let mut rows = Columns::default();
            for m in &messages {
                if m.random_supplied {
                    if let Some((msg_seq, msg_time)) = dedup.earliest(&known, m.random, m.send_time)
                    {
                        outcomes.push(StoredOutcome {
                            msg_seq,
                            msg_time,
                            duplicate: true,
                        });
                        continue;
                    }
                    known.push((m.random, unsigned(next_seq), m.send_time, Some(dedup.now)));
                }
                rows.seq.push(next_seq);
                rows.from.push(&m.from_account);
                rows.time.push(m.send_time);
                rows.random.push(i64::from(m.random));
                rows.supplied.push(m.random_supplied);
                rows.body.push(&m.body_json);
                rows.custom.push(m.cloud_custom_data.as_deref());
                outcomes.push(StoredOutcome {
                    msg_seq: unsigned(next_seq),
                    msg_time: m.send_time,
                    duplicate: false,
                });
                next_seq += 1;
                msg_count += 1;
                last_msg_time = Some(last_msg_time.map_or(m.send_time, |t| t.max(m.send_time)));
            }
            if !rows.seq.is_empty() {
                let insert = tx.prepare_cached(INSERT_MESSAGES).await.map_err(pg(op))?;
                tx.execute(
                    &insert,
                    &[
                        &group_id,
                        &rows.seq,
                        &rows.from,
                        &rows.time,
                        &rows.random,
                        &rows.supplied,
                        &rows.body,
                        &rows.custom,
                        &dedup.now,
                    ],
                )
                .await
                .map_err(pg(op))?;
                let update = tx
                    .prepare_cached(UPDATE_GROUP_COUNTERS)
                    .await
                    .map_err(pg(op))?;
                tx.execute(&update, &[&group_id, &next_seq, &msg_count, &last_msg_time])
                    .await
                    .map_err(pg(op))?;
            }
            let reset = tx.prepare_cached(RESET_UNREAD).await.map_err(pg(op))?;
            tx.execute(&reset, &[&group_id]).await.map_err(pg(op))?;
            tx.commit().await.map_err(pg(op))?;
            Ok(Some(outcomes))
        })
    }
}

/// The messages of one call, one vector per column of [`INSERT_MESSAGES`].
#[derive(Default)]
struct Columns<'m> {
    seq: Vec<i64>,
    from: Vec<&'m str>,
    time: Vec<i64>,
    random: Vec<i64>,
    supplied: Vec<bool>,
    body: Vec<&'m str>,
    custom: Vec<Option<&'m str>>,
}

/// The message count of a group, with its row share-locked until the transaction ends, or
/// [`StoreError::GroupNotFound`].
async fn share_group(
    tx: &deadpool_postgres::Transaction<'_>,
    op: &'static str,
    group_id: &str,
) -> StoreResult<u64> {
    let stmt = tx.prepare_cached(SHARE_GROUP).await.map_err(pg(op))?;
    match tx.query_opt(&stmt, &[&group_id]).await.map_err(pg(op))? {
        Some(r) => Ok(unsigned(r.get(0))),
        None => Err(StoreError::GroupNotFound),
    }
}

/// [`StoreError::GroupNotFound`] unless the group exists.
async fn must_exist(
    tx: &deadpool_postgres::Transaction<'_>,
    op: &'static str,
    group_id: &str,
) -> StoreResult<()> {
    let stmt = tx.prepare_cached(GROUP_EXISTS).await.map_err(pg(op))?;
    match tx.query_opt(&stmt, &[&group_id]).await.map_err(pg(op))? {
        Some(_) => Ok(()),
        None => Err(StoreError::GroupNotFound),
    }
}

/// Inserts `members` (repeated accounts: the first counts), clamping unread counts to
/// `msg_count`; the outcome of each, in order.
async fn insert_members(
    tx: &deadpool_postgres::Transaction<'_>,
    op: &'static str,
    group_id: &str,
    members: &[NewMember],
    msg_count: u64,
) -> StoreResult<Vec<MemberInsert>> {
    let mut seen = HashSet::new();
    let firsts: Vec<&NewMember> = members
        .iter()
        .filter(|m| seen.insert(m.account.as_str()))
        .collect();
    let accounts: Vec<&str> = firsts.iter().map(|m| m.account.as_str()).collect();
    let roles: Vec<&str> = firsts.iter().map(|m| m.role.as_str()).collect();
    let joins: Vec<i64> = firsts.iter().map(|m| m.join_time).collect();
    let unread: Vec<i64> = firsts
        .iter()
        .map(|m| signed(clamp_unread(m.unread_msg_num.unwrap_or(0), msg_count)))
        .collect();
    let stmt = tx.prepare_cached(INSERT_MEMBERS).await.map_err(pg(op))?;
    let added: HashSet<String> = tx
        .query(&stmt, &[&group_id, &accounts, &roles, &joins, &unread])
        .await
        .map_err(pg(op))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut first = HashSet::new();
    Ok(members
        .iter()
        .map(
            |m| match first.insert(m.account.as_str()) && added.contains(m.account.as_str()) {
                true => MemberInsert::Added,
                false => MemberInsert::AlreadyMember,
            },
        )
        .collect())
}

impl Store for PostgresStore {
    fn create_group(&self, group: NewGroup) -> StoreResult<GroupRecord> {
        let op = "create_group";
        let profile_json = serde_json::to_string(&group.profile)
            .map_err(|e| StoreError::Backend(format!("cannot encode group profile: {e}")))?;
        let member_num = self.write(op, async |tx| {
            let stmt = tx.prepare_cached(INSERT_GROUP).await.map_err(pg(op))?;
            let inserted = tx
                .execute(
                    &stmt,
                    &[
                        &group.group_id,
                        &group.profile.group_type.as_str(),
                        &group.create_time,
                        &profile_json,
                    ],
                )
                .await;
            match inserted {
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Err(StoreError::GroupIdTaken)
                }
                other => other.map_err(pg(op))?,
            };
            // A new group has no messages, so every unread count clamps to 0.
            let outcomes = insert_members(tx, op, &group.group_id, &group.members, 0).await?;
            Ok(outcomes
                .iter()
                .filter(|o| **o == MemberInsert::Added)
                .count() as u64)
        })?;
        Ok(GroupRecord::created(group, member_num))
    }

    fn group(&self, group_id: &str) -> StoreResult<Option<GroupRecord>> {
        let op = "group";
        let row = self.block_on(async {
            let client = self.client(op).await?;
            let stmt = client.prepare_cached(SELECT_GROUP).await.map_err(pg(op))?;
            client.query_opt(&stmt, &[&group_id]).await.map_err(pg(op))
        })?;
        let Some(r) = row else {
            return Ok(None);
        };
        let profile_json: String = r.get(2);
        let profile: GroupProfile = serde_json::from_str(&profile_json).map_err(|e| {
            StoreError::Backend(format!(
                "postgres group: stored profile is not a valid group profile ({:?} at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        Ok(Some(GroupRecord {
            group_id: group_id.to_owned(),
            group_type: GroupType::parse(r.get(0)),
            create_time: r.get(1),
            profile,
            next_msg_seq: unsigned(r.get(3)),
            last_msg_time: r.get(4),
            msg_count: unsigned(r.get(5)),
            member_num: unsigned(r.get(6)),
        }))
    }

    fn destroy_group(&self, group_id: &str) -> StoreResult<()> {
        let op = "destroy_group";
        // Members and messages go with the group (ON DELETE CASCADE).
        let deleted = self.block_on(async {
            let client = self.client(op).await?;
            let stmt = client.prepare_cached(DELETE_GROUP).await.map_err(pg(op))?;
            client.execute(&stmt, &[&group_id]).await.map_err(pg(op))
        })?;
        match deleted {
            0 => Err(StoreError::GroupNotFound),
            _ => Ok(()),
        }
    }

    fn import_messages(
        &self,
        group_id: &str,
        messages: &[NewMessage],
        dedup: DedupRule,
    ) -> StoreResult<Vec<StoredOutcome>> {
        let mut messages = Some(messages.to_vec());
        self.import_locked(group_id, &[], dedup, &mut |_| messages.take())?
            .ok_or_else(|| StoreError::Backend("postgres import_messages: not run".into()))
    }

    fn import_checked(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
        decide: &mut dyn FnMut(Option<ImportSnapshot>) -> Option<Vec<NewMessage>>,
    ) -> StoreResult<Option<Vec<StoredOutcome>>> {
        self.import_locked(group_id, candidates, dedup, decide)
    }

    fn find_duplicates(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Vec<bool>> {
        let op = "find_duplicates";
        self.read(op, async |tx| {
            must_exist(tx, op, group_id).await?;
            duplicate_flags(tx, group_id, candidates, dedup).await
        })
    }

    fn import_snapshot(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Option<ImportSnapshot>> {
        let op = "import_snapshot";
        self.read(op, async |tx| {
            let stmt = tx
                .prepare_cached(
                    "SELECT type, create_time, last_msg_time FROM tim_groups WHERE group_id = $1",
                )
                .await
                .map_err(pg(op))?;
            let Some(r) = tx.query_opt(&stmt, &[&group_id]).await.map_err(pg(op))? else {
                return Ok(None);
            };
            let duplicates = match candidates.iter().any(Option::is_some) {
                true => duplicate_flags(tx, group_id, candidates, dedup).await?,
                false => Vec::new(),
            };
            Ok(Some(ImportSnapshot {
                group: GroupSnapshot {
                    group_type: GroupType::parse(r.get(0)),
                    create_time: r.get(1),
                    last_msg_time: r.get(2),
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
        let op = "import_members";
        self.write(op, async |tx| {
            let msg_count = share_group(tx, op, group_id).await?;
            insert_members(tx, op, group_id, members, msg_count).await
        })
    }

    fn members(&self, group_id: &str) -> StoreResult<Vec<MemberRecord>> {
        let op = "members";
        self.read(op, async |tx| {
            must_exist(tx, op, group_id).await?;
            let stmt = tx.prepare_cached(SELECT_MEMBERS).await.map_err(pg(op))?;
            tx.query(&stmt, &[&group_id])
                .await
                .map_err(pg(op))?
                .iter()
                .map(|r| {
                    Ok(MemberRecord {
                        account: r.get(0),
                        role: parse_role(r.get(1))?,
                        join_time: r.get(2),
                        unread_msg_num: unsigned(r.get(3)),
                        last_send_msg_time: r.get(4),
                    })
                })
                .collect()
        })
    }

    fn set_unread(&self, group_id: &str, account: &str, unread: i64) -> StoreResult<Option<u64>> {
        let op = "set_unread";
        self.write(op, async |tx| {
            let msg_count = share_group(tx, op, group_id).await?;
            let value = clamp_unread(unread, msg_count);
            let stmt = tx.prepare_cached(UPDATE_UNREAD).await.map_err(pg(op))?;
            let changed = tx
                .execute(&stmt, &[&group_id, &account, &signed(value)])
                .await
                .map_err(pg(op))?;
            Ok((changed > 0).then_some(value))
        })
    }

    fn history(
        &self,
        group_id: &str,
        max_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        let op = "history";
        let max_seq = max_seq.map_or(i64::MAX, signed);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(op, async |tx| {
            must_exist(tx, op, group_id).await?;
            let stmt = tx.prepare_cached(SELECT_HISTORY).await.map_err(pg(op))?;
            let rows = tx
                .query(&stmt, &[&group_id, &max_seq, &limit])
                .await
                .map_err(pg(op))?;
            Ok(rows.iter().map(stored_message).collect())
        })
    }

    fn group_ids(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<String>> {
        let op = "group_ids";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.block_on(async {
            let client = self.client(op).await?;
            match after {
                None => {
                    let stmt = client
                        .prepare_cached(SELECT_GROUP_IDS)
                        .await
                        .map_err(pg(op))?;
                    client.query(&stmt, &[&limit]).await
                }
                Some(after) => {
                    let stmt = client
                        .prepare_cached(SELECT_GROUP_IDS_AFTER)
                        .await
                        .map_err(pg(op))?;
                    client.query(&stmt, &[&after, &limit]).await
                }
            }
            .map_err(pg(op))
        })?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn messages_after(
        &self,
        group_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        let op = "messages_after";
        let after_seq = signed(after_seq);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(op, async |tx| {
            must_exist(tx, op, group_id).await?;
            let stmt = tx
                .prepare_cached(SELECT_MESSAGES_AFTER)
                .await
                .map_err(pg(op))?;
            let rows = tx
                .query(&stmt, &[&group_id, &after_seq, &limit])
                .await
                .map_err(pg(op))?;
            Ok(rows.iter().map(stored_message).collect())
        })
    }

    fn reset(&self) -> StoreResult<u64> {
        let op = "reset";
        self.write(op, async |tx| {
            tx.query(RESET_LOCK, &[]).await.map_err(pg(op))?;
            let mut removed = 0;
            for sql in RESET {
                removed = tx.execute(sql, &[]).await.map_err(pg(op))?;
            }
            // The last statement deleted the groups.
            Ok(removed)
        })
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn shared(&self) -> Option<Arc<dyn Shared>> {
        Some(Arc::clone(&self.shared) as Arc<dyn Shared>)
    }
}
