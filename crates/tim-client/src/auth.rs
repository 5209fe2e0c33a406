//! Admin credentials: a UserSig made from the secret key, cached and renewed before it expires,
//! or a fixed UserSig supplied by the caller.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret as _, SecretString};
use tim_model::usersig::{SecretKey, SigCache};

/// Validity of the UserSigs the client makes: one day (the docs recommend at least 24 h).
pub const DEFAULT_USERSIG_TTL_SECS: u64 = 86_400;

/// Where the client's UserSig comes from.
#[derive(Clone)]
pub enum Credentials {
    /// Sign UserSigs with the app's secret key (renewed before expiry).
    SecretKey(SecretKey),
    /// Use this UserSig as given (it is never renewed; an expired one fails with 70001).
    FixedUserSig(SecretString),
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

/// Makes and caches the admin UserSig: [`usersig::SigCache`] (the one signer of the workspace)
/// for a secret key, or the fixed sig as given.
pub(crate) struct Signer {
    sdkappid: u64,
    identifier: String,
    source: Source,
}

enum Source {
    Key(SigCache),
    Fixed(SecretString),
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Key(c) => format!("{c:?}"),
            Source::Fixed(_) => "FixedUserSig([redacted])".to_owned(),
        };
        f.debug_struct("Signer")
            .field("sdkappid", &self.sdkappid)
            .field("identifier", &self.identifier)
            .field("source", &source)
            .finish()
    }
}

impl Signer {
    pub(crate) fn new(
        sdkappid: u64,
        identifier: String,
        credentials: Credentials,
        ttl: u64,
    ) -> Signer {
        let source = match credentials {
            Credentials::SecretKey(key) => {
                Source::Key(SigCache::new(sdkappid, key, identifier.clone(), ttl))
            }
            Credentials::FixedUserSig(sig) => Source::Fixed(sig),
        };
        Signer {
            sdkappid,
            identifier,
            source,
        }
    }

    /// The UserSig to send at `now`: the cached one while more than a tenth of its validity
    /// (at most one hour) remains, else a new one.
    pub(crate) fn usersig_at(&self, now: i64) -> String {
        match &self.source {
            Source::Fixed(sig) => sig.expose_secret().to_owned(),
            Source::Key(cache) => cache.usersig_at(now).to_string(),
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
        match &self.source {
            Source::Fixed(_) => false,
            Source::Key(cache) => {
                cache.invalidate();
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tim_model::usersig;

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
