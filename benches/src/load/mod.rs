//! The load driver behind `tim-load` and `cargo xtask bench load`: real, signed
//! `import_group_msg` requests over HTTP, carrying full batches of unique valid messages.
//!
//! - **Rate mode** ([`Load::Rate`]): open loop. Request `i` is due at `i / rate` seconds
//!   ([`Schedule`]) and is sent then, whether or not earlier requests have been answered; its
//!   latency runs from that due time, so a slow target cannot hide its stalls by slowing the
//!   driver down (no coordinated omission). No load-testing crate is used for this: goose and
//!   similar schedule per user (closed loop); `tokio::time::sleep_until` on a fixed schedule is all
//!   an open loop needs, and hdrhistogram keeps the percentiles.
//! - **Max mode** ([`Load::Max`], [`run_compared`]): closed loop, `connections` workers sending
//!   back to back against a target without a rate limit, after a short warm-up. The same run
//!   measures the bare baseline ([`crate::baseline`]), the two taking turns of [`COMPARE_SLICE`] so
//!   that the machine's changing background load hits both alike; the headline is their ratio.
//!
//! Each batch goes to a group of its own ([`GroupPool`]): many groups are created first through
//! `import_group` with a past `CreateTime`, a group never has two batches in flight, `SendTime`s
//! are non-decreasing per group and never after now, and every `Random` of the run is distinct,
//! so a correct server accepts every message.

pub mod report;
pub mod schedule;
pub mod server;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tim_model::api::import_group::{GroupIdResponse, GroupProfile, ImportGroupRequest};
use tim_model::api::import_group_msg::{ImportGroupMsgRequest, ImportGroupMsgResponse};
use tim_model::usersig::{SecretKey, SigCache};
use tim_model::{Command, CommonQuery, Edition, ErrorCode, GroupType, Response};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use report::{LatencyMs, Mode, Outcome, PhaseStats, Recorder, Report};
pub use schedule::Schedule;
pub use server::{start_baseline, start_reference, ReferenceOptions, RunningServer, Store};

