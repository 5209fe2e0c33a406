//! The bare axum baseline: parses an API body into [`serde_json::Value`] and answers a fixed
//! success envelope. Shared by the criterion server bench (in process, through `oneshot`) and the
//! load driver (over real HTTP), so that both compare the reference server with the cost of HTTP
//! plus JSON alone.

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The baseline router: every `POST` path parses its JSON body and answers
/// `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgCount":n}` (`n` = length of `MsgList`,
/// 0 when absent), so that parsing cannot be optimised away.
pub fn router() -> Router {
    Router::new().route("/{*path}", post(handler))
}

/// The baseline handler behind [`router`].
pub async fn handler(Json(body): Json<Value>) -> Json<Value> {
    let n = body["MsgList"].as_array().map_or(0, Vec::len);
    Json(json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "MsgCount": n}))
}
