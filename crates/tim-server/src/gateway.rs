//! The REST gateway: who is calling, may they, and how often (digest §2, §3.3, §7 Q18).
//!
//! Order: sdkappid present (60012) → sdkappid well-formed (60002) and known (70020) → usersig
//! (70002, 70003, 70014, 70013, 70001, 70009) → admin (60010). Rate limiting (60007) is separate
//! because it needs the command, which the router resolves after authentication.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tim_model::usersig::{self, SecretKey};
use tim_model::{Command, CommonQuery};

use crate::clock::Clock;
use crate::error::ApiError;

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

/// Authentication and rate limiting.
pub struct Gateway {
    app: AppCredentials,
    clock: Arc<dyn Clock>,
    limiter: RwLock<Option<Arc<Limiter>>>,
    #[cfg(feature = "mutants")]
    variant: Option<crate::mutant::Variant>,
    #[cfg(feature = "mutants")]
    window: Option<crate::mutant::FixedWindow>,
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
            limiter: RwLock::new(Limiter::new(requests_per_second)),
            #[cfg(feature = "mutants")]
            variant: None,
            #[cfg(feature = "mutants")]
            window: None,
        }
    }

    /// This gateway as `variant` runs it (`requests_per_second` as given to [`Gateway::new`]).
    #[cfg(feature = "mutants")]
    pub fn with_variant(
        mut self,
        variant: Option<crate::mutant::Variant>,
        requests_per_second: Option<u32>,
    ) -> Self {
        self.variant = variant;
        self.window = crate::mutant::FixedWindow::for_variant(variant, requests_per_second);
        self
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
        #[cfg(feature = "mutants")]
        let verified = crate::mutant::usersig_verdict(
            self.variant,
            verified.map(drop),
            usersig,
            &self.app.secret_key,
            (sdkappid, identifier, now),
        );
        verified?;
        if !self.app.admins.contains(identifier)
            && !variant!(self.variant, Mutant::AdminCheckMissing)
        {
            return Err(ApiError::NotAdmin(identifier.to_owned()));
        }
        Ok(Caller {
            sdkappid,
            identifier: identifier.to_owned(),
        })
    }

    /// Sets the quota from now on (`None`: no limit); every bucket starts full again.
    pub fn set_rate(&self, requests_per_second: Option<u32>) {
        *self
            .limiter
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Limiter::new(requests_per_second);
    }

    /// Takes one request of `command` from the caller's quota.
    pub fn check_rate(&self, caller: &Caller, command: Command) -> Result<(), ApiError> {
        #[cfg(feature = "mutants")]
        if let Some(window) = &self.window {
            return window.check(caller, command, self.clock.now());
        }
        let limiter = self
            .limiter
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
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
