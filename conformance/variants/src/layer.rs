//! The layer around the reference router for the variants whose difference shows on the wire:
//! it rewrites the request on the way in (query, body) and the answer on the way out (HTTP
//! status, envelope, results), and holds the limiter of the rate-limit variants.
//!
//! The control plane (`/_tim/`) and `GET /healthz` pass through untouched.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Map, Value};
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::control::CONTROL_PREFIX;
use tim_model::edition::FailureScope;
use tim_model::endpoint::{classify_path, PathTarget, HEALTH_PATH};
use tim_model::envelope::query;
use tim_model::usersig::{self, SecretKey, UserSigError};
use tim_model::validate::{self, Context, GroupSnapshot, Rule, Verdict};
use tim_model::{decode_json, ids, Command, CommonQuery, Envelope, ErrorCode, GroupType, Limits};
use tim_server::clock::{Clock, SystemClock};
use tim_server::config::ServerConfig;
use tim_server::error::ApiError;
use tim_server::gateway::{AppCredentials, Gateway};

use crate::variant::{Benign, Mutant, Variant};

/// Validity of the UserSigs the layer signs in place of one the inner server would refuse.
const SUBSTITUTE_SIG_EXPIRE: u64 = 86_400;

/// Everything the layer of one variant server holds.
pub struct LayerState {
    variant: Variant,
    key: SecretKey,
    admin: Option<String>,
    /// Authentication as the reference does it (no rate limit): whether a call reaches the
    /// rate check, for the layer's own limiter.
    gateway: Gateway,
    limiter: Option<Limiter>,
    /// The limits of the inner server with the reference's failure scope (mixed scope).
    limits: Limits,
    restricted_words: Vec<String>,
    /// `@TGS#` IDs: the inner server's → ours, and back.
    ids: Mutex<(HashMap<String, String>, HashMap<String, String>)>,
    id_rng: Mutex<StdRng>,
    /// Duplicate-blind imports: (group, Random sent to the inner server) → the Random sent to us.
    randoms: Mutex<HashMap<(String, u32), u32>>,
    next_random: AtomicU32,
}

/// The rate limiter of a rate-limit variant, in front of an inner server without one.
enum Limiter {
    /// [`Benign::RateLimitFixedWindow`]: per (app, command) and calendar second.
    FixedWindow {
        per_second: u32,
        windows: Mutex<HashMap<(u64, Command), (i64, u32)>>,
    },
    /// [`Mutant::RateLimitedStillStored`]: the reference's GCRA; a call over the quota still runs.
    AfterTheFact {
        per_second: u32,
        state: DefaultKeyedRateLimiter<(u64, Command)>,
    },
}

impl Limiter {
    /// Takes one call of `command` from the caller's quota; `false` when it is over.
    fn take(&self, sdkappid: u64, command: Command, now: i64) -> bool {
        match self {
            Limiter::FixedWindow {
                per_second,
                windows,
            } => {
                let mut windows = windows.lock().unwrap_or_else(PoisonError::into_inner);
                let w = windows.entry((sdkappid, command)).or_insert((now, 0));
                if w.0 != now {
                    *w = (now, 0);
                }
                if w.1 >= *per_second {
                    return false;
                }
                w.1 += 1;
                true
            }
            Limiter::AfterTheFact { state, .. } => state.check_key(&(sdkappid, command)).is_ok(),
        }
    }

    fn per_second(&self) -> u32 {
        match self {
            Limiter::FixedWindow { per_second, .. } | Limiter::AfterTheFact { per_second, .. } => {
                *per_second
            }
        }
    }
}

