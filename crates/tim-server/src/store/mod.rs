//! Storage behind a trait: groups, members and messages, with atomic imports.
//!
//! Three backends implement [`Store`]: [`sqlite::SqliteStore`] (the default, durable: WAL, one
//! writer committing the waiting calls together, each in its own savepoint, every commit fsynced
//! before it is answered unless configured otherwise), [`memory::MemoryStore`] and
//! [`postgres::PostgresStore`] (several replicas on one database: the per-group counter is a
//! locked row, and the rate limit and run-time configuration are shared through [`Shared`]).
//! All pass the same test suite (`tests/it/store.rs`).
//!
//! Invariants every backend keeps:
//! - A call that returns `Ok` has committed all of its effects durably (for a durable backend);
//!   a call that returns `Err` has committed none of them.
//! - Per group, `MsgSeq` starts at 1, increases by 1 for every stored message and is never reused,
//!   not even after a restart.
//! - Message bodies are opaque JSON text: the store never interprets them.

pub mod memory;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use futures_util::future::BoxFuture;

use tim_model::api::import_group::GroupProfile;
use tim_model::edition::DedupClock;
pub use tim_model::group_type::Role;
use tim_model::validate::GroupSnapshot;
use tim_model::GroupType;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The group does not exist (or was dismissed).
    #[error("group not found")]
    GroupNotFound,
    /// A group with that ID already exists.
    #[error("group ID already in use")]
    GroupIdTaken,
    /// The backend failed (I/O, corruption, …). Nothing was committed.
    #[error("storage backend failed: {0}")]
    Backend(String),
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A group to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGroup {
    /// The final group ID (assigned by the service when the caller gave none).
    pub group_id: String,
    /// Creation time, Unix seconds.
    pub create_time: i64,
    /// The profile as sent (its `group_id` field is ignored in favour of [`NewGroup::group_id`]).
    pub profile: GroupProfile,
    /// Initial members (the owner, if any, is listed here with [`Role::Owner`]).
    pub members: Vec<NewMember>,
}

/// A stored group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    /// Group ID.
    pub group_id: String,
    /// Group type (same as `profile.group_type`).
    pub group_type: GroupType,
    /// Creation time, Unix seconds.
    pub create_time: i64,
    /// The profile as created.
    pub profile: GroupProfile,
    /// The next `MsgSeq` to assign (1 for a group with no messages).
    pub next_msg_seq: u64,
    /// `SendTime` of the newest stored message; `None` when there is none.
    pub last_msg_time: Option<i64>,
    /// Number of stored messages.
    pub msg_count: u64,
    /// Number of members.
    pub member_num: u64,
}

impl GroupRecord {
    /// The record of `group` just created with `member_num` members: no messages yet.
    pub(crate) fn created(group: NewGroup, member_num: u64) -> GroupRecord {
        GroupRecord {
            group_type: group.profile.group_type.clone(),
            group_id: group.group_id,
            create_time: group.create_time,
            profile: group.profile,
            next_msg_seq: 1,
            last_msg_time: None,
            msg_count: 0,
            member_num,
        }
    }
}

/// A member to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    /// Account.
    pub account: String,
    /// Role.
    pub role: Role,
    /// Join time, Unix seconds.
    pub join_time: i64,
    /// Requested unread count; the store clamps it to `[0, msg_count]`. `None` means 0.
    pub unread_msg_num: Option<i64>,
}

/// A stored member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// Account.
    pub account: String,
    /// Role.
    pub role: Role,
    /// Join time, Unix seconds.
    pub join_time: i64,
    /// Unread count.
    pub unread_msg_num: u64,
    /// `SendTime` of the newest stored message whose `From_Account` is this account; `None` when
    /// there is none.
    pub last_send_msg_time: Option<i64>,
}

/// What happened to one member of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberInsert {
    /// Added.
    Added,
    /// The account was already a member; nothing changed.
    AlreadyMember,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Sender.
    pub from_account: String,
    /// Send time, Unix seconds (becomes `MsgTime`).
    pub send_time: i64,
    /// The message's random.
    pub random: u32,
    /// Whether the caller supplied `random` (only supplied randoms take part in duplicate detection).
    pub random_supplied: bool,
    /// `MsgBody` as compact JSON text.
    pub body_json: String,
    /// `CloudCustomData`, if any.
    pub cloud_custom_data: Option<String>,
}

/// The outcome of storing one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredOutcome {
    /// The sequence number: newly assigned, or the original's for a duplicate.
    pub msg_seq: u64,
    /// The message time: the `SendTime`, or the original's for a duplicate.
    pub msg_time: i64,
    /// Whether the message was a duplicate and was not stored again.
    pub duplicate: bool,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Sequence number.
    pub msg_seq: u64,
    /// Sender.
    pub from_account: String,
    /// Send time.
    pub send_time: i64,
    /// Random (supplied or generated).
    pub random: u32,
    /// `MsgBody` as compact JSON text, exactly as given to [`Store::import_messages`].
    pub body_json: String,
    /// `CloudCustomData`, if any.
    pub cloud_custom_data: Option<String>,
}

