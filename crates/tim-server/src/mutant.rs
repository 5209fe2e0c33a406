//! Deliberately different servers for the conformance suite's self-check (feature `mutants`).
//!
//! A [`Mutant`] breaks exactly one rule that a clause of `conformance/clauses.toml` states: a
//! suite that is *sharp* fails it. A [`Benign`] variant is a correct but different choice the
//! documents allow: a suite that is *fair* passes it. [`Variant`] is either; it is set only
//! through the library ([`crate::config::ServerConfig::variant`]), never by the `tim-server`
//! binary's flags, environment or TOML file, and the whole module is compiled only with the
//! `mutants` feature, so normal and release builds carry none of it.
//!
//! Each variant is honoured at one spot, marked `#[cfg(feature = "mutants")]` or
//! `variant!(…)` in the gateway, the service and the HTTP layer; everything a variant rewrites
//! after the reference rules ran lives here.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response as HttpResponse};
use serde_json::Value;
use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::api::import_group::ImportGroupRequest;
use tim_model::api::import_group_member::ImportGroupMemberRequest;
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::usersig::{self, SecretKey, UserSigError};
use tim_model::validate::GroupSnapshot;
use tim_model::{decode_json, envelope, Command, Edition, ErrorCode, GroupType, Limits};

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::gateway::Caller;
use crate::service::{ApiBody, Service};

/// What a table row says about a variant.
struct Meta {
    name: &'static str,
    clause: &'static str,
    editions: &'static [Edition],
    describe: &'static str,
}

/// Both editions.
const BOTH: &[Edition] = &[Edition::Seed, Edition::Current];

/// Declares an enum of variants from one table: name, clause, editions, one-line description.
macro_rules! table {
    ($(#[$m:meta])* pub enum $E:ident {
        $( $V:ident => $name:literal, $clause:literal, $eds:expr, $desc:literal; )*
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $E {
            $( #[doc = $desc] $V, )*
        }

        impl $E {
            /// Every value, in table order.
            pub const ALL: &'static [$E] = &[$($E::$V),*];

            const fn meta(self) -> Meta {
                match self {
                    $( $E::$V => Meta { name: $name, clause: $clause, editions: $eds, describe: $desc }, )*
                }
            }

            /// The stable kebab-case name.
            pub const fn name(self) -> &'static str {
                self.meta().name
            }

            /// One line: what this variant does differently.
            pub const fn describe(self) -> &'static str {
                self.meta().describe
            }

            /// The editions in which it differs observably from the reference server.
            pub const fn editions(self) -> &'static [Edition] {
                self.meta().editions
            }
        }
    };
}

