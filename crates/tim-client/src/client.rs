//! The client: the typed calls of every endpoint, and the one request loop (pacing, signing,
//! sending, decoding, retrying) they share. Built by [`crate::ClientBuilder`].

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::api::get_group_info::{GetGroupInfoRequest, GroupBaseInfo, ResponseFilter};
use tim_model::api::group_msg_get_simple::GroupMsgGetSimpleRequest;
use tim_model::api::import_group::{GroupIdResponse, ImportGroupRequest};
use tim_model::api::import_group_member::ImportGroupMemberRequest;
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::api::set_unread_msg_num::SetUnreadMsgNumRequest;
use tim_model::api::ApiRequest;
use tim_model::{Command, CommonQuery, ErrorClass, ErrorCode, Limits, Response};
use tracing::{debug, info};

use crate::auth::Signer;
use crate::builder::ClientBuilder;
use crate::error::{redact, snippet, Error};
use crate::pace::Pacer;
use crate::resend::{AfterResend, Plan, Resend, WantedGroup};
use crate::response::{api_error, decode_response, into_body};
use crate::retry::{disposition, Disposition, RetryPolicy};
use crate::stats::{Stats, StatsSnapshot};

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) sdkappid: u64,
    pub(crate) signer: Signer,
    pub(crate) pacer: Pacer,
    pub(crate) per_second: Option<u32>,
    pub(crate) limits: Limits,
    pub(crate) retry: RetryPolicy,
    pub(crate) stats: Stats,
}

/// An async client of the `group_open_http_svc` APIs. Cheap to clone; clones share the HTTP
/// connection pool, the UserSig cache, the pacing limiters and the counters.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
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

    /// The control plane (`/_tim/…`) of the reference server this client calls, with the same
    /// base URL, credentials and connection pool; see [`crate::control`].
    pub fn control(&self) -> crate::control::Control<'_> {
        crate::control::Control::new(self)
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

    /// Calls `R`'s command like [`Client::call_envelope`], but never re-sends it after an attempt
    /// that may have been applied: that failure is returned ([`Error::maybe_applied`]) for the
    /// caller to confirm what the server holds (`import_batch` reads the group back).
    pub(crate) async fn call_envelope_unsent_on_doubt<R: ApiRequest>(
        &self,
        req: &R,
    ) -> Result<Response<R::Response>, Error> {
        let body = serde_json::to_vec(req)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the request: {e}")))?;
        self.send_with_retries::<R::Response>(R::COMMAND, body, Resend::Never)
            .await
            .result
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
