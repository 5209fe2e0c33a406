//! Strict validation of an `import_group_msg` request against a [`Limits`] and the group's state.
//!
//! [`validate_import`] returns every problem, each with its JSON path and the rule it breaks;
//! [`verdict`] turns the problems into what the server does: reject the whole request with one
//! code, or accept it with a per-message outcome. Duplicate detection (`Random`) and sequence
//! numbers need the store and are not decided here.
//!
//! Check order (docs/behaviour.md): group-ID syntax (10015) → request structure (10004) → group
//! existence (10010) → group type (10007) → per-message rules (time 10004, size 10020/80002,
//! restricted words 80001).

use crate::api::import_group_msg::{ImportGroupMsgRequest, ImportMsg};
use crate::edition::{FailureScope, Limits};
use crate::element::{body_json_len, ElementKind, MsgElement};
use crate::error_code::ErrorCode;
use crate::group_type::GroupType;
use crate::ids;

/// What validation needs to know about the target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group's type.
    pub group_type: GroupType,
    /// Creation time, Unix seconds: every `SendTime` must be strictly later.
    pub create_time: i64,
    /// `SendTime` of the newest message already in the group, if any.
    pub last_msg_time: Option<i64>,
}

/// The rule a problem breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Group ID syntax (digest §4.1): 10015.
    GroupIdSyntax,
    /// Missing, empty or malformed field, batch size, element rules: 10004.
    InvalidParameter,
    /// The group does not exist or was dismissed: 10010.
    GroupNotFound,
    /// The group type does not support import: 10007.
    GroupTypeRefused,
    /// `SendTime` outside its bounds or out of order: 10004.
    SendTime,
    /// Message larger than the limit: 10020 (whole request) or 80002 (per message).
    MsgTooLong,
    /// Restricted words: 80001.
    RestrictedWords,
    /// A duplicate `Random` when duplicates are refused (`DuplicateAnswer::Refused`): 10004.
    Duplicate,
}

impl Rule {
    /// Whether the rule concerns one message and can fail it alone (digest §7 Q2).
    pub const fn is_per_message(self) -> bool {
        matches!(
            self,
            Rule::SendTime | Rule::MsgTooLong | Rule::RestrictedWords | Rule::Duplicate
        )
    }

    /// The code for this rule under the given failure scope.
    pub const fn code(self, scope: FailureScope) -> ErrorCode {
        match self {
            Rule::GroupIdSyntax => ErrorCode::INVALID_GROUP_ID,
            Rule::InvalidParameter | Rule::SendTime | Rule::Duplicate => {
                ErrorCode::INVALID_PARAMETER
            }
            Rule::GroupNotFound => ErrorCode::GROUP_NOT_FOUND,
            Rule::GroupTypeRefused => ErrorCode::PERMISSION_DENIED,
            Rule::MsgTooLong => match scope {
                FailureScope::Request => ErrorCode::MSG_TOO_LONG,
                FailureScope::Message => ErrorCode::MSG_BODY_TOO_LONG,
            },
            Rule::RestrictedWords => ErrorCode::RESTRICTED_WORDS,
        }
    }
}

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON path, e.g. `MsgList[3].MsgBody[0].MsgContent.Text`.
    pub path: String,
    /// The rule broken.
    pub rule: Rule,
    /// Index of the message concerned, if the problem is about one message.
    pub msg_index: Option<usize>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Inputs that are not part of the request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The limits in force.
    pub limits: &'a Limits,
    /// The group, or `None` when it does not exist (or was dismissed).
    pub group: Option<&'a GroupSnapshot>,
    /// Restricted words (matched case-insensitively as substrings).
    pub restricted_words: &'a [String],
    /// The current time, Unix seconds.
    pub now: i64,
    /// Per message, whether the store already holds it as a duplicate (same supplied `Random`
    /// within the window). Such messages skip the per-message rules and do not move the time
    /// bound: re-sending a batch whose reply was lost must answer with the original sequence
    /// numbers, not fail because its times are now "in the past". Shorter than the batch (e.g.
    /// empty) means "not a duplicate" for the rest.
    pub duplicates: &'a [bool],
}

/// The size of a message as the limits count it (digest §7 Q8): UTF-8 bytes of the compact JSON
/// of its `MsgBody`, plus the bytes of `CloudCustomData` when present.
pub fn message_size(msg: &ImportMsg) -> usize {
    let body = body_json_len(&msg.msg_body).unwrap_or(usize::MAX);
    body.saturating_add(msg.cloud_custom_data.as_ref().map_or(0, String::len))
}

