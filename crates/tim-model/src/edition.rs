//! Editions of the API and the limits they imply (digest §1.1). Limits are data: every rule that
//! differs between editions reads a field of [`Limits`], never the edition itself.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::element::ElementKind;
use crate::group_type::GroupType;

/// Which edition of the documentation the server or client follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    /// The ~2016 seed document: 20 messages a request, 100 requests/s, whole-request errors.
    #[default]
    Seed,
    /// The 2021+ documentation: 7 messages a request, 200 requests/s, per-message results.
    Current,
}

impl Edition {
    /// The edition's name on the command line and in config files.
    pub const fn name(self) -> &'static str {
        match self {
            Edition::Seed => "seed",
            Edition::Current => "current",
        }
    }

    /// The limits this edition documents.
    pub fn limits(self) -> Limits {
        Limits::for_edition(self)
    }
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An edition name that is neither `seed` nor `current`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown edition {0:?}: expected \"seed\" or \"current\"")]
pub struct UnknownEdition(pub String);

impl FromStr for Edition {
    type Err = UnknownEdition;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "seed" => Ok(Edition::Seed),
            "current" => Ok(Edition::Current),
            other => Err(UnknownEdition(other.to_owned())),
        }
    }
}

/// How a rule violation of one message affects the request (digest §7 Q2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureScope {
    /// The whole request fails with the API-level code; nothing is stored (seed).
    Request,
    /// Only that message fails, with a per-message `Result`; the others are imported (current).
    Message,
}

/// What the `Random` duplicate window is measured on (digest §7 Q6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupClock {
    /// The messages' own `SendTime`s: two messages are duplicates when their send times are
    /// within the window (our default: the imported history's clock).
    #[default]
    SendTime,
    /// The server's wall clock: a message is a duplicate of one stored at most the window ago.
    Wall,
}

/// How a message that the duplicate rule drops is answered (digest §7 Q6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateAnswer {
    /// `Result` 0 with the original message's `MsgSeq` and time (our default).
    #[default]
    OriginalSeq,
    /// Refused as an invalid message (10004), as [`FailureScope`] says: per message (`MsgSeq` 0)
    /// or the whole request.
    Refused,
}

/// A rate limit: a number of requests per second per app and API, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// N requests per second.
    PerSecond(u32),
    /// No limit.
    Off,
}

impl RateLimit {
    /// As the `Option` of [`Limits::requests_per_second`].
    pub fn per_second(self) -> Option<u32> {
        match self {
            RateLimit::PerSecond(n) => Some(n),
            RateLimit::Off => None,
        }
    }
}

impl FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(RateLimit::Off),
            n => match n.parse::<u32>() {
                Ok(0) | Err(_) => Err(format!(
                    "{n:?} is not a positive number of requests per second or \"off\""
                )),
                Ok(v) => Ok(RateLimit::PerSecond(v)),
            },
        }
    }
}

impl Serialize for RateLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RateLimit::PerSecond(n) => s.serialize_u32(*n),
            RateLimit::Off => s.serialize_str("off"),
        }
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => n.to_string().parse(),
            Raw::S(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// Every limit and edition-dependent rule, as one overridable value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The edition these limits started from.
    pub edition: Edition,
    /// Messages allowed in one `import_group_msg` request (seed 20, current 7).
    pub msgs_per_request: usize,
    /// Requests per second per app and API; `None` turns rate limiting off (seed 100, current 200).
    pub requests_per_second: Option<u32>,
    /// Largest message, in bytes as measured by [`crate::validate::message_size`] (8000).
    pub msg_max_bytes: usize,
    /// Group types into which messages may be imported.
    pub import_group_types: Vec<GroupType>,
    /// Group types that `import_group` / `create_group` accept.
    pub creatable_group_types: Vec<GroupType>,
    /// Group types whose members keep unread counts (digest §4.4: seed only Private and Public;
    /// current: also Work and Community, not Meeting or AVChatRoom). On other types `UnreadMsgNum`
    /// is accepted and has no effect.
    pub unread_count_group_types: Vec<GroupType>,
    /// Element types `import_group_msg` accepts (seed: the four the seed lists; current: all eight, digest §7 Q20).
    pub import_element_kinds: Vec<ElementKind>,
    /// Members allowed in one `import_group_member` request (digest §7 Q21: seed 500, current 20).
    pub members_per_request: usize,
    /// The `Random` duplicate window in seconds (300, digest §7 Q6); 0 turns duplicate
    /// detection off.
    pub dedup_window_secs: i64,
    /// What the duplicate window is measured on (digest §7 Q6).
    #[serde(default)]
    pub dedup_clock: DedupClock,
    /// How a duplicate is answered (digest §7 Q6).
    #[serde(default)]
    pub duplicate_answer: DuplicateAnswer,
    /// Whether per-message rule violations fail the request or only the message (digest §7 Q2).
    pub failure_scope: FailureScope,
    /// Whether `RecentContactFlag` is part of the request (current edition).
    pub recent_contact_flag: bool,
    /// Whether equal `SendTime`s are accepted, within a batch and against the group's newest message (digest §7 Q4).
    pub allow_equal_send_time: bool,
    /// Most messages `group_msg_get_simple` returns in one call (20).
    pub history_page_max: usize,
    /// Most groups one `get_group_info` request may name (50).
    pub group_info_max_ids: usize,
    /// Largest request body in bytes the server reads before answering with an envelope error.
    pub max_body_bytes: usize,
}

