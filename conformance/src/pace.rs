//! Pacing: one GCRA limiter (governor) per API path, so the suite stays under the target's quota
//! (default 80% of the edition's requests per second). Exclusive cases are not paced.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tim_model::Limits;

/// The share of the edition quota the suite uses by default, in percent.
pub const DEFAULT_SHARE_PERCENT: u32 = 80;

/// The default pace for `limits`: 80% of its requests per second (`None`: no quota, no pacing).
pub fn default_rate(limits: &Limits) -> Option<u32> {
    limits
        .requests_per_second
        .map(|r| (r * DEFAULT_SHARE_PERCENT / 100).max(1))
}

/// Limiters per API path, created on first use, shared by every task of a run.
#[derive(Debug, Clone)]
pub struct Pacer {
    quota: Option<Quota>,
    limiters: Arc<Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>>,
}

impl Pacer {
    /// A pacer at `per_second` requests per second and API; `None` or 0 paces nothing.
    pub fn new(per_second: Option<u32>) -> Pacer {
        let quota = per_second.and_then(NonZeroU32::new).map(|rate| {
            let burst = NonZeroU32::new((rate.get() / 10).max(1)).unwrap_or(NonZeroU32::MIN);
            Quota::per_second(rate).allow_burst(burst)
        });
        Pacer {
            quota,
            limiters: Arc::default(),
        }
    }

    /// Waits until a request to `path` may be sent.
    pub async fn until_ready(&self, path: &str) {
        let Some(quota) = self.quota else { return };
        let limiter = {
            let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                map.entry(path.to_owned())
                    .or_insert_with(|| Arc::new(RateLimiter::direct(quota))),
            )
        };
        limiter.until_ready().await;
    }
}
