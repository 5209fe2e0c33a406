//! The control plane under `/_tim/`: for people who test their own clients against the
//! stand-in (shapes after LocalStack's chaos API, moto's reset, WireMock's faults and journal).
//!
//! Routes and wire types: `tim_model::control`. Every route takes the API's query and only the
//! app's admin may use it (the gateway's own UserSig and admin checks, without the rate limit);
//! `--no-control` answers 404 instead. Answers are the API's envelope plus the route's fields,
//! except the state dump, which streams JSON Lines.
//!
//! - [`faults`]: the rule list and its seeded dice; applied to API calls by `http.rs`.
//! - [`journal`]: the last API calls.
//! - [`state`]: dump and load in `tim-migrate`'s input format.

pub mod faults;
pub mod journal;
pub mod state;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tim_model::control::{
    ConfigPatch, ConfigView, FaultList, FaultRule, Health, Journal as JournalView, ResetReport,
    ResetRequest, Route, StateKind,
};
use tim_model::{CommonQuery, Envelope, ErrorCode, Response};

use crate::error::ApiError;
use crate::http::{json_response, read_body, AppState};
use faults::Faults;
use journal::Journal;

/// Largest control request body (except a state load, which streams).
const CONTROL_BODY_MAX: usize = 1 << 20;
/// Calls `GET /_tim/requests` lists without a `limit`.
const DEFAULT_JOURNAL_LIMIT: usize = 100;

/// The control plane's own state: whether it is served, the seed, the fault rules, the journal.
pub struct ControlPlane {
    enabled: bool,
    seed: AtomicU64,
    /// The fault rules.
    pub faults: Faults,
    /// The request journal.
    pub journal: Journal,
}

impl ControlPlane {
    /// A control plane with no rules, seeded with `seed`; `enabled: false` answers 404.
    pub fn new(enabled: bool, seed: u64) -> ControlPlane {
        ControlPlane {
            enabled,
            seed: AtomicU64::new(seed),
            faults: Faults::new(fault_seed(seed)),
            journal: Journal::new(),
        }
    }

    /// Whether `/_tim/` is served.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The seed in force.
    pub fn seed(&self) -> u64 {
        self.seed.load(Ordering::Relaxed)
    }
}

/// The fault dice's seed, derived from the server's seed (the service's generator takes the
/// seed itself), so that generated IDs and fault dice do not draw from one sequence.
fn fault_seed(seed: u64) -> u64 {
    seed ^ 0x9e37_79b9_7f4a_7c15
}

/// A control-plane failure, answered in the envelope.
struct Refusal {
    status: StatusCode,
    code: ErrorCode,
    info: String,
}

