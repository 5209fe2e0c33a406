//! The bare axum baseline: parses an API body into [`serde_json::Value`] and answers a fixed
//! success envelope. Shared by the criterion server bench (in process, through `oneshot`) and the
//! load driver (over real HTTP), so that both compare the reference server with the cost of HTTP
//! plus JSON alone.
//!
//! Like the reference server (`tim_server::http`), it reads the body on the async runtime and
//! does the JSON work on tokio's blocking pool. This matters on a shared machine: the blocking
//! pool gives a server many runnable threads, and a baseline with only the runtime's workers
//! would get a smaller share of the CPU than the server it is compared with.

use axum::body::Bytes;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The baseline router: every `POST` path parses its JSON body and answers
/// `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgCount":n}` (`n` = length of `MsgList`,
/// 0 when absent or when the body is not JSON), so that parsing cannot be optimised away.
pub fn router() -> Router {
    Router::new().route("/{*path}", post(handler))
}

/// The baseline handler behind [`router`].
pub async fn handler(body: Bytes) -> Json<Value> {
    let n = tokio::task::spawn_blocking(move || {
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["MsgList"].as_array().map(Vec::len))
            .unwrap_or(0)
    })
    .await
    .unwrap_or(0);
    Json(json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "MsgCount": n}))
}
