//! Pacing: one GCRA limiter per API, shared by every task that uses the client, so the client
//! never exceeds the quota on its own (and never causes 60007).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tim_model::Command;

/// Requests a limiter lets through at once after an idle spell.
pub(crate) const BURST: u32 = 2;

/// One limiter per command, all at the same rate (the quota is per app and API, digest §7 Q12).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pacer {
    limiters: Arc<HashMap<Command, DefaultDirectRateLimiter>>,
}

impl Pacer {
    /// Limiters at `per_second` requests per second for each command, or none when `None`.
    ///
    /// The burst is [`BURST`] requests: a waiter that wakes late (timer jitter, a busy core) may
    /// take its slot up to one interval late without the schedule slipping, while no window of one
    /// second ever holds more than the quota plus one, whatever limiter the server uses (token
    /// bucket, GCRA or fixed one-second windows).
    pub(crate) fn new(per_second: Option<u32>) -> Pacer {
        let Some(rate) = per_second.and_then(NonZeroU32::new) else {
            return Pacer::default();
        };
        let burst = NonZeroU32::new(BURST.min(rate.get())).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Pacer {
            limiters: Arc::new(
                Command::ALL
                    .into_iter()
                    .map(|c| (c, RateLimiter::direct(quota)))
                    .collect(),
            ),
        }
    }

    /// Waits until `command` may be sent.
    pub(crate) async fn until_ready(&self, command: Command) {
        if let Some(l) = self.limiters.get(&command) {
            l.until_ready().await;
        }
    }
}