/// Validates `req`, returning every problem (empty when the request is fully valid).
pub fn validate_import(req: &ImportGroupMsgRequest, ctx: Context<'_>) -> Vec<Problem> {
    let mut out = Problems::default();
    if let Err(e) = ids::check_group_id(&req.group_id) {
        out.push("GroupId", Rule::GroupIdSyntax, None, e.to_string());
        return out.0;
    }
    check_structure(req, ctx.limits, &mut out);
    if !out.0.is_empty() {
        return out.0;
    }
    let Some(group) = ctx.group else {
        out.push(
            "GroupId",
            Rule::GroupNotFound,
            None,
            format!("group {:?} does not exist or was dismissed", req.group_id),
        );
        return out.0;
    };
    if !ctx.limits.can_import_into(&group.group_type) {
        out.push(
            "GroupId",
            Rule::GroupTypeRefused,
            None,
            format!(
                "messages cannot be imported into a group of type {} ({} edition)",
                group.group_type, ctx.limits.edition
            ),
        );
        return out.0;
    }
    check_messages(req, group, ctx, &mut out);
    out.0
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(
        &mut self,
        path: impl Into<String>,
        rule: Rule,
        msg: Option<usize>,
        message: impl Into<String>,
    ) {
        self.0.push(Problem {
            path: path.into(),
            rule,
            msg_index: msg,
            message: message.into(),
        });
    }
}

fn check_structure(req: &ImportGroupMsgRequest, limits: &Limits, out: &mut Problems) {
    let n = req.msg_list.len();
    if n == 0 {
        out.push(
            "MsgList",
            Rule::InvalidParameter,
            None,
            "MsgList is empty; send 1 or more messages",
        );
    } else if n > limits.msgs_per_request {
        out.push(
            "MsgList",
            Rule::InvalidParameter,
            None,
            format!(
                "MsgList has {n} messages; at most {} are allowed per request ({} edition)",
                limits.msgs_per_request, limits.edition
            ),
        );
    }
    if let Some(flag) = req.recent_contact_flag {
        if limits.recent_contact_flag && !matches!(flag, 0 | 1) {
            out.push(
                "RecentContactFlag",
                Rule::InvalidParameter,
                None,
                format!("RecentContactFlag is {flag}; expected 0 or 1"),
            );
        }
    }
    for (i, m) in req.msg_list.iter().enumerate() {
        let p = MsgPath(i);
        if let Err(e) = ids::check_account(&m.from_account) {
            out.push(
                format!("{p}.From_Account"),
                Rule::InvalidParameter,
                Some(i),
                e.to_string(),
            );
        }
        if let Some(r) = m.random {
            if !(0..=i64::from(u32::MAX)).contains(&r) {
                out.push(
                    format!("{p}.Random"),
                    Rule::InvalidParameter,
                    Some(i),
                    format!("Random is {r}; expected an unsigned 32-bit integer (0 to 4294967295)"),
                );
            }
        }
        if m.msg_body.is_empty() {
            out.push(
                format!("{p}.MsgBody"),
                Rule::InvalidParameter,
                Some(i),
                "MsgBody is empty; send 1 or more elements",
            );
        }
        let mut customs = 0;
        for (j, e) in m.msg_body.iter().enumerate() {
            let ep = ElemPath(i, j);
            match e.kind() {
                None => out.push(
                    format!("{ep}.MsgType"),
                    Rule::InvalidParameter,
                    Some(i),
                    format!("unknown MsgType {:?}", e.msg_type()),
                ),
                Some(k) if !limits.import_element_kinds.contains(&k) => out.push(
                    format!("{ep}.MsgType"),
                    Rule::InvalidParameter,
                    Some(i),
                    format!(
                        "MsgType {} cannot be imported in the {} edition",
                        k.msg_type(),
                        limits.edition
                    ),
                ),
                Some(ElementKind::Custom) => customs += 1,
                Some(_) => {}
            }
            check_element(e, &ep, i, out);
        }
        if customs > 1 {
            out.push(
                format!("{p}.MsgBody"),
                Rule::InvalidParameter,
                Some(i),
                format!("MsgBody has {customs} TIMCustomElem elements; at most 1 is allowed"),
            );
        }
    }
}

/// `MsgList[i]`, formatted only when a problem needs it.
#[derive(Clone, Copy)]
struct MsgPath(usize);

