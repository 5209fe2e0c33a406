//! Reading answers: the tolerant envelope decode and the mapping of a non-zero code to an error.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use tim_model::{ActionStatus, Command, Envelope, ErrorCode, Response};

use crate::error::{snippet, Error};

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

pub(crate) fn api_error<T>(command: Command, resp: &Response<T>) -> Error {
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