impl LayerState {
    /// The layer of `variant` around an inner server started with `inner` (the configuration
    /// after the variant's readings); `quota` is the rate limit the variant's own limiter
    /// enforces (the configured one: the inner server's is off for the limiter variants).
    pub fn new(variant: Variant, inner: &ServerConfig, quota: Option<u32>, seed: u64) -> Self {
        let limiter = quota.and_then(NonZeroU32::new).and_then(|n| match variant {
            Variant::Benign(Benign::RateLimitFixedWindow) => Some(Limiter::FixedWindow {
                per_second: n.get(),
                windows: Mutex::new(HashMap::new()),
            }),
            Variant::Mutant(Mutant::RateLimitedStillStored) => Some(Limiter::AfterTheFact {
                per_second: n.get(),
                state: RateLimiter::keyed(Quota::per_second(n)),
            }),
            _ => None,
        });
        let mut limits = inner.limits.clone();
        limits.failure_scope = FailureScope::Request;
        LayerState {
            variant,
            key: inner.secret_key.clone(),
            admin: inner.admins.iter().next().cloned(),
            gateway: Gateway::new(
                AppCredentials {
                    sdkappid: inner.sdkappid,
                    secret_key: inner.secret_key.clone(),
                    admins: inner.admins.clone(),
                },
                Arc::new(SystemClock),
                None,
            ),
            limiter,
            limits,
            restricted_words: inner.restricted_words.clone(),
            ids: Mutex::new((HashMap::new(), HashMap::new())),
            id_rng: Mutex::new(StdRng::seed_from_u64(seed)),
            randoms: Mutex::new(HashMap::new()),
            next_random: AtomicU32::new(u32::MAX),
        }
    }

    fn is(&self, v: impl Into<Variant>) -> bool {
        self.variant == v.into()
    }

    /// The query with the UserSig (and for a missing admin check, the identifier) the inner
    /// server accepts, when the variant skips the check that refuses the caller's; else `None`.
    fn query_for(&self, raw: &str) -> Option<String> {
        let q = CommonQuery::parse(raw);
        let sdkappid: u64 = q.sdkappid.as_deref()?.parse().ok()?;
        let identifier = q.identifier.as_deref()?;
        let sig = q.usersig.as_deref().filter(|s| !s.is_empty())?;
        let now = SystemClock.now();
        let verified = usersig::verify(sig, sdkappid, &self.key, identifier, now);
        let skipped = match (self.variant, verified) {
            (
                Variant::Mutant(Mutant::UserSigExpiryUnchecked),
                Err(UserSigError::Expired { .. }),
            )
            | (Variant::Mutant(Mutant::UserSigHmacUnchecked), Err(UserSigError::BadSignature)) => {
                true
            }
            // Checked against the sig's own claim instead of the URL's: the rest still applies.
            (
                Variant::Mutant(Mutant::UserSigIdentifierUnchecked),
                Err(UserSigError::IdentifierMismatch { .. }),
            ) => {
                let doc = usersig::decode(sig).ok()?;
                usersig::verify(sig, sdkappid, &self.key, &doc.identifier, now).is_ok()
            }
            (
                Variant::Mutant(Mutant::UserSigSdkAppIdUnchecked),
                Err(UserSigError::SdkAppIdMismatch { .. }),
            ) => {
                let doc = usersig::decode(sig).ok()?;
                usersig::verify(sig, doc.sdkappid, &self.key, identifier, now).is_ok()
            }
            (Variant::Mutant(Mutant::AdminCheckMissing), Ok(_)) => {
                let admin = self.admin.as_deref()?;
                let sig = usersig::sign(sdkappid, &self.key, admin, SUBSTITUTE_SIG_EXPIRE, now);
                return Some(replace_query(raw, admin, &sig));
            }
            _ => false,
        };
        skipped.then(|| {
            let sig = usersig::sign(sdkappid, &self.key, identifier, SUBSTITUTE_SIG_EXPIRE, now);
            replace_query(raw, identifier, &sig)
        })
    }

    /// Whether the variant rewrites the body of `command` on the way in, or needs it to
    /// rewrite the answer.
    fn reads_body(&self, command: Command) -> bool {
        match self.variant {
            Variant::Benign(Benign::GroupIdOtherFormat) => true,
            Variant::Mutant(Mutant::ImportGroupIgnoresCreateTime) => {
                command == Command::ImportGroup
            }
            Variant::Mutant(Mutant::MemberUnreadIgnored) => command == Command::ImportGroupMember,
            Variant::Mutant(Mutant::DuplicateStoredTwice) => {
                matches!(
                    command,
                    Command::ImportGroupMsg | Command::GroupMsgGetSimple
                )
            }
            Variant::Benign(Benign::MixedFailureScope) => command == Command::ImportGroupMsg,
            _ => false,
        }
    }