/// What `import_group_msg` reads before it validates a batch: the group's fields that the rules
/// look at, and which messages the store already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSnapshot {
    /// Type, creation time and newest message time of the group.
    pub group: GroupSnapshot,
    /// One flag per candidate, as [`Store::find_duplicates`] answers; empty when no candidate
    /// carries a `Random`.
    pub duplicates: Vec<bool>,
}

/// The duplicate rule an import applies (digest §7 Q6; `Limits::dedup_window_secs`,
/// `Limits::dedup_clock`).
///
/// A message with a *supplied* `Random` is a duplicate of a stored message of the same group
/// (or of an earlier message of the same call) with the same supplied `Random` when:
/// - clock [`DedupClock::SendTime`]: their `SendTime`s are at most `window_secs` apart;
/// - clock [`DedupClock::Wall`]: the earlier one was stored at most `window_secs` before `now`
///   (messages of the same call are stored at the same moment).
///
/// A `window_secs` of 0 (or less) turns detection off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupRule {
    /// The window in seconds; 0 = no duplicate detection.
    pub window_secs: i64,
    /// What the window is measured on.
    pub clock: DedupClock,
    /// The server's wall-clock time of this call, Unix seconds: recorded with every stored
    /// message as its import time, and the reference point of the [`DedupClock::Wall`] window.
    pub now: i64,
}

impl DedupRule {
    /// No duplicate detection.
    pub const OFF: DedupRule = DedupRule {
        window_secs: 0,
        clock: DedupClock::SendTime,
        now: 0,
    };

    /// A window on `SendTime` (the default reading), imported at time 0 (for tests).
    pub const fn send_time(window_secs: i64) -> DedupRule {
        DedupRule {
            window_secs,
            clock: DedupClock::SendTime,
            now: 0,
        }
    }

    /// A window on the wall clock, for a call at `now`.
    pub const fn wall(window_secs: i64, now: i64) -> DedupRule {
        DedupRule {
            window_secs,
            clock: DedupClock::Wall,
            now,
        }
    }

    /// Whether duplicate detection is off.
    pub const fn is_off(&self) -> bool {
        self.window_secs <= 0
    }

    /// `(msg_seq, send_time)` of the earliest of `known` with `random` that this rule makes a
    /// message sent at `send_time` a duplicate of (never, when detection is off). The one reading
    /// of the rule for the SQLite and PostgreSQL backends, which find `known` in SQL.
    pub(crate) fn earliest(
        self,
        known: &[Supplied],
        random: u32,
        send_time: i64,
    ) -> Option<(u64, i64)> {
        if self.is_off() {
            return None;
        }
        let window = self.window_secs;
        known
            .iter()
            .filter(|&&(r, _, t, imported_at)| {
                r == random
                    && match self.clock {
                        DedupClock::SendTime => t.abs_diff(send_time) <= window.unsigned_abs(),
                        // `now - imported_at <= window`, without overflow; NULL never matches.
                        DedupClock::Wall => {
                            imported_at.is_some_and(|at| at >= self.now.saturating_sub(window))
                        }
                    }
            })
            .min_by_key(|&&(_, seq, _, _)| seq)
            .map(|&(_, seq, t, _)| (seq, t))
    }
}

/// A stored message with a supplied random, as a backend finds the candidates of
/// [`DedupRule::earliest`]: `(random, msg_seq, send_time, imported_at)` (`imported_at` is `None`
/// for SQLite rows stored before schema version 2).
pub(crate) type Supplied = (u32, u64, i64, Option<i64>);

/// A member's unread count as stored: never negative, never more than the group's messages.
pub(crate) fn clamp_unread(unread: i64, msg_count: u64) -> u64 {
    u64::try_from(unread).unwrap_or(0).min(msg_count)
}

