//! [`ClientBuilder`]: every setting of a [`Client`], checked once in [`ClientBuilder::build`].

use std::sync::Arc;
use std::time::Duration;

use tim_model::usersig::SecretKey;
use tim_model::{Edition, Limits, Region};

use crate::auth::{Credentials, Signer, DEFAULT_USERSIG_TTL_SECS};
use crate::client::{Client, Inner};
use crate::pace::Pacer;
use crate::retry::RetryPolicy;
use crate::stats::Stats;

/// How fast the client may call each API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rate {
    /// The edition's quota (seed 100/s, current 200/s): the default.
    #[default]
    Quota,
    /// This many requests per second per API.
    PerSecond(u32),
    /// No pacing (for servers whose limiter is off, such as a local reference server in tests).
    Unlimited,
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: Option<String>,
    sdkappid: Option<u64>,
    identifier: Option<String>,
    credentials: Option<Credentials>,
    usersig_ttl: u64,
    limits: Limits,
    rate: Rate,
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: None,
            sdkappid: None,
            identifier: None,
            credentials: None,
            usersig_ttl: DEFAULT_USERSIG_TTL_SECS,
            limits: Edition::default().limits(),
            rate: Rate::Quota,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A configuration the builder cannot turn into a client.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A required setting is missing.
    #[error("missing {0}: set it on the builder")]
    Missing(&'static str),
    /// The base URL is not an absolute http(s) URL.
    #[error("invalid base URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP stack could not be set up.
    #[error("cannot set up the HTTP client")]
    Http(#[source] reqwest::Error),
    /// A pacing rate of 0 requests per second (it would never send; [`Rate::Unlimited`] turns
    /// pacing off).
    #[error(
        "a rate of 0 requests per second would never send; use Rate::Unlimited to turn pacing off"
    )]
    ZeroRate,
}

impl ClientBuilder {
    /// The server's base URL, e.g. `https://console.tim.qq.com` or `http://127.0.0.1:8080`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Tencent's REST host of `region` (HTTPS).
    pub fn region(self, region: Region) -> Self {
        self.base_url(region.base_url())
    }

    /// The app's SDKAppID.
    pub fn sdkappid(mut self, sdkappid: u64) -> Self {
        self.sdkappid = Some(sdkappid);
        self
    }

    /// The app admin account every call is made as.
    pub fn identifier(mut self, identifier: impl Into<String>) -> Self {
        self.identifier = Some(identifier.into());
        self
    }

    /// Sign UserSigs with the app's secret key; they are cached and renewed before they expire.
    pub fn secret_key(mut self, key: SecretKey) -> Self {
        self.credentials = Some(Credentials::SecretKey(key));
        self
    }

    /// Use a fixed UserSig (never renewed).
    pub fn usersig(mut self, usersig: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::FixedUserSig(secrecy::SecretString::from(
            usersig.into(),
        )));
        self
    }

    /// Validity of the UserSigs made from the secret key (default one day).
    pub fn usersig_ttl(mut self, ttl: Duration) -> Self {
        self.usersig_ttl = ttl.as_secs();
        self
    }

    /// The edition whose limits the client follows (batch size, quota).
    pub fn edition(mut self, edition: Edition) -> Self {
        self.limits = edition.limits();
        self
    }

    /// Limits overriding the edition's (e.g. a raised quota granted by ticket).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Pacing per API (default: the edition's quota).
    pub fn rate(mut self, rate: Rate) -> Self {
        self.rate = rate;
        self
    }

    /// Retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Timeout of one attempt, from sending to the end of the body (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, BuildError> {
        let base_url = self
            .base_url
            .ok_or(BuildError::Missing("base URL or region"))?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url).map_err(|e| BuildError::BadUrl {
            url: base_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(BuildError::BadUrl {
                url: base_url,
                reason: "expected http:// or https:// and a host".into(),
            });
        }
        let sdkappid = self.sdkappid.ok_or(BuildError::Missing("sdkappid"))?;
        let identifier = self.identifier.ok_or(BuildError::Missing("identifier"))?;
        let credentials = self
            .credentials
            .ok_or(BuildError::Missing("secret key or UserSig"))?;
        let per_second = match self.rate {
            Rate::Quota => self.limits.requests_per_second,
            Rate::PerSecond(n) => Some(n),
            Rate::Unlimited => None,
        };
        if per_second == Some(0) {
            return Err(BuildError::ZeroRate);
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            // A redirect would turn the POST into a GET without its body (301/302) or re-send it
            // elsewhere (307/308); the API never redirects, so report it as an HTTP status instead.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(256)
            .user_agent(concat!("tim-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Http)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                sdkappid,
                signer: Signer::new(sdkappid, identifier, credentials, self.usersig_ttl),
                pacer: Pacer::new(per_second),
                per_second,
                limits: self.limits,
                retry: self.retry,
                stats: Stats::default(),
            }),
        })
    }
}