    /// Rewrites a request body of `command`; returns the group ID it names (after rewriting).
    fn rewrite_request(&self, command: Command, body: &mut Map<String, Value>) -> Option<String> {
        match (self.variant, command) {
            (Variant::Mutant(Mutant::ImportGroupIgnoresCreateTime), Command::ImportGroup) => {
                body.remove("CreateTime");
            }
            (Variant::Mutant(Mutant::MemberUnreadIgnored), Command::ImportGroupMember) => {
                if let Some(Value::Array(list)) = body.get_mut("MemberList") {
                    for m in list.iter_mut().filter_map(Value::as_object_mut) {
                        m.remove("UnreadMsgNum");
                    }
                }
            }
            (Variant::Benign(Benign::GroupIdOtherFormat), _) => {
                let ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
                let inner_of = |v: &mut Value| {
                    if let Some(inner) = v.as_str().and_then(|s| ids.1.get(s)) {
                        *v = Value::String(inner.clone());
                    }
                };
                if let Some(v) = body.get_mut("GroupId") {
                    inner_of(v);
                }
                if let Some(Value::Array(list)) = body.get_mut("GroupIdList") {
                    list.iter_mut().for_each(inner_of);
                }
            }
            _ => {}
        }
        let group = body.get("GroupId").and_then(Value::as_str)?.to_owned();
        if self.is(Mutant::DuplicateStoredTwice) && command == Command::ImportGroupMsg {
            // Every supplied Random made unique: the inner server never sees a duplicate.
            let mut randoms = self.randoms.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(Value::Array(list)) = body.get_mut("MsgList") {
                for m in list.iter_mut().filter_map(Value::as_object_mut) {
                    let Some(sent) = m.get("Random").and_then(Value::as_u64) else {
                        continue;
                    };
                    let Ok(sent) = u32::try_from(sent) else {
                        continue;
                    };
                    let unique = self.next_random.fetch_sub(1, Ordering::Relaxed);
                    randoms.insert((group.clone(), unique), sent);
                    m.insert("Random".into(), unique.into());
                }
            }
        }
        Some(group)
    }

    /// For [`Benign::MixedFailureScope`]: the whole-request refusal of a batch with a message
    /// too long or with a restricted word (the inner server fails only that message).
    fn mixed_scope_refusal(&self, body: &[u8]) -> Option<Envelope> {
        let req: ImportGroupMsgRequest = decode_json(body).ok()?;
        // Only the rules about a message's content are looked at: any group will do.
        let group = GroupSnapshot {
            group_type: GroupType::Public,
            create_time: i64::MIN,
            last_msg_time: None,
        };
        let problems: Vec<validate::Problem> = validate::validate_import(
            &req,
            Context {
                limits: &self.limits,
                group: Some(&group),
                restricted_words: &self.restricted_words,
                now: SystemClock.now(),
                duplicates: &[],
            },
        )
        .into_iter()
        .filter(|p| matches!(p.rule, Rule::MsgTooLong | Rule::RestrictedWords))
        .collect();
        match validate::verdict(&problems, req.msg_list.len(), &self.limits) {
            Verdict::Reject { code, info } => Some(Envelope::fail(code, info)),
            Verdict::Accept { .. } => None,
        }
    }

    /// Our ID for the inner server's `id` (a new one the first time).
    fn outer_id(&self, id: &str) -> Option<String> {
        let (prefix, tail) = match id.strip_prefix(ids::COMMUNITY_PREFIX) {
            Some(rest) => (
                format!("{}{}", ids::COMMUNITY_PREFIX, ids::AUTO_GROUP_PREFIX),
                rest.strip_prefix(ids::AUTO_GROUP_PREFIX)?,
            ),
            None => (
                ids::AUTO_GROUP_PREFIX.to_owned(),
                id.strip_prefix(ids::AUTO_GROUP_PREFIX)?,
            ),
        };
        let inner_format = tail.len() == 10
            && tail
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !inner_format {
            return None;
        }
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(outer) = ids.0.get(id) {
            return Some(outer.clone());
        }
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = self.id_rng.lock().unwrap_or_else(PoisonError::into_inner);
        let outer = loop {
            let tail: String = (0..12)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            let outer = format!("{prefix}{tail}");
            if !ids.1.contains_key(&outer) {
                break outer;
            }
        };
        ids.0.insert(id.to_owned(), outer.clone());
        ids.1.insert(outer.clone(), id.to_owned());
        Some(outer)
    }

