//! Retry policy: which failures are worth another attempt, and how long to wait before it
//! (exponential backoff with full jitter).

use std::time::Duration;

use rand::Rng;
use tim_model::ErrorClass;

use crate::error::Error;

/// How often and how patiently the client retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The backoff ceiling of the first retry; it doubles for each further retry.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The backoff ceiling before retry number `retry` (0 for the first retry):
    /// `min(max_delay, base_delay × 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A random wait in `[0, ceiling(retry)]` ("full jitter").
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let nanos = ceiling.as_nanos().min(u128::from(u64::MAX)) as u64;
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

/// What the retry loop does with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Return the error to the caller.
    Fail,
    /// Wait (backoff) and try again.
    Retry,
    /// The UserSig was refused as expired: make a new one and try again at once.
    RenewUserSig,
}

/// Classifies a failure: transport errors, 5xx, 10002 and the rate-limit codes are retried;
/// caller and auth errors never are (except an expired UserSig that the client can renew).
pub(crate) fn disposition(err: &Error) -> Disposition {
    match err {
        Error::Transport { .. } => Disposition::Retry,
        Error::HttpStatus { status, .. } if *status >= 500 || *status == 429 => Disposition::Retry,
        Error::Api { code, class, .. } => {
            if *code == tim_model::ErrorCode::USERSIG_EXPIRED {
                Disposition::RenewUserSig
            } else if matches!(class, ErrorClass::Retryable | ErrorClass::RateLimited) {
                Disposition::Retry
            } else {
                Disposition::Fail
            }
        }
        _ => Disposition::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
        assert_eq!(p.ceiling(1), Duration::from_millis(200));
        assert_eq!(p.ceiling(3), Duration::from_millis(800));
        assert_eq!(p.ceiling(4), Duration::from_secs(1));
        assert_eq!(p.ceiling(200), Duration::from_secs(1));
        for retry in 0..8 {
            for _ in 0..50 {
                assert!(p.backoff(retry) <= p.ceiling(retry));
            }
        }
    }
}
