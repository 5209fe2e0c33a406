//! Deterministic `Random` per message, so that a re-sent batch is recognised by the server's
//! duplicate rule (docs/behaviour.md: same `Random` within 300 s of `SendTime` in a group), and so
//! that no two messages of a group share a `Random` at all, whatever clock or length the server's
//! duplicate window has.
//!
//! Each message of a group's ordered stream (by `SendTime`, stable by line) gets:
//!
//! 1. its own `Random`, if the input supplies one ([`Seed::Supplied`]), unchanged;
//! 2. with a `SourceId` ([`Seed::SourceId`]): SHA-256 of (`tim-migrate/random/v1`, the group, the
//!    `SourceId`, a counter), the first candidate not taken (see below); stable even if other
//!    messages are added or removed, unless its candidate collides (probability about n / 2^32
//!    for a group of n messages);
//! 3. else ([`Seed::Content`]) the next value of a keyed permutation of `0..space`, plus one:
//!    the k-th such value of the group is `perm(k) + 1`, skipping any value taken.
//!
//! Values lie in `1..=space` (0 is never used: some implementations read it as "no Random"). A
//! value is *taken* when a message of the group supplies it (anywhere in the stream), or an earlier
//! `SourceId` message of the group got it, or (for a `SourceId` candidate) the permutation handed
//! it out already, which inverting the permutation tells in O(1). A permutation never repeats, so
//! derived values are unique over the group's whole stream, not only within the duplicate window
//! (a server whose window runs on the wall clock, or lasts longer, would drop a repeat), and never
//! equal a supplied value of the group.
//!
//! The permutation is a balanced Feistel network (8 rounds, SplitMix64 round function, round keys
//! from SHA-256 of (`tim-migrate/random/v2`, the `GroupId`)) over the smallest even number of
//! bits that holds `space`, with cycle walking down to `0..space`. The stream and the group decide
//! every value, so a re-run of the same input derives the same values.
//!
//! Supplied values are never changed: two supplied `Random`s that collide within the window are the
//! user's data, reported through [`RandomAssigner::collisions`] (and by `tim-migrate check`).
//!
//! # Memory
//!
//! The caller declares the group's supplied values before its first message
//! ([`RandomAssigner::reserve_supplied`]): 4 bytes per distinct supplied value (a sorted vector),
//! and the assigner keeps the values it derived from `SourceId`s (a hash set, about 8 bytes each):
//! for the largest group, 20 MB per 5 million messages that supply a `Random`, 40 MB per 5 million
//! that have a `SourceId`, nothing for messages with neither. Messages are emitted as they are
//! pushed; each derivation costs O(1) expected.

use std::collections::{HashMap, HashSet, VecDeque};
use std::marker::PhantomData;

use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"tim-migrate/random/v1";
/// Domain of the permutation keys.
const PERMUTATION_DOMAIN: &[u8] = b"tim-migrate/random/v2";

/// What a message's `Random` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    /// The input's own `Random` (kept as read, even if out of range: `check` reports that).
    Supplied(i64),
    /// Digest of (`GroupId`, `SourceId`), see [`source_key`].
    SourceId([u8; 32]),
    /// Digest of the message's content, see [`content_key`]; the position is added by the assigner.
    Content([u8; 32]),
}

impl Seed {
    /// Compact text form (`s<n>`, `i<hex>`, `c<hex>`), used in spill files.
    pub fn encode(&self) -> String {
        match self {
            Seed::Supplied(n) => format!("s{n}"),
            Seed::SourceId(k) => format!("i{}", hex(k)),
            Seed::Content(k) => format!("c{}", hex(k)),
        }
    }

    /// Parses [`Seed::encode`]'s output.
    pub fn decode(s: &str) -> Option<Seed> {
        let (tag, rest) = s.split_at_checked(1)?;
        match tag {
            "s" => rest.parse().ok().map(Seed::Supplied),
            "i" => unhex(rest).map(Seed::SourceId),
            "c" => unhex(rest).map(Seed::Content),
            _ => None,
        }
    }
}