impl Limits {
    /// The documented limits of `edition`.
    pub fn for_edition(edition: Edition) -> Limits {
        use GroupType::*;
        match edition {
            Edition::Seed => Limits {
                edition,
                msgs_per_request: 20,
                requests_per_second: Some(100),
                msg_max_bytes: 8000,
                import_group_types: vec![Private, Public, ChatRoom],
                creatable_group_types: vec![Private, Public, ChatRoom, AVChatRoom, BChatRoom],
                unread_count_group_types: vec![Private, Public],
                import_element_kinds: ElementKind::SEED_IMPORT.to_vec(),
                members_per_request: 500,
                dedup_window_secs: 300,
                dedup_clock: DedupClock::SendTime,
                duplicate_answer: DuplicateAnswer::OriginalSeq,
                failure_scope: FailureScope::Request,
                recent_contact_flag: false,
                allow_equal_send_time: true,
                history_page_max: 20,
                group_info_max_ids: 50,
                max_body_bytes: 1 << 20,
            },
            Edition::Current => Limits {
                edition,
                msgs_per_request: 7,
                requests_per_second: Some(200),
                msg_max_bytes: 8000,
                import_group_types: vec![Private, Work, Public, ChatRoom, Meeting, Community],
                creatable_group_types: vec![
                    Private, Work, Public, ChatRoom, Meeting, AVChatRoom, Community,
                ],
                unread_count_group_types: vec![Private, Work, Public, Community],
                import_element_kinds: ElementKind::ALL.to_vec(),
                members_per_request: 20,
                dedup_window_secs: 300,
                dedup_clock: DedupClock::SendTime,
                duplicate_answer: DuplicateAnswer::OriginalSeq,
                failure_scope: FailureScope::Message,
                recent_contact_flag: true,
                allow_equal_send_time: true,
                history_page_max: 20,
                group_info_max_ids: 50,
                max_body_bytes: 1 << 20,
            },
        }
    }

    /// Whether messages may be imported into a group of type `t`.
    pub fn can_import_into(&self, t: &GroupType) -> bool {
        self.import_group_types.contains(t)
    }

    /// Whether groups of type `t` may be created or imported.
    pub fn can_create(&self, t: &GroupType) -> bool {
        self.creatable_group_types.contains(t)
    }

    /// Whether members of a group of type `t` keep unread counts (`import_group_member`'s and
    /// `set_unread_msg_num`'s `UnreadMsgNum` has an effect).
    pub fn keeps_unread_counts(&self, t: &GroupType) -> bool {
        self.unread_count_group_types.contains(t)
    }

    /// Messages per second at the quota ceiling (`requests_per_second × msgs_per_request`).
    pub fn max_messages_per_second(&self) -> Option<u64> {
        self.requests_per_second
            .map(|r| u64::from(r) * self.msgs_per_request as u64)
    }
}

/// A partial change of [`Limits`]: the TOML file's `[limits]` table and the control plane's
/// `PUT /_tim/config` use the same keys. Absent keys keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsPatch {
    /// [`Limits::msgs_per_request`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgs_per_request: Option<usize>,
    /// [`Limits::requests_per_second`]: a number, or `"off"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<RateLimit>,
    /// [`Limits::msg_max_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_max_bytes: Option<usize>,
    /// [`Limits::members_per_request`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_per_request: Option<usize>,
    /// [`Limits::dedup_window_secs`] (0 = no duplicate detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_window_secs: Option<i64>,
    /// [`Limits::dedup_clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_clock: Option<DedupClock>,
    /// [`Limits::duplicate_answer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_answer: Option<DuplicateAnswer>,
    /// [`Limits::failure_scope`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_scope: Option<FailureScope>,
    /// [`Limits::allow_equal_send_time`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_equal_send_time: Option<bool>,
    /// [`Limits::history_page_max`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_page_max: Option<usize>,
    /// [`Limits::max_body_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
}