impl std::fmt::Display for MsgPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MsgList[{}]", self.0)
    }
}

/// `MsgList[i].MsgBody[j]`, formatted only when a problem needs it.
#[derive(Clone, Copy)]
struct ElemPath(usize, usize);

impl std::fmt::Display for ElemPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MsgList[{}].MsgBody[{}]", self.0, self.1)
    }
}

/// `text.to_lowercase()`, without a copy when `text` is ASCII without upper case, and into the
/// reused `buf` when it is ASCII (ASCII text lower-cases byte by byte).
fn lowercase<'a>(text: &'a str, buf: &'a mut String) -> &'a str {
    if text.is_ascii() {
        if !text.bytes().any(|b| b.is_ascii_uppercase()) {
            return text;
        }
        buf.clear();
        buf.push_str(text);
        buf.make_ascii_lowercase();
    } else {
        *buf = text.to_lowercase();
    }
    buf
}

fn check_element(e: &MsgElement, ep: &ElemPath, i: usize, out: &mut Problems) {
    // `None` when the field is fine, else what is wrong with it.
    let mut check = |field: &str, problem: Option<String>| {
        if let Some(problem) = problem {
            out.push(
                format!("{ep}.MsgContent.{field}"),
                Rule::InvalidParameter,
                Some(i),
                format!("{field} {problem}"),
            );
        }
    };
    let required = |present: bool| (!present).then(|| "is required".to_owned());
    let flag = |f: Option<i64>| match f {
        Some(2) => None,
        None => Some("is required (must be 2)".to_owned()),
        Some(v) => Some(format!("is {v}; it must be 2")),
    };
    let range = |n: &serde_json::Number, bound: f64| match n.as_f64() {
        Some(v) if (-bound..=bound).contains(&v) => None,
        _ => Some(format!("is {n}; it must be between -{bound} and {bound}")),
    };
    match e {
        MsgElement::Sound(s) => {
            check("Url", required(s.url.is_some()));
            check("UUID", required(s.uuid.is_some()));
            check("Download_Flag", flag(s.download_flag));
        }
        MsgElement::File(f) => {
            check("Url", required(f.url.is_some()));
            check("UUID", required(f.uuid.is_some()));
            check("Download_Flag", flag(f.download_flag));
        }
        MsgElement::Video(v) => {
            check("VideoUrl", required(v.video_url.is_some()));
            check("VideoUUID", required(v.video_uuid.is_some()));
            check("VideoDownloadFlag", flag(v.video_download_flag));
            check("ThumbUrl", required(v.thumb_url.is_some()));
            check("ThumbUUID", required(v.thumb_uuid.is_some()));
            check("ThumbDownloadFlag", flag(v.thumb_download_flag));
        }
        MsgElement::Image(im) => {
            check("UUID", required(im.uuid.is_some()));
            check(
                "ImageInfoArray",
                match &im.image_info_array {
                    None => Some("is required".to_owned()),
                    Some(a) if a.is_empty() => {
                        Some("is empty; send 1 or more renditions".to_owned())
                    }
                    Some(_) => None,
                },
            );
        }
        MsgElement::Location(l) => {
            check("Latitude", range(&l.latitude, 90.0));
            check("Longitude", range(&l.longitude, 180.0));
        }
        _ => {}
    }
}