impl Refusal {
    fn bad(info: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::OK,
            code: ErrorCode::INVALID_PARAMETER,
            info: info.into(),
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal {
            status: StatusCode::OK,
            code: e.code(),
            info: e.info(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> HttpResponse {
        let mut r = json_response(Envelope::fail(self.code, self.info));
        *r.status_mut() = self.status;
        r
    }
}

fn ok<T: Serialize>(body: T) -> HttpResponse {
    json_response(Response::ok(body))
}

/// Answers a request under `/_tim/`.
pub async fn handle(state: &AppState, req: Request) -> HttpResponse {
    let control = &state.control;
    if !control.enabled() {
        return Refusal {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::BAD_RESOURCE,
            info: "the control plane is off (--no-control)".to_owned(),
        }
        .into_response();
    }
    match route(state, req).await {
        Ok(r) => r,
        Err(refusal) => refusal.into_response(),
    }
}

async fn route(state: &AppState, req: Request) -> Result<HttpResponse, Refusal> {
    let path = req.uri().path().to_owned();
    let Some(route) = Route::from_path(&path) else {
        let known: Vec<String> = Route::ALL.iter().map(|r| r.path()).collect();
        return Err(Refusal {
            status: StatusCode::OK,
            code: ErrorCode::BAD_RESOURCE,
            info: format!(
                "no control route {path:?}; the routes are {}",
                known.join(", ")
            ),
        });
    };
    let raw_query = req.uri().query().unwrap_or("").to_owned();
    state
        .gateway
        .authenticate(&CommonQuery::parse(&raw_query))?;
    let method = req.method().clone();
    let service = &state.service;
    let control = &state.control;
    match (route, method) {
        (Route::Health, Method::GET) => Ok(ok(Health {
            ready: true,
            store: service.store().kind().to_owned(),
            edition: service.limits().edition,
            seed: control.seed(),
        })),
        (Route::Reset, Method::POST) => {
            let req: ResetRequest = read_json(req, true).await?;
            let service = Arc::clone(service);
            let report = blocking(move || reset(&service, req)).await?;
            if report.1 {
                state
                    .gateway
                    .set_rate(state.service.limits().requests_per_second)
                    .await?;
            }
            Ok(ok(report.0))
        }
        (Route::State, Method::GET) => {
            let (kind, groups) = state_query(&raw_query)?;
            Ok(dump(state, kind, groups))
        }
        (Route::State, Method::POST) => load(state, req).await,
        (Route::Config, Method::GET) => Ok(ok(config_view(state))),
        (Route::Config, Method::PUT) => {
            let patch: ConfigPatch = read_json(req, false).await?;
            apply_config(state, patch).await?;
            Ok(ok(config_view(state)))
        }
        (Route::Faults, Method::GET) => Ok(ok(FaultList {
            rules: control.faults.list(),
        })),
        (Route::Faults, m @ (Method::POST | Method::PATCH | Method::DELETE)) => {
            let empty_allowed = m == Method::DELETE;
            let rules: Option<Vec<FaultRule>> = read_json_opt(req, empty_allowed).await?;
            let problems: Vec<String> = rules
                .iter()
                .flatten()
                .enumerate()
                .flat_map(|(i, r)| r.problems().into_iter().map(move |p| format!("[{i}]: {p}")))
                .collect();
            if !problems.is_empty() {
                return Err(Refusal::bad(format!(
                    "fault rules refused: {}",
                    problems.join("; ")
                )));
            }
            let rules_now = match m {
                Method::POST => control.faults.replace(rules.unwrap_or_default()),
                Method::PATCH => control.faults.append(rules.unwrap_or_default()),
                _ => control.faults.remove(rules.as_deref()),
            };
            tracing::info!(rules = rules_now.len(), "fault rules changed");
            Ok(ok(FaultList { rules: rules_now }))
        }
        (Route::Requests, Method::GET) => {
            let mut limit = DEFAULT_JOURNAL_LIMIT;
            for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
                if k == "limit" {
                    limit = v.parse().map_err(|_| {
                        Refusal::bad(format!("limit {v:?} is not a non-negative number"))
                    })?;
                }
            }
            Ok(ok(JournalView {
                requests: control.journal.newest(limit),
            }))
        }
        (route, method) => Err(Refusal {
            status: StatusCode::OK,
            code: ErrorCode::TIMEOUT,
            info: format!(
                "{} does not take {method}; see the control plane's routes in the README",
                route.path()
            ),
        }),
    }
}

/// Runs `f` on the blocking pool (the store is synchronous).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("control task failed: {e}")))?
        .map_err(Refusal::from)
}

async fn read_json_opt<T: DeserializeOwned>(
    req: Request,
    empty_allowed: bool,
) -> Result<Option<T>, Refusal> {
    let body = read_body(req.into_body(), CONTROL_BODY_MAX).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return match empty_allowed {
            true => Ok(None),
            false => Err(Refusal::bad("the request needs a JSON body")),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(&body);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.inner().is_syntax() || e.inner().is_eof() => Err(Refusal {
            status: StatusCode::OK,
            code: ErrorCode::BODY_JSON_PARSE,
            info: format!("the body is not JSON: {}", e.inner()),
        }),
        Err(e) => Err(Refusal::bad(format!("{}: {}", e.path(), e.inner()))),
    }
}

/// Reads a JSON body; an empty body is `T::default()` when `empty_is_default`.
async fn read_json<T: DeserializeOwned + Default>(
    req: Request,
    empty_is_default: bool,
) -> Result<T, Refusal> {
    Ok(read_json_opt(req, empty_is_default)
        .await?
        .unwrap_or_default())
}

/// Removes the listed groups (missing ones are skipped), or everything. The flag says whether
/// everything was reset (then the rate limiter starts full again too).
fn reset(
    service: &crate::service::Service,
    req: ResetRequest,
) -> Result<(ResetReport, bool), ApiError> {
    match req.group_id_list {
        None => {
            let n = service.store().reset()?;
            tracing::info!(groups = n, "control: reset the whole app");
            Ok((ResetReport { groups_removed: n }, true))
        }
        Some(ids) => {
            let mut n = 0;
            for id in &ids {
                match service.store().destroy_group(id) {
                    Ok(()) => n += 1,
                    Err(crate::store::StoreError::GroupNotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            tracing::info!(groups = n, "control: reset listed groups");
            Ok((ResetReport { groups_removed: n }, false))
        }
    }
}

fn config_view(state: &AppState) -> ConfigView {
    ConfigView {
        seed: state.control.seed(),
        limits: (*state.service.limits()).clone(),
    }
}

/// A configuration change as one replica publishes it to the others (on a shared store): the
/// limits now in force, and the seed when the change set one.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Published {
    limits: tim_model::Limits,
    #[serde(default)]
    seed: Option<u64>,
}

/// Applies a configuration change another replica published (see [`Published`]): the limits
/// and the rate (whose shared buckets that replica refilled), and the seed if it set one.
pub(crate) fn apply_published(state: &AppState, json: &str) {
    let published: Published = match serde_json::from_str(json) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "control: ignoring a configuration another replica published (is it another version?)");
            return;
        }
    };
    state
        .gateway
        .set_rate_here(published.limits.requests_per_second);
    state.service.set_limits(published.limits);
    if let Some(seed) = published.seed {
        reseed(state, seed);
    }
    tracing::info!("control: configuration changed by another replica");
}