table! {
    /// A server that breaks one clause-stated rule; the suite must FAIL on it ("kill" it).
    pub enum Mutant {
        BatchLimitPlusOne => "batch-limit-plus-one", "IGM-LIMIT-BATCH", BOTH,
            "accepts one message more per request than the edition allows";
        MsgSizeUnchecked => "msg-size-unchecked", "IGM-SIZE-LIMIT", BOTH,
            "never checks the 8000-byte message size limit";
        MsgSizePlusOne => "msg-size-plus-one", "IGM-SIZE-BOUNDARY", BOTH,
            "accepts a message one byte over the 8000-byte limit (breaks a should-level clause)";
        SendTimeAtCreateTime => "send-time-at-create-time", "IGM-TIME-EQUAL-CREATE", BOTH,
            "accepts a SendTime equal to the group's CreateTime (it must be after it)";
        FutureSendTimeAccepted => "future-send-time-accepted", "IGM-TIME-NOT-FUTURE", BOTH,
            "never checks that SendTime is not in the future";
        FutureCheckSkewedClock => "future-check-skewed-clock", "IGM-TIME-NOT-FUTURE", BOTH,
            "checks SendTime against a clock two minutes fast";
        ImportClockSlow => "import-clock-slow", "IGM-TIME-RECENT", BOTH,
            "checks SendTime against a clock two minutes slow, refusing recent messages as future";
        OrderIgnoresStored => "order-ignores-stored-messages", "IGM-TIME-ORDER", BOTH,
            "checks SendTime order within a batch only, not against the group's newest message";
        DuplicateStoredTwice => "duplicate-stored-twice", "IGM-DUP-RANDOM", BOTH,
            "ignores Random: a duplicate within 5 minutes is stored again with a new MsgSeq";
        SeqRestartsPerRequest => "seq-restarts-per-request", "IGM-SEQ-CONTIGUOUS", BOTH,
            "answers MsgSeq counted from 1 in every request instead of continuing the group's sequence";
        MsgTimeIsNow => "msg-time-is-now", "IGM-RESP-MSGTIME", BOTH,
            "answers MsgTime with the server's clock instead of the SendTime";
        ResultsSkipFailed => "results-skip-failed", "IGM-RESP-ONE-PER-MSG", &[Edition::Current],
            "leaves messages that failed alone out of ImportMsgResult";
        AvChatRoomImportable => "avchatroom-importable", "IGM-GROUP-TYPE-AVCHATROOM", BOTH,
            "imports messages into an AVChatRoom instead of refusing with 10007";
        AvChatRoom10004 => "avchatroom-10004", "IGM-GROUP-TYPE-AVCHATROOM", BOTH,
            "refuses an AVChatRoom import with 10004 instead of 10007";
        DismissedGroupImportable => "dismissed-group-importable", "IGM-GROUP-DISMISSED", BOTH,
            "destroy_group answers OK but keeps the group, which goes on accepting imports";
        UnknownGroup10015 => "unknown-group-10015", "IGM-GROUP-NOT-FOUND", BOTH,
            "answers an import into a group that does not exist with 10015 instead of 10010";
        UserSigExpiryUnchecked => "usersig-expiry-unchecked", "SIG-EXPIRED", BOTH,
            "accepts an expired UserSig";
        UserSigHmacUnchecked => "usersig-hmac-unchecked", "SIG-BAD-HMAC", BOTH,
            "accepts a UserSig signed with another key (the HMAC is not checked)";
        UserSigIdentifierUnchecked => "usersig-identifier-unchecked", "SIG-IDENTIFIER-MISMATCH", BOTH,
            "accepts a valid UserSig issued for another identifier than the URL's";
        UserSigSdkAppIdUnchecked => "usersig-sdkappid-unchecked", "SIG-SDKAPPID-MISMATCH", BOTH,
            "accepts a UserSig issued for another SDKAppID (signed with the right key)";
        AdminCheckMissing => "admin-check-missing", "GW-ADMIN-ONLY", BOTH,
            "lets any identifier with a valid UserSig call the admin APIs (no 60010)";
        RateLimiterOff => "rate-limiter-off", "RATE-LIMIT", BOTH,
            "never answers 60007: the rate limiter is off";
        RateLimitedStillStored => "rate-limited-still-stored", "RATE-LIMIT", BOTH,
            "answers 60007 over the quota but has processed (stored) the refused call anyway";
        Http400OnBadJson => "http-400-on-bad-json", "GW-HTTP-200", BOTH,
            "answers a body that is not JSON with HTTP 400 (envelope unchanged)";
        Http429OnRateLimit => "http-429-on-rate-limit", "GW-HTTP-200", BOTH,
            "answers a rate-limited request with HTTP 429 (envelope unchanged)";
        BadJson10004 => "bad-json-10004", "GW-INVALID-JSON", BOTH,
            "answers a body that is not JSON with 10004 instead of 60003";
        EnvelopeNoErrorCode => "envelope-no-error-code", "GW-ENVELOPE", BOTH,
            "leaves ErrorCode out of failure envelopes";
        EnvelopeOkOnFailure => "envelope-ok-on-failure", "GW-ENVELOPE", BOTH,
            "answers ActionStatus OK with a non-zero ErrorCode";
        EnvelopeNoErrorInfo => "envelope-no-error-info", "GW-ENVELOPE-ERRORINFO", BOTH,
            "leaves ErrorInfo out of failure envelopes";
        UnreadNotReset => "unread-not-reset", "IGM-UNREAD-RESET", BOTH,
            "keeps the members' unread counts after an import instead of setting them to 0";
        MemberUnreadIgnored => "member-unread-ignored", "GRP-MEMBER-UNREAD", BOTH,
            "import_group_member ignores UnreadMsgNum: every imported member has read everything";
        ReadbackOldestFirst => "readback-oldest-first", "READ-NEWEST-FIRST", BOTH,
            "group_msg_get_simple lists each page oldest first";
        ReadbackTimeIsNow => "readback-time-is-now", "READ-EQUALS-SENT", BOTH,
            "group_msg_get_simple answers MsgTimeStamp with the server's clock instead of the SendTime";
        ReadbackRandomZero => "readback-random-zero", "READ-EQUALS-SENT", BOTH,
            "group_msg_get_simple answers MsgRandom 0 instead of the Random sent";
        ImportGroupIgnoresCreateTime => "import-group-ignores-create-time", "GRP-IMPORT-CREATETIME", BOTH,
            "import_group ignores CreateTime and dates the group now";
    }
}

