//! The reference server's control plane (`/_tim/…`): a typed client of its routes.
//!
//! Not part of Tencent's API: the reference server (`tim-server`) answers these routes so that
//! tests can reset it, dump and load its state, read and change its limits at run time, inject
//! faults and read the journal of the calls it answered. The wire types live in
//! [`tim_model::control`]; [`Client::control`] gives a [`Control`] that calls the routes with the
//! client's base URL, SDKAppID, admin UserSig and HTTP connection pool.
//!
//! Control calls are neither paced nor retried (the server does not rate-limit them) and are not
//! counted in [`Client::stats`]. A failure is an [`Error::Control`] wrapping a [`ControlError`]:
//! which route failed and how ([`ControlFailure`]). As everywhere in this crate, the UserSig never
//! appears in an error.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tim_client::Client;
//! use tim_model::control::{FaultEffect, FaultRule, StateKind};
//! use tim_model::usersig::SecretKey;
//! use tim_model::{Command, ErrorCode};
//!
//! let client = Client::builder()
//!     .base_url("http://127.0.0.1:8080")
//!     .sdkappid(1400000000)
//!     .identifier("administrator")
//!     .secret_key(SecretKey::new(std::env::var("TIM_SECRET_KEY")?))
//!     .build()?;
//! let control = client.control();
//! assert!(control.health().await?.ready);
//! control.reset().await?;
//! // The next two import_group_msg calls fail with 10002, then the rule retires.
//! let rule = FaultRule::new(Command::ImportGroupMsg, FaultEffect::error(ErrorCode(10002))).times(2);
//! control.set_faults(&[rule]).await?;
//! // … run the code under test …
//! for call in control.requests(10).await?.requests {
//!     println!("{} {:?} {:?}", call.path, call.error_code, call.fault);
//! }
//! let mut dump = Vec::new();
//! control.dump_state(StateKind::All, &[], &mut dump).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tim_model::control::{
    ConfigPatch, ConfigView, FaultList, FaultRule, Health, Journal, LoadReport, ResetReport,
    ResetRequest, Route, StateKind,
};
use tim_model::{CommonQuery, Envelope, ErrorClass, ErrorCode, Response};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::{redact, snippet, Error};
use crate::Client;

/// Media type of a state dump or load (JSON Lines).
pub const NDJSON: &str = "application/x-ndjson";

/// Default timeout of [`Control::dump_state`] and [`Control::load_state`], from sending to the end
/// of the body: one hour (a state transfer may be much longer than one API call; the client's own
/// timeout applies to every other control call).
pub const DEFAULT_STATE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Query parameter of `GET /_tim/state` naming a group (repeatable).
const GROUP_ID_PARAM: &str = "GroupId";
/// Query parameter of `GET /_tim/state` choosing the lines.
const KIND_PARAM: &str = "kind";
/// Query parameter of `GET /_tim/requests`.
const LIMIT_PARAM: &str = "limit";

/// The control plane of the server a [`Client`] calls; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Control<'a> {
    client: &'a Client,
    state_timeout: Duration,
}

/// What [`Control::dump_state`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpSummary {
    /// Bytes written.
    pub bytes: u64,
    /// Lines written (newline characters).
    pub lines: u64,
}

/// A failed control call: the route, the HTTP method and what went wrong. Inside
/// [`Error::Control`].
#[derive(Debug)]
pub struct ControlError {
    /// The route called.
    pub route: Route,
    /// The HTTP method (`GET`, `POST`, …).
    pub method: &'static str,
    /// What went wrong.
    pub failure: ControlFailure,
}

