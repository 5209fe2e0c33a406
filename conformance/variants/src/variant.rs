//! The variant tables: every [`Mutant`] (breaks exactly one rule a clause of
//! `conformance/clauses.toml` states: a *sharp* suite FAILs it) and every [`Benign`] variant (a
//! correct but different choice the documents allow: a *fair* suite passes it). How each one is
//! built around the reference server is [`crate::server`]'s business.

use tim_model::Edition;

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
        TimeOrderBeforeDuplicates => "time-order-before-duplicates", "IGM-DUP-RANDOM", BOTH,
            "checks time order before duplicates: a re-sent batch gets 10004 for the messages older than the group's newest and the original MsgSeq for the newest (nothing stored twice)";
        MixedFailureScope => "mixed-failure-scope", "IGM-FAILURE-SCOPE", &[Edition::Seed],
            "seed edition failing a badly dated message alone, but the whole request for a message too long or with a restricted word";
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
}
