//! The client: builder, the typed calls of every endpoint, and the one request loop (pacing,
//! signing, sending, decoding, retrying) they share.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::api::get_group_info::{GetGroupInfoRequest, GroupBaseInfo, ResponseFilter};
use tim_model::api::group_msg_get_simple::GroupMsgGetSimpleRequest;
use tim_model::api::import_group::{GroupIdResponse, GroupProfile, ImportGroupRequest};
use tim_model::api::import_group_member::ImportGroupMemberRequest;
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::api::set_unread_msg_num::SetUnreadMsgNumRequest;
use tim_model::api::ApiRequest;
use tim_model::usersig::SecretKey;
use tim_model::{
    ActionStatus, Command, CommonQuery, Edition, Envelope, ErrorClass, ErrorCode, Limits, Region,
    Response,
};
use tracing::{debug, info};

use crate::auth::{Credentials, Signer, DEFAULT_USERSIG_TTL_SECS};
use crate::error::{redact, snippet, Error};
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

/// Counters of what the client sent, for progress displays and reports.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    by_command: [AtomicU64; Command::ALL.len()],
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
    /// Requests sent per command, in the order of [`Command::ALL`].
    pub by_command: [u64; Command::ALL.len()],
}

impl StatsSnapshot {
    /// Requests sent to `command` (every attempt counts).
    pub fn requests_for(&self, command: Command) -> u64 {
        Command::ALL
            .iter()
            .position(|c| *c == command)
            .map_or(0, |i| self.by_command[i])
    }
}

impl Stats {
    fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            by_command: std::array::from_fn(|i| self.by_command[i].load(Ordering::Relaxed)),
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
    ///
    /// A retry re-sends the same bytes. Whether that is safe after an attempt that may have reached
    /// the server (a timeout after sending, a 5xx) depends on the call:
    /// - reads (`get_group_info`, `group_msg_get_simple`) and `set_unread_msg_num` are re-sent;
    /// - `import_group_msg` is re-sent when every message carries a `Random` (the server's
    ///   duplicate rule answers a second copy with the original's `MsgSeq`), else not;
    /// - `import_group_member` is re-sent (a member added by the lost attempt reports `Result` 2,
    ///   "already a member");
    /// - `import_group` / `create_group` with a `GroupId` are re-sent; if the re-sent request gets
    ///   10021/10025 (ID in use), the client reads the group back and, when it exists with the
    ///   requested `Name` (and `CreateTime`), returns success with its ID;
    /// - `import_group` / `create_group` without a `GroupId` are not re-sent (a second copy would
    ///   make a second group): [`Error::NotResent`];
    /// - `destroy_group` is re-sent; 10010 (no such group) in answer to a re-sent request means
    ///   the lost attempt dismissed it, and is returned as success.
    pub async fn call_envelope<R: ApiRequest>(
        &self,
        req: &R,
    ) -> Result<Response<R::Response>, Error> {
        let body = serde_json::to_vec(req)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the request: {e}")))?;
        let plan = Plan::of(R::COMMAND, &body);
        let sent = self
            .send_with_retries::<R::Response>(R::COMMAND, body, plan.resend)
            .await;
        let resp = sent.result?;
        if !sent.resent_after_maybe_applied || resp.envelope.is_ok() {
            return Ok(resp);
        }
        let code = resp.envelope.error_code;
        match plan.after_resend {
            AfterResend::ConfirmGroup(ref want)
                if code == ErrorCode::GROUP_ID_IN_USE || code == ErrorCode::GROUP_ID_OWNED =>
            {
                if self.group_matches(want).await? {
                    info!(command = %R::COMMAND, group_id = %want.group_id,
                        "the group ID is in use after a re-sent request: the lost attempt made it");
                    let body = GroupIdResponse {
                        group_id: want.group_id.clone(),
                    };
                    let body = serde_json::to_value(body)
                        .and_then(serde_json::from_value)
                        .map_err(|e| Error::protocol(R::COMMAND, e.to_string()))?;
                    return Ok(Response::ok(body));
                }
                Ok(resp)
            }
            AfterResend::GoneIsDone if code == ErrorCode::GROUP_NOT_FOUND => {
                info!(command = %R::COMMAND,
                    "no such group after a re-sent request: the lost attempt dismissed it");
                Ok(Response::ok(R::Response::default()))
            }
            _ => Ok(resp),
        }
    }