/// How a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlFailure {
    /// The server answered with the API's envelope and a non-zero `ErrorCode`: the call was
    /// refused. E.g. 60010 (the identifier is not the app's admin), 70xxx (bad UserSig), 60003
    /// (the body is not JSON), 10004 (wrong shape or invalid rule; `info` lists the problems),
    /// and 60009 with HTTP status 404 when the server runs with `--no-control`.
    #[error("error {code} ({class:?}, HTTP {status}): {info}")]
    Refused {
        /// The HTTP status (200, or 404 for a server without a control plane).
        status: u16,
        /// `ErrorCode`.
        code: ErrorCode,
        /// `ErrorInfo`, with any UserSig redacted.
        info: String,
        /// The registry's class of the code.
        class: ErrorClass,
    },
    /// An HTTP status other than 200 without the envelope (a proxy, or a server that has no
    /// control plane at all).
    #[error("HTTP status {status}: {snippet}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The start of the body, with any UserSig redacted.
        snippet: String,
    },
    /// The body was not what the route answers.
    #[error("the response is not the route's JSON ({source}); body starts with: {snippet}")]
    Decode {
        /// The start of the body, with any UserSig redacted.
        snippet: String,
        /// Why decoding failed.
        #[source]
        source: serde_json::Error,
    },
    /// The request did not complete at the transport level (connect, timeout, reset), or the
    /// body of a dump broke off.
    #[error("transport error{}", if *.maybe_sent { " (the request may have reached the server)" } else { " (the request was not sent)" })]
    Transport {
        /// `false` only when the connection could not be made at all.
        maybe_sent: bool,
        /// The underlying error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// A local file or writer failed (reading the state to load, writing the dump).
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The request could not be encoded.
    #[error("cannot encode the request: {0}")]
    Encode(#[source] serde_json::Error),
    /// The answer broke the control plane's contract (e.g. a success envelope where a dump was
    /// expected).
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.method, self.route.path(), self.failure)
    }
}

impl std::error::Error for ControlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The failure's own cause: its text is already part of this error's message.
        std::error::Error::source(&self.failure)
    }
}

