//! The error-code registry: every code of the seed document and digest §1.8, §2.4, with its meaning
//! and the class a client acts on.
//!
//! Unknown codes stay representable: [`ErrorCode`] is a plain `u32` newtype, and
//! [`ErrorCode::info`] returns `None` for codes the registry does not know.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Tencent IM error code as carried in `ErrorCode` or a per-message `Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u32);

/// How a client should react to a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Success (code 0).
    Ok,
    /// Transient server-side failure: the same request may succeed if retried.
    Retryable,
    /// Rate limited: retry after backing off.
    RateLimited,
    /// The request itself is wrong: retrying it unchanged fails again.
    Caller,
    /// Credentials are wrong or expired: renew the UserSig or fix the configuration.
    Auth,
    /// The account or app may not do this.
    Permission,
    /// Code not in the registry.
    Unknown,
}

impl ErrorClass {
    /// Whether a client may resend the same request (after a pause for [`ErrorClass::RateLimited`]).
    pub const fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Retryable | ErrorClass::RateLimited)
    }
}

/// One registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The code.
    pub code: ErrorCode,
    /// Short meaning, in English, paraphrased from the source.
    pub meaning: &'static str,
    /// How a client should react.
    pub class: ErrorClass,
    /// Where the code is documented (tags of digest §0).
    pub source: &'static str,
}

macro_rules! registry {
    ($( $name:ident = $code:literal, $class:ident, $src:literal, $meaning:literal; )*) => {
        impl ErrorCode {
            $(
                #[doc = $meaning]
                pub const $name: ErrorCode = ErrorCode($code);
            )*
        }

        /// Every known code, ascending.
        pub static REGISTRY: &[CodeInfo] = &[
            $( CodeInfo { code: ErrorCode($code), meaning: $meaning, class: ErrorClass::$class, source: $src }, )*
        ];
    };
}