table! {
    /// A correct but different implementation choice the documents allow; the suite must not FAIL on it.
    pub enum Benign {
        ErrorInfoReworded => "error-info-reworded", "GW-ENVELOPE-ERRORINFO", BOTH,
            "words every ErrorInfo differently (\"request failed with code N\", \"success\")";
        NoRequestId => "no-request-id", "GW-REQUESTID", BOTH,
            "sends no RequestId (as the seed era)";
        ExtraEnvelopeFields => "extra-envelope-fields", "GW-EXTRA-FIELDS", BOTH,
            "adds ErrorDisplay and an unknown field to every envelope, keys in alphabetical order";
        NoErrorInfoOnSuccess => "no-error-info-on-success", "GW-ENVELOPE-ERRORINFO", &[Edition::Seed],
            "leaves ErrorInfo out of success envelopes (as the seed sample)";
        PlainErrorsOutsideApi => "plain-errors-outside-api", "GW-UNKNOWN-PATH", BOTH,
            "answers an unknown path with a plain HTTP 404 and another method with a plain 405 (no envelope)";
        SeedPerMessageScope => "seed-per-message-scope", "IGM-FAILURE-SCOPE", &[Edition::Seed],
            "seed edition with the current edition's per-message failure scope (digest Q2)";
        StrictSendTimeOrder => "strict-send-time-order", "IGM-TIME-EQUAL", BOTH,
            "refuses a SendTime equal to the previous message's (strictly increasing, digest Q4)";
        GroupIdOtherFormat => "group-id-other-format", "GRP-SERVER-GROUP-ID", BOTH,
            "assigns group IDs as @TGS# plus 12 mixed-case letters and digits";
        RateLimitFixedWindow => "rate-limit-fixed-window", "RATE-LIMIT", BOTH,
            "rate limits per calendar second (fixed window, no burst carried over)";
    }
}

impl Mutant {
    /// The ID of the clause (`conformance/clauses.toml`) whose rule this mutant breaks.
    pub const fn breaks(self) -> &'static str {
        self.meta().clause
    }
}

impl Benign {
    /// The ID of the clause whose documented leeway this variant uses.
    pub const fn concerns(self) -> &'static str {
        self.meta().clause
    }
}

/// A variant of the reference server: a [`Mutant`] or a [`Benign`] choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// Breaks one rule.
    Mutant(Mutant),
    /// Correct, but different.
    Benign(Benign),
}

impl From<Mutant> for Variant {
    fn from(m: Mutant) -> Self {
        Variant::Mutant(m)
    }
}

impl From<Benign> for Variant {
    fn from(b: Benign) -> Self {
        Variant::Benign(b)
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Variant {
    /// Every mutant, then every benign variant.
    pub fn all() -> Vec<Variant> {
        let mutants = Mutant::ALL.iter().copied().map(Variant::Mutant);
        mutants
            .chain(Benign::ALL.iter().copied().map(Variant::Benign))
            .collect()
    }

    /// The variant called `name` (as [`Variant::name`] spells it).
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::all().into_iter().find(|v| v.name() == name)
    }

    /// The stable kebab-case name (unique across mutants and benign variants).
    pub const fn name(self) -> &'static str {
        match self {
            Variant::Mutant(m) => m.name(),
            Variant::Benign(b) => b.name(),
        }
    }

