//! The client: builder, the typed calls of every endpoint, and the one request loop (pacing,
//! signing, sending, decoding, retrying) they share.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::api::get_group_info::GetGroupInfoRequest;
use tim_model::api::group_msg_get_simple::GroupMsgGetSimpleRequest;
use tim_model::api::import_group::ImportGroupRequest;
use tim_model::api::import_group_member::ImportGroupMemberRequest;
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::api::set_unread_msg_num::SetUnreadMsgNumRequest;
use tim_model::api::ApiRequest;
use tim_model::usersig::SecretKey;
use tim_model::{Command, CommonQuery, Edition, Limits, Region, Response};
use tracing::{debug, warn};

use crate::auth::{Credentials, Signer, DEFAULT_USERSIG_TTL_SECS};
use crate::error::{snippet, Error};
use crate::pace::Pacer;
use crate::retry::{disposition, Disposition, RetryPolicy};

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
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
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
        self.credentials = Some(Credentials::FixedUserSig(usersig.into()));
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
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(256)
            .user_agent(concat!("tim-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Http)?;
        let per_second = match self.rate {
            Rate::Quota => self.limits.requests_per_second,
            Rate::PerSecond(n) => Some(n),
            Rate::Unlimited => None,
        };
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

/// Counters of what the client sent, for progress displays and reports.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// HTTP requests sent (every attempt counts).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Answers that were rate-limit errors (60007 and its kin).
    pub rate_limited: u64,
}

impl Stats {
    fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    sdkappid: u64,
    signer: Signer,
    pacer: Pacer,
    per_second: Option<u32>,
    limits: Limits,
    retry: RetryPolicy,
    stats: Stats,
}

/// An async client of the `group_open_http_svc` APIs. Cheap to clone; clones share the HTTP
/// connection pool, the UserSig cache, the pacing limiters and the counters.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("sdkappid", &self.inner.sdkappid)
            .field("signer", &self.inner.signer)
            .field("edition", &self.inner.limits.edition)
            .field("per_second", &self.inner.per_second)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the seed edition's limits and the default retry policy.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The limits the client follows.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The pacing rate per API, if any.
    pub fn requests_per_second(&self) -> Option<u32> {
        self.inner.per_second
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// What the client has sent so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Calls `R`'s command and returns the whole answer, whatever its `ErrorCode`, after retrying
    /// transient failures. Use it when a non-zero code still carries information (per-message
    /// results, per-group entries).
    pub async fn call_envelope<R: ApiRequest>(
        &self,
        req: &R,
    ) -> Result<Response<R::Response>, Error> {
        let body = serde_json::to_vec(req)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the request: {e}")))?;
        self.send_with_retries::<R::Response>(R::COMMAND, body)
            .await
    }

    /// Calls `R`'s command; a non-zero `ErrorCode` becomes [`Error::Api`].
    pub async fn call<R: ApiRequest>(&self, req: &R) -> Result<R::Response, Error> {
        let resp = self.call_envelope(req).await?;
        into_body(R::COMMAND, resp)
    }

    /// `import_group_msg` as one raw request (no batching or isolation; see
    /// [`Client::import_batch`] for those). The answer is returned whatever its code.
    pub async fn import_group_msg(
        &self,
        req: &ImportGroupMsgRequest,
    ) -> Result<Response<<ImportGroupMsgRequest as ApiRequest>::Response>, Error> {
        self.call_envelope(req).await
    }

    /// `import_group`: imports a group's profile; returns the group ID.
    pub async fn import_group(
        &self,
        req: &ImportGroupRequest,
    ) -> Result<<ImportGroupRequest as ApiRequest>::Response, Error> {
        self.call(req).await
    }

    /// `create_group`: creates a group; returns the group ID.
    pub async fn create_group(
        &self,
        req: &CreateGroupRequest,
    ) -> Result<<CreateGroupRequest as ApiRequest>::Response, Error> {
        self.call(req).await
    }

    /// `destroy_group`: dismisses a group.
    pub async fn destroy_group(&self, req: &DestroyGroupRequest) -> Result<(), Error> {
        self.call(req).await.map(|_| ())
    }

    /// `get_group_info`: reads group profiles (each entry carries its own `ErrorCode`).
    pub async fn get_group_info(
        &self,
        req: &GetGroupInfoRequest,
    ) -> Result<<GetGroupInfoRequest as ApiRequest>::Response, Error> {
        self.call(req).await
    }

    /// `import_group_member`: imports members (each carries its own `Result`).
    pub async fn import_group_member(
        &self,
        req: &ImportGroupMemberRequest,
    ) -> Result<<ImportGroupMemberRequest as ApiRequest>::Response, Error> {
        self.call(req).await
    }

    /// `set_unread_msg_num`: sets one member's unread count.
    pub async fn set_unread_msg_num(&self, req: &SetUnreadMsgNumRequest) -> Result<(), Error> {
        self.call(req).await.map(|_| ())
    }

    /// `group_msg_get_simple`: reads a page of group history, newest first.
    pub async fn group_msg_get_simple(
        &self,
        req: &GroupMsgGetSimpleRequest,
    ) -> Result<<GroupMsgGetSimpleRequest as ApiRequest>::Response, Error> {
        self.call(req).await
    }

    async fn send_with_retries<T: DeserializeOwned>(
        &self,
        command: Command,
        body: Vec<u8>,
    ) -> Result<Response<T>, Error> {
        let started = Instant::now();
        let policy = &self.inner.retry;
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            attempt += 1;
            let outcome = match self.send_once::<T>(command, &body).await {
                Ok(resp) if resp.envelope.is_ok() => return Ok(resp),
                Ok(resp) => {
                    let err = api_error(command, &resp);
                    match disposition(&err) {
                        Disposition::Fail => return Ok(resp),
                        d => (err, d),
                    }
                }
                Err(err) => {
                    let d = disposition(&err);
                    (err, d)
                }
            };
            let (err, d) = outcome;
            let may_retry = attempt < policy.max_attempts;
            match d {
                Disposition::RenewUserSig
                    if may_retry && !renewed && self.inner.signer.invalidate() =>
                {
                    renewed = true;
                    debug!(%command, "UserSig refused as expired; signing a new one");
                }
                Disposition::Retry if may_retry => {
                    if matches!(
                        err,
                        Error::Api {
                            class: tim_model::ErrorClass::RateLimited,
                            ..
                        }
                    ) {
                        self.inner
                            .stats
                            .rate_limited
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    let wait = policy.backoff(attempt - 1);
                    warn!(%command, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Disposition::Fail | Disposition::RenewUserSig => {
                    return match err {
                        Error::Api { .. } => Err(err),
                        other if attempt > 1 => Err(Error::RetriesExhausted {
                            attempts: attempt,
                            elapsed: started.elapsed(),
                            last: Box::new(other),
                        }),
                        other => Err(other),
                    };
                }
                Disposition::Retry => {
                    return Err(Error::RetriesExhausted {
                        attempts: attempt,
                        elapsed: started.elapsed(),
                        last: Box::new(err),
                    })
                }
            }
            self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        command: Command,
        body: &[u8],
    ) -> Result<Response<T>, Error> {
        self.inner.pacer.until_ready(command).await;
        let query = CommonQuery::new(
            self.inner.sdkappid,
            self.signer_identifier(),
            &self.inner.signer.usersig(),
            rand::random::<u32>(),
        );
        let url = format!(
            "{}{}?{}",
            self.inner.base_url,
            command.path(),
            query.to_query_string()
        );
        self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let transport = |e: reqwest::Error| Error::Transport {
            command,
            maybe_sent: !e.is_connect() && !e.is_builder(),
            source: e.without_url(),
        };
        let resp = self
            .inner
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if status != reqwest::StatusCode::OK {
            return Err(Error::HttpStatus {
                command,
                status: status.as_u16(),
                snippet: snippet(&bytes),
            });
        }
        decode_response(command, &bytes)
    }

    fn signer_identifier(&self) -> &str {
        self.inner.signer.identifier()
    }
}

/// Decodes an answer body tolerantly: unknown fields are ignored, `ErrorInfo` and `RequestId` may
/// be absent, and the API fields default when a failure omits them.
pub fn decode_response<T: DeserializeOwned>(
    command: Command,
    bytes: &[u8],
) -> Result<Response<T>, Error> {
    serde_json::from_slice::<Response<T>>(bytes).map_err(|source| Error::Decode {
        command,
        snippet: snippet(bytes),
        source,
    })
}

fn api_error<T>(command: Command, resp: &Response<T>) -> Error {
    let code = resp.envelope.error_code;
    Error::Api {
        command,
        code,
        info: resp.envelope.error_info.clone(),
        class: code.class(),
        request_id: resp.envelope.request_id.clone(),
    }
}

/// The API fields of a successful answer, or the answer's error.
pub(crate) fn into_body<T>(command: Command, resp: Response<T>) -> Result<T, Error> {
    if resp.envelope.is_ok() {
        Ok(resp.body)
    } else {
        Err(api_error(command, &resp))
    }
}
