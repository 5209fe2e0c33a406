//! Deterministic `Random` per message, so that a re-sent batch is recognised by the server's
//! duplicate rule (docs/behaviour.md: same `Random` within 300 s of `SendTime` in a group).
//!
//! Each message of a group's ordered stream (by `SendTime`, stable by line) gets, in this order:
//!
//! 1. its own `Random`, if the input supplies one ([`Seed::Supplied`]);
//! 2. else a value derived from (`GroupId`, `SourceId`) when the input has a `SourceId`
//!    ([`Seed::SourceId`]): stable even if other messages are added or removed;
//! 3. else a value derived from the message's position in its group's ordered stream and its
//!    content ([`Seed::Content`]), so two identical messages sent in the same second both stay.
//!
//! Derived values use SHA-256 (`tim-migrate/random/v1`, the group, the key, a counter) and lie in
//! `1..=space` (0 is never used: some implementations read it as "no Random"). Two different
//! messages of a group must never share a `Random` within the duplicate window, since the server
//! would silently drop the later one: a derived candidate that equals any `Random` (supplied, or
//! derived earlier in the stream) of the group within `window_secs` of its `SendTime` on either side
//! is rejected and the counter incremented. The stream and the inputs decide every step, so a
//! re-run derives the same values.
//!
//! Supplied values are never changed: two supplied `Random`s that collide within the window are the
//! user's data, reported through [`RandomAssigner::collisions`] (and by `tim-migrate check`).
//!
//! # Memory
//!
//! The assigner keeps the messages of the current group whose `SendTime` lies within
//! `window_secs` before the oldest message not yet assigned, and those up to `window_secs` after it:
//! O(W) entries, W the largest number of messages one group has in any `2 × window_secs` span
//! (600 s by default), each a few dozen bytes plus the caller's payload. Each derivation costs
//! O(1) expected (a hash-set lookup per candidate).

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"tim-migrate/random/v1";

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
    /// The duplicate window in seconds of `SendTime` (`Limits::dedup_window_secs`, 300).
    pub window_secs: i64,
    /// Derived values lie in `1..=space`: `u32::MAX` in real use; tests shrink it to force collisions.
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
#[error("no free Random for the message at line {line}: every value of the space is used within the duplicate window")]
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

struct Entry<T> {
    send_time: i64,
    line: u64,
    position: u64,
    seed: Seed,
    random: Option<i64>,
    payload: Option<T>,
}

/// Assigns `Random`s to one group's messages, pushed in stream order (by `SendTime`, then line).
///
/// Output is emitted in the same order, at most `window_secs` of `SendTime` behind the input (the
/// assigner must see every supplied `Random` within the window ahead of a message before choosing
/// its value). Call [`RandomAssigner::finish`] at the end of the group.
pub struct RandomAssigner<T> {
    group_id: String,
    opts: RandomOptions,
    entries: VecDeque<Entry<T>>,
    /// Index (into `entries`) of the first message not yet emitted.
    next: usize,
    /// Index past the last entry whose supplied value is in `known`.
    hi: usize,
    /// Randoms of the entries in the window around `next` that are fixed (supplied, or assigned).
    known: HashMap<i64, u32>,
    position: u64,
    last_supplied: HashMap<i64, (i64, u64)>,
    supplied_order: VecDeque<(i64, i64)>,
    collisions: Vec<Collision>,
    collision_count: u64,
    max_kept: usize,
}

impl<T> std::fmt::Debug for RandomAssigner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomAssigner")
            .field("group_id", &self.group_id)
            .field("pending", &(self.entries.len() - self.next))
            .finish_non_exhaustive()
    }
}

/// Most collisions kept per assigner (the count goes on).
pub const MAX_COLLISIONS_KEPT: usize = 1000;

impl<T> RandomAssigner<T> {
    /// An assigner for `group_id`'s stream.
    pub fn new(group_id: impl Into<String>, opts: RandomOptions) -> Self {
        RandomAssigner {
            group_id: group_id.into(),
            opts,
            entries: VecDeque::new(),
            next: 0,
            hi: 0,
            known: HashMap::new(),
            position: 0,
            last_supplied: HashMap::new(),
            supplied_order: VecDeque::new(),
            collisions: Vec::new(),
            collision_count: 0,
            max_kept: 0,
        }
    }