    /// One line: what the variant does differently.
    pub const fn describe(self) -> &'static str {
        match self {
            Variant::Mutant(m) => m.describe(),
            Variant::Benign(b) => b.describe(),
        }
    }

    /// The clause a mutant breaks; `None` for a benign variant.
    pub const fn breaks(self) -> Option<&'static str> {
        match self {
            Variant::Mutant(m) => Some(m.breaks()),
            Variant::Benign(_) => None,
        }
    }

    /// The clause a mutant breaks, or whose leeway a benign variant uses.
    pub const fn clause(self) -> &'static str {
        match self {
            Variant::Mutant(m) => m.breaks(),
            Variant::Benign(b) => b.concerns(),
        }
    }

    /// The editions in which the variant differs observably from the reference server.
    pub const fn editions(self) -> &'static [Edition] {
        match self {
            Variant::Mutant(m) => m.editions(),
            Variant::Benign(b) => b.editions(),
        }
    }

    /// Whether this is a mutant (the suite must fail on it).
    pub const fn is_mutant(self) -> bool {
        matches!(self, Variant::Mutant(_))
    }

    /// Whether `configured` (a configuration's variant) is `v`; what `variant!` expands to.
    pub fn is_on(configured: Option<Variant>, v: impl Into<Variant>) -> bool {
        configured == Some(v.into())
    }
}

// ---- hooks: each is called at one marked spot of the gateway, service or HTTP layer ----

/// `config` with the limits a variant changes (called once, when the router is built).
pub(crate) fn configure(config: &ServerConfig) -> ServerConfig {
    let mut config = config.clone();
    let l: &mut Limits = &mut config.limits;
    match config.variant {
        Some(Variant::Mutant(Mutant::BatchLimitPlusOne)) => l.msgs_per_request += 1,
        Some(Variant::Mutant(Mutant::MsgSizePlusOne)) => l.msg_max_bytes += 1,
        Some(Variant::Mutant(Mutant::MsgSizeUnchecked)) => l.msg_max_bytes = usize::MAX,
        Some(Variant::Mutant(Mutant::RateLimiterOff)) => l.requests_per_second = None,
        Some(Variant::Benign(Benign::SeedPerMessageScope)) => {
            l.failure_scope = tim_model::edition::FailureScope::Message;
        }
        Some(Variant::Benign(Benign::StrictSendTimeOrder)) => l.allow_equal_send_time = false,
        _ => {}
    }
    config
}

/// The group as `import_group_msg`'s validation sees it.
pub(crate) fn snapshot(v: Option<Variant>, s: Option<GroupSnapshot>) -> Option<GroupSnapshot> {
    let mut s = s?;
    match v {
        Some(Variant::Mutant(Mutant::SendTimeAtCreateTime)) => s.create_time -= 1,
        Some(Variant::Mutant(Mutant::OrderIgnoresStored)) => s.last_msg_time = None,
        Some(Variant::Mutant(Mutant::AvChatRoomImportable))
            if s.group_type == GroupType::AVChatRoom =>
        {
            s.group_type = GroupType::Public;
        }
        _ => {}
    }
    Some(s)
}

/// "Now" as `import_group_msg`'s future-time check sees it.
pub(crate) fn import_now(v: Option<Variant>, now: i64) -> i64 {
    match v {
        Some(Variant::Mutant(Mutant::FutureSendTimeAccepted)) => i64::MAX,
        Some(Variant::Mutant(Mutant::FutureCheckSkewedClock)) => now.saturating_add(120),
        Some(Variant::Mutant(Mutant::ImportClockSlow)) => now.saturating_sub(120),
        _ => now,
    }
}

