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
use tim_model::endpoint::{classify_path, PathTarget, HEALTH_PATH};
use tim_model::{CommonQuery, Envelope, Response};
use tracing::Instrument;

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
    /// The server variant of the conformance self-check; `None` is the reference.
    #[cfg(feature = "mutants")]
    pub variant: Option<crate::mutant::Variant>,
}

/// The router: `/healthz` and every other path through the gateway.
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
    let request_id = new_request_id();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", %request_id, %path, command = tracing::field::Empty);
    async move {
        let started = Instant::now();
        let result = handle(&state, req).await;
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
        #[cfg(feature = "mutants")]
        if let Some(http) = state
            .variant
            .and_then(|v| crate::mutant::respond(v, &response))
        {
            return http;
        }
        json_response(response)
    }
    .instrument(span)
    .await
}

async fn handle(state: &AppState, req: Request) -> Result<ApiBody, ApiError> {
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
    let caller = state.gateway.authenticate(&query)?;
    let command = match target {
        PathTarget::Command(c) => c,
        PathTarget::UnknownCommand(name) => return Err(ApiError::UnknownCommand(name)),
        PathTarget::UnknownResource => unreachable!("handled above"),
    };
    tracing::Span::current().record("command", command.name());
    let rate = state.gateway.check_rate(&caller, command);
    #[cfg(feature = "mutants")]
    if let Err(refused) = rate {
        if variant!(state.variant, Mutant::RateLimitedStillStored) {
            let body = read_body(req.into_body(), state.service.limits().max_body_bytes).await?;
            let _ = state.service.call(command, &body);
        }
        return Err(refused);
    }
    rate?;
    let max = state.service.limits().max_body_bytes;
    let body = read_body(req.into_body(), max).await?;
    let service = Arc::clone(&state.service);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| service.call(command, &body)))
        .await
        .map_err(|e| ApiError::Internal(format!("handler task failed: {e}")))?
}

/// Reads at most `max` bytes; an oversized body is drained (up to [`DRAIN_LIMIT`]) and refused.
async fn read_body(mut body: Body, max: usize) -> Result<Vec<u8>, ApiError> {
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