    /// Calls `R`'s command; a non-zero `ErrorCode` becomes [`Error::Api`]. Retries as
    /// [`Client::call_envelope`] describes.
    pub async fn call<R: ApiRequest>(&self, req: &R) -> Result<R::Response, Error> {
        let resp = self.call_envelope(req).await?;
        into_body(R::COMMAND, resp)
    }

    /// Whether the group `want` names exists with the requested profile.
    async fn group_matches(&self, want: &WantedGroup) -> Result<bool, Error> {
        let filter = only_base_fields(&GroupBaseInfo {
            name: Some(String::new()),
            create_time: Some(0),
            ..GroupBaseInfo::default()
        });
        let req = GetGroupInfoRequest {
            group_id_list: vec![want.group_id.clone()],
            response_filter: Some(filter),
        };
        let body = serde_json::to_vec(&req)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the request: {e}")))?;
        // Straight to the request loop (not `get_group_info`, whose `call_envelope` would recurse).
        let sent = self
            .send_with_retries::<<GetGroupInfoRequest as ApiRequest>::Response>(
                GetGroupInfoRequest::COMMAND,
                body,
                Resend::Safe,
            )
            .await;
        let resp = into_body(GetGroupInfoRequest::COMMAND, sent.result?)?;
        Ok(resp.group_info.iter().any(|g| {
            g.group_id == want.group_id
                && g.error_code.is_ok()
                && g.base.name.as_deref() == Some(want.name.as_str())
                && want
                    .create_time
                    .is_none_or(|t| g.base.create_time.is_none_or(|c| c == t))
        }))
    }

    /// `import_group_msg` as one raw request (no batching or isolation; see
    /// [`Client::import_batch`] for those). The answer is returned whatever its code. Re-sent
    /// after a lost answer only when every message has a `Random` (see [`Client::call_envelope`]).
    pub async fn import_group_msg(
        &self,
        req: &ImportGroupMsgRequest,
    ) -> Result<Response<<ImportGroupMsgRequest as ApiRequest>::Response>, Error> {
        self.call_envelope(req).await
    }

    /// `import_group`: imports a group's profile; returns the group ID. Without a `GroupId` it is
    /// never re-sent after an attempt that may have been applied ([`Error::NotResent`]); with one,
    /// a re-sent request that finds the ID in use confirms the group and succeeds.
    pub async fn import_group(
        &self,
        req: &ImportGroupRequest,
    ) -> Result<<ImportGroupRequest as ApiRequest>::Response, Error> {
        self.call(req).await
    }

    /// `create_group`: creates a group; returns the group ID. Re-sent as [`Client::import_group`].
    pub async fn create_group(
        &self,
        req: &CreateGroupRequest,
    ) -> Result<<CreateGroupRequest as ApiRequest>::Response, Error> {
        self.call(req).await
    }

    /// `destroy_group`: dismisses a group. 10010 in answer to a re-sent request is success (the
    /// lost attempt dismissed it).
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

