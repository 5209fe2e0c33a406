//! Pacing: one GCRA limiter per API, shared by every task that uses the client, so the client
//! never exceeds the quota on its own (and never causes 60007).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tim_model::Command;

/// One limiter per command, all at the same rate (the quota is per app and API, digest §7 Q12).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pacer {
    limiters: Arc<HashMap<Command, DefaultDirectRateLimiter>>,
}

impl Pacer {
    /// Limiters at `per_second` requests per second for each command, or none when `None`.
    ///
    /// The burst is a tenth of a second's quota: enough to catch up a slot missed while a task was
    /// busy, far below the server's allowance of one second's quota.
    pub(crate) fn new(per_second: Option<u32>) -> Pacer {
        let Some(rate) = per_second.and_then(NonZeroU32::new) else {
            return Pacer::default();
        };
        let burst = NonZeroU32::new((rate.get() / 10).max(1)).unwrap_or(NonZeroU32::MIN);
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