impl ControlError {
    /// The envelope's `ErrorCode` when the server refused the call.
    pub fn code(&self) -> Option<ErrorCode> {
        match &self.failure {
            ControlFailure::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status the server answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match &self.failure {
            ControlFailure::Refused { status, .. } | ControlFailure::HttpStatus { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Whether the server could not be reached at all (connect failures).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self.failure,
            ControlFailure::Transport {
                maybe_sent: false,
                ..
            }
        )
    }

    /// Whether the server may have acted on the request.
    pub fn maybe_applied(&self) -> bool {
        match &self.failure {
            ControlFailure::Refused { .. }
            | ControlFailure::Io { .. }
            | ControlFailure::Encode(_) => false,
            ControlFailure::Transport { maybe_sent, .. } => *maybe_sent,
            ControlFailure::HttpStatus { .. }
            | ControlFailure::Decode { .. }
            | ControlFailure::Protocol(_) => true,
        }
    }
}

impl<'a> Control<'a> {
    /// The control plane of the server `client` calls; [`Client::control`] is the usual way.
    pub fn new(client: &'a Client) -> Control<'a> {
        Control {
            client,
            state_timeout: DEFAULT_STATE_TIMEOUT,
        }
    }

    /// This control client with another timeout for [`Control::dump_state`] and
    /// [`Control::load_state`] (default [`DEFAULT_STATE_TIMEOUT`]).
    pub fn state_timeout(mut self, timeout: Duration) -> Control<'a> {
        self.state_timeout = timeout;
        self
    }

    /// `GET /_tim/health`: whether the server is ready, its store, edition and seed.
    pub async fn health(&self) -> Result<Health, Error> {
        self.call(Method::GET, Route::Health, &[], None).await
    }

    /// `POST /_tim/reset` with `{}`: removes every group with its members and messages.
    pub async fn reset(&self) -> Result<ResetReport, Error> {
        self.reset_with(&ResetRequest::default()).await
    }

    /// `POST /_tim/reset` with `{"GroupIdList":[…]}`: removes only these groups.
    pub async fn reset_groups(&self, group_ids: &[String]) -> Result<ResetReport, Error> {
        self.reset_with(&ResetRequest {
            group_id_list: Some(group_ids.to_vec()),
        })
        .await
    }

    /// `POST /_tim/reset` with `req`.
    pub async fn reset_with(&self, req: &ResetRequest) -> Result<ResetReport, Error> {
        let body = self.json(Route::Reset, Method::POST, req)?;
        self.call(Method::POST, Route::Reset, &[], Some(body)).await
    }

    /// `GET /_tim/state?kind=…&GroupId=…`: writes the dump (JSON Lines) to `out` as it arrives,
    /// chunk by chunk, and flushes it. `groups` empty means every group.
    ///
    /// If the transfer breaks off, `out` holds the part received and the error is a
    /// [`ControlFailure::Transport`]. The call's timeout is the state timeout
    /// ([`Control::state_timeout`]).
    pub async fn dump_state<W>(
        &self,
        kind: StateKind,
        groups: &[String],
        out: &mut W,
    ) -> Result<DumpSummary, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let route = Route::State;
        let mut extra = vec![(KIND_PARAM, kind.name())];
        extra.extend(groups.iter().map(|g| (GROUP_ID_PARAM, g.as_str())));
        let (mut resp, usersig) = self
            .send(Method::GET, route, &extra, None, Some(self.state_timeout))
            .await?;
        let fail = |failure| control_error(route, &Method::GET, failure);
        let is_json = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if resp.status() != StatusCode::OK || is_json {
            // A refusal (the envelope), or something other than the control plane.
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| fail(transport(e, true)))?;
            return Err(
                match decode::<tim_model::envelope::Empty>(status, &bytes, &usersig) {
                    Ok(_) => fail(ControlFailure::Protocol(format!(
                        "a success envelope instead of JSON Lines: {}",
                        redact(&snippet(&bytes), Some(&usersig))
                    ))),
                    Err(failure) => fail(failure),
                },
            );
        }
        let mut summary = DumpSummary::default();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(transport(e, true)))? {
            out.write_all(&chunk).await.map_err(|source| {
                fail(ControlFailure::Io {
                    what: "cannot write the dump".to_owned(),
                    source,
                })
            })?;
            summary.bytes += chunk.len() as u64;
            summary.lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        }
        out.flush().await.map_err(|source| {
            fail(ControlFailure::Io {
                what: "cannot write the dump".to_owned(),
                source,
            })
        })?;
        Ok(summary)
    }

    /// `POST /_tim/state` with `body`, JSON Lines as [`Control::dump_state`] writes them: loads
    /// the groups, members and messages into the server. The call's timeout is the state timeout.
    pub async fn load_state(&self, body: impl Into<reqwest::Body>) -> Result<LoadReport, Error> {
        let route = Route::State;
        let (resp, usersig) = self
            .send(
                Method::POST,
                route,
                &[],
                Some((HeaderValue::from_static(NDJSON), body.into())),
                Some(self.state_timeout),
            )
            .await?;
        self.read(Method::POST, route, resp, &usersig).await
    }

    /// [`Control::load_state`] with the contents of the file at `path` (read into memory first).
    pub async fn load_state_file(&self, path: impl AsRef<Path>) -> Result<LoadReport, Error> {
        let path = path.as_ref().to_owned();
        let shown = path.display().to_string();
        let read = tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let bytes = read.map_err(|source| {
            control_error(
                Route::State,
                &Method::POST,
                ControlFailure::Io {
                    what: format!("cannot read {shown}"),
                    source,
                },
            )
        })?;
        self.load_state(bytes).await
    }

    /// `GET /_tim/config`: the seed and the limits in force.
    pub async fn config(&self) -> Result<ConfigView, Error> {
        self.call(Method::GET, Route::Config, &[], None).await
    }

    /// `PUT /_tim/config`: changes the keys `patch` gives; returns the values now in force.
    pub async fn set_config(&self, patch: &ConfigPatch) -> Result<ConfigView, Error> {
        let body = self.json(Route::Config, Method::PUT, patch)?;
        self.call(Method::PUT, Route::Config, &[], Some(body)).await
    }

    /// `GET /_tim/faults`: the fault rules in force, with `remaining` for those with a `count`.
    pub async fn faults(&self) -> Result<FaultList, Error> {
        self.call(Method::GET, Route::Faults, &[], None).await
    }

    /// `POST /_tim/faults`: replaces the rules with `rules` (empty turns faults off).
    pub async fn set_faults(&self, rules: &[FaultRule]) -> Result<FaultList, Error> {
        self.faults_with(Method::POST, rules).await
    }

    /// `PATCH /_tim/faults`: appends `rules` to the list.
    pub async fn add_faults(&self, rules: &[FaultRule]) -> Result<FaultList, Error> {
        self.faults_with(Method::PATCH, rules).await
    }

    /// `DELETE /_tim/faults` with `rules`: removes the rules equal to these, ignoring
    /// `remaining` (see [`FaultRule::same_rule`]).
    pub async fn remove_faults(&self, rules: &[FaultRule]) -> Result<FaultList, Error> {
        self.faults_with(Method::DELETE, rules).await
    }

    /// `DELETE /_tim/faults` with no body: removes every rule.
    pub async fn clear_faults(&self) -> Result<FaultList, Error> {
        self.call(Method::DELETE, Route::Faults, &[], None).await
    }

    /// `GET /_tim/requests?limit=N`: the latest `limit` API calls the server answered, newest
    /// first.
    pub async fn requests(&self, limit: usize) -> Result<Journal, Error> {
        let limit = limit.to_string();
        self.call(Method::GET, Route::Requests, &[(LIMIT_PARAM, &limit)], None)
            .await
    }

    async fn faults_with(&self, method: Method, rules: &[FaultRule]) -> Result<FaultList, Error> {
        let body = self.json(Route::Faults, method.clone(), &rules)?;
        self.call(method, Route::Faults, &[], Some(body)).await
    }

    /// `value` as a JSON body.
    fn json(
        &self,
        route: Route,
        method: Method,
        value: &impl Serialize,
    ) -> Result<(HeaderValue, reqwest::Body), Error> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| control_error(route, &method, ControlFailure::Encode(e)))?;
        Ok((
            HeaderValue::from_static("application/json"),
            reqwest::Body::from(bytes),
        ))
    }

    /// Sends one request and decodes its answer as `Response<T>`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        route: Route,
        extra: &[(&str, &str)],
        body: Option<(HeaderValue, reqwest::Body)>,
    ) -> Result<T, Error> {
        let (resp, usersig) = self.send(method.clone(), route, extra, body, None).await?;
        self.read(method, route, resp, &usersig).await
    }

    /// Reads a whole answer and decodes it as `Response<T>`.
    async fn read<T: DeserializeOwned>(
        &self,
        method: Method,
        route: Route,
        resp: reqwest::Response,
        usersig: &str,
    ) -> Result<T, Error> {
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| control_error(route, &method, transport(e, true)))?;
        decode::<T>(status, &bytes, usersig).map_err(|f| control_error(route, &method, f))
    }

    /// Sends one request to `route` with the API's query (plus `extra` pairs); returns the
    /// response (any status) and the UserSig sent, for redaction.
    async fn send(
        &self,
        method: Method,
        route: Route,
        extra: &[(&str, &str)],
        body: Option<(HeaderValue, reqwest::Body)>,
        timeout: Option<Duration>,
    ) -> Result<(reqwest::Response, String), Error> {
        let inner = &self.client.inner;
        let usersig = inner.signer.usersig();
        let query = CommonQuery::new(
            inner.sdkappid,
            inner.signer.identifier(),
            &usersig,
            rand::random::<u32>(),
        );
        let fail = |failure| control_error(route, &method, failure);
        // The builder checked the base URL; a failure here would be a bug, reported as such
        // (without the URL, which would carry the UserSig).
        let mut url = reqwest::Url::parse(&format!("{}{}", inner.base_url, route.path()))
            .map_err(|e| Error::InvalidInput(format!("cannot build the control URL: {e}")))?;
        url.set_query(Some(&query.to_query_string()));
        if !extra.is_empty() {
            url.query_pairs_mut().extend_pairs(extra);
        }
        let mut req = inner.http.request(method.clone(), url);
        if let Some((content_type, body)) = body {
            req = req.header(CONTENT_TYPE, content_type).body(body);
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(|e| {
            let maybe_sent = !e.is_connect() && !e.is_builder();
            fail(transport(e, maybe_sent))
        })?;
        Ok((resp, usersig))
    }
}