/// Lifetime of the UserSigs the driver signs; each is replaced after half of it.
pub const USERSIG_LIFETIME_SECS: u64 = 86_400;
/// How far in the past the load groups are created: `SendTime`s count up from there, one second
/// per message and group, and never pass the present.
pub const GROUP_AGE_SECS: i64 = 30 * 86_400;
/// Default number of groups the load rotates over.
pub const DEFAULT_GROUPS: usize = 256;
/// Closed-loop warm-up before the measurement window opens (connections, caches), per target.
pub const MAX_WARMUP: Duration = Duration::from_secs(1);
/// Per-request timeout; a request that takes longer counts as `transport: timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure that stops a run (errors of single requests are counted instead).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An in-process server could not start or stopped with an error.
    #[error("in-process server: {0}")]
    Server(String),
    /// A load group could not be created.
    #[error("cannot create load group {group}: {reason}")]
    Setup {
        /// The group ID.
        group: String,
        /// What went wrong (error code and `ErrorInfo`, or the transport failure).
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Where and as whom to send: base URL and app credentials (the key's `Debug` is redacted).
#[derive(Debug, Clone)]
pub struct Target {
    /// `http(s)://host[:port]`, without a trailing slash.
    pub base_url: String,
    /// SDKAppID.
    pub sdkappid: u64,
    /// App admin identifier.
    pub identifier: String,
    /// The app's secret key.
    pub secret_key: SecretKey,
}

/// Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The admin's UserSig: the workspace's one signer and cache ([`SigCache`]), with the target.
struct Signer {
    target: Target,
    cache: SigCache,
}

impl Signer {
    fn new(target: Target) -> Signer {
        let cache = SigCache::new(
            target.sdkappid,
            target.secret_key.clone(),
            target.identifier.clone(),
            USERSIG_LIFETIME_SECS,
        );
        Signer { target, cache }
    }

    fn usersig(&self, now: i64) -> Arc<str> {
        self.cache.usersig_at(now)
    }
}

/// One load group and the next `SendTime` it will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSlot {
    /// The group ID.
    pub id: String,
    next_time: i64,
}

impl GroupSlot {
    /// A group created at `create_time`: its first message is one second later.
    pub fn new(id: impl Into<String>, create_time: i64) -> GroupSlot {
        GroupSlot {
            id: id.into(),
            next_time: create_time + 1,
        }
    }

    /// `SendTime`s for the next `n` messages: one second apart while that stays in the past, then
    /// equal to `now`; never decreasing across calls (given a clock that does not go back).
    pub fn take_send_times(&mut self, n: usize, now: i64) -> Vec<i64> {
        (0..n)
            .map(|_| {
                let t = self.next_time.min(now);
                self.next_time = t + 1;
                t
            })
            .collect()
    }
}

/// The free load groups. A batch takes the least recently used free group and gives it back when
/// answered, so no group ever has two batches in flight; with all groups busy a batch waits (and
/// its latency, counted from its due time, shows it).
#[derive(Debug)]
pub struct GroupPool {
    free: Mutex<VecDeque<GroupSlot>>,
    available: Semaphore,
}

impl GroupPool {
    /// A pool of `slots`.
    pub fn new(slots: Vec<GroupSlot>) -> GroupPool {
        GroupPool {
            available: Semaphore::new(slots.len()),
            free: Mutex::new(slots.into()),
        }
    }

    /// Takes a free group, waiting for one if all are busy.
    pub async fn acquire(&self) -> GroupSlot {
        self.available
            .acquire()
            .await
            .expect("the pool's semaphore is never closed")
            .forget();
        self.free
            .lock()
            .expect("pool lock is never poisoned")
            .pop_front()
            .expect("a permit stands for a free group")
    }

    /// Gives a group back (to the end of the rotation).
    pub fn release(&self, slot: GroupSlot) {
        self.free
            .lock()
            .expect("pool lock is never poisoned")
            .push_back(slot);
        self.available.add_permits(1);
    }
}

/// Sends the load: signs, builds batches, classifies answers.
pub struct Driver {
    client: reqwest::Client,
    signer: Signer,
    edition: Edition,
    batch: usize,
    run_tag: String,
    next_random: AtomicU32,
    next_message: AtomicUsize,
}

impl Driver {
    /// A driver for `target` sending full batches of `edition`.
    pub fn new(target: Target, edition: Edition) -> Result<Driver, LoadError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .build()
            .map_err(|e| LoadError::Client(e.to_string()))?;
        // Group IDs unique per run, so that runs can repeat against a shared target.
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Ok(Driver {
            client,
            signer: Signer::new(target),
            edition,
            batch: edition.limits().msgs_per_request,
            run_tag: format!("load-{millis:x}-{:x}", std::process::id()),
            next_random: AtomicU32::new(1),
            next_message: AtomicUsize::new(0),
        })
    }

    /// Messages per request (the edition's maximum).
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    fn url(&self, command: Command) -> String {
        let t = &self.signer.target;
        let sig = self.signer.usersig(unix_now());
        let random = self.next_random.load(Ordering::Relaxed);
        let q = CommonQuery::new(t.sdkappid, &t.identifier, &sig, random);
        format!(
            "{}{}?{}",
            t.base_url.trim_end_matches('/'),
            command.path(),
            q.to_query_string()
        )
    }

    /// Posts `body` and decodes the envelope. Failures are described by kind only: a
    /// `reqwest::Error` names the URL, and the URL carries the UserSig.
    async fn post<T: DeserializeOwned>(
        &self,
        command: Command,
        body: Vec<u8>,
    ) -> Result<Response<T>, String> {
        let kind = |e: reqwest::Error| {
            if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else if e.is_body() || e.is_decode() {
                "body"
            } else {
                "request"
            }
            .to_owned()
        };
        let resp = self
            .client
            .post(self.url(command))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(kind)?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        let bytes = resp.bytes().await.map_err(kind)?;
        serde_json::from_slice(&bytes).map_err(|_| "not an envelope".to_owned())
    }

    /// Creates `n` groups (`Public`, created [`GROUP_AGE_SECS`] ago) through `import_group`, one
    /// after the other, waiting and retrying while the target answers with a rate-limit code.
    pub async fn create_groups(&self, n: usize) -> Result<Vec<GroupSlot>, LoadError> {
        let create_time = unix_now() - GROUP_AGE_SECS;
        let mut slots = Vec::with_capacity(n);
        for i in 0..n {
            let id = format!("{}-{i}", self.run_tag);
            let mut profile = GroupProfile::new(GroupType::Public, "load");
            profile.group_id = Some(id.clone());
            let req = ImportGroupRequest {
                create_time: Some(create_time),
                profile,
            };
            let body = serde_json::to_vec(&req).expect("an import_group request serializes");
            let mut waited = Duration::ZERO;
            loop {
                let setup_error = |reason: String| LoadError::Setup {
                    group: id.clone(),
                    reason,
                };
                let resp = self
                    .post::<GroupIdResponse>(Command::ImportGroup, body.clone())
                    .await
                    .map_err(|e| setup_error(format!("transport: {e}")))?;
                let code = resp.envelope.error_code;
                if code.is_ok() {
                    break;
                }
                let limited = [ErrorCode::RATE_LIMITED, ErrorCode::APP_RATE_LIMITED];
                if limited.contains(&code) && waited < REQUEST_TIMEOUT {
                    let pause = Duration::from_millis(20);
                    tokio::time::sleep(pause).await;
                    waited += pause;
                    continue;
                }
                return Err(setup_error(format!(
                    "ErrorCode {code}: {}",
                    resp.envelope.error_info
                )));
            }
            slots.push(GroupSlot::new(id, create_time));
        }
        Ok(slots)
    }

    /// The next full batch for `slot`: fresh `Random`s, the group's next `SendTime`s, and
    /// `RecentContactFlag: 1` where the edition has it.
    pub fn batch(&self, slot: &mut GroupSlot) -> ImportGroupMsgRequest {
        let times = slot.take_send_times(self.batch, unix_now());
        let first = self.next_message.fetch_add(self.batch, Ordering::Relaxed);
        let msgs = times
            .into_iter()
            .enumerate()
            .map(|(k, send_time)| {
                let mut m = crate::message(first + k);
                m.send_time = send_time;
                m.random = Some(i64::from(self.next_random.fetch_add(1, Ordering::Relaxed)));
                m
            })
            .collect();
        let mut req = ImportGroupMsgRequest::new(slot.id.clone(), msgs);
        if self.edition.limits().recent_contact_flag {
            req.recent_contact_flag = Some(1);
        }
        req
    }

    /// Sends the next batch of `slot` and classifies the answer.
    pub async fn send_batch(&self, slot: &mut GroupSlot) -> Outcome {
        let req = self.batch(slot);
        let n = req.msg_list.len() as u64;
        let body = serde_json::to_vec(&req).expect("an import request serializes");
        match self
            .post::<ImportGroupMsgResponse>(Command::ImportGroupMsg, body)
            .await
        {
            Err(what) => Outcome::Transport(what),
            Ok(resp) if !resp.envelope.is_ok() => Outcome::Api(resp.envelope.error_code.0),
            Ok(resp) => {
                let results = resp.body.import_msg_result;
                let failed: Vec<u32> = results
                    .iter()
                    .filter(|r| !r.result.is_ok())
                    .map(|r| r.result.0)
                    .collect();
                // The bare baseline answers without per-message results.
                let messages = if results.is_empty() {
                    n
                } else {
                    (results.len() - failed.len()) as u64
                };
                Outcome::Ok { messages, failed }
            }
        }
    }
}

