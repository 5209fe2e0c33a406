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
    #[error("{command}: transport error{}: {source}", if *.maybe_sent { " (the request may have reached the server)" } else { " (the request was not sent)" })]
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
    /// The caller's input cannot be sent (e.g. a batch larger than the edition allows).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Retries ran out; the last error is kept.
    #[error("gave up after {attempts} attempts over {elapsed:?}: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last error.
        #[source]
        last: Box<Error>,
    },
}

impl Error {
    /// The Tencent error code, for API errors (also inside [`Error::RetriesExhausted`]).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::RetriesExhausted { last, .. } => last.code(),
            _ => None,
        }
    }

    /// Whether the failed request may have been applied by the server (so that re-sending it
    /// relies on the server's duplicate rule).
    pub fn maybe_applied(&self) -> bool {
        match self {
            Error::Transport { maybe_sent, .. } => *maybe_sent,
            Error::HttpStatus { .. } | Error::Decode { .. } | Error::Protocol { .. } => true,
            Error::Api { .. } | Error::InvalidInput(_) => false,
            Error::RetriesExhausted { last, .. } => last.maybe_applied(),
        }
    }

    /// Whether the target could not be reached at all (connect failures), as opposed to an answer.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::Transport { maybe_sent, .. } => !maybe_sent,
            Error::RetriesExhausted { last, .. } => last.is_unreachable(),
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

/// The start of `body` as text, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}
