//! Every way a request can fail, and the one function that maps each to its Tencent code.

use tim_model::usersig::UserSigError;
use tim_model::{DecodeError, ErrorCode};

use crate::store::StoreError;

/// A failed request. [`ApiError::code`] is the only place errors become Tencent codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The path names no known service (digest §7 Q11).
    #[error("unknown resource {path:?}; expected /v4/group_open_http_svc/<command>")]
    UnknownResource {
        /// The request path.
        path: String,
    },
    /// Not a POST (digest §7 Q19).
    #[error("method {method} is not supported; use POST")]
    MethodNotAllowed {
        /// The request method.
        method: String,
    },
    /// `sdkappid` is not an unsigned integer.
    #[error("sdkappid {0:?} is not an unsigned integer")]
    SdkAppIdMalformed(String),
    /// `sdkappid` is missing from the URL.
    #[error("sdkappid is missing from the URL")]
    SdkAppIdMissing,
    /// `sdkappid` names no app of this server.
    #[error("SDKAppID {0} is not known to this server")]
    UnknownApp(u64),
    /// `identifier` is missing from the URL.
    #[error("identifier is missing from the URL")]
    IdentifierMissing,
    /// The UserSig failed verification.
    #[error("usersig check failed: {0}")]
    UserSig(#[from] UserSigError),
    /// The identifier is not an app admin.
    #[error("identifier {0:?} is not an app admin")]
    NotAdmin(String),
    /// The per-app, per-API rate limit was exceeded.
    #[error("{command} is limited to {per_second} requests per second for this app")]
    RateLimited {
        /// The command.
        command: String,
        /// The quota.
        per_second: u32,
    },
    /// An unknown command of `group_open_http_svc` (digest §7 Q11).
    #[error("unknown command {0:?} of group_open_http_svc")]
    UnknownCommand(String),
    /// The body exceeds the server's size limit.
    #[error("request body is {len} bytes or more; at most {max} are accepted")]
    BodyTooLarge {
        /// Bytes read (at least).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body could not be read from the connection.
    #[error("request body could not be read: {0}")]
    BodyRead(String),
    /// The body is not JSON, or not of the expected shape.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A whole-request rejection decided by [`tim_model::validate::verdict`].
    #[error("{info}")]
    Rejected {
        /// The code decided by the verdict.
        code: ErrorCode,
        /// `ErrorInfo`.
        info: String,
    },
    /// A parameter is invalid (10004).
    #[error("{0}")]
    InvalidParameter(String),
    /// The group ID is malformed (10015).
    #[error("invalid group ID {id:?}: {reason}")]
    InvalidGroupId {
        /// The ID.
        id: String,
        /// Why.
        reason: String,
    },
    /// The group does not exist or was dismissed (10010).
    #[error("group {0:?} does not exist or was dismissed")]
    GroupNotFound(String),
    /// A custom group ID is already used (10021).
    #[error("group ID {0:?} is already in use")]
    GroupIdTaken(String),
    /// The operation is not allowed, e.g. for this group type (10007).
    #[error("{0}")]
    PermissionDenied(String),
    /// The storage backend failed; nothing was committed (10002).
    #[error("internal error; nothing was stored, retry the request")]
    Storage(#[source] StoreError),
    /// Any other internal failure (10002).
    #[error("internal error: {0}")]
    Internal(String),
    /// An error a control-plane fault rule asked for (`error` or `applied_then_error`).
    #[error("{info}")]
    Injected {
        /// The code the rule gives.
        code: ErrorCode,
        /// `ErrorInfo`.
        info: String,
    },
}

impl ApiError {
    /// The Tencent error code of this failure: the only error-to-code mapping of the server.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::UnknownResource { .. } => ErrorCode::BAD_RESOURCE,
            ApiError::MethodNotAllowed { .. } => ErrorCode::TIMEOUT,
            ApiError::SdkAppIdMalformed(_) => ErrorCode::HTTP_PARSE,
            ApiError::SdkAppIdMissing => ErrorCode::SDKAPPID_MISSING,
            ApiError::UnknownApp(_) => ErrorCode::SDKAPPID_NOT_FOUND,
            ApiError::IdentifierMissing => ErrorCode::BAD_CREDENTIALS,
            ApiError::UserSig(e) => ErrorCode(e.code()),
            ApiError::NotAdmin(_) => ErrorCode::ADMIN_REQUIRED,
            ApiError::RateLimited { .. } => ErrorCode::RATE_LIMITED,
            ApiError::UnknownCommand(_) => ErrorCode::BAD_COMMAND,
            ApiError::BodyTooLarge { .. } | ApiError::InvalidParameter(_) => {
                ErrorCode::INVALID_PARAMETER
            }
            ApiError::BodyRead(_) => ErrorCode::TIMEOUT,
            ApiError::Decode(e) => e.code(),
            ApiError::Rejected { code, .. } | ApiError::Injected { code, .. } => *code,
            ApiError::InvalidGroupId { .. } => ErrorCode::INVALID_GROUP_ID,
            ApiError::GroupNotFound(_) => ErrorCode::GROUP_NOT_FOUND,
            ApiError::GroupIdTaken(_) => ErrorCode::GROUP_ID_IN_USE,
            ApiError::PermissionDenied(_) => ErrorCode::PERMISSION_DENIED,
            ApiError::Storage(StoreError::GroupNotFound) => ErrorCode::GROUP_NOT_FOUND,
            ApiError::Storage(StoreError::GroupIdTaken) => ErrorCode::GROUP_ID_IN_USE,
            ApiError::Storage(StoreError::Backend(_)) | ApiError::Internal(_) => {
                ErrorCode::INTERNAL
            }
        }
    }

    /// `ErrorInfo` text. Never contains the UserSig or the key.
    pub fn info(&self) -> String {
        self.to_string()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Storage(e)
    }
}