    /// Every `GroupId` of an answer in our format.
    fn outer_ids(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    match (k.as_str(), v.as_str().and_then(|s| self.outer_id(s))) {
                        ("GroupId", Some(outer)) => *v = Value::String(outer),
                        _ => self.outer_ids(v),
                    }
                }
            }
            Value::Array(list) => list.iter_mut().for_each(|v| self.outer_ids(v)),
            _ => {}
        }
    }

    /// Rewrites the JSON answer to a call of `command` (`None`: outside the commands) for a
    /// request about `group`. Returns the HTTP status, or a plain-text answer instead.
    fn rewrite_answer(
        &self,
        command: Option<Command>,
        group: Option<&str>,
        obj: &mut Map<String, Value>,
    ) -> Result<StatusCode, (StatusCode, &'static str)> {
        use Mutant as M;
        let now = SystemClock.now();
        let code = obj.get("ErrorCode").and_then(Value::as_u64).unwrap_or(0);
        let is = |c: ErrorCode| code == u64::from(c.0);
        let failed = code != 0;
        let Variant::Mutant(m) = self.variant else {
            return self.benign_answer(obj, code);
        };
        match (m, command) {
            (M::AvChatRoom10004, Some(Command::ImportGroupMsg))
                if is(ErrorCode::PERMISSION_DENIED) =>
            {
                obj.insert("ErrorCode".into(), ErrorCode::INVALID_PARAMETER.0.into());
            }
            (M::UnknownGroup10015, Some(Command::ImportGroupMsg))
                if is(ErrorCode::GROUP_NOT_FOUND) =>
            {
                obj.insert("ErrorCode".into(), ErrorCode::INVALID_GROUP_ID.0.into());
            }
            (
                M::SeqRestartsPerRequest | M::MsgTimeIsNow | M::ResultsSkipFailed,
                Some(Command::ImportGroupMsg),
            ) => {
                if let Some(Value::Array(results)) = obj.get_mut("ImportMsgResult") {
                    let ok = |r: &Value| r.get("Result").and_then(Value::as_u64) == Some(0);
                    match m {
                        M::SeqRestartsPerRequest => {
                            let stored = results.iter_mut().filter(|r| ok(r));
                            for (seq, r) in (1u64..).zip(stored) {
                                r["MsgSeq"] = seq.into();
                            }
                        }
                        M::MsgTimeIsNow => {
                            results.iter_mut().for_each(|r| r["MsgTime"] = now.into())
                        }
                        _ => results.retain(ok),
                    }
                }
            }
            (
                M::ReadbackOldestFirst
                | M::ReadbackTimeIsNow
                | M::ReadbackRandomZero
                | M::DuplicateStoredTwice,
                Some(Command::GroupMsgGetSimple),
            ) => {
                if let Some(Value::Array(list)) = obj.get_mut("RspMsgList") {
                    match m {
                        M::ReadbackOldestFirst => list.reverse(),
                        M::ReadbackTimeIsNow => list
                            .iter_mut()
                            .for_each(|msg| msg["MsgTimeStamp"] = now.into()),
                        M::ReadbackRandomZero => {
                            list.iter_mut().for_each(|msg| msg["MsgRandom"] = 0.into())
                        }
                        _ => {
                            let randoms =
                                self.randoms.lock().unwrap_or_else(PoisonError::into_inner);
                            for msg in list.iter_mut() {
                                let unique = msg.get("MsgRandom").and_then(Value::as_u64);
                                let unique = unique.and_then(|r| u32::try_from(r).ok());
                                let sent = unique
                                    .zip(group)
                                    .and_then(|(r, g)| randoms.get(&(g.to_owned(), r)));
                                if let Some(sent) = sent {
                                    msg["MsgRandom"] = (*sent).into();
                                }
                            }
                        }
                    }
                }
            }
            (M::Http400OnBadJson, _) if is(ErrorCode::BODY_JSON_PARSE) => {
                return Ok(StatusCode::BAD_REQUEST)
            }
            (M::Http429OnRateLimit, _) if is(ErrorCode::RATE_LIMITED) => {
                return Ok(StatusCode::TOO_MANY_REQUESTS)
            }
            (M::BadJson10004, _) if is(ErrorCode::BODY_JSON_PARSE) => {
                obj.insert("ErrorCode".into(), ErrorCode::INVALID_PARAMETER.0.into());
            }
            (M::EnvelopeNoErrorCode, _) if failed => {
                obj.remove("ErrorCode");
            }
            (M::EnvelopeOkOnFailure, _) if failed => {
                obj.insert("ActionStatus".into(), "OK".into());
            }
            (M::EnvelopeNoErrorInfo, _) if failed => {
                obj.remove("ErrorInfo");
            }
            _ => {}
        }
        Ok(StatusCode::OK)
    }

    fn benign_answer(
        &self,
        obj: &mut Map<String, Value>,
        code: u64,
    ) -> Result<StatusCode, (StatusCode, &'static str)> {
        use Benign as B;
        let failed = code != 0;
        match self.variant {
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
                if code == u64::from(ErrorCode::BAD_RESOURCE.0) =>
            {
                return Err((StatusCode::NOT_FOUND, "not here\n"));
            }
            Variant::Benign(B::PlainErrorsOutsideApi)
                if code == u64::from(ErrorCode::TIMEOUT.0) =>
            {
                return Err((StatusCode::METHOD_NOT_ALLOWED, "not here\n"));
            }
            Variant::Benign(B::GroupIdOtherFormat) => {
                for v in obj.values_mut() {
                    self.outer_ids(v);
                }
                if let Some(id) = obj
                    .get("GroupId")
                    .and_then(Value::as_str)
                    .and_then(|s| self.outer_id(s))
                {
                    obj.insert("GroupId".into(), id.into());
                }
            }
            _ => {}
        }
        Ok(StatusCode::OK)
    }

    /// Whether the answer to an API call may need rewriting (so that it is read and parsed).
    fn rewrites_answers(&self) -> bool {
        !matches!(
            self.variant,
            Variant::Mutant(
                Mutant::ImportGroupIgnoresCreateTime
                    | Mutant::MemberUnreadIgnored
                    | Mutant::UserSigExpiryUnchecked
                    | Mutant::UserSigHmacUnchecked
                    | Mutant::UserSigIdentifierUnchecked
                    | Mutant::UserSigSdkAppIdUnchecked
                    | Mutant::AdminCheckMissing
                    | Mutant::RateLimitedStillStored
            ) | Variant::Benign(Benign::RateLimitFixedWindow | Benign::MixedFailureScope)
        )
    }
}

