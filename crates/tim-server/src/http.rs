//! The HTTP layer: thin handlers that read the request, call the gateway and the service, and
//! answer with the JSON envelope and HTTP 200 for every API-level outcome (digest §2.2).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use tim_model::control::{FaultEffect, JournalEntry, CONTROL_PREFIX};
use tim_model::endpoint::{classify_path, PathTarget, HEALTH_PATH};
use tim_model::{Command, CommonQuery, Envelope, Response};
use tracing::Instrument;

use crate::control::faults::Hit;
use crate::control::{self, ControlPlane};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::service::{ApiBody, Service};

/// Bytes of an oversized body that are read and discarded before answering, so that the client
/// gets the envelope instead of a reset connection. Beyond this the connection is closed.
const DRAIN_LIMIT: usize = 64 << 20;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The API logic.
    pub service: Arc<Service>,
    /// Authentication and rate limiting.
    pub gateway: Arc<Gateway>,
    /// The control plane (faults, journal, seed).
    pub control: Arc<ControlPlane>,
}

/// Marks a response that must not reach the client: the serve loop closes the connection
/// instead of answering (the `lose_reply` fault, after the call was applied).
#[derive(Debug, Clone, Copy)]
pub struct LoseReply;

/// The router: `/healthz`, the control plane under `/_tim/`, and every other path through the
/// gateway.
pub fn router(state: AppState) -> Router {
    Router::new()
        // Other methods on /healthz go through the gateway too (60009 envelope, not a bare 405).
        .route(HEALTH_PATH, get(health).fallback(dispatch))
        .fallback(dispatch)
        .with_state(state)
}

async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

async fn dispatch(State(state): State<AppState>, req: Request) -> HttpResponse {
    if req.uri().path().starts_with(CONTROL_PREFIX) {
        return control::handle(&state, req).await;
    }
    let request_id = new_request_id();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", %request_id, %path, command = tracing::field::Empty);
    async move {
        let started = Instant::now();
        let at_ms = unix_ms();
        let mut note = Note::default();
        let outcome = handle(&state, req, &mut note).await;
        let mut entry = JournalEntry {
            seq: 0,
            at_ms,
            path,
            command: note.command.map(|c| c.name().to_owned()),
            group_id: note.group_id,
            identifier: note.identifier,
            http_status: None,
            error_code: None,
            results: None,
            fault: note.fault,
            elapsed_us: 0,
        };
        let http = match outcome {
            Outcome::Lost => {
                tracing::info!(fault = "lose_reply", "reply dropped on purpose");
                let mut r = HttpResponse::new(Body::empty());
                r.extensions_mut().insert(LoseReply);
                r
            }
            Outcome::Page { status, body } => {
                entry.http_status = Some(status.as_u16());
                tracing::info!(status = status.as_u16(), "gateway page answered on purpose");
                (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
            }
            Outcome::Api(result) => {
                let (envelope, body) = match result {
                    Ok(body) => (Envelope::ok(), Some(body)),
                    Err(e) => {
                        let code = e.code();
                        if code == tim_model::ErrorCode::INTERNAL {
                            tracing::error!(error = %e, "request failed");
                        }
                        (Envelope::fail(code, e.info()), None)
                    }
                };
                entry.http_status = Some(StatusCode::OK.as_u16());
                entry.error_code = Some(envelope.error_code);
                if let Some(ApiBody::ImportGroupMsg(r)) = &body {
                    entry.results = Some(r.import_msg_result.iter().map(|m| m.result).collect());
                }
                tracing::info!(
                    code = envelope.error_code.0,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "request handled"
                );
                let response = Response {
                    envelope: Envelope {
                        request_id: Some(request_id),
                        ..envelope
                    },
                    body,
                };
                json_response(response)
            }
        };
        if state.control.enabled() {
            entry.elapsed_us = started.elapsed().as_micros() as u64;
            state.control.journal.record(entry);
        }
        http
    }
    .instrument(span)
    .await
}

/// What the journal learns of a call while it is handled.
#[derive(Default)]
struct Note {
    command: Option<Command>,
    group_id: Option<String>,
    identifier: Option<String>,
    fault: Option<String>,
}

/// How a call ends.
enum Outcome {
    /// The API's answer (HTTP 200 with the envelope).
    Api(Result<ApiBody, ApiError>),
    /// A gateway page (the `http_status` fault).
    Page { status: StatusCode, body: String },
    /// No answer at all (the `lose_reply` fault).
    Lost,
}

async fn handle(state: &AppState, req: Request, note: &mut Note) -> Outcome {
    match handle_api(state, req, note).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Api(Err(e)),
    }
}