fn hex(k: &[u8; 32]) -> String {
    use std::fmt::Write;
    k.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The key of a message with a `SourceId`: a digest of (`GroupId`, `SourceId`).
pub fn source_key(group_id: &str, source_id: &str) -> [u8; 32] {
    digest(&[b"source", group_id.as_bytes(), source_id.as_bytes()])
}

/// The content key of a message: a digest of its canonical encoding (the model's re-encoding of
/// `From_Account`, `SendTime`, `MsgBody`, `CloudCustomData` and kept extra fields, without `Random`).
pub fn content_key(msg: &tim_model::api::import_group_msg::ImportMsg) -> [u8; 32] {
    let mut m = msg.clone();
    m.random = None;
    let bytes = serde_json::to_vec(&m).unwrap_or_default();
    digest(&[b"content", &bytes])
}

/// The seed of a message as the input gives it.
pub fn seed_of(
    group_id: &str,
    source_id: Option<&str>,
    msg: &tim_model::api::import_group_msg::ImportMsg,
) -> Seed {
    match (msg.random, source_id) {
        (Some(r), _) => Seed::Supplied(r),
        (None, Some(s)) => Seed::SourceId(source_key(group_id, s)),
        (None, None) => Seed::Content(content_key(msg)),
    }
}

/// Settings of the derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomOptions {
    /// The duplicate window in seconds of `SendTime` (`Limits::dedup_window_secs`, 300): two
    /// supplied values repeated within it are reported as a [`Collision`].
    pub window_secs: i64,
    /// Derived values lie in `1..=space`: `u32::MAX` in real use; tests shrink it to exhaust it.
    pub space: u32,
}

impl RandomOptions {
    /// The options for a window of `window_secs` and the full 32-bit space.
    pub fn new(window_secs: i64) -> Self {
        RandomOptions {
            window_secs,
            space: u32::MAX,
        }
    }
}

/// A pair of supplied `Random`s of one group that the server would treat as duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Collision {
    /// The shared value.
    pub random: i64,
    /// Payload tag (line number) of the earlier message.
    pub first: u64,
    /// Payload tag (line number) of the later message, which the server would drop.
    pub second: u64,
    /// `SendTime` distance between them, in seconds.
    pub distance_secs: i64,
}

/// Why no `Random` could be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no free Random for the message at line {line}: the group has more messages than the Random space holds")]
pub struct SpaceExhausted {
    /// Line number of the message.
    pub line: u64,
}

/// One message with its final `Random`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned<T> {
    /// The `Random` to send.
    pub random: i64,
    /// The caller's payload.
    pub payload: T,
}

/// Rounds of the Feistel network.
const ROUNDS: usize = 8;