/// Whether `variant` needs the layer at all.
pub fn needed(variant: Variant) -> bool {
    use Benign as B;
    use Mutant as M;
    !matches!(
        variant,
        Variant::Mutant(
            M::BatchLimitPlusOne
                | M::MsgSizeUnchecked
                | M::MsgSizePlusOne
                | M::SendTimeAtCreateTime
                | M::FutureSendTimeAccepted
                | M::FutureCheckSkewedClock
                | M::ImportClockSlow
                | M::OrderIgnoresStored
                | M::AvChatRoomImportable
                | M::DismissedGroupImportable
                | M::RateLimiterOff
                | M::UnreadNotReset
        ) | Variant::Benign(
            B::SeedPerMessageScope | B::StrictSendTimeOrder | B::TimeOrderBeforeDuplicates
        )
    )
}

/// `raw` with `identifier` and `usersig` replaced.
fn replace_query(raw: &str, identifier: &str, sig: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let v = match k.as_ref() {
            query::IDENTIFIER => identifier.into(),
            query::USERSIG => sig.into(),
            _ => v,
        };
        out.append_pair(&k, &v);
    }
    out.finish()
}

/// The JSON answer `value` with `status`.
fn json(status: StatusCode, value: &Value, parts: Option<axum::http::response::Parts>) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = match parts {
        Some(mut parts) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(bytes))
        }
        None => Response::new(Body::from(bytes)),
    };
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn request_id() -> String {
    format!("Id-{:032x}", rand::random::<u128>())
}