    /// Adds the next message of the stream; `line` identifies it in collision reports. Messages
    /// that are ready are passed to `out`, in order.
    pub fn push(
        &mut self,
        send_time: i64,
        line: u64,
        seed: Seed,
        payload: T,
        out: &mut impl FnMut(Assigned<T>),
    ) -> Result<(), SpaceExhausted> {
        if let Seed::Supplied(r) = seed {
            self.note_supplied(r, send_time, line);
        }
        let random = match seed {
            Seed::Supplied(r) => Some(r),
            _ => None,
        };
        self.entries.push_back(Entry {
            send_time,
            line,
            position: self.position,
            seed,
            random,
            payload: Some(payload),
        });
        self.position += 1;
        self.max_kept = self.max_kept.max(self.entries.len());
        // Everything at least `window` older than the newest message has seen its whole window.
        while self.next < self.entries.len()
            && self.entries[self.next]
                .send_time
                .saturating_add(self.opts.window_secs)
                < send_time
        {
            self.emit_next(out)?;
        }
        Ok(())
    }

    /// Emits the remaining messages (end of the group).
    pub fn finish(&mut self, out: &mut impl FnMut(Assigned<T>)) -> Result<(), SpaceExhausted> {
        while self.next < self.entries.len() {
            self.emit_next(out)?;
        }
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

    /// Most messages held at once (for memory measurements).
    pub fn max_kept(&self) -> usize {
        self.max_kept
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

    fn add_known(&mut self, r: i64) {
        *self.known.entry(r).or_insert(0) += 1;
    }

    fn remove_known(&mut self, r: i64) {
        if let Some(c) = self.known.get_mut(&r) {
            *c -= 1;
            if *c == 0 {
                self.known.remove(&r);
            }
        }
    }

    fn emit_next(&mut self, out: &mut impl FnMut(Assigned<T>)) -> Result<(), SpaceExhausted> {
        let w = self.opts.window_secs;
        let t = self.entries[self.next].send_time;
        // Forward edge: supplied values up to t + w become known.
        while self.hi < self.entries.len() && self.entries[self.hi].send_time <= t.saturating_add(w)
        {
            if let Seed::Supplied(r) = self.entries[self.hi].seed {
                self.add_known(r);
            }
            self.hi += 1;
        }
        // Backward edge: entries older than t - w leave the window (all of them are assigned).
        while self.next > 0 && self.entries[0].send_time < t.saturating_sub(w) {
            let old = self.entries.pop_front().expect("non-empty");
            self.next -= 1;
            self.hi -= 1;
            if let Some(r) = old.random {
                self.remove_known(r);
            }
        }
        let idx = self.next;
        let random = match &self.entries[idx].seed {
            Seed::Supplied(r) => *r,
            seed => {
                let (kind, key): (&[u8], &[u8; 32]) = match seed {
                    Seed::SourceId(k) => (b"i", k),
                    Seed::Content(k) => (b"c", k),
                    Seed::Supplied(_) => unreachable!(),
                };
                let position = self.entries[idx].position;
                let mut found = None;
                let tries = u64::from(self.opts.space) + 64;
                for counter in 0..tries {
                    let pos = match seed {
                        Seed::Content(_) => position,
                        _ => 0,
                    };
                    let d = digest(&[
                        b"derive",
                        kind,
                        self.group_id.as_bytes(),
                        key,
                        &pos.to_le_bytes(),
                        &counter.to_le_bytes(),
                    ]);
                    let v = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
                    let candidate = i64::from(v % self.opts.space) + 1;
                    if !self.known.contains_key(&candidate) {
                        found = Some(candidate);
                        break;
                    }
                }
                let r = found.ok_or(SpaceExhausted {
                    line: self.entries[idx].line,
                })?;
                self.entries[idx].random = Some(r);
                self.add_known(r);
                r
            }
        };
        let payload = self.entries[idx].payload.take().expect("emitted once");
        self.next += 1;
        out(Assigned { random, payload });
        Ok(())
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
