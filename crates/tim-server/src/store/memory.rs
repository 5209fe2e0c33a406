//! The in-memory backend: plain ordered maps behind one mutex.
//!
//! Every call takes the lock once, checks everything that can fail, then mutates; the mutation
//! step cannot fail, so an `Err` leaves the state untouched without cloning it. Nothing survives
//! the process.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use tim_model::api::import_group::GroupProfile;
use tim_model::edition::DedupClock;
use tim_model::GroupType;

use super::{
    DedupRule, GroupRecord, MemberInsert, MemberRecord, NewGroup, NewMember, NewMessage, Role,
    Store, StoreError, StoreResult, StoredMessage, StoredOutcome,
};

/// A [`Store`] that keeps everything in memory (for tests and `--memory`).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<BTreeMap<String, GroupState>>,
}

/// Everything the store knows about one group.
#[derive(Debug)]
struct GroupState {
    group_type: GroupType,
    create_time: i64,
    profile: GroupProfile,
    next_msg_seq: u64,
    last_msg_time: Option<i64>,
    /// Keyed by account.
    members: BTreeMap<String, MemberState>,
    /// Keyed by `MsgSeq`.
    messages: BTreeMap<u64, MessageState>,
    /// Supplied randoms → the sequence numbers of the stored messages that carry them, ascending.
    supplied_randoms: BTreeMap<u32, Vec<u64>>,
}

/// A stored message and when it was imported.
#[derive(Debug)]
struct MessageState {
    message: StoredMessage,
    /// The `now` of the import call that stored it, Unix seconds.
    imported_at: i64,
}

#[derive(Debug)]
struct MemberState {
    role: Role,
    join_time: i64,
    unread: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, BTreeMap<String, GroupState>>> {
        // A panic while the lock was held may have left a half-applied mutation: refuse to go on.
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("memory store poisoned by an earlier panic".into()))
    }
}

impl GroupState {
    fn msg_count(&self) -> u64 {
        self.messages.len() as u64
    }

    fn clamp_unread(&self, unread: i64) -> u64 {
        u64::try_from(unread).unwrap_or(0).min(self.msg_count())
    }

    fn record(&self, group_id: &str) -> GroupRecord {
        GroupRecord {
            group_id: group_id.to_owned(),
            group_type: self.group_type.clone(),
            create_time: self.create_time,
            profile: self.profile.clone(),
            next_msg_seq: self.next_msg_seq,
            last_msg_time: self.last_msg_time,
            msg_count: self.msg_count(),
            member_num: self.members.len() as u64,
        }
    }

    /// `(msg_seq, send_time)` of the earliest stored message with supplied `random` that `dedup`
    /// makes a message sent at `send_time` a duplicate of.
    fn find_duplicate(&self, random: u32, send_time: i64, dedup: DedupRule) -> Option<(u64, i64)> {
        if dedup.is_off() {
            return None;
        }
        self.supplied_randoms.get(&random)?.iter().find_map(|seq| {
            let stored = &self.messages[seq];
            let t = stored.message.send_time;
            is_duplicate(t, stored.imported_at, send_time, dedup).then_some((*seq, t))
        })
    }
}

/// Whether a message sent at `send_time` duplicates a stored one with the same supplied random,
/// sent at `stored_send_time` and imported at `imported_at` (never, when detection is off).
fn is_duplicate(stored_send_time: i64, imported_at: i64, send_time: i64, dedup: DedupRule) -> bool {
    if dedup.is_off() {
        return false;
    }
    match dedup.clock {
        DedupClock::SendTime => {
            stored_send_time.abs_diff(send_time) <= dedup.window_secs.unsigned_abs()
        }
        // `now - imported_at <= window`, without overflow.
        DedupClock::Wall => imported_at >= dedup.now.saturating_sub(dedup.window_secs),
    }
}

fn group_mut<'a>(
    groups: &'a mut BTreeMap<String, GroupState>,
    group_id: &str,
) -> StoreResult<&'a mut GroupState> {
    groups.get_mut(group_id).ok_or(StoreError::GroupNotFound)
}

fn group_ref<'a>(
    groups: &'a BTreeMap<String, GroupState>,
    group_id: &str,
) -> StoreResult<&'a GroupState> {
    groups.get(group_id).ok_or(StoreError::GroupNotFound)
}

impl Store for MemoryStore {
    fn create_group(&self, group: NewGroup) -> StoreResult<GroupRecord> {
        let mut groups = self.lock()?;
        if groups.contains_key(&group.group_id) {
            return Err(StoreError::GroupIdTaken);
        }
        let mut members = BTreeMap::new();
        for m in group.members {
            // A new group has no messages, so every unread count clamps to 0; a repeated account keeps its first entry.
            members.entry(m.account).or_insert(MemberState {
                role: m.role,
                join_time: m.join_time,
                unread: 0,
            });
        }
        let state = GroupState {
            group_type: group.profile.group_type.clone(),
            create_time: group.create_time,
            profile: group.profile,
            next_msg_seq: 1,
            last_msg_time: None,
            members,
            messages: BTreeMap::new(),
            supplied_randoms: BTreeMap::new(),
        };
        let record = state.record(&group.group_id);
        groups.insert(group.group_id, state);
        Ok(record)
    }

    fn group(&self, group_id: &str) -> StoreResult<Option<GroupRecord>> {
        let groups = self.lock()?;
        Ok(groups.get(group_id).map(|g| g.record(group_id)))
    }