/// The middleware: `axum::middleware::from_fn_with_state(state, layer)`.
pub async fn layer(State(st): State<Arc<LayerState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with(CONTROL_PREFIX) || (path == HEALTH_PATH && req.method() == Method::GET) {
        return next.run(req).await;
    }
    let command = match classify_path(&path) {
        PathTarget::Command(c) if req.method() == Method::POST => Some(c),
        _ => None,
    };
    let (mut parts, body) = req.into_parts();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    if let Some(q) = st.query_for(&raw_query) {
        if let Ok(uri) = format!("{path}?{q}").parse::<Uri>() {
            parts.uri = uri;
        }
    }
    // The layer's limiter counts what the reference's would: calls past the gateway.
    let caller = command.and_then(|c| {
        let q = CommonQuery::parse(parts.uri.query().unwrap_or(""));
        st.gateway
            .authenticate(&q)
            .ok()
            .map(|caller| (caller.sdkappid, c))
    });
    let refused = |command: Command, per_second: u32| {
        let e = ApiError::RateLimited {
            command: command.name().to_owned(),
            per_second,
        };
        let envelope = Envelope {
            request_id: Some(request_id()),
            ..Envelope::fail(e.code(), e.info())
        };
        serde_json::to_value(envelope).unwrap_or(Value::Null)
    };
    let mut early: Option<Value> = None;
    // Over the quota: refused at once (fixed window), or refused after running the call anyway.
    let mut refuse_after = None;
    if let (Some(limiter), Some((app, c))) = (&st.limiter, caller) {
        if !limiter.take(app, c, SystemClock.now()) {
            match limiter {
                Limiter::FixedWindow { .. } => early = Some(refused(c, limiter.per_second())),
                Limiter::AfterTheFact { .. } => {
                    refuse_after = Some(refused(c, limiter.per_second()))
                }
            }
        }
    }
    let mut group = None;
    let body = match command.filter(|c| early.is_none() && st.reads_body(*c)) {
        Some(c) => {
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            if st.is(Benign::MixedFailureScope) && caller.is_some() {
                if let Some(envelope) = st.mixed_scope_refusal(&bytes) {
                    early = Some(
                        serde_json::to_value(Envelope {
                            request_id: Some(request_id()),
                            ..envelope
                        })
                        .unwrap_or(Value::Null),
                    );
                }
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(mut obj)) => {
                    group = st.rewrite_request(c, &mut obj);
                    Body::from(serde_json::to_vec(&obj).unwrap_or_default())
                }
                _ => Body::from(bytes),
            }
        }
        None => body,
    };
    let (resp, parts) = match early {
        Some(value) => (value, None),
        None => {
            let resp = next.run(Request::from_parts(parts, body)).await;
            if let Some(value) = refuse_after {
                // The call has run and stored what it stored; the answer says it was refused.
                return json(StatusCode::OK, &value, None);
            }
            if !st.rewrites_answers() {
                return resp;
            }
            let (parts, body) = resp.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(value @ Value::Object(_)) => (value, Some(parts)),
                _ => return Response::from_parts(parts, Body::from(bytes)),
            }
        }
    };
    let mut value = resp;
    let Some(obj) = value
        .as_object_mut()
        .filter(|o| o.contains_key("ActionStatus"))
    else {
        return json(StatusCode::OK, &value, parts);
    };
    match st.rewrite_answer(command, group.as_deref(), obj) {
        Ok(status) => json(status, &value, parts),
        Err((status, text)) => (status, text).into_response(),
    }
}