/// The storage contract of the reference server. Every method is one atomic operation.
pub trait Store: Send + Sync + 'static {
    /// Creates a group with its initial members. Fails with [`StoreError::GroupIdTaken`] if the ID exists.
    fn create_group(&self, group: NewGroup) -> StoreResult<GroupRecord>;

    /// Reads a group; `Ok(None)` when it does not exist.
    fn group(&self, group_id: &str) -> StoreResult<Option<GroupRecord>>;

    /// Dismisses a group: the group, its members and its messages are removed, and the ID is free
    /// again. Fails with [`StoreError::GroupNotFound`] when it does not exist.
    fn destroy_group(&self, group_id: &str) -> StoreResult<()>;

    /// Stores `messages` in order, atomically, and resets every member's unread count to 0.
    ///
    /// A message that `dedup` makes a duplicate of a stored message (or of an earlier message of
    /// this call) is not stored and reports the original's `MsgSeq` and time. Every other
    /// message gets the group's next `MsgSeq` and is recorded as imported at `dedup.now`.
    /// Returns one outcome per message, in order. An empty `messages` still resets unread counts.
    fn import_messages(
        &self,
        group_id: &str,
        messages: &[NewMessage],
        dedup: DedupRule,
    ) -> StoreResult<Vec<StoredOutcome>>;

    /// For each candidate `(random, send_time)`, whether the group already stores a message that
    /// `dedup` makes it a duplicate of; `None` candidates are `false`. Read-only;
    /// [`Store::import_messages`] applies the same rule.
    fn find_duplicates(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Vec<bool>>;

    /// [`Store::group`] and [`Store::find_duplicates`] in one read, without the profile: what
    /// `import_group_msg` validates against. `Ok(None)` when the group does not exist.
    fn import_snapshot(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Option<ImportSnapshot>> {
        let Some(record) = self.group(group_id)? else {
            return Ok(None);
        };
        let duplicates = match candidates.iter().any(Option::is_some) {
            true => self.find_duplicates(group_id, candidates, dedup)?,
            false => Vec::new(),
        };
        Ok(Some(ImportSnapshot {
            group: GroupSnapshot {
                group_type: record.group_type,
                create_time: record.create_time,
                last_msg_time: record.last_msg_time,
            },
            duplicates,
        }))
    }

    /// Reads the [`Store::import_snapshot`] of a group, lets `decide` turn it into the messages
    /// to store (`None`: store nothing, the call was refused), and stores them as
    /// [`Store::import_messages`] does; `Ok(None)` when `decide` said `None`.
    ///
    /// Invariant: no other import into the group runs between the read and the write, **on
    /// every process sharing the store**, so the rules `decide` checks (time order, duplicates)
    /// still hold when the messages are stored. The default runs the two calls one after the
    /// other and relies on the caller serializing imports per group (the service's striped lock:
    /// right for a store only one process uses); a store shared by several processes overrides
    /// it and holds a lock on the group across both.
    fn import_checked(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
        decide: &mut dyn FnMut(Option<ImportSnapshot>) -> Option<Vec<NewMessage>>,
    ) -> StoreResult<Option<Vec<StoredOutcome>>> {
        let snapshot = self.import_snapshot(group_id, candidates, dedup)?;
        match decide(snapshot) {
            Some(messages) => self.import_messages(group_id, &messages, dedup).map(Some),
            None => Ok(None),
        }
    }

    /// Adds members, one outcome each, in order. Unread counts are clamped to `[0, msg_count]`.
    fn import_members(
        &self,
        group_id: &str,
        members: &[NewMember],
    ) -> StoreResult<Vec<MemberInsert>>;

    /// Lists a group's members, ordered by join time then account, each with the time of its
    /// newest stored message.
    fn members(&self, group_id: &str) -> StoreResult<Vec<MemberRecord>>;

    /// Sets one member's unread count, clamped to `[0, msg_count]`. Returns the stored value, or
    /// `Ok(None)` when the account is not a member.
    fn set_unread(&self, group_id: &str, account: &str, unread: i64) -> StoreResult<Option<u64>>;

    /// Up to `limit` messages with `msg_seq <= max_seq` (all when `None`), newest first.
    fn history(
        &self,
        group_id: &str,
        max_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>>;

    /// Up to `limit` group IDs greater than `after` (all when `None`), ascending: the state dump
    /// walks every group page by page.
    fn group_ids(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<String>>;

    /// Up to `limit` messages with `msg_seq > after_seq`, oldest first: the state dump walks a
    /// group's history page by page.
    fn messages_after(
        &self,
        group_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>>;

    /// Removes every group with its members and messages (the control plane's reset); returns
    /// how many groups there were. Sequence numbers start again at 1 in groups made afterwards.
    fn reset(&self) -> StoreResult<u64>;

    /// The backend's name as the control plane's health route shows it (`"sqlite"`, `"memory"`,
    /// `"postgres"`).
    fn kind(&self) -> &'static str;

    /// What the processes sharing this store share besides the data (the rate limit, the
    /// run-time configuration); `None` (the default) for a store only one process uses.
    fn shared(&self) -> Option<Arc<dyn Shared>> {
        None
    }
}

/// State that every replica on one store sees: one rate limit for the app, one run-time
/// configuration. Async, because the gateway asks on every request from the HTTP runtime.
pub trait Shared: Send + Sync + 'static {
    /// Takes one request from the quota of `key` (the app and command) at `per_second` requests
    /// per second with a burst of `per_second` (GCRA, on the store's clock): `Ok(true)` when
    /// allowed, `Ok(false)` beyond the quota.
    fn take(&self, key: String, per_second: u32) -> BoxFuture<'static, StoreResult<bool>>;

    /// Starts every quota full again (a reset, a changed rate).
    fn refill(&self) -> BoxFuture<'static, StoreResult<()>>;

    /// Publishes a configuration document (JSON text) to every other replica.
    fn publish_config(&self, json: String) -> BoxFuture<'static, StoreResult<()>>;

    /// Calls `apply` with every configuration document another replica publishes from now on
    /// (replaces an earlier subscriber).
    fn subscribe_config(&self, apply: Box<dyn Fn(&str) + Send + Sync>);
}