    /// `import_group_member`: imports members (each carries its own `Result`). After a re-sent
    /// request, a member the lost attempt added reports 2 ("already a member"), not 1.
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
        resend: Resend,
    ) -> Sent<T> {
        let started = Instant::now();
        let policy = &self.inner.retry;
        let mut attempt = 0u32;
        let mut renewed = false;
        // Whether an attempt before the current one may have reached the server.
        let mut maybe_applied = false;
        loop {
            attempt += 1;
            let resent_after_maybe_applied = maybe_applied;
            let done = |result| Sent {
                result,
                resent_after_maybe_applied,
            };
            let (err, d) = match self.send_once::<T>(command, &body).await {
                Ok(resp) if resp.envelope.is_ok() => return done(Ok(resp)),
                Ok(resp) => {
                    let err = api_error(command, &resp);
                    match disposition(&err) {
                        Disposition::Fail => return done(Ok(resp)),
                        d => (err, d),
                    }
                }
                Err(err) => {
                    let d = disposition(&err);
                    (err, d)
                }
            };
            if matches!(
                err,
                Error::Api {
                    class: ErrorClass::RateLimited,
                    ..
                }
            ) {
                self.inner
                    .stats
                    .rate_limited
                    .fetch_add(1, Ordering::Relaxed);
            }
            maybe_applied |= err.maybe_applied();
            let may_retry = attempt < policy.max_attempts;
            match d {
                Disposition::RenewUserSig
                    if may_retry && !renewed && self.inner.signer.invalidate() =>
                {
                    renewed = true;
                    debug!(%command, "UserSig refused as expired; signing a new one");
                }
                Disposition::Retry
                    if may_retry && resend == Resend::Never && err.maybe_applied() =>
                {
                    return done(Err(Error::NotResent {
                        command,
                        source: Box::new(err),
                    }));
                }
                Disposition::Retry if may_retry => {
                    let wait = policy.backoff(attempt - 1);
                    info!(%command, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Disposition::Fail | Disposition::RenewUserSig if attempt == 1 => {
                    return done(Err(err));
                }
                Disposition::Fail | Disposition::RenewUserSig
                    if matches!(err, Error::Api { .. }) && !maybe_applied =>
                {
                    return done(Err(err));
                }
                Disposition::Fail | Disposition::RenewUserSig | Disposition::Retry => {
                    return done(Err(Error::RetriesExhausted {
                        attempts: attempt,
                        elapsed: started.elapsed(),
                        maybe_applied,
                        last: Box::new(err),
                    }));
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
        let usersig = self.inner.signer.usersig();
        let query = CommonQuery::new(
            self.inner.sdkappid,
            self.inner.signer.identifier(),
            &usersig,
            rand::random::<u32>(),
        );
        let url = format!(
            "{}{}?{}",
            self.inner.base_url,
            command.path(),
            query.to_query_string()
        );
        self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = Command::ALL.iter().position(|c| *c == command) {
            self.inner.stats.by_command[i].fetch_add(1, Ordering::Relaxed);
        }
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
        let decoded = decode_response::<T>(command, &bytes).map(|mut resp| {
            if !resp.envelope.error_info.is_empty() {
                resp.envelope.error_info = redact(&resp.envelope.error_info, Some(&usersig));
            }
            resp
        });
        if status == reqwest::StatusCode::OK {
            return decoded.map_err(|e| match e {
                Error::Decode {
                    command,
                    snippet,
                    source,
                } => Error::Decode {
                    command,
                    snippet: redact(&snippet, Some(&usersig)),
                    source,
                },
                other => other,
            });
        }
        match decoded {
            // The API's own answer behind an unusual status: the envelope says what happened.
            Ok(resp) => {
                debug!(%command, status = status.as_u16(), code = %resp.envelope.error_code,
                    "an envelope with an HTTP status other than 200");
                Ok(resp)
            }
            Err(_) => Err(Error::HttpStatus {
                command,
                status: status.as_u16(),
                snippet: redact(&snippet(&bytes), Some(&usersig)),
            }),
        }
    }
}

/// Whether a request may be sent again after an attempt that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// A second copy has no further effect (reads, idempotent writes, imports with fixed
    /// `Random`s, group imports with a `GroupId`).
    Safe,
    /// A second copy could be applied too: never re-sent after an attempt that may have been.
    Never,
}

/// What a re-sent request's failure may really mean.
#[derive(Debug)]
enum AfterResend {
    /// Take the answer as it is.
    AsIs,
    /// 10021/10025 (ID in use): the lost attempt may have made the group; confirm it.
    ConfirmGroup(WantedGroup),
    /// 10010 (no such group): the lost attempt dismissed it.
    GoneIsDone,
}

/// The group an `import_group`/`create_group` with a `GroupId` asked for.
#[derive(Debug)]
struct WantedGroup {
    group_id: String,
    name: String,
    create_time: Option<i64>,
}

/// How a request is retried, from its command and body (the typed request, decoded again).
#[derive(Debug)]
struct Plan {
    resend: Resend,
    after_resend: AfterResend,
}

impl Plan {
    fn of(command: Command, body: &[u8]) -> Plan {
        let safe = |after_resend| Plan {
            resend: Resend::Safe,
            after_resend,
        };
        let never = Plan {
            resend: Resend::Never,
            after_resend: AfterResend::AsIs,
        };
        let group = |profile: GroupProfile, create_time| match profile.group_id {
            Some(group_id) => safe(AfterResend::ConfirmGroup(WantedGroup {
                group_id,
                name: profile.name,
                create_time,
            })),
            None => Plan {
                resend: Resend::Never,
                after_resend: AfterResend::AsIs,
            },
        };
        match command {
            Command::ImportGroupMsg => {
                match serde_json::from_slice::<ImportGroupMsgRequest>(body) {
                    Ok(req) if req.msg_list.iter().all(|m| m.random.is_some()) => {
                        safe(AfterResend::AsIs)
                    }
                    _ => never,
                }
            }
            Command::ImportGroup => match serde_json::from_slice::<ImportGroupRequest>(body) {
                Ok(req) => group(req.profile, req.create_time),
                Err(_) => never,
            },
            Command::CreateGroup => match serde_json::from_slice::<CreateGroupRequest>(body) {
                Ok(req) => group(req.profile, None),
                Err(_) => never,
            },
            Command::DestroyGroup => safe(AfterResend::GoneIsDone),
            _ => safe(AfterResend::AsIs),
        }
    }
}

/// The outcome of [`Client::send_with_retries`].
struct Sent<T> {
    result: Result<Response<T>, Error>,
    /// Whether the answer is to a re-sent request whose earlier attempt may have been applied.
    resent_after_maybe_applied: bool,
}

/// A `ResponseFilter` asking for the base fields set in `fields` and nothing else (no members, no
/// app-defined data). The names come from the model's `serde` attributes.
pub(crate) fn only_base_fields(fields: &GroupBaseInfo) -> ResponseFilter {
    let names = match serde_json::to_value(fields) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
        _ => Vec::new(),
    };
    ResponseFilter {
        group_base_info_filter: Some(names),
        member_info_filter: Some(Vec::new()),
        app_defined_data_filter_group: Some(Vec::new()),
        app_defined_data_filter_group_member: Some(Vec::new()),
        ..ResponseFilter::default()
    }
}

/// Decodes an answer body tolerantly: unknown fields are ignored, `ErrorInfo` and `RequestId` may
/// be absent, and the API fields default when a failure omits them. An envelope that lacks
/// `ActionStatus` (it follows from `ErrorCode`), spells it in another case, carries `ErrorCode`
/// as a string of digits, or lacks `ErrorCode` while `ActionStatus` is `OK` is read as what it
/// means.
pub fn decode_response<T: DeserializeOwned>(
    command: Command,
    bytes: &[u8],
) -> Result<Response<T>, Error> {
    serde_json::from_slice::<Response<T>>(bytes).or_else(|source| {
        lenient(bytes)
            .and_then(|v| serde_json::from_value::<Response<T>>(v).ok())
            .ok_or_else(|| Error::Decode {
                command,
                snippet: snippet(bytes),
                source,
            })
    })
}

/// The envelope's wire names, from the model: (`ActionStatus`, `ErrorCode`).
fn envelope_names() -> &'static (String, String) {
    static NAMES: OnceLock<(String, String)> = OnceLock::new();
    NAMES.get_or_init(|| {
        let status = serde_json::to_value(ActionStatus::Fail).unwrap_or_default();
        let code = serde_json::to_value(ErrorCode(1)).unwrap_or_default();
        let mut names = (String::new(), String::new());
        if let Ok(serde_json::Value::Object(map)) =
            serde_json::to_value(Envelope::fail(ErrorCode(1), ""))
        {
            for (k, v) in map {
                if v == status {
                    names.0 = k;
                } else if v == code {
                    names.1 = k;
                }
            }
        }
        names
    })
}

/// `bytes` as a JSON object with its envelope repaired, or `None` when it cannot be.
fn lenient(bytes: &[u8]) -> Option<serde_json::Value> {
    use serde_json::Value;
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let map = value.as_object_mut()?;
    let (status_key, code_key) = envelope_names();
    let ok = serde_json::to_value(ActionStatus::Ok).ok()?;
    let fail = serde_json::to_value(ActionStatus::Fail).ok()?;
    if let Some(Value::String(s)) = map.get(code_key) {
        let code: u32 = s.trim().parse().ok()?;
        map.insert(code_key.clone(), Value::from(code));
    }
    if let Some(Value::String(s)) = map.get(status_key) {
        for canonical in [&ok, &fail] {
            if canonical
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(s))
            {
                map.insert(status_key.clone(), canonical.clone());
                break;
            }
        }
    }
    match (map.get(status_key).cloned(), map.get(code_key)) {
        (None, Some(code)) => {
            let status = if code.as_u64() == Some(0) { ok } else { fail };
            map.insert(status_key.clone(), status);
        }
        (Some(status), None) if status == ok => {
            map.insert(code_key.clone(), Value::from(0));
        }
        _ => {}
    }
    Some(value)
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