fn check_messages(
    req: &ImportGroupMsgRequest,
    group: &GroupSnapshot,
    ctx: Context<'_>,
    out: &mut Problems,
) {
    let limits = ctx.limits;
    let words: Vec<std::borrow::Cow<'_, str>> = ctx
        .restricted_words
        .iter()
        .filter(|w| !w.is_empty())
        .map(
            |w| match w.is_ascii() && !w.bytes().any(|b| b.is_ascii_uppercase()) {
                true => std::borrow::Cow::Borrowed(w.as_str()),
                false => std::borrow::Cow::Owned(w.to_lowercase()),
            },
        )
        .collect();
    let mut buf = String::new();
    // The newest accepted time so far, and where it came from: the group's newest message, or
    // an earlier message of this batch. Failed messages do not move it (they are not stored).
    let mut newest: Option<(i64, Option<usize>)> = group.last_msg_time.map(|t| (t, None));
    for (i, m) in req.msg_list.iter().enumerate() {
        if ctx.duplicates.get(i).copied().unwrap_or(false) {
            if limits.duplicate_answer == crate::edition::DuplicateAnswer::Refused {
                out.push(
                    format!("{}.Random", MsgPath(i)),
                    Rule::Duplicate,
                    Some(i),
                    "duplicate message: the group holds a message with this Random within the duplicate window",
                );
            }
            continue;
        }
        let before = out.0.len();
        let p = MsgPath(i);
        let t = m.send_time;
        let too_early = |bound: i64| {
            if limits.allow_equal_send_time {
                t < bound
            } else {
                t <= bound
            }
        };
        if t <= group.create_time {
            out.push(
                format!("{p}.SendTime"),
                Rule::SendTime,
                Some(i),
                format!(
                    "SendTime {t} is not after the group's creation time {}",
                    group.create_time
                ),
            );
        } else if t > ctx.now {
            out.push(
                format!("{p}.SendTime"),
                Rule::SendTime,
                Some(i),
                format!("SendTime {t} is in the future (now is {})", ctx.now),
            );
        } else if let Some((bound, from)) = newest.filter(|&(bound, _)| too_early(bound)) {
            let message = match from {
                Some(j) => format!("SendTime {t} is earlier than MsgList[{j}].SendTime {bound}; import in SendTime order"),
                None => format!("SendTime {t} is before the group's newest message ({bound})"),
            };
            out.push(format!("{p}.SendTime"), Rule::SendTime, Some(i), message);
        }
        let size = message_size(m);
        if size > limits.msg_max_bytes {
            out.push(
                format!("{p}.MsgBody"),
                Rule::MsgTooLong,
                Some(i),
                format!(
                    "message is {size} bytes; at most {} are allowed",
                    limits.msg_max_bytes
                ),
            );
        }
        if !words.is_empty() {
            'elems: for (j, e) in m.msg_body.iter().enumerate() {
                for text in e.texts() {
                    let lower = lowercase(text, &mut buf);
                    if words.iter().any(|w| lower.contains(w.as_ref())) {
                        out.push(
                            format!("{p}.MsgBody[{j}].MsgContent"),
                            Rule::RestrictedWords,
                            Some(i),
                            "message contains restricted words",
                        );
                        break 'elems;
                    }
                }
            }
        }
        if out.0.len() == before && newest.is_none_or(|(bound, _)| t >= bound) {
            newest = Some((t, Some(i)));
        }
    }
}

/// What the server does with a request, given its problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The whole request fails with `code`; nothing is stored.
    Reject {
        /// The API-level error code.
        code: ErrorCode,
        /// `ErrorInfo`: every problem, `path: message`, joined with `; `.
        info: String,
    },
    /// The request is processed; `None` marks a message to store, `Some(code)` one that fails alone.
    Accept {
        /// One entry per message.
        outcomes: Vec<Option<ErrorCode>>,
    },
}

/// Most problems listed in one `ErrorInfo`.
pub const MAX_PROBLEMS_IN_INFO: usize = 10;

/// Decides the outcome of a request of `msg_count` messages with `problems`, under `limits`.
pub fn verdict(problems: &[Problem], msg_count: usize, limits: &Limits) -> Verdict {
    let scope = limits.failure_scope;
    let rejecting: Vec<&Problem> = problems
        .iter()
        .filter(|p| !p.rule.is_per_message() || scope == FailureScope::Request)
        .collect();
    if let Some(first) = rejecting.first() {
        return Verdict::Reject {
            code: first.rule.code(scope),
            info: render_info(&rejecting),
        };
    }
    let mut outcomes = vec![None; msg_count];
    for p in problems {
        if let Some(slot) = p.msg_index.and_then(|i| outcomes.get_mut(i)) {
            slot.get_or_insert(p.rule.code(scope));
        }
    }
    Verdict::Accept { outcomes }
}

fn render_info(problems: &[&Problem]) -> String {
    let mut parts: Vec<String> = problems
        .iter()
        .take(MAX_PROBLEMS_IN_INFO)
        .map(|p| p.to_string())
        .collect();
    if problems.len() > MAX_PROBLEMS_IN_INFO {
        parts.push(format!(
            "and {} more problems",
            problems.len() - MAX_PROBLEMS_IN_INFO
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The copy-avoiding lower-casing agrees with `to_lowercase`, ASCII or not.
        #[test]
        fn lowercase_agrees_with_to_lowercase(text in "[a-zA-Z0-9 İKéÉΣ\u{212A}ß]{0,12}") {
            let mut buf = String::from("stale");
            prop_assert_eq!(lowercase(&text, &mut buf), text.to_lowercase());
        }
    }
}