fn reseed(state: &AppState, seed: u64) {
    state.control.seed.store(seed, Ordering::Relaxed);
    state.service.reseed(seed);
    state.control.faults.reseed(fault_seed(seed));
}

async fn apply_config(state: &AppState, patch: ConfigPatch) -> Result<(), Refusal> {
    let problems = patch.limits.problems();
    if !problems.is_empty() {
        return Err(Refusal::bad(format!(
            "config refused: {}",
            problems.join("; ")
        )));
    }
    let before = state.service.limits();
    let mut limits = match patch.edition {
        Some(e) => e.limits(),
        None => (*before).clone(),
    };
    patch.limits.apply(&mut limits);
    if limits.requests_per_second != before.requests_per_second {
        state.gateway.set_rate(limits.requests_per_second).await?;
    }
    tracing::info!(?patch, "control: configuration changed");
    state.service.set_limits(limits.clone());
    if let Some(seed) = patch.seed {
        reseed(state, seed);
    }
    // Every other replica on a shared store follows.
    if let Some(shared) = state.service.store().shared() {
        let published = Published {
            limits,
            seed: patch.seed,
        };
        let json = serde_json::to_string(&published)
            .map_err(|e| ApiError::Internal(format!("cannot encode the configuration: {e}")))?;
        shared.publish_config(json).await.map_err(ApiError::from)?;
    }
    Ok(())
}

fn state_query(raw: &str) -> Result<(StateKind, Vec<String>), Refusal> {
    let mut kind = StateKind::All;
    let mut groups = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match &*k {
            "GroupId" => groups.push(v.into_owned()),
            "kind" => {
                kind = serde_json::from_value(serde_json::Value::String(v.to_string())).map_err(
                    |_| {
                        Refusal::bad(format!(
                            "kind {v:?} is not all, groups, members or messages"
                        ))
                    },
                )?;
            }
            _ => {}
        }
    }
    Ok((kind, groups))
}

fn dump(state: &AppState, kind: StateKind, groups: Vec<String>) -> HttpResponse {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let store = Arc::clone(state.service.store());
    tokio::task::spawn_blocking(move || {
        let mut send = |chunk: Vec<u8>| tx.blocking_send(Ok(chunk)).is_ok();
        match state::dump(&*store, kind, &groups, &mut send) {
            Ok(()) | Err(state::DumpError::Closed) => {}
            Err(e) => {
                tracing::error!(error = %e, "control: state dump failed");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Reads the body line by line and hands the lines to a loader on a blocking thread, through a
/// bounded channel (memory stays flat).
async fn load(state: &AppState, req: Request) -> Result<HttpResponse, Refusal> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, String)>(1024);
    let service = Arc::clone(&state.service);
    let worker = tokio::task::spawn_blocking(move || {
        let mut loader = state::Loader::new(service);
        for (n, line) in rx {
            loader.line(n, &line)?;
        }
        loader.finish()
    });
    let mut stream = req.into_body().into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut number = 0usize;
    let mut send_failed = false;
    'read: while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            number += 1;
            let text = String::from_utf8_lossy(&line).into_owned();
            // The loader may be busy storing: when the channel is full, wait for room on the
            // blocking pool, not on a runtime thread.
            let sent = match tx.try_send((number, text)) {
                Ok(()) => true,
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => false,
                Err(std::sync::mpsc::TrySendError::Full(item)) => {
                    let tx = tx.clone();
                    tokio::task::spawn_blocking(move || tx.send(item).is_ok())
                        .await
                        .unwrap_or(false)
                }
            };
            if !sent {
                send_failed = true;
                break 'read;
            }
        }
    }
    if !send_failed && !buf.is_empty() {
        number += 1;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let tx = tx.clone();
        let _ = tokio::task::spawn_blocking(move || tx.send((number, text))).await;
    }
    drop(tx);
    let report = worker
        .await
        .map_err(|e| ApiError::Internal(format!("state load failed: {e}")))?
        .map_err(ApiError::from)?;
    tracing::info!(
        groups = report.groups,
        members = report.members,
        messages = report.messages,
        "control: state loaded"
    );
    Ok(ok(report))
}