/// The UserSig check as a mutant gets it wrong: `verified` is the reference verdict.
pub(crate) fn usersig_verdict(
    v: Option<Variant>,
    verified: Result<(), UserSigError>,
    usersig: &str,
    key: &SecretKey,
    (sdkappid, identifier, now): (u64, &str, i64),
) -> Result<(), UserSigError> {
    let Some(Variant::Mutant(m)) = v else {
        return verified;
    };
    match (m, &verified) {
        (Mutant::UserSigExpiryUnchecked, Err(UserSigError::Expired { .. }))
        | (Mutant::UserSigHmacUnchecked, Err(UserSigError::BadSignature)) => Ok(()),
        // Checked against the sig's own claim instead of the URL's: the rest still applies.
        (Mutant::UserSigIdentifierUnchecked, Err(UserSigError::IdentifierMismatch { .. })) => {
            let doc = usersig::decode(usersig)?;
            usersig::verify(usersig, sdkappid, key, &doc.identifier, now).map(drop)
        }
        (Mutant::UserSigSdkAppIdUnchecked, Err(UserSigError::SdkAppIdMismatch { .. })) => {
            let doc = usersig::decode(usersig)?;
            usersig::verify(usersig, doc.sdkappid, key, identifier, now).map(drop)
        }
        _ => verified,
    }
}

/// A fixed-window rate limiter: at most `per_second` calls per (app, command) and calendar second.
#[derive(Debug)]
pub(crate) struct FixedWindow {
    per_second: u32,
    windows: Mutex<HashMap<(u64, Command), (i64, u32)>>,
}