impl LimitsPatch {
    /// Applies the keys that are present to `limits`.
    pub fn apply(&self, limits: &mut Limits) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { limits.$f = v; } )* };
        }
        set!(
            msgs_per_request,
            msg_max_bytes,
            members_per_request,
            dedup_window_secs,
            dedup_clock,
            duplicate_answer,
            failure_scope,
            allow_equal_send_time,
            history_page_max,
            max_body_bytes
        );
        if let Some(r) = self.requests_per_second {
            limits.requests_per_second = r.per_second();
        }
    }

    /// Every value that cannot be a limit, as one message per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let positive = |name: &str, v: Option<usize>, out: &mut Vec<String>| {
            if v == Some(0) {
                out.push(format!("{name} must be at least 1"));
            }
        };
        positive("msgs_per_request", self.msgs_per_request, &mut out);
        positive("msg_max_bytes", self.msg_max_bytes, &mut out);
        positive("members_per_request", self.members_per_request, &mut out);
        positive("history_page_max", self.history_page_max, &mut out);
        positive("max_body_bytes", self.max_body_bytes, &mut out);
        if self.dedup_window_secs.is_some_and(|w| w < 0) {
            out.push("dedup_window_secs must be 0 (off) or more".to_owned());
        }
        out
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::for_edition(Edition::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_applies_present_keys_only() {
        let mut l = Edition::Seed.limits();
        let patch: LimitsPatch = serde_json::from_str(
            r#"{"dedup_window_secs":0,"dedup_clock":"wall","duplicate_answer":"refused","requests_per_second":"off"}"#,
        )
        .unwrap();
        patch.apply(&mut l);
        assert_eq!(l.dedup_window_secs, 0);
        assert_eq!(l.dedup_clock, DedupClock::Wall);
        assert_eq!(l.duplicate_answer, DuplicateAnswer::Refused);
        assert_eq!(l.requests_per_second, None);
        assert_eq!(l.msgs_per_request, 20);
        assert!(serde_json::from_str::<LimitsPatch>(r#"{"nope":1}"#).is_err());
        let bad: LimitsPatch =
            serde_json::from_str(r#"{"msgs_per_request":0,"dedup_window_secs":-1}"#).unwrap();
        assert_eq!(bad.problems().len(), 2);
        assert_eq!("off".parse::<RateLimit>(), Ok(RateLimit::Off));
        assert!("0".parse::<RateLimit>().is_err());
    }

    #[test]
    fn documented_numbers() {
        let s = Edition::Seed.limits();
        assert_eq!((s.msgs_per_request, s.requests_per_second), (20, Some(100)));
        assert_eq!(s.max_messages_per_second(), Some(2000));
        assert!(!s.can_import_into(&GroupType::AVChatRoom));
        assert!(!s.can_import_into(&GroupType::BChatRoom));
        assert!(!s.can_import_into(&GroupType::Community));
        let c = Edition::Current.limits();
        assert_eq!((c.msgs_per_request, c.requests_per_second), (7, Some(200)));
        assert_eq!(c.max_messages_per_second(), Some(1400));
        assert!(c.can_import_into(&GroupType::Community));
        assert!(!c.can_import_into(&GroupType::AVChatRoom));
        assert_eq!("current".parse::<Edition>().unwrap(), Edition::Current);
        assert!("x".parse::<Edition>().is_err());
    }

    /// Digest §4.4: seed era only Private and Public keep unread counts; the current group-system
    /// page adds Work and Community and still excludes Meeting and AVChatRoom.
    #[test]
    fn unread_counts_by_type_and_edition() {
        use GroupType::*;
        let keeps = |e: Edition| {
            let l = e.limits();
            [
                Private, Work, Public, ChatRoom, Meeting, AVChatRoom, BChatRoom, Community,
            ]
            .into_iter()
            .filter(|t| l.keeps_unread_counts(t))
            .collect::<Vec<_>>()
        };
        assert_eq!(keeps(Edition::Seed), [Private, Public]);
        assert_eq!(keeps(Edition::Current), [Private, Work, Public, Community]);
        assert!(!Edition::Current
            .limits()
            .keeps_unread_counts(&GroupType::Unknown("X".into())));
    }
}