    fn destroy_group(&self, group_id: &str) -> StoreResult<()> {
        let mut groups = self.lock()?;
        groups
            .remove(group_id)
            .map(|_| ())
            .ok_or(StoreError::GroupNotFound)
    }

    fn import_messages(
        &self,
        group_id: &str,
        messages: &[NewMessage],
        dedup: DedupRule,
    ) -> StoreResult<Vec<StoredOutcome>> {
        let mut groups = self.lock()?;
        let g = group_mut(&mut groups, group_id)?;
        // Nothing below can fail.
        let mut outcomes = Vec::with_capacity(messages.len());
        for m in messages {
            if m.random_supplied {
                if let Some((msg_seq, msg_time)) = g.find_duplicate(m.random, m.send_time, dedup) {
                    outcomes.push(StoredOutcome {
                        msg_seq,
                        msg_time,
                        duplicate: true,
                    });
                    continue;
                }
            }
            let msg_seq = g.next_msg_seq;
            g.next_msg_seq += 1;
            g.last_msg_time = Some(g.last_msg_time.map_or(m.send_time, |t| t.max(m.send_time)));
            if m.random_supplied {
                g.supplied_randoms
                    .entry(m.random)
                    .or_default()
                    .push(msg_seq);
            }
            g.messages.insert(
                msg_seq,
                MessageState {
                    message: StoredMessage {
                        msg_seq,
                        from_account: m.from_account.clone(),
                        send_time: m.send_time,
                        random: m.random,
                        body_json: m.body_json.clone(),
                        cloud_custom_data: m.cloud_custom_data.clone(),
                    },
                    imported_at: dedup.now,
                },
            );
            outcomes.push(StoredOutcome {
                msg_seq,
                msg_time: m.send_time,
                duplicate: false,
            });
        }
        for member in g.members.values_mut() {
            member.unread = 0;
        }
        Ok(outcomes)
    }

    fn find_duplicates(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Vec<bool>> {
        let groups = self.lock()?;
        let g = group_ref(&groups, group_id)?;
        Ok(candidates
            .iter()
            .map(|c| {
                c.is_some_and(|(random, send_time)| {
                    g.find_duplicate(random, send_time, dedup).is_some()
                })
            })
            .collect())
    }

    fn import_members(
        &self,
        group_id: &str,
        members: &[NewMember],
    ) -> StoreResult<Vec<MemberInsert>> {
        let mut groups = self.lock()?;
        let g = group_mut(&mut groups, group_id)?;
        let mut outcomes = Vec::with_capacity(members.len());
        for m in members {
            if g.members.contains_key(&m.account) {
                outcomes.push(MemberInsert::AlreadyMember);
                continue;
            }
            let unread = g.clamp_unread(m.unread_msg_num.unwrap_or(0));
            g.members.insert(
                m.account.clone(),
                MemberState {
                    role: m.role,
                    join_time: m.join_time,
                    unread,
                },
            );
            outcomes.push(MemberInsert::Added);
        }
        Ok(outcomes)
    }

    fn members(&self, group_id: &str) -> StoreResult<Vec<MemberRecord>> {
        let groups = self.lock()?;
        let g = group_ref(&groups, group_id)?;
        let mut last_send: BTreeMap<&str, i64> = BTreeMap::new();
        for MessageState { message: m, .. } in g.messages.values() {
            let t = last_send
                .entry(m.from_account.as_str())
                .or_insert(m.send_time);
            *t = (*t).max(m.send_time);
        }
        let mut list: Vec<MemberRecord> = g
            .members
            .iter()
            .map(|(account, m)| MemberRecord {
                account: account.clone(),
                role: m.role,
                join_time: m.join_time,
                unread_msg_num: m.unread,
                last_send_msg_time: last_send.get(account.as_str()).copied(),
            })
            .collect();
        // The map iterates by account, so a stable sort by join time gives (join time, account).
        list.sort_by_key(|m| m.join_time);
        Ok(list)
    }

    fn set_unread(&self, group_id: &str, account: &str, unread: i64) -> StoreResult<Option<u64>> {
        let mut groups = self.lock()?;
        let g = group_mut(&mut groups, group_id)?;
        let value = g.clamp_unread(unread);
        Ok(g.members.get_mut(account).map(|m| {
            m.unread = value;
            value
        }))
    }

    fn history(
        &self,
        group_id: &str,
        max_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        let groups = self.lock()?;
        let g = group_ref(&groups, group_id)?;
        Ok(g.messages
            .range(..=max_seq.unwrap_or(u64::MAX))
            .rev()
            .take(limit)
            .map(|(_, m)| m.message.clone())
            .collect())
    }

    fn group_ids(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<String>> {
        let groups = self.lock()?;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(groups
            .range::<str, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|(id, _)| id.clone())
            .collect())
    }

    fn messages_after(
        &self,
        group_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        let groups = self.lock()?;
        let g = group_ref(&groups, group_id)?;
        Ok(g.messages
            .range((Bound::Excluded(after_seq), Bound::Unbounded))
            .take(limit)
            .map(|(_, m)| m.message.clone())
            .collect())
    }

    fn reset(&self) -> StoreResult<u64> {
        let mut groups = self.lock()?;
        let removed = groups.len() as u64;
        groups.clear();
        Ok(removed)
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
