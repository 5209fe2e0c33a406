//! The REST gateway: who is calling, may they, and how often (digest §2, §3.3, §7 Q18).
//!
//! Order: sdkappid present (60012) → sdkappid well-formed (60002) and known (70020) → usersig
//! (70002, 70003, 70014, 70013, 70001, 70009) → admin (60010). Rate limiting (60007) is separate
//! because it needs the command, which the router resolves after authentication.
//!
//! The quota's state lives in this process (governor's GCRA), or, on a store several replicas
//! share (PostgreSQL), in the store ([`Shared::take`]: the same GCRA on the database's clock),
//! so that the app has one quota whichever replica answers.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tim_model::usersig::{self, SecretKey};
use tim_model::{Command, CommonQuery};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::store::Shared;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The app.
    pub sdkappid: u64,
    /// The admin identifier.
    pub identifier: String,
}

/// The app this server emulates and its credentials (`Debug` hides the key).
#[derive(Debug, Clone)]
pub struct AppCredentials {
    /// The SDKAppID.
    pub sdkappid: u64,
    /// The UserSig v2 secret key.
    pub secret_key: SecretKey,
    /// App admin identifiers.
    pub admins: BTreeSet<String>,
}

/// A quota and the GCRA state of every (app, command).
struct Limiter {
    per_second: u32,
    state: DefaultKeyedRateLimiter<(u64, Command)>,
}

impl Limiter {
    fn new(requests_per_second: Option<u32>) -> Option<Arc<Limiter>> {
        requests_per_second.and_then(NonZeroU32::new).map(|n| {
            Arc::new(Limiter {
                per_second: n.get(),
                state: RateLimiter::keyed(Quota::per_second(n)),
            })
        })
    }
}

/// Where the GCRA state of the quota lives.
enum RateState {
    /// In this process: one replica.
    Local(RwLock<Option<Arc<Limiter>>>),
    /// In the store, shared by every replica on it; `per_second` is this replica's setting.
    Shared {
        store: Arc<dyn Shared>,
        per_second: RwLock<Option<u32>>,
    },
}

/// Authentication and rate limiting.
pub struct Gateway {
    app: AppCredentials,
    clock: Arc<dyn Clock>,
    rate: RateState,
}

impl Gateway {
    /// A gateway for `app`; `requests_per_second` of `None` turns rate limiting off.
    pub fn new(
        app: AppCredentials,
        clock: Arc<dyn Clock>,
        requests_per_second: Option<u32>,
    ) -> Self {
        Gateway {
            app,
            clock,
            rate: RateState::Local(RwLock::new(Limiter::new(requests_per_second))),
        }
    }

    /// This gateway with its quota kept in `store`, shared with every other replica on it (at
    /// the rate it had).
    pub fn with_shared_rate(mut self, store: Arc<dyn Shared>) -> Self {
        let per_second = self.per_second();
        self.rate = RateState::Shared {
            store,
            per_second: RwLock::new(per_second),
        };
        self
    }

    /// The quota in force (`None`: no limit).
    fn per_second(&self) -> Option<u32> {
        match &self.rate {
            RateState::Local(limiter) => limiter
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .map(|l| l.per_second),
            RateState::Shared { per_second, .. } => *per_second
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// Authenticates the common query of a request.
    pub fn authenticate(&self, q: &CommonQuery) -> Result<Caller, ApiError> {
        let raw = q
            .sdkappid
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(ApiError::SdkAppIdMissing)?;
        let sdkappid: u64 = raw
            .parse()
            .map_err(|_| ApiError::SdkAppIdMalformed(raw.to_owned()))?;
        if sdkappid != self.app.sdkappid {
            return Err(ApiError::UnknownApp(sdkappid));
        }
        let usersig = q.usersig.as_deref().unwrap_or("");
        if usersig.is_empty() {
            return Err(usersig::UserSigError::Empty.into());
        }
        let identifier = q.identifier.as_deref().ok_or(ApiError::IdentifierMissing)?;
        let now = self.clock.now();
        let verified = usersig::verify(usersig, sdkappid, &self.app.secret_key, identifier, now);
        verified?;
        if !self.app.admins.contains(identifier) {
            return Err(ApiError::NotAdmin(identifier.to_owned()));
        }
        Ok(Caller {
            sdkappid,
            identifier: identifier.to_owned(),
        })
    }

    /// Sets the quota from now on (`None`: no limit); every bucket starts full again (on every
    /// replica, when the quota is shared).
    pub async fn set_rate(&self, requests_per_second: Option<u32>) -> Result<(), ApiError> {
        self.set_rate_here(requests_per_second);
        if let RateState::Shared { store, .. } = &self.rate {
            store.refill().await?;
        }
        Ok(())
    }

    /// Sets this replica's quota from now on, leaving the buckets of a shared quota as they are
    /// (another replica changed the rate and refilled them).
    pub fn set_rate_here(&self, requests_per_second: Option<u32>) {
        match &self.rate {
            RateState::Local(limiter) => {
                *limiter
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Limiter::new(requests_per_second);
            }
            RateState::Shared { per_second, .. } => {
                *per_second
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    requests_per_second.filter(|n| *n > 0);
            }
        }
    }

    /// Takes one request of `command` from the caller's quota.
    pub async fn check_rate(&self, caller: &Caller, command: Command) -> Result<(), ApiError> {
        let limiter = match &self.rate {
            RateState::Local(limiter) => limiter
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            RateState::Shared { store, per_second } => {
                let per_second = *per_second
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(n) = per_second else {
                    return Ok(());
                };
                let key = format!("{}/{}", caller.sdkappid, command.name());
                return match store.take(key, n).await? {
                    true => Ok(()),
                    false => Err(ApiError::RateLimited {
                        command: command.name().to_owned(),
                        per_second: n,
                    }),
                };
            }
        };
        match limiter {
            Some(l) if l.state.check_key(&(caller.sdkappid, command)).is_err() => {
                Err(ApiError::RateLimited {
                    command: command.name().to_owned(),
                    per_second: l.per_second,
                })
            }
            _ => Ok(()),
        }
    }
}