/// How to apply the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Open loop at this many requests per second.
    Rate(f64),
    /// Closed loop with this many connections.
    Max {
        /// Concurrent workers, each with one request in flight.
        connections: usize,
    },
}

/// Length of one slice of a [`run_compared`] run: the target and the baseline take turns this
/// long, so that a change in the machine's background load hits both alike.
pub const COMPARE_SLICE: Duration = Duration::from_secs(2);

/// One target ready to drive: its driver, its groups (created) and what was measured so far.
pub struct Phase {
    driver: Arc<Driver>,
    pool: Arc<GroupPool>,
    recorder: Arc<Recorder>,
}

impl Phase {
    /// Creates `groups` load groups on `target` (at least one).
    pub async fn setup(
        target: Target,
        edition: Edition,
        groups: usize,
    ) -> Result<Phase, LoadError> {
        let driver = Arc::new(Driver::new(target, edition)?);
        let pool = Arc::new(GroupPool::new(driver.create_groups(groups.max(1)).await?));
        Ok(Phase {
            driver,
            pool,
            recorder: Arc::new(Recorder::new()),
        })
    }

    /// The measurements so far.
    pub fn stats(&self) -> PhaseStats {
        self.recorder.stats()
    }

    /// Open loop: sends request `i` at `schedule.offset(i)` and measures it from then.
    pub async fn run_rate(&self, schedule: Schedule) {
        let start = Instant::now() + Duration::from_millis(5);
        let mut tasks = JoinSet::new();
        for i in 0..schedule.len() {
            let due = start + schedule.offset(i);
            tokio::time::sleep_until(due).await;
            let (driver, pool, recorder) = self.parts();
            tasks.spawn(async move {
                let mut slot = pool.acquire().await;
                let outcome = driver.send_batch(&mut slot).await;
                pool.release(slot);
                let done = Instant::now();
                recorder.record(done - due, done.into_std(), &outcome);
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        self.recorder
            .close_window(start.into_std(), (start + schedule.duration()).into_std());
    }

    /// Closed loop: `connections` workers send back to back for `duration`, each measuring from
    /// its send to the answer. With `record` false nothing is counted (a warm-up).
    pub async fn run_max(&self, connections: usize, duration: Duration, record: bool) {
        let start = Instant::now();
        let stop = start + duration;
        let mut workers = JoinSet::new();
        for _ in 0..connections.max(1) {
            let (driver, pool, recorder) = self.parts();
            workers.spawn(async move {
                while Instant::now() < stop {
                    let mut slot = pool.acquire().await;
                    let sent = Instant::now();
                    let outcome = driver.send_batch(&mut slot).await;
                    pool.release(slot);
                    let done = Instant::now();
                    if record {
                        recorder.record(done - sent, done.into_std(), &outcome);
                    }
                }
            });
        }
        while workers.join_next().await.is_some() {}
        if record {
            self.recorder
                .close_window(start.into_std(), stop.into_std());
        }
    }

    fn parts(&self) -> (Arc<Driver>, Arc<GroupPool>, Arc<Recorder>) {
        (
            Arc::clone(&self.driver),
            Arc::clone(&self.pool),
            Arc::clone(&self.recorder),
        )
    }
}

/// Groups a load needs: `--max` keeps at least one group per connection.
fn groups_for(load: Load, groups: usize) -> usize {
    match load {
        Load::Max { connections } => groups.max(connections),
        Load::Rate(_) => groups,
    }
}

/// One target alone: create the groups, then drive for `duration` (after [`MAX_WARMUP`] in max mode).
pub async fn run_phase(
    target: Target,
    edition: Edition,
    groups: usize,
    load: Load,
    duration: Duration,
) -> Result<PhaseStats, LoadError> {
    let phase = Phase::setup(target, edition, groups_for(load, groups)).await?;
    match load {
        Load::Rate(rate) => phase.run_rate(Schedule::new(rate, duration)).await,
        Load::Max { connections } => {
            phase.run_max(connections, MAX_WARMUP, false).await;
            phase.run_max(connections, duration, true).await;
        }
    }
    Ok(phase.stats())
}

/// The ceiling of `target` and of `baseline` in one run: both warmed up, then driven in turns of
/// [`COMPARE_SLICE`] (target first in odd turns, baseline first in even ones) until each has had
/// `duration`. Returns the target's and the baseline's figures.
pub async fn run_compared(
    target: Target,
    baseline: Target,
    edition: Edition,
    groups: usize,
    connections: usize,
    duration: Duration,
) -> Result<(PhaseStats, PhaseStats), LoadError> {
    let groups = groups.max(connections);
    let target = Phase::setup(target, edition, groups).await?;
    let baseline = Phase::setup(baseline, edition, groups).await?;
    for phase in [&target, &baseline] {
        phase.run_max(connections, MAX_WARMUP, false).await;
    }
    let slices = (duration.as_secs_f64() / COMPARE_SLICE.as_secs_f64())
        .ceil()
        .max(1.0) as u32;
    let slice = duration / slices;
    for turn in 0..slices {
        let order = if turn % 2 == 0 {
            [&target, &baseline]
        } else {
            [&baseline, &target]
        };
        for phase in order {
            phase.run_max(connections, slice, true).await;
        }
    }
    Ok((target.stats(), baseline.stats()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_times_are_non_decreasing_past_and_after_creation() {
        let mut g = GroupSlot::new("g", 1_000);
        assert_eq!(g.take_send_times(3, 2_000), [1_001, 1_002, 1_003]);
        // Close to the present they stop at now, and stay there.
        let mut g = GroupSlot::new("g", 1_000);
        assert_eq!(g.take_send_times(4, 1_002), [1_001, 1_002, 1_002, 1_002]);
        assert_eq!(g.take_send_times(2, 1_003), [1_003, 1_003]);
        assert_eq!(g.take_send_times(2, 1_010), [1_004, 1_005]);
    }

    #[tokio::test]
    async fn pool_rotates_and_never_hands_out_a_busy_group() {
        let pool = Arc::new(GroupPool::new(
            (0..3).map(|i| GroupSlot::new(format!("g{i}"), 0)).collect(),
        ));
        let a = pool.acquire().await;
        let b = pool.acquire().await;
        assert_eq!((a.id.as_str(), b.id.as_str()), ("g0", "g1"));
        pool.release(a);
        // g2 has waited longest; g0 went to the back.
        assert_eq!(pool.acquire().await.id, "g2");
        assert_eq!(pool.acquire().await.id, "g0");
        // All three are out: the next batch waits until one comes back.
        let waiting = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.acquire().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        pool.release(b);
        assert_eq!(waiting.await.unwrap().id, "g1");
    }

    #[test]
    fn usersig_is_cached_and_renewed_before_it_expires() {
        let target = Target {
            base_url: "http://127.0.0.1:1".into(),
            sdkappid: 1_400_000_000,
            identifier: "administrator".into(),
            secret_key: SecretKey::new("k"),
        };
        let signer = Signer::new(target);
        let now = unix_now();
        let first = signer.usersig(now);
        assert!(Arc::ptr_eq(&first, &signer.usersig(now + 10)));
        // One hour before expiry (a tenth of a day, at most an hour): a new one.
        let later = now + USERSIG_LIFETIME_SECS as i64 - 3600;
        assert!(!Arc::ptr_eq(&first, &signer.usersig(later)));
    }
}
