//! The client's errors: one enum, each variant saying what a caller (or a retry loop) needs to know.

use std::time::Duration;

use tim_model::{Command, ErrorClass, ErrorCode};

/// Longest part of an undecodable body kept in [`Error::Decode`].
pub const SNIPPET_CHARS: usize = 200;

/// A failed call.
///
/// No variant ever carries a UserSig or the secret key: transport errors are stripped of their URL
/// (the query holds the UserSig) before they are stored.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not complete at the transport level (connect, TLS, timeout, reset).
    #[error("{command}: transport error{}", if *.maybe_sent { " (the request may have reached the server)" } else { " (the request was not sent)" })]
    Transport {
        /// The command called.
        command: Command,
        /// Whether the server may have received (and acted on) the request: `false` only when the
        /// connection could not be made at all.
        maybe_sent: bool,
        /// The underlying error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an HTTP status other than 200 (the API answers 200 for every
    /// API-level outcome, so this is a proxy or network failure, e.g. 502).
    #[error("{command}: HTTP status {status}: {snippet}")]
    HttpStatus {
        /// The command called.
        command: Command,
        /// The status code.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// The body was not the JSON envelope.
    #[error(
        "{command}: the response is not the JSON envelope ({source}); body starts with: {snippet}"
    )]
    Decode {
        /// The command called.
        command: Command,
        /// The start of the body.
        snippet: String,
        /// Why decoding failed.
        #[source]
        source: serde_json::Error,
    },
    /// The API answered with a non-zero `ErrorCode`.
    #[error("{command}: error {code} ({class:?}): {info}")]
    Api {
        /// The command called.
        command: Command,
        /// `ErrorCode`.
        code: ErrorCode,
        /// `ErrorInfo` as sent by the server.
        info: String,
        /// The registry's class of the code.
        class: ErrorClass,
        /// `RequestId`, when the server sent one.
        request_id: Option<String>,
    },
    /// The answer broke the API contract (e.g. not one `ImportMsgResult` per message).
    #[error("{command}: protocol violation: {detail}")]
    Protocol {
        /// The command called.
        command: Command,
        /// What was wrong.
        detail: String,
    },
    /// The group holds messages this client did not send where its import expected only its
    /// own: another writer, or a late copy of an earlier attempt. Nothing more is sent to the
    /// group; what it holds is as the read-back found it.
    #[error("group {group_id}: {detail}")]
    OtherWriter {
        /// The group.
        group_id: String,
        /// What was found.
        detail: String,
    },
    /// The caller's input cannot be sent (e.g. a batch larger than the edition allows).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Retries ran out; the last error is kept.
    #[error("gave up after {attempts} attempts over {elapsed:.1?}{}", if *.maybe_applied { " (an attempt may have been applied)" } else { "" })]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// Whether any attempt, not only the last, may have reached the server and been applied.
        maybe_applied: bool,
        /// The last error.
        #[source]
        last: Box<Error>,
    },
    /// A call that is not safe to send twice (e.g. `create_group` without a `GroupId`, which would
    /// create a second group) failed after its request may have reached the server, so it was not
    /// re-sent. It may have been applied: check before calling again.
    #[error("{command}: the request may have been applied; not re-sent, since a second copy could be applied too")]
    NotResent {
        /// The command called.
        command: Command,
        /// The failure of the one attempt.
        #[source]
        source: Box<Error>,
    },
    /// A call of the reference server's control plane (`/_tim/…`, [`crate::control`]) failed:
    /// which route and how. The API's calls never return it; control calls return nothing else
    /// (apart from [`Error::InvalidInput`] for a URL that cannot be built).
    #[error(transparent)]
    Control(crate::control::ControlError),
}

impl Error {
    /// The Tencent error code, for API errors (also inside [`Error::RetriesExhausted`]) and for
    /// control calls the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::RetriesExhausted { last, .. } => last.code(),
            Error::Control(e) => e.code(),
            _ => None,
        }
    }

    /// Whether the failed request may have been applied by the server (so that re-sending it
    /// relies on the server's duplicate rule).
    pub fn maybe_applied(&self) -> bool {
        match self {
            Error::Transport { maybe_sent, .. } => *maybe_sent,
            Error::HttpStatus { .. } | Error::Decode { .. } | Error::Protocol { .. } => true,
            // 10002 ("internal error; retry") does not say whether the call was applied first.
            Error::Api { code, .. } => *code == ErrorCode::INTERNAL,
            Error::InvalidInput(_) | Error::OtherWriter { .. } => false,
            Error::RetriesExhausted { maybe_applied, .. } => *maybe_applied,
            Error::NotResent { .. } => true,
            Error::Control(e) => e.maybe_applied(),
        }
    }

    /// Whether the target could not be reached at all (connect failures), as opposed to an answer.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::Transport { maybe_sent, .. } => !maybe_sent,
            Error::RetriesExhausted { last, .. } => last.is_unreachable(),
            Error::Control(e) => e.is_unreachable(),
            _ => false,
        }
    }

    pub(crate) fn protocol(command: Command, detail: impl Into<String>) -> Error {
        Error::Protocol {
            command,
            detail: detail.into(),
        }
    }
}

/// The start of `body` as text, for error messages, with UserSigs redacted.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = redact(&String::from_utf8_lossy(body), None);
    let mut out: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}

/// What replaces a secret in error texts.
pub(crate) const REDACTED: &str = "[redacted]";

/// `text` with `secret` (the UserSig sent) and the value after any `usersig` key (`usersig=…` of
/// an echoed URL, `"usersig": "…"` of echoed JSON) replaced by [`REDACTED`]: proxies and gateways
/// may echo the request URL, which carries the UserSig, in an error page.
pub(crate) fn redact(text: &str, secret: Option<&str>) -> String {
    let mut text = match secret {
        Some(s) if !s.is_empty() && text.contains(s) => text.replace(s, REDACTED),
        _ => text.to_owned(),
    };
    let key = tim_model::envelope::query::USERSIG;
    let mut from = 0;
    while let Some(found) = text[from..].to_ascii_lowercase().find(key) {
        let key_end = from + found + key.len();
        let between: Vec<u8> = text[key_end..]
            .bytes()
            .take_while(|b| matches!(b, b'"' | b'\'' | b' ' | b':' | b'='))
            .collect();
        let value_start = key_end + between.len();
        let value_len = text[value_start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'_' | b'%'))
            .count();
        if between.iter().any(|b| matches!(b, b':' | b'=')) && value_len > 0 {
            text.replace_range(value_start..value_start + value_len, REDACTED);
            from = value_start + REDACTED.len();
        } else {
            from = key_end;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_usersigs_in_urls_json_and_verbatim() {
        let page = "<pre>POST /v4/x?sdkappid=1&usersig=eJyr*Ab-c_&identifier=admin</pre> \
                    {\"UserSig\": \"eJxSECRET\"} and eJxVERBATIM";
        let out = redact(page, Some("eJxVERBATIM"));
        for secret in ["eJyr", "eJxSECRET", "eJxVERBATIM"] {
            assert!(!out.contains(secret), "{out}");
        }
        assert!(out.contains("usersig=[redacted]&identifier=admin"), "{out}");
        assert_eq!(
            redact("no secrets; usersig missing", None),
            "no secrets; usersig missing"
        );
        assert!(!snippet(b"...usersig=eJxABC").contains("eJx"));
    }
}