impl FixedWindow {
    /// The limiter of [`Benign::RateLimitFixedWindow`], when that is the variant and limiting is on.
    pub(crate) fn for_variant(v: Option<Variant>, per_second: Option<u32>) -> Option<FixedWindow> {
        (v == Some(Variant::Benign(Benign::RateLimitFixedWindow))).then_some(())?;
        Some(FixedWindow {
            per_second: per_second.filter(|&n| n > 0)?,
            windows: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one call of `command` from the caller's window of second `now`.
    pub(crate) fn check(
        &self,
        caller: &Caller,
        command: Command,
        now: i64,
    ) -> Result<(), ApiError> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let w = windows
            .entry((caller.sdkappid, command))
            .or_insert((now, 0));
        if w.0 != now {
            *w = (now, 0);
        }
        if w.1 >= self.per_second {
            return Err(ApiError::RateLimited {
                command: command.name().to_owned(),
                per_second: self.per_second,
            });
        }
        w.1 += 1;
        Ok(())
    }
}

/// The alphabet and length of the random tail of a server-assigned group ID: for
/// [`Benign::GroupIdOtherFormat`], 12 mixed-case letters and digits, like the newer IDs of digest §4.1.
pub(crate) fn group_id_tail(
    v: Option<Variant>,
    reference: (&'static [u8], usize),
) -> (&'static [u8], usize) {
    match v {
        Some(Variant::Benign(Benign::GroupIdOtherFormat)) => (
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            12,
        ),
        _ => reference,
    }
}

/// Runs `command` as variant `v`: the reference rules ([`Service::call_rules`]), with the
/// requests or answers a service-level variant changes.
pub(crate) fn call(
    service: &Service,
    v: Variant,
    command: Command,
    body: &[u8],
) -> Result<ApiBody, ApiError> {
    let Variant::Mutant(m) = v else {
        return service.call_rules(command, body, None);
    };
    match (m, command) {
        (Mutant::DismissedGroupImportable, Command::DestroyGroup) => {
            let req: DestroyGroupRequest = decode_json(body)?;
            match service.store.group(&req.group_id)? {
                Some(_) => Ok(ApiBody::Empty(envelope::Empty {})),
                None => service.call_rules(command, body, None),
            }
        }
        (Mutant::MemberUnreadIgnored, Command::ImportGroupMember) => {
            let mut req: ImportGroupMemberRequest = decode_json(body)?;
            req.member_list
                .iter_mut()
                .for_each(|m| m.unread_msg_num = None);
            Ok(ApiBody::ImportGroupMember(
                service.import_group_member(req)?,
            ))
        }
        (Mutant::ImportGroupIgnoresCreateTime, Command::ImportGroup) => {
            let mut req: ImportGroupRequest = decode_json(body)?;
            req.create_time = None;
            Ok(ApiBody::GroupId(service.import_group(req)?))
        }
        (Mutant::UnreadNotReset, Command::ImportGroupMsg) => {
            let req: ImportGroupMsgRequest = decode_json(body)?;
            let before = match service.store.group(&req.group_id)? {
                Some(_) => service.store.members(&req.group_id)?,
                None => Vec::new(),
            };
            let group_id = req.group_id.clone();
            let out = service.import_group_msg(req)?;
            for m in before {
                let unread = i64::try_from(m.unread_msg_num).unwrap_or(i64::MAX);
                service.store.set_unread(&group_id, &m.account, unread)?;
            }
            Ok(ApiBody::ImportGroupMsg(out))
        }
        (_, Command::ImportGroupMsg) => import_answer(
            m,
            service.clock.now(),
            service.call_rules(command, body, None),
        ),
        (_, Command::GroupMsgGetSimple) => readback_answer(
            m,
            service.clock.now(),
            service.call_rules(command, body, None),
        ),
        _ => service.call_rules(command, body, None),
    }
}

/// The `import_group_msg` answer as mutant `m` gives it.
fn import_answer(
    m: Mutant,
    now: i64,
    answer: Result<ApiBody, ApiError>,
) -> Result<ApiBody, ApiError> {
    let mut answer = match answer {
        Err(ApiError::Rejected { code, info }) => {
            let code = match (m, code) {
                (Mutant::AvChatRoom10004, ErrorCode::PERMISSION_DENIED) => {
                    ErrorCode::INVALID_PARAMETER
                }
                (Mutant::UnknownGroup10015, ErrorCode::GROUP_NOT_FOUND) => {
                    ErrorCode::INVALID_GROUP_ID
                }
                _ => code,
            };
            return Err(ApiError::Rejected { code, info });
        }
        other => other?,
    };
    if let ApiBody::ImportGroupMsg(r) = &mut answer {
        let results = &mut r.import_msg_result;
        match m {
            Mutant::SeqRestartsPerRequest => {
                let stored = results.iter_mut().filter(|r| r.result == ErrorCode::OK);
                for (seq, r) in (1..).zip(stored) {
                    r.msg_seq = seq;
                }
            }
            Mutant::MsgTimeIsNow => results.iter_mut().for_each(|r| r.msg_time = now),
            Mutant::ResultsSkipFailed => results.retain(|r| r.result == ErrorCode::OK),
            _ => {}
        }
    }
    Ok(answer)
}

/// The `group_msg_get_simple` answer as mutant `m` gives it.
fn readback_answer(
    m: Mutant,
    now: i64,
    answer: Result<ApiBody, ApiError>,
) -> Result<ApiBody, ApiError> {
    let mut answer = answer?;
    if let ApiBody::GroupMsgGetSimple(r) = &mut answer {
        let list = &mut r.rsp_msg_list;
        match m {
            Mutant::ReadbackOldestFirst => list.reverse(),
            Mutant::ReadbackTimeIsNow => list.iter_mut().for_each(|msg| msg.msg_time_stamp = now),
            Mutant::ReadbackRandomZero => list.iter_mut().for_each(|msg| msg.msg_random = 0),
            _ => {}
        }
    }
    Ok(answer)
}

/// The HTTP response of variant `v` for `response` (the reference envelope and body), or `None`
/// when `v` leaves the HTTP layer alone.
pub(crate) fn respond(v: Variant, response: &impl serde::Serialize) -> Option<HttpResponse> {
    use Benign as B;
    use Mutant as M;
    let mut value = serde_json::to_value(response).ok()?;
    let obj = value.as_object_mut()?;
    let code = obj.get("ErrorCode").and_then(Value::as_u64).unwrap_or(0);
    let failed = code != 0;
    let mut status = StatusCode::OK;
    match v {
        Variant::Mutant(M::Http400OnBadJson) if code == u64::from(ErrorCode::BODY_JSON_PARSE.0) => {
            status = StatusCode::BAD_REQUEST;
        }
        Variant::Mutant(M::Http429OnRateLimit) if code == u64::from(ErrorCode::RATE_LIMITED.0) => {
            status = StatusCode::TOO_MANY_REQUESTS;
        }
        Variant::Mutant(M::BadJson10004) if code == u64::from(ErrorCode::BODY_JSON_PARSE.0) => {
            obj.insert("ErrorCode".into(), ErrorCode::INVALID_PARAMETER.0.into());
        }
        Variant::Mutant(M::EnvelopeNoErrorCode) if failed => {
            obj.remove("ErrorCode");
        }
        Variant::Mutant(M::EnvelopeOkOnFailure) if failed => {
            obj.insert("ActionStatus".into(), "OK".into());
        }
        Variant::Mutant(M::EnvelopeNoErrorInfo) if failed => {
            obj.remove("ErrorInfo");
        }
        Variant::Benign(B::ErrorInfoReworded) => {
            let info = match failed {
                true => format!("request failed with code {code}"),
                false => "success".to_owned(),
            };
            obj.insert("ErrorInfo".into(), info.into());
        }
        Variant::Benign(B::NoRequestId) => {
            obj.remove("RequestId");
        }
        Variant::Benign(B::ExtraEnvelopeFields) => {
            obj.insert("ErrorDisplay".into(), "".into());
            obj.insert("X-Emulator".into(), serde_json::json!({"name": "benign"}));
            // Alphabetical, whether or not serde_json preserves insertion order in this build.
            let mut entries: Vec<(String, Value)> = std::mem::take(obj).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            obj.extend(entries);
        }
        Variant::Benign(B::NoErrorInfoOnSuccess) if !failed => {
            obj.remove("ErrorInfo");
        }
        Variant::Benign(B::PlainErrorsOutsideApi)
            if code == u64::from(ErrorCode::BAD_RESOURCE.0)
                || code == u64::from(ErrorCode::TIMEOUT.0) =>
        {
            let status = match code == u64::from(ErrorCode::BAD_RESOURCE.0) {
                true => StatusCode::NOT_FOUND,
                false => StatusCode::METHOD_NOT_ALLOWED,
            };
            return Some((status, "not here\n").into_response());
        }
        Variant::Mutant(
            M::Http400OnBadJson
            | M::Http429OnRateLimit
            | M::BadJson10004
            | M::EnvelopeNoErrorCode
            | M::EnvelopeOkOnFailure
            | M::EnvelopeNoErrorInfo,
        )
        | Variant::Benign(B::NoErrorInfoOnSuccess) => {}
        _ => return None,
    }
    let mut http = crate::http::json_response(value);
    *http.status_mut() = status;
    Some(http)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are unique kebab-case, `from_name` finds each, and every row is filled in.
    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let all = Variant::all();
        assert!(Mutant::ALL.len() >= 24 && Benign::ALL.len() >= 5);
        let mut seen = std::collections::BTreeSet::new();
        for v in all {
            let name = v.name();
            assert!(seen.insert(name), "duplicate name {name}");
            assert!(
                name.split('-').all(|w| !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{name} is kebab-case"
            );
            assert_eq!(Variant::from_name(name), Some(v));
            assert!(!v.describe().is_empty() && !v.editions().is_empty());
            let clause = v.clause();
            assert!(
                clause.contains('-')
                    && clause
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'),
                "{name}: clause {clause}"
            );
            assert_eq!(v.breaks().is_some(), v.is_mutant());
        }
        assert_eq!(Variant::from_name("no-such-variant"), None);
    }

    /// The binary's contract offers no way to pick a variant: no flag, no TOML key, none resolved.
    #[test]
    fn the_binary_cannot_select_a_variant() {
        use crate::config::{Args, FileConfig};
        use clap::Parser as _;
        for flag in ["--variant", "--mutant", "--mutants"] {
            let args = Args::try_parse_from(["tim-server", flag, "rate-limiter-off"]);
            assert!(args.is_err(), "{flag} is not a flag");
        }
        assert!(toml::from_str::<FileConfig>("variant = \"rate-limiter-off\"").is_err());
        let resolved = ServerConfig::resolve(Args::try_parse_from(["tim-server"]).unwrap());
        assert_eq!(resolved.unwrap().variant, None);
    }
}