registry! {
    OK = 0, Ok, "SEED", "success";
    // group service (10xxx)
    INTERNAL = 10002, Retryable, "SEED ERR-HDR", "internal server error; retry";
    BAD_COMMAND = 10003, Caller, "ERR-HDR", "invalid command name";
    INVALID_PARAMETER = 10004, Caller, "SEED ERR-HDR", "invalid parameter; see ErrorInfo";
    TOO_MANY_ACCOUNTS = 10005, Caller, "ERR-HDR", "too many accounts in one request";
    GROUP_OP_FREQUENCY = 10006, RateLimited, "ERR-HDR", "operation frequency limit of the group service";
    PERMISSION_DENIED = 10007, Permission, "SEED ERR-HDR", "permission denied (not an app admin, or the group type does not support the operation)";
    INVALID_REQUEST = 10008, Caller, "ERR-HDR", "invalid request (signature)";
    OWNER_CANNOT_QUIT = 10009, Caller, "ERR-HDR", "the group owner cannot quit";
    GROUP_NOT_FOUND = 10010, Caller, "SEED ERR-HDR", "group does not exist or was dismissed";
    BODY_PARSE_GROUP = 10011, Caller, "ERR-HDR", "request body JSON parse failed (group service)";
    INVALID_OPERATOR = 10012, Caller, "ERR-HDR", "invalid operator identifier";
    ALREADY_MEMBER = 10013, Caller, "ERR-HDR", "already a group member";
    GROUP_FULL = 10014, Caller, "ERR-HDR", "group is full";
    INVALID_GROUP_ID = 10015, Caller, "SEED ERR-HDR", "invalid group ID";
    REJECTED_BY_CALLBACK = 10016, Caller, "ERR-HDR", "rejected by the app's callback";
    MUTED = 10017, Permission, "ERR-HDR", "muted";
    RESPONSE_TOO_LARGE = 10018, Caller, "ERR-HDR", "response larger than 1 MB";
    ACCOUNT_NOT_FOUND = 10019, Caller, "ERR-HDR", "account does not exist";
    MSG_TOO_LONG = 10020, Caller, "SEED", "message too long (8000 bytes at most)";
    GROUP_ID_IN_USE = 10021, Caller, "ERR-HDR GRP-SYS", "group ID already used";
    MSG_FREQUENCY = 10023, RateLimited, "ERR-HDR", "message send frequency limit";
    ALREADY_PROCESSED = 10024, Caller, "ERR-HDR", "request already processed";
    GROUP_ID_OWNED = 10025, Caller, "ERR-HDR", "group ID already used and the operator is its owner";
    COMMAND_DISABLED = 10026, Permission, "ERR-HDR", "command disabled for this SDKAppID";
    AVCHATROOM_COUNT = 10036, Caller, "ERR-HDR", "AVChatRoom count limit";
    USER_GROUP_COUNT = 10037, Caller, "ERR-HDR", "per-user group count limit";
    MEMBER_COUNT = 10038, Caller, "ERR-HDR", "member count limit";
    // gateway (60xxx)
    HTTP_PARSE = 60002, Caller, "ERR-679 ERR-HDR", "HTTP parse error; check the request URL format";
    BODY_JSON_PARSE = 60003, Caller, "ERR-679 ERR-HDR", "request body JSON parse error";
    BAD_CREDENTIALS = 60004, Auth, "ERR-679 ERR-HDR", "identifier or usersig wrong";
    BAD_CREDENTIALS_2 = 60005, Auth, "ERR-679 ERR-HDR", "identifier or usersig wrong (variant)";
    SDKAPPID_INVALID = 60006, Auth, "ERR-679 ERR-HDR", "SDKAppID invalid or expired";
    RATE_LIMITED = 60007, RateLimited, "ERR-679 ERR-HDR", "REST API call frequency over limit";
    TIMEOUT = 60008, Retryable, "ERR-679 ERR-HDR", "service timeout or malformed HTTP request";
    BAD_RESOURCE = 60009, Caller, "ERR-679 ERR-HDR", "bad request resource; check the URL path";
    ADMIN_REQUIRED = 60010, Permission, "ERR-679 ERR-HDR", "request requires an app admin";
    APP_RATE_LIMITED = 60011, RateLimited, "ERR-679 ERR-HDR", "per-SDKAppID request frequency over limit";
    SDKAPPID_MISSING = 60012, Caller, "ERR-679 ERR-HDR", "SDKAppID missing from the URL";
    RESPONSE_JSON_PARSE = 60013, Retryable, "ERR-679 ERR-HDR", "HTTP response JSON parse error";
    ACCOUNT_EXCHANGE_TIMEOUT = 60014, Retryable, "ERR-679 ERR-HDR", "account exchange timeout";
    ACCOUNT_FIELD_TYPE = 60015, Caller, "ERR-679 ERR-HDR", "account field in the body has the wrong type";
    SDKAPPID_DISABLED = 60016, Permission, "ERR-679 ERR-HDR", "SDKAppID disabled";
    REQUEST_DISABLED = 60017, Permission, "ERR-679 ERR-HDR", "request disabled";
    TOO_MANY_REQUESTS = 60018, RateLimited, "ERR-679 ERR-HDR", "too many requests; retry later";
    TOO_MANY_REQUESTS_2 = 60019, RateLimited, "ERR-679 ERR-HDR", "too many requests; retry later (variant)";
    PACKAGE_EXPIRED = 60020, Permission, "ERR-679 ERR-HDR", "package expired or not purchased";
    IP_NOT_ALLOWED = 60021, Permission, "ERR-679 ERR-HDR", "caller IP not allowed";
    // account / UserSig (70xxx)
    USERSIG_EXPIRED = 70001, Auth, "ERR-HDR ERR-WEB ERR-679", "UserSig expired";
    USERSIG_EMPTY = 70002, Auth, "ERR-HDR ERR-WEB", "UserSig empty";
    USERSIG_INVALID = 70003, Auth, "ERR-HDR ERR-WEB ERR-679", "UserSig invalid or could not be parsed";
    USERSIG_CHECK_FAILED = 70005, Auth, "ERR-HDR ERR-WEB", "UserSig check failed";
    USERSIG_BAD_SIGNATURE = 70009, Auth, "ERR-HDR ERR-WEB ERR-679", "UserSig signature verification failed (key does not match the SDKAppID)";
    USERSIG_IDENTIFIER_MISMATCH = 70013, Auth, "ERR-HDR ERR-WEB ERR-679", "identifier in the request differs from the one in the UserSig";
    USERSIG_SDKAPPID_MISMATCH = 70014, Auth, "ERR-HDR ERR-WEB ERR-679", "SDKAppID in the request differs from the one in the UserSig";
    KEY_NOT_FOUND = 70016, Auth, "ERR-HDR ERR-679", "key not found for this app";
    SDKAPPID_NOT_FOUND = 70020, Auth, "ERR-HDR ERR-679", "SDKAppID not found";
    TOO_MANY_FAILURES = 70050, RateLimited, "ERR-HDR ERR-679", "too many failed verifications; locked out for about a minute";
    ACCOUNT_BLACKLISTED = 70051, Permission, "ERR-679", "account blacklisted";
    USERSIG_INVALIDATED = 70052, Auth, "ERR-HDR", "UserSig invalidated";
    ACCOUNT_NOT_IMPORTED = 70107, Caller, "ERR-HDR ERR-679", "user account not imported or does not exist";
    SECURITY_RESTRICTED = 70114, Permission, "ERR-HDR", "restricted for security reasons";
    INTERNAL_TIMEOUT = 70169, Retryable, "ERR-HDR", "internal timeout";
    INTERNAL_TIMEOUT_2 = 70202, Retryable, "ERR-WEB", "internal timeout (variant)";
    INVALID_BATCH_COUNT = 70206, Caller, "ERR-HDR", "invalid batch count";
    FREE_ACCOUNT_LIMIT = 70398, Permission, "ERR-HDR", "account-count limit of the free edition";
    ACCOUNT_INVALID_PARAMETER = 70402, Caller, "ERR-HDR", "invalid parameter (account APIs)";
    ACCOUNT_ADMIN_REQUIRED = 70403, Permission, "ERR-HDR", "requires an app admin (account APIs)";
    ACCOUNT_INTERNAL = 70500, Retryable, "ERR-HDR", "internal error (account service)";
    DELETE_ACCOUNT_FAILED = 71000, Caller, "ERR-WEB", "delete-account failed";
    // message level (80xxx)
    RESTRICTED_WORDS = 80001, Caller, "SEED INTL-2021 ERR-HDR", "text contains restricted words";
    MSG_BODY_TOO_LONG = 80002, Caller, "INTL-2021 ERR-HDR", "message body too long (8000 bytes at most)";
}

