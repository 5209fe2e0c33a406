//! A [`Store`] wrapper for the variants whose rule lives in storage: what a group looks like to
//! `import_group_msg`'s validation, whether dismissal removes a group, whether an import resets
//! unread counts, and the times a clock mutant's skewed clock would otherwise put on new groups.
//!
//! Every other call goes to the wrapped store unchanged. The trait's provided methods
//! (`import_checked`, `shared`) are not forwarded, so that an import reads the group through
//! [`Store::import_snapshot`] below.

use std::sync::Arc;

use tim_model::validate::GroupSnapshot;
use tim_model::GroupType;
use tim_server::clock::{Clock, SystemClock};
use tim_server::store::{
    DedupRule, GroupRecord, ImportSnapshot, MemberInsert, MemberRecord, NewGroup, NewMember,
    NewMessage, Store, StoreError, StoreResult, StoredMessage, StoredOutcome,
};

use crate::variant::{Benign, Mutant, Variant};

/// The seconds within which a creation or join time is taken to come from a skewed clock.
const SKEW_TOLERANCE: i64 = 5;

/// `inner` as `variant` stores things.
pub struct VariantStore {
    inner: Arc<dyn Store>,
    variant: Variant,
    /// The offset of the API rules' clock (clock mutants), undone on the times the service
    /// takes from that clock for new groups and members: the skew shows in `SendTime` checks only.
    clock_offset: i64,
}

impl VariantStore {
    /// `inner` as `variant` stores things; `clock_offset` is the skew of the API rules' clock.
    pub fn new(inner: Arc<dyn Store>, variant: Variant, clock_offset: i64) -> VariantStore {
        VariantStore {
            inner,
            variant,
            clock_offset,
        }
    }

    /// Whether `variant` needs this wrapper.
    pub fn needed(variant: Variant, clock_offset: i64) -> bool {
        clock_offset != 0
            || matches!(
                variant,
                Variant::Mutant(
                    Mutant::DismissedGroupImportable
                        | Mutant::SendTimeAtCreateTime
                        | Mutant::OrderIgnoresStored
                        | Mutant::AvChatRoomImportable
                        | Mutant::UnreadNotReset
                ) | Variant::Benign(Benign::TimeOrderBeforeDuplicates)
            )
    }

    /// `t` without the rules clock's skew, when it is "now" as that clock tells it.
    fn unskew(&self, t: i64) -> i64 {
        let skewed_now = SystemClock.now().saturating_add(self.clock_offset);
        match self.clock_offset != 0 && (t - skewed_now).abs() <= SKEW_TOLERANCE {
            true => t - self.clock_offset,
            false => t,
        }
    }

    /// The group as `import_group_msg`'s validation sees it.
    fn seen(&self, s: &mut ImportSnapshot, candidates: &[Option<(u32, i64)>]) {
        let g: &mut GroupSnapshot = &mut s.group;
        match self.variant {
            Variant::Mutant(Mutant::SendTimeAtCreateTime) => g.create_time -= 1,
            Variant::Mutant(Mutant::OrderIgnoresStored) => g.last_msg_time = None,
            Variant::Mutant(Mutant::AvChatRoomImportable)
                if g.group_type == GroupType::AVChatRoom =>
            {
                g.group_type = GroupType::Public;
            }
            // Time order first: a message older than the group's newest is not looked up as a
            // duplicate, so validation refuses it for its time (and nothing is stored twice).
            Variant::Benign(Benign::TimeOrderBeforeDuplicates) => {
                if let Some(newest) = g.last_msg_time {
                    for (dup, c) in s.duplicates.iter_mut().zip(candidates) {
                        if c.is_some_and(|(_, t)| t < newest) {
                            *dup = false;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

impl Store for VariantStore {
    fn create_group(&self, mut group: NewGroup) -> StoreResult<GroupRecord> {
        group.create_time = self.unskew(group.create_time);
        for m in &mut group.members {
            m.join_time = self.unskew(m.join_time);
        }
        self.inner.create_group(group)
    }

    fn group(&self, group_id: &str) -> StoreResult<Option<GroupRecord>> {
        self.inner.group(group_id)
    }

    fn destroy_group(&self, group_id: &str) -> StoreResult<()> {
        match self.variant {
            // Answered OK, and the group stays.
            Variant::Mutant(Mutant::DismissedGroupImportable) => {
                match self.inner.group(group_id)? {
                    Some(_) => Ok(()),
                    None => Err(StoreError::GroupNotFound),
                }
            }
            _ => self.inner.destroy_group(group_id),
        }
    }

    fn import_messages(
        &self,
        group_id: &str,
        messages: &[NewMessage],
        dedup: DedupRule,
    ) -> StoreResult<Vec<StoredOutcome>> {
        if self.variant != Variant::Mutant(Mutant::UnreadNotReset) {
            return self.inner.import_messages(group_id, messages, dedup);
        }
        let before = match self.inner.group(group_id)? {
            Some(_) => self.inner.members(group_id)?,
            None => Vec::new(),
        };
        let out = self.inner.import_messages(group_id, messages, dedup)?;
        for m in before {
            let unread = i64::try_from(m.unread_msg_num).unwrap_or(i64::MAX);
            self.inner.set_unread(group_id, &m.account, unread)?;
        }
        Ok(out)
    }

    fn find_duplicates(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Vec<bool>> {
        self.inner.find_duplicates(group_id, candidates, dedup)
    }

    fn import_snapshot(
        &self,
        group_id: &str,
        candidates: &[Option<(u32, i64)>],
        dedup: DedupRule,
    ) -> StoreResult<Option<ImportSnapshot>> {
        let mut snapshot = self.inner.import_snapshot(group_id, candidates, dedup)?;
        if let Some(s) = &mut snapshot {
            self.seen(s, candidates);
        }
        Ok(snapshot)
    }

    fn import_members(
        &self,
        group_id: &str,
        members: &[NewMember],
    ) -> StoreResult<Vec<MemberInsert>> {
        let members: Vec<NewMember> = members
            .iter()
            .cloned()
            .map(|mut m| {
                m.join_time = self.unskew(m.join_time);
                m
            })
            .collect();
        self.inner.import_members(group_id, &members)
    }

    fn members(&self, group_id: &str) -> StoreResult<Vec<MemberRecord>> {
        self.inner.members(group_id)
    }

    fn set_unread(&self, group_id: &str, account: &str, unread: i64) -> StoreResult<Option<u64>> {
        self.inner.set_unread(group_id, account, unread)
    }

    fn history(
        &self,
        group_id: &str,
        max_seq: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.inner.history(group_id, max_seq, limit)
    }

    fn group_ids(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<String>> {
        self.inner.group_ids(after, limit)
    }

    fn messages_after(
        &self,
        group_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.inner.messages_after(group_id, after_seq, limit)
    }

    fn reset(&self) -> StoreResult<u64> {
        self.inner.reset()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