async fn handle_api(state: &AppState, req: Request, note: &mut Note) -> Result<Outcome, ApiError> {
    let target = classify_path(req.uri().path());
    if target == PathTarget::UnknownResource {
        return Err(ApiError::UnknownResource {
            path: req.uri().path().to_owned(),
        });
    }
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
        });
    }
    let query = CommonQuery::parse(req.uri().query().unwrap_or(""));
    note.identifier = query.identifier.clone();
    let caller = state.gateway.authenticate(&query)?;
    let command = match target {
        PathTarget::Command(c) => c,
        PathTarget::UnknownCommand(name) => return Err(ApiError::UnknownCommand(name)),
        PathTarget::UnknownResource => unreachable!("handled above"),
    };
    note.command = Some(command);
    tracing::Span::current().record("command", command.name());
    state.gateway.check_rate(&caller, command).await?;
    let max = state.service.limits().max_body_bytes;
    let body = read_body(req.into_body(), max).await?;
    // Without the control plane, neither faults nor the journal need the group.
    if !state.control.enabled() {
        return Ok(Outcome::Api(call_service(state, command, body, None).await));
    }
    note.group_id = peek_group_id(&body);
    let hit = state.control.faults.pick(command, || note.group_id.clone());
    let Some(Hit { effect, delay }) = hit.clone() else {
        return Ok(Outcome::Api(call_service(state, command, body, None).await));
    };
    note.fault = hit.as_ref().map(Hit::describe);
    tracing::info!(
        fault = note.fault.as_deref().unwrap_or(""),
        "fault rule applied"
    );
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let injected = |e: &tim_model::control::FaultError| ApiError::Injected {
        code: e.error_code,
        info: e
            .error_info
            .clone()
            .unwrap_or_else(|| format!("injected fault: error {}", e.error_code)),
    };
    let FaultEffect {
        error,
        applied_then_error,
        lose_reply,
        http_status,
        body: page,
        message_result,
        ..
    } = effect;
    if let Some(e) = &error {
        return Err(injected(e));
    }
    if let Some(status) = http_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        return Ok(Outcome::Page {
            body: page.unwrap_or_else(|| gateway_page(status)),
            status,
        });
    }
    let result = call_service(state, command, body, message_result).await;
    if let Some(e) = &applied_then_error {
        return Err(injected(e));
    }
    if lose_reply == Some(true) {
        return Ok(Outcome::Lost);
    }
    Ok(Outcome::Api(result))
}

async fn call_service(
    state: &AppState,
    command: Command,
    body: Vec<u8>,
    message_fault: Option<tim_model::control::MessageFault>,
) -> Result<ApiBody, ApiError> {
    let service = Arc::clone(&state.service);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        span.in_scope(|| service.call_with(command, &body, message_fault.as_ref()))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("handler task failed: {e}")))?
}

/// The body's `GroupId`, when it has a string one (for fault rules and the journal), without
/// parsing the body: the first `"GroupId"` key and the JSON string after it. A quote inside a
/// JSON string is always escaped, so the bytes `"GroupId"` followed by `:` can only be a key.
/// Decoding the whole body a second time cost 9% of a call's instructions (BENCHMARKS.md).
fn peek_group_id(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"GroupId\"";
    let at = memchr::memmem::find(body, KEY)?;
    let rest = &body[at + KEY.len()..];
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start();
    let mut de = serde_json::Deserializer::from_slice(rest);
    <String as serde::Deserialize>::deserialize(&mut de).ok()
}

/// A gateway's error page, as a proxy in front of the API would send it.
fn gateway_page(status: StatusCode) -> String {
    let reason = status.canonical_reason().unwrap_or("Error");
    format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n",
        code = status.as_u16()
    )
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads at most `max` bytes; an oversized body is drained (up to [`DRAIN_LIMIT`]) and refused.
pub(crate) async fn read_body(mut body: Body, max: usize) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            if total <= max {
                buf.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if total > max {
        return Err(ApiError::BodyTooLarge { len: total, max });
    }
    Ok(buf)
}

pub(crate) fn json_response<T: serde::Serialize>(value: T) -> HttpResponse {
    let bytes = serde_json::to_vec(&value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "response could not be encoded");
        let fallback = Envelope::fail(
            tim_model::ErrorCode::INTERNAL,
            "internal error: response could not be encoded",
        );
        // An envelope of plain strings and numbers always encodes.
        serde_json::to_vec(&fallback).unwrap_or_default()
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

fn new_request_id() -> String {
    format!("Id-{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::peek_group_id;

    #[test]
    fn peek_finds_the_group_id_key_only() {
        let cases: [(&[u8], Option<&str>); 7] = [
            (br#"{"GroupId":"g1","MsgList":[]}"#, Some("g1")),
            (
                br#"{"MsgList":[{"Text":"say \"GroupId\": \"x\""}], "GroupId" : "g\u0032"}"#,
                Some("g2"),
            ),
            (br#"{"GroupIdList":["a"]}"#, None),
            (br#"{"GroupId":7}"#, None),
            (br#"{"GroupId""#, None),
            (b"not json", None),
            (br#"{"GroupId":"caf\u00e9"}"#, Some("caf\u{e9}")),
        ];
        for (body, want) in cases {
            assert_eq!(
                peek_group_id(body).as_deref(),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