impl ErrorCode {
    /// The registry entry, or `None` for a code this crate does not know.
    pub fn info(self) -> Option<&'static CodeInfo> {
        REGISTRY
            .binary_search_by_key(&self, |i| i.code)
            .ok()
            .map(|i| &REGISTRY[i])
    }

    /// The class a client acts on; [`ErrorClass::Unknown`] for unknown codes.
    pub fn class(self) -> ErrorClass {
        self.info().map_or(ErrorClass::Unknown, |i| i.class)
    }

    /// Whether the code means success.
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// The registry meaning, or `"unknown error code"`.
    pub fn meaning(self) -> &'static str {
        self.info().map_or("unknown error code", |i| i.meaning)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u32> for ErrorCode {
    fn from(v: u32) -> Self {
        ErrorCode(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_sorted_and_unique() {
        for w in REGISTRY.windows(2) {
            assert!(
                w[0].code < w[1].code,
                "{:?} before {:?}",
                w[0].code,
                w[1].code
            );
        }
    }

    #[test]
    fn classification() {
        for c in [10002, 60007, 60011, 60018, 60019] {
            assert!(ErrorCode(c).class().is_retryable(), "{c}");
        }
        for c in [10004, 10007, 10010, 10015, 10020, 80001, 60003] {
            assert!(!ErrorCode(c).class().is_retryable(), "{c}");
        }
        assert_eq!(ErrorCode(70001).class(), ErrorClass::Auth);
        assert_eq!(ErrorCode(123_456).class(), ErrorClass::Unknown);
        assert_eq!(ErrorCode(123_456).info(), None);
    }
}
