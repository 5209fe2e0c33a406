//! Decoding of request and response bodies with a JSON path on every error.

use serde::de::DeserializeOwned;

use crate::error_code::ErrorCode;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all (syntax, truncated, invalid UTF-8, nesting too deep): the gateway's 60003.
    #[error("request body is not valid JSON: {0}")]
    Syntax(String),
    /// Valid JSON of the wrong shape (missing field, wrong type): the API's 10004.
    #[error("{path}: {message}")]
    Shape {
        /// JSON path of the offending value, e.g. `MsgList[0].SendTime` (`.` for the root).
        path: String,
        /// What was wrong.
        message: String,
    },
}

impl DecodeError {
    /// The Tencent error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Syntax(_) => ErrorCode::BODY_JSON_PARSE,
            DecodeError::Shape { .. } => ErrorCode::INVALID_PARAMETER,
        }
    }
}

/// Decodes `bytes` as `T`, telling syntax errors (60003) from shape errors (10004, with a path).
///
/// JSON text is UTF-8 (RFC 8259 §8.1): an invalid sequence anywhere, also inside a value `T`
/// ignores, is a syntax error. The whole body is checked once up front; serde_json's `str` reader
/// then skips its own per-string check, so valid bodies pay nothing extra.
///
/// The body is decoded without path tracking first; only a body that fails is decoded again
/// with [`serde_path_to_error`] to find the path, so valid bodies do not pay for it.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        DecodeError::Syntax(format!(
            "invalid UTF-8 at byte {} (JSON text must be UTF-8)",
            e.valid_up_to()
        ))
    })?;
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(_) => decode_with_path(text),
    }
}

/// [`decode_json`] with path tracking: the error of a failing body, with its JSON path.
fn decode_with_path<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = render_path(&e.path().to_string());
            let inner = e.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => DecodeError::Shape {
                    path,
                    message: strip_position(&inner.to_string()),
                },
                _ => DecodeError::Syntax(inner.to_string()),
            });
        }
    };
    de.end().map_err(|e| DecodeError::Syntax(e.to_string()))?;
    Ok(value)
}

/// `serde_path_to_error` renders `MsgList[0].SendTime` already; `.` stands for the root.
fn render_path(p: &str) -> String {
    if p.is_empty() {
        ".".to_owned()
    } else {
        p.to_owned()
    }
}

/// Drops serde_json's ` at line L column C` suffix, which is noise for shape errors.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        #[serde(rename = "A")]
        a: Vec<u32>,
    }

    #[test]
    fn classifies_errors() {
        assert!(matches!(
            decode_json::<T>(b"{"),
            Err(DecodeError::Syntax(_))
        ));
        assert!(matches!(decode_json::<T>(b""), Err(DecodeError::Syntax(_))));
        assert!(matches!(
            decode_json::<T>(b"{\"A\":[]} x"),
            Err(DecodeError::Syntax(_))
        ));
        assert!(matches!(
            decode_json::<T>(b"\xff"),
            Err(DecodeError::Syntax(_))
        ));
        // Inside a field `T` does not know (serde_json alone would skip it unchecked).
        match decode_json::<T>(b"{\"A\":[1],\"B\":\"\xc3\x28\"}") {
            Err(DecodeError::Syntax(m)) => assert!(m.contains("UTF-8 at byte 14"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Valid multi-byte text is fine, also in ignored fields.
        assert!(decode_json::<T>("{\"A\":[1],\"B\":\"\u{e9}\u{1f600}\"}".as_bytes()).is_ok());
        let deep = "[".repeat(100_000);
        assert!(matches!(
            decode_json::<serde_json::Value>(deep.as_bytes()),
            Err(DecodeError::Syntax(_))
        ));
        // Typed decoding stops at the first wrong type instead.
        assert!(matches!(
            decode_json::<T>(deep.as_bytes()),
            Err(DecodeError::Shape { .. })
        ));
        match decode_json::<T>(b"{\"A\":[1,\"x\"]}") {
            Err(DecodeError::Shape { path, .. }) => assert_eq!(path, "A[1]"),
            other => panic!("{other:?}"),
        }
        match decode_json::<T>(b"[]") {
            Err(DecodeError::Shape { path, .. }) => assert_eq!(path, "."),
            other => panic!("{other:?}"),
        }
    }
}