fn control_error(route: Route, method: &Method, failure: ControlFailure) -> Error {
    Error::Control(ControlError {
        route,
        method: method_name(method),
        failure,
    })
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

fn transport(e: reqwest::Error, maybe_sent: bool) -> ControlFailure {
    ControlFailure::Transport {
        maybe_sent,
        source: e.without_url(),
    }
}

/// Decodes an answer: the envelope first (a refusal carries no body fields), then `Response<T>`.
fn decode<T: DeserializeOwned>(
    status: StatusCode,
    bytes: &[u8],
    usersig: &str,
) -> Result<T, ControlFailure> {
    let shown = || redact(&snippet(bytes), Some(usersig));
    let envelope = match serde_json::from_slice::<Envelope>(bytes) {
        Ok(e) => e,
        Err(source) if status == StatusCode::OK => {
            return Err(ControlFailure::Decode {
                snippet: shown(),
                source,
            })
        }
        Err(_) => {
            return Err(ControlFailure::HttpStatus {
                status: status.as_u16(),
                snippet: shown(),
            })
        }
    };
    if !envelope.is_ok() {
        let code = envelope.error_code;
        return Err(ControlFailure::Refused {
            status: status.as_u16(),
            code,
            info: redact(&envelope.error_info, Some(usersig)),
            class: code.class(),
        });
    }
    if status != StatusCode::OK {
        return Err(ControlFailure::HttpStatus {
            status: status.as_u16(),
            snippet: shown(),
        });
    }
    serde_json::from_slice::<Response<T>>(bytes)
        .map(|r| r.body)
        .map_err(|source| ControlFailure::Decode {
            snippet: shown(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_bodies_decode() {
        let ok = br#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","GroupsRemoved":3}"#;
        let r: ResetReport = decode(StatusCode::OK, ok, "sig").unwrap();
        assert_eq!(r.groups_removed, 3);
        let refused =
            br#"{"ActionStatus":"FAIL","ErrorCode":60010,"ErrorInfo":"admin only; usersig=eJxSIG"}"#;
        match decode::<Health>(StatusCode::OK, refused, "eJxSIG") {
            Err(ControlFailure::Refused {
                status: 200,
                code: ErrorCode(60010),
                info,
                ..
            }) => assert!(!info.contains("eJxSIG"), "{info}"),
            other => panic!("{other:?}"),
        }
        let off = br#"{"ActionStatus":"FAIL","ErrorCode":60009,"ErrorInfo":"no control plane"}"#;
        assert!(matches!(
            decode::<Health>(StatusCode::NOT_FOUND, off, "s"),
            Err(ControlFailure::Refused { status: 404, .. })
        ));
        assert!(matches!(
            decode::<Health>(StatusCode::BAD_GATEWAY, b"<html>usersig=eJxA</html>", "s"),
            Err(ControlFailure::HttpStatus { status: 502, ref snippet }) if !snippet.contains("eJxA")
        ));
        assert!(matches!(
            decode::<Health>(
                StatusCode::OK,
                br#"{"ActionStatus":"OK","ErrorCode":0}"#,
                "s"
            ),
            Err(ControlFailure::Decode { .. })
        ));
    }

    #[test]
    fn errors_name_the_route_once() {
        let e = Error::Control(ControlError {
            route: Route::Faults,
            method: "PATCH",
            failure: ControlFailure::Refused {
                status: 200,
                code: ErrorCode(10004),
                info: "rule 0: the effect does nothing".into(),
                class: ErrorCode(10004).class(),
            },
        });
        assert_eq!(e.code(), Some(ErrorCode(10004)));
        assert!(!e.maybe_applied());
        let text = e.to_string();
        assert!(
            text.starts_with("PATCH /_tim/faults: error 10004"),
            "{text}"
        );
        assert!(std::error::Error::source(&e).is_none());
    }
}
