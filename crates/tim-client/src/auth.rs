//! Admin credentials: a UserSig made from the secret key, cached and renewed before it expires,
//! or a fixed UserSig supplied by the caller.

use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tim_model::usersig::{self, SecretKey};

/// Validity of the UserSigs the client makes: one day (the docs recommend at least 24 h).
pub const DEFAULT_USERSIG_TTL_SECS: u64 = 86_400;

/// Where the client's UserSig comes from.
#[derive(Clone)]
pub enum Credentials {
    /// Sign UserSigs with the app's secret key (renewed before expiry).
    SecretKey(SecretKey),
    /// Use this UserSig as given (it is never renewed; an expired one fails with 70001).
    FixedUserSig(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::SecretKey(_) => f.write_str("SecretKey([redacted])"),
            Credentials::FixedUserSig(_) => f.write_str("FixedUserSig([redacted])"),
        }
    }
}

/// Current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Cached {
    sig: String,
    signed_at: i64,
}

/// Makes and caches the admin UserSig.
pub(crate) struct Signer {
    sdkappid: u64,
    identifier: String,
    credentials: Credentials,
    ttl: u64,
    cached: Mutex<Option<Cached>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("sdkappid", &self.sdkappid)
            .field("identifier", &self.identifier)
            .field("credentials", &self.credentials)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub(crate) fn new(
        sdkappid: u64,
        identifier: String,
        credentials: Credentials,
        ttl: u64,
    ) -> Signer {
        Signer {
            sdkappid,
            identifier,
            credentials,
            ttl: ttl.max(60),
            cached: Mutex::new(None),
        }
    }

    /// The UserSig to send at `now`: the cached one while more than a tenth of its validity
    /// (at most one hour) remains, else a new one.
    pub(crate) fn usersig_at(&self, now: i64) -> String {
        let key = match &self.credentials {
            Credentials::FixedUserSig(sig) => return sig.clone(),
            Credentials::SecretKey(key) => key,
        };
        let margin = (self.ttl / 10).min(3600) as i64;
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some(c) if now >= c.signed_at && now < c.signed_at + self.ttl as i64 - margin => {
                c.sig.clone()
            }
            _ => {
                let sig = usersig::sign(self.sdkappid, key, &self.identifier, self.ttl, now);
                *cached = Some(Cached {
                    sig: sig.clone(),
                    signed_at: now,
                });
                sig
            }
        }
    }

    /// The admin account the UserSigs are made for.
    pub(crate) fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The UserSig to send now.
    pub(crate) fn usersig(&self) -> String {
        self.usersig_at(unix_now())
    }

    /// Drops the cached UserSig (after the server said it expired) and reports whether a new one
    /// can be made.
    pub(crate) fn invalidate(&self) -> bool {
        match self.credentials {
            Credentials::FixedUserSig(_) => false,
            Credentials::SecretKey(_) => {
                *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    fn signer(ttl: u64) -> Signer {
        Signer::new(
            1_400_000_000,
            "administrator".into(),
            Credentials::SecretKey(SecretKey::new(KEY)),
            ttl,
        )
    }

    #[test]
    fn cached_until_the_renewal_margin() {
        let s = signer(86_400);
        let first = s.usersig_at(1_700_000_000);
        assert_eq!(s.usersig_at(1_700_000_000 + 80_000), first);
        // One hour before expiry the sig is renewed, and the new one verifies at that time.
        let renewed = s.usersig_at(1_700_000_000 + 86_400 - 3_600);
        assert_ne!(renewed, first);
        let ok = usersig::verify(
            &renewed,
            1_400_000_000,
            &SecretKey::new(KEY),
            "administrator",
            1_700_000_000 + 86_400,
        )
        .unwrap();
        assert_eq!(ok.expires_at, 1_700_000_000 + 86_400 - 3_600 + 86_400);
    }

    #[test]
    fn short_ttl_renews_at_a_tenth() {
        let s = signer(600);
        let first = s.usersig_at(1_000);
        assert_eq!(s.usersig_at(1_539), first);
        assert_ne!(s.usersig_at(1_540), first);
    }

    #[test]
    fn invalidate_forces_a_new_sig_only_with_a_key() {
        let s = signer(86_400);
        let first = s.usersig_at(1_000);
        assert!(s.invalidate());
        assert_ne!(s.usersig_at(1_001), first);
        let fixed = Signer::new(
            1,
            "a".into(),
            Credentials::FixedUserSig("eJx-fixed".into()),
            60,
        );
        assert!(!fixed.invalidate());
        assert_eq!(fixed.usersig_at(5), "eJx-fixed");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = signer(86_400);
        let _ = s.usersig_at(1_000);
        let text = format!("{s:?}");
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("eJ"), "{text}");
        let fixed = format!("{:?}", Credentials::FixedUserSig("eJxSECRET".into()));
        assert!(!fixed.contains("SECRET"));
    }
}
