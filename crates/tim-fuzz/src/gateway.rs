//! The gateway's query parsing and authentication: `CommonQuery::parse` → `Gateway::authenticate`.

use std::collections::BTreeSet;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use tim_model::usersig::{self, SecretKey};
use tim_model::CommonQuery;
use tim_server::clock::ManualClock;
use tim_server::error::ApiError;
use tim_server::gateway::{AppCredentials, Gateway};

use crate::usersig::{app, identifier, Choice, KEYS};
use crate::{NOW, SDKAPPID};

/// The app's admins (the other known identifiers are not).
const ADMINS: [&str; 2] = ["administrator", "admin"];

/// One `key=value` pair of the query.
#[derive(Debug, Arbitrary)]
enum Pair {
    SdkAppId(Value<u64>),
    Identifier(Value<String>),
    UserSig(Sig),
    Random(String),
    ContentType(String),
    Other(String, String),
    /// Written as is, not percent-encoded.
    Raw(String),
}

/// A value: one of a few known ones, any, or text that is not what the key wants.
#[derive(Debug, Arbitrary)]
enum Value<T> {
    Choice(Choice<T>),
    Text(String),
}

/// A usersig value.
#[derive(Debug, Arbitrary)]
enum Sig {
    /// Signed with the app's key for the given app and identifier.
    Signed {
        app: Choice<u64>,
        identifier: Choice<String>,
        expire: u32,
        issued: i32,
        /// Signed with another key instead.
        other_key: bool,
    },
    Text(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    pairs: Vec<Pair>,
    /// Percent-encode everything, or write `+` for spaces and leave some characters as they are.
    plain: bool,
    now: i16,
}

/// A query made of pairs, parsed and authenticated. Properties: the first occurrence of each key
/// wins (when every pair is percent-encoded); rendering the parsed query and parsing it again
/// gives the same query; a caller is authenticated only when the sdkappid is the app's, the
/// identifier is an admin and the usersig is one the target signed with the app's key for that
/// app and identifier, unexpired; refusals follow the gateway's order.
///
/// Input: a leading byte `0` makes the rest a raw query string; anything else is structured.
pub fn gateway_query(data: &[u8]) {
    if let Some((&0, raw)) = data.split_first() {
        let raw = String::from_utf8_lossy(raw);
        let q = CommonQuery::parse(&raw);
        round_trip(&q);
        check_auth(&gateway(NOW), &q, None, NOW);
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let now = NOW + i64::from(input.now);
    let gateway = gateway(now);
    let mut signed = Vec::new();
    let mut expected = CommonQuery::default();
    let mut raw_seen = false;
    let mut parts = Vec::new();
    for pair in &input.pairs {
        let (k, v) = match pair {
            Pair::SdkAppId(v) => ("sdkappid", value(v, app)),
            Pair::Identifier(v) => ("identifier", value(v, identifier)),
            Pair::UserSig(Sig::Text(s)) => ("usersig", s.clone()),
            Pair::UserSig(Sig::Signed {
                app: a,
                identifier: i,
                expire,
                issued,
                other_key,
            }) => {
                let key = SecretKey::new(KEYS[usize::from(*other_key)]);
                let (a, i) = (app(a), identifier(i));
                let time = now + i64::from(*issued);
                let sig = usersig::sign(a, &key, &i, u64::from(*expire), time);
                if !other_key {
                    signed.push(sig.clone());
                }
                ("usersig", sig)
            }
            Pair::Random(s) => ("random", s.clone()),
            Pair::ContentType(s) => ("contenttype", s.clone()),
            Pair::Other(k, v) => (k.as_str(), v.clone()),
            Pair::Raw(s) => {
                raw_seen = true;
                parts.push(s.clone());
                continue;
            }
        };
        parts.push(encode_pair(k, &v, input.plain));
        let slot = match k {
            "sdkappid" => &mut expected.sdkappid,
            "identifier" => &mut expected.identifier,
            "usersig" => &mut expected.usersig,
            "random" => &mut expected.random,
            "contenttype" => &mut expected.contenttype,
            _ => continue,
        };
        slot.get_or_insert(v);
    }
    let query = parts.join("&");
    let q = CommonQuery::parse(&query);
    if !raw_seen {
        assert_eq!(q, expected, "query {query:?}");
    }
    round_trip(&q);
    check_auth(&gateway, &q, Some(&signed), now);
}

/// The gateway of the app [`SDKAPPID`] with key `KEYS[0]` and [`ADMINS`], at `now`; no rate limit.
fn gateway(now: i64) -> Gateway {
    Gateway::new(
        AppCredentials {
            sdkappid: SDKAPPID,
            secret_key: SecretKey::new(KEYS[0]),
            admins: ADMINS
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<_>>(),
        },
        Arc::new(ManualClock::new(now)),
        None,
    )
}

fn value<T, R: ToString>(v: &Value<T>, known: impl Fn(&Choice<T>) -> R) -> String {
    match v {
        Value::Choice(c) => known(c).to_string(),
        Value::Text(s) => s.clone(),
    }
}

fn encode_pair(k: &str, v: &str, plain: bool) -> String {
    let enc = |s: &str| -> String {
        if plain {
            // Spaces as `+`, unreserved characters as they are, the rest escaped.
            form_urlencoded::byte_serialize(s.as_bytes()).collect()
        } else {
            s.bytes().map(|b| format!("%{b:02X}")).collect()
        }
    };
    format!("{}={}", enc(k), enc(v))
}

fn round_trip(q: &CommonQuery) {
    let again = CommonQuery::parse(&q.to_query_string());
    assert_eq!(&again, q, "parse(render(q)) != q");
}

/// Whether the target made `sig` with the app's key: one of `signed`, or (for a raw query,
/// `None`) one whose HMAC is the key's over its claims.
fn made_by_target(sig: &str, signed: Option<&[String]>) -> bool {
    match signed {
        Some(list) => list.iter().any(|s| s == sig),
        None => usersig::decode(sig).is_ok_and(|d| {
            let again = usersig::sign(
                d.sdkappid,
                &SecretKey::new(KEYS[0]),
                &d.identifier,
                d.expire,
                d.time,
            );
            usersig::decode(&again).is_ok_and(|a| a.sig == d.sig) && d.userbuf.is_none()
        }),
    }
}

/// The gateway's verdict against the rules, computed independently.
fn check_auth(gateway: &Gateway, q: &CommonQuery, signed: Option<&[String]>, now: i64) {
    let verdict = gateway.authenticate(q);
    let sdkappid = q.sdkappid.as_deref().filter(|s| !s.is_empty());
    let Some(sdkappid) = sdkappid else {
        assert!(
            matches!(verdict, Err(ApiError::SdkAppIdMissing)),
            "{verdict:?}"
        );
        return;
    };
    let Ok(app) = sdkappid.parse::<u64>() else {
        assert!(
            matches!(verdict, Err(ApiError::SdkAppIdMalformed(_))),
            "{verdict:?}"
        );
        return;
    };
    if app != SDKAPPID {
        assert!(
            matches!(verdict, Err(ApiError::UnknownApp(a)) if a == app),
            "{verdict:?}"
        );
        return;
    }
    let sig = q.usersig.as_deref().unwrap_or("");
    if sig.is_empty() {
        assert!(matches!(verdict, Err(ApiError::UserSig(_))), "{verdict:?}");
        return;
    }
    let Some(id) = q.identifier.as_deref() else {
        assert!(
            matches!(verdict, Err(ApiError::IdentifierMissing)),
            "{verdict:?}"
        );
        return;
    };
    match verdict {
        Ok(caller) => {
            assert_eq!(
                (caller.sdkappid, caller.identifier.as_str()),
                (SDKAPPID, id)
            );
            assert!(ADMINS.contains(&id), "authenticated a non-admin {id:?}");
            assert!(
                made_by_target(sig, signed),
                "authenticated with a usersig the target did not sign"
            );
            let doc = usersig::decode(sig).expect("an accepted sig decodes");
            assert_eq!((doc.sdkappid, doc.identifier.as_str()), (SDKAPPID, id));
            let expires_at =
                i64::try_from(i128::from(doc.time) + i128::from(doc.expire)).unwrap_or(i64::MAX);
            assert!(now <= expires_at, "authenticated with an expired sig");
        }
        Err(ApiError::UserSig(_)) => {
            // Refused sig: fine unless it is one the target signed for this app and admin, valid now.
            let genuine = made_by_target(sig, signed)
                && usersig::decode(sig).is_ok_and(|d| {
                    d.sdkappid == SDKAPPID
                        && d.identifier == id
                        && now
                            <= i64::try_from(i128::from(d.time) + i128::from(d.expire))
                                .unwrap_or(i64::MAX)
                });
            assert!(!genuine, "a genuine usersig was refused");
        }
        Err(ApiError::NotAdmin(who)) => {
            assert_eq!(who, id);
            assert!(!ADMINS.contains(&id), "an admin was refused as a non-admin");
            assert!(
                usersig::verify(sig, SDKAPPID, &SecretKey::new(KEYS[0]), id, now).is_ok(),
                "the admin check came before the usersig check"
            );
        }
        Err(other) => panic!("unexpected refusal {other:?}"),
    }
}
