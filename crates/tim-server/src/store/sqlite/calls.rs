//! The [`Store`] calls on SQLite: their SQL, the helpers they share (counters, duplicate
//! lookups) and the trait implementation. Writes run in the writer's group commit, reads on a
//! read connection.

use rusqlite::{params, Connection, OptionalExtension};
use tim_model::api::import_group::GroupProfile;
use tim_model::edition::DedupClock;
use tim_model::validate::GroupSnapshot;
use tim_model::GroupType;

use super::{Fail, SqliteStore};
use crate::store::{
    clamp_unread, DedupRule, GroupRecord, ImportSnapshot, MemberInsert, MemberRecord, NewGroup,
    NewMember, NewMessage, Role, Store, StoreError, StoreResult, StoredMessage, StoredOutcome,
    Supplied,
};

const SELECT_GROUP: &str = "
    SELECT type, create_time, profile_json, next_msg_seq, last_msg_time, msg_count,
           (SELECT COUNT(*) FROM members m WHERE m.group_id = g.group_id)
    FROM groups g WHERE group_id = ?1";
const SELECT_GROUP_COUNTERS: &str =
    "SELECT next_msg_seq, msg_count, last_msg_time FROM groups WHERE group_id = ?1";
pub(super) const INSERT_GROUP: &str = "
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
pub(super) const FIND_SUPPLIED: &str = "
    SELECT msg_seq, send_time, imported_at FROM messages
    WHERE group_id = ?1 AND random = ?2 AND random_supplied = 1 AND send_time BETWEEN ?3 AND ?4";
/// The stored messages of a group with supplied `random` `?2` imported at `?3` or later: the
/// possible originals of a message on the [`DedupClock::Wall`] clock. `messages_dedup` finds the
/// random's rows; `imported_at` (NULL for rows older than the column, which never match) is
/// checked on them.
pub(super) const FIND_SUPPLIED_WALL: &str = "
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

/// `(next_msg_seq, msg_count, last_msg_time)` of a group, or [`StoreError::GroupNotFound`].
fn counters(tx: &Connection, group_id: &str) -> Result<(u64, u64, Option<i64>), Fail> {
    tx.prepare_cached(SELECT_GROUP_COUNTERS)?
        .query_row(params![group_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or(Fail::Store(StoreError::GroupNotFound))
}

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
        .map(|c| c.is_some_and(|(random, t)| dedup.earliest(&known, random, t).is_some()))
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
            Ok(GroupRecord::created(group, member_num))
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
                    let original = dedup.earliest(&known, m.random, m.send_time);
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