/// A keyed permutation of `0..size` (balanced Feistel network with cycle walking).
#[derive(Debug, Clone)]
pub struct Permutation {
    size: u64,
    half_bits: u32,
    keys: [u64; ROUNDS],
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Permutation {
    /// The permutation of `0..size` (`size` ≥ 1, at most 2^32) keyed by `group_id`.
    pub fn new(group_id: &str, size: u64) -> Permutation {
        let size = size.clamp(1, 1 << 32);
        let bits = 64 - (size - 1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let d1 = digest(&[PERMUTATION_DOMAIN, b"keys", group_id.as_bytes(), &[1]]);
        let d2 = digest(&[PERMUTATION_DOMAIN, b"keys", group_id.as_bytes(), &[2]]);
        let mut keys = [0u64; ROUNDS];
        for (i, k) in keys.iter_mut().enumerate() {
            let d = if i < 4 { &d1 } else { &d2 };
            let o = (i % 4) * 8;
            let mut b = [0u8; 8];
            b.copy_from_slice(&d[o..o + 8]);
            *k = u64::from_le_bytes(b);
        }
        Permutation {
            size,
            half_bits,
            keys,
        }
    }

    /// The image of `x` (`x < size`); values of `x` at or above `size` are returned as they are.
    pub fn apply(&self, x: u64) -> u64 {
        if x >= self.size {
            return x;
        }
        let mut y = self.feistel(x);
        while y >= self.size {
            y = self.feistel(y);
        }
        y
    }

    /// The preimage of `y` (`y < size`): `invert(apply(x)) == x`.
    pub fn invert(&self, y: u64) -> u64 {
        if y >= self.size {
            return y;
        }
        let mut x = self.feistel_inv(y);
        while x >= self.size {
            x = self.feistel_inv(x);
        }
        x
    }

    fn feistel_inv(&self, y: u64) -> u64 {
        let h = self.half_bits;
        let mask = (1u64 << h) - 1;
        let (mut l, mut r) = (y >> h, y & mask);
        for k in self.keys.iter().rev() {
            let f = splitmix64(l ^ k) & mask;
            (l, r) = (r ^ f, l);
        }
        (l << h) | r
    }

    fn feistel(&self, x: u64) -> u64 {
        let h = self.half_bits;
        let mask = (1u64 << h) - 1;
        let (mut l, mut r) = (x >> h, x & mask);
        for k in self.keys {
            let f = splitmix64(r ^ k) & mask;
            (l, r) = (r, l ^ f);
        }
        (l << h) | r
    }
}

/// Assigns `Random`s to one group's messages, pushed in stream order (by `SendTime`, then line),
/// and emits each message at once. Declare the group's supplied values first
/// ([`RandomAssigner::reserve_supplied`]): a derived value is never one of them.
pub struct RandomAssigner<T> {
    group_id: String,
    opts: RandomOptions,
    perm: Permutation,
    /// Index of the next permutation value to try.
    next_index: u64,
    /// The group's supplied values in `1..=space`, sorted, without repeats.
    reserved: Vec<u32>,
    /// Values derived so far from a `SourceId`.
    by_source: HashSet<u32>,
    last_supplied: HashMap<i64, (i64, u64)>,
    supplied_order: VecDeque<(i64, i64)>,
    collisions: Vec<Collision>,
    collision_count: u64,
    _payload: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for RandomAssigner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomAssigner")
            .field("group_id", &self.group_id)
            .field("next_index", &self.next_index)
            .field("reserved", &self.reserved.len())
            .finish_non_exhaustive()
    }
}

/// Most collisions kept per assigner (the count goes on).
pub const MAX_COLLISIONS_KEPT: usize = 1000;

impl<T> RandomAssigner<T> {
    /// An assigner for `group_id`'s stream.
    pub fn new(group_id: impl Into<String>, opts: RandomOptions) -> Self {
        let group_id = group_id.into();
        let perm = Permutation::new(&group_id, u64::from(opts.space.max(1)));
        RandomAssigner {
            group_id,
            opts,
            perm,
            next_index: 0,
            reserved: Vec::new(),
            by_source: HashSet::new(),
            last_supplied: HashMap::new(),
            supplied_order: VecDeque::new(),
            collisions: Vec::new(),
            collision_count: 0,
            _payload: PhantomData,
        }
    }

    /// Declares `Random`s supplied by messages of the group (all of them, before the first
    /// [`RandomAssigner::push`]; values outside `1..=space` are ignored, they cannot collide).
    pub fn reserve_supplied(&mut self, values: impl IntoIterator<Item = i64>) {
        let space = i64::from(self.opts.space);
        self.reserved.extend(
            values
                .into_iter()
                .filter(|v| (1..=space).contains(v))
                .map(|v| v as u32),
        );
        self.reserved.sort_unstable();
        self.reserved.dedup();
    }

    /// Adds the next message of the stream and passes it to `out` with its `Random`; `line`
    /// identifies it in collision reports and errors.
    pub fn push(
        &mut self,
        send_time: i64,
        line: u64,
        seed: Seed,
        payload: T,
        out: &mut impl FnMut(Assigned<T>),
    ) -> Result<(), SpaceExhausted> {
        let random = match seed {
            Seed::Supplied(r) => {
                self.note_supplied(r, send_time, line);
                r
            }
            Seed::SourceId(key) => self.derive_from_source(&key, line)?,
            Seed::Content(_) => self.derive(line)?,
        };
        out(Assigned { random, payload });
        Ok(())
    }

    /// Ends the group (every message was emitted by [`RandomAssigner::push`] already).
    pub fn finish(&mut self, _out: &mut impl FnMut(Assigned<T>)) -> Result<(), SpaceExhausted> {
        Ok(())
    }

    /// Supplied-`Random` collisions seen so far (at most [`MAX_COLLISIONS_KEPT`]).
    pub fn collisions(&self) -> &[Collision] {
        &self.collisions
    }

    /// Number of supplied-`Random` collisions seen so far (all of them).
    pub fn collision_count(&self) -> u64 {
        self.collision_count
    }

    /// Values held for the group (its distinct supplied `Random`s and the values derived from a
    /// `SourceId`), for memory measurements.
    pub fn max_kept(&self) -> usize {
        self.reserved.len() + self.by_source.len()
    }

    fn is_reserved(&self, v: u64) -> bool {
        self.reserved.binary_search(&(v as u32)).is_ok()
    }

    /// The next value of the permutation that no supplied or `SourceId` value took.
    fn derive(&mut self, line: u64) -> Result<i64, SpaceExhausted> {
        let space = u64::from(self.opts.space.max(1));
        while self.next_index < space {
            let v = self.perm.apply(self.next_index) + 1;
            self.next_index += 1;
            if !self.is_reserved(v) && !self.by_source.contains(&(v as u32)) {
                return Ok(v as i64);
            }
        }
        Err(SpaceExhausted { line })
    }

    /// SHA-256 of (group, `SourceId`, counter), the first candidate that is no supplied value, no
    /// earlier `SourceId` value, and no permutation value handed out already (checked by
    /// inverting the permutation): later permutation values skip it in turn.
    fn derive_from_source(&mut self, key: &[u8; 32], line: u64) -> Result<i64, SpaceExhausted> {
        let space = self.opts.space.max(1);
        for counter in 0..u64::from(space) + 64 {
            let d = digest(&[
                b"derive",
                b"i",
                self.group_id.as_bytes(),
                key,
                &0u64.to_le_bytes(),
                &counter.to_le_bytes(),
            ]);
            let v = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) % space + 1;
            let taken_by_position = self.perm.invert(u64::from(v) - 1) < self.next_index;
            if !taken_by_position && !self.is_reserved(u64::from(v)) && self.by_source.insert(v) {
                return Ok(i64::from(v));
            }
        }
        Err(SpaceExhausted { line })
    }

    fn note_supplied(&mut self, r: i64, t: i64, line: u64) {
        let w = self.opts.window_secs;
        while let Some(&(old_t, old_r)) = self.supplied_order.front() {
            if old_t.saturating_add(w) >= t {
                break;
            }
            self.supplied_order.pop_front();
            if self
                .last_supplied
                .get(&old_r)
                .is_some_and(|&(lt, _)| lt == old_t)
            {
                self.last_supplied.remove(&old_r);
            }
        }
        if let Some(&(prev_t, prev_line)) = self.last_supplied.get(&r) {
            if t - prev_t <= w {
                self.collision_count += 1;
                if self.collisions.len() < MAX_COLLISIONS_KEPT {
                    self.collisions.push(Collision {
                        random: r,
                        first: prev_line,
                        second: line,
                        distance_secs: t - prev_t,
                    });
                }
            }
        }
        self.last_supplied.insert(r, (t, line));
        self.supplied_order.push_back((t, r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_text_round_trips() {
        for s in [
            Seed::Supplied(-3),
            Seed::SourceId([7; 32]),
            Seed::Content([0xab; 32]),
        ] {
            assert_eq!(Seed::decode(&s.encode()), Some(s));
        }
        assert_eq!(Seed::decode("x1"), None);
        assert_eq!(Seed::decode(""), None);
    }
}
