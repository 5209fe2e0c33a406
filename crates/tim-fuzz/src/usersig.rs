//! UserSig verification: never accepts what the signer did not make for that key, app,
//! identifier and userbuf, at that time.

use arbitrary::{Arbitrary, Unstructured};
use tim_model::usersig::{self, SecretKey, SigDocument};

use crate::{NOW, SDKAPPID};

/// The keys the target signs and verifies with. Distinct, and none a prefix of another padded
/// with NUL bytes (HMAC cannot tell such keys apart, by design).
pub(crate) const KEYS: [&str; 3] = [
    "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e",
    "0000000000000000000000000000000000000000000000000000000000000001",
    "a-short-key",
];

/// An app, identifier or key: one of a few known values (so that matches happen), or any.
#[derive(Debug, Clone, Arbitrary)]
pub(crate) enum Choice<T> {
    /// The `i % len`-th known value.
    Known(u8),
    /// Any value.
    Any(T),
}

pub(crate) const IDENTIFIERS: [&str; 4] = ["administrator", "admin", "", "user\n1"];

pub(crate) fn app(c: &Choice<u64>) -> u64 {
    match c {
        Choice::Known(i) => [SDKAPPID, SDKAPPID + 1, 0, u64::MAX][usize::from(*i) % 4],
        Choice::Any(v) => *v,
    }
}

pub(crate) fn identifier(c: &Choice<String>) -> String {
    match c {
        Choice::Known(i) => IDENTIFIERS[usize::from(*i) % IDENTIFIERS.len()].to_owned(),
        Choice::Any(s) => s.clone(),
    }
}

fn key_index(i: u8) -> usize {
    usize::from(i) % KEYS.len()
}

/// How the candidate usersig is made from the signed one.
#[derive(Debug, Arbitrary)]
enum Mutation {
    /// Unchanged.
    None,
    /// Replaced by any text.
    Raw(String),
    /// Decoded, one claim changed, encoded again (the HMAC kept).
    Claim(Claim),
    /// One character of the text changed.
    Flip { at: u16, to: u8 },
    /// Cut short.
    Truncate(u16),
    /// Text appended.
    Append(String),
    /// Padding `_` removed or added.
    Padding(u8),
}

#[derive(Debug, Arbitrary)]
enum Claim {
    Version(String),
    Identifier(String),
    SdkAppId(u64),
    Expire(u64),
    Time(i64),
    Userbuf(Option<Vec<u8>>),
    Sig(String),
    /// The HMAC of other claims under the same key (a sig of another app or identifier).
    OtherSig {
        app: u64,
        identifier: String,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    key: u8,
    app: Choice<u64>,
    identifier: Choice<String>,
    expire: u32,
    issued: i32,
    userbuf: Option<Vec<u8>>,
    mutation: Mutation,
    verify_key: u8,
    verify_app: Choice<u64>,
    verify_identifier: Choice<String>,
    verify_userbuf: Option<Vec<u8>>,
    now: i32,
}

/// Signs one usersig, derives a candidate from it, verifies the candidate with some key, app,
/// identifier and userbuf at some time. An accepted candidate must carry exactly the signed
/// claims, and be verified with the signing key, app, identifier and userbuf, unexpired.
/// Decoding never panics, and encoding a decoded document gives one that decodes to it.
///
/// Input: a leading byte `0` makes the rest a raw usersig (the committed seeds are real
/// usersigs), verified with the first key, app and identifier; anything else is structured.
pub fn usersig_verify(data: &[u8]) {
    if let Some((&0, raw)) = data.split_first() {
        let candidate = String::from_utf8_lossy(raw);
        check_decode(&candidate);
        let key = SecretKey::new(KEYS[0]);
        for identifier in IDENTIFIERS {
            let verdict = usersig::verify(&candidate, SDKAPPID, &key, identifier, NOW);
            if let Ok(v) = verdict {
                // The committed seeds include sigs signed with KEYS[0]: check they are right.
                let again = usersig::sign(SDKAPPID, &key, identifier, v.expire, v.time);
                let doc = usersig::decode(&again).expect("a fresh sig decodes");
                let cand = usersig::decode(&candidate).expect("an accepted sig decodes");
                assert_eq!(doc.sig, cand.sig, "accepted a sig the key did not make");
            }
        }
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let key = SecretKey::new(KEYS[key_index(input.key)]);
    let app = app(&input.app);
    let id = identifier(&input.identifier);
    let time = NOW + i64::from(input.issued);
    let expire = u64::from(input.expire);
    let signed = usersig::sign_with_userbuf(app, &key, &id, expire, time, input.userbuf.as_deref());
    let original = usersig::decode(&signed).expect("a signed usersig decodes");
    assert_eq!(
        (
            &original.identifier,
            original.sdkappid,
            original.time,
            original.expire
        ),
        (&id, app, time, expire)
    );
    assert_eq!(original.userbuf, input.userbuf);
    let candidate = mutate(&signed, &original, &key, input.mutation);
    check_decode(&candidate);

    let verify_key = SecretKey::new(KEYS[key_index(input.verify_key)]);
    let verify_app = app_or(&input.verify_app, app);
    let verify_id = identifier_or(&input.verify_identifier, &id);
    let now = NOW + i64::from(input.now);
    let verdict = usersig::verify_with_userbuf(
        &candidate,
        verify_app,
        &verify_key,
        &verify_id,
        now,
        input.verify_userbuf.as_deref(),
    );
    match verdict {
        Ok(v) => {
            assert_eq!(
                key_index(input.key),
                key_index(input.verify_key),
                "other key"
            );
            assert_eq!(verify_app, app, "accepted for another app");
            assert_eq!(verify_id, id, "accepted for another identifier");
            assert_eq!(input.verify_userbuf, input.userbuf, "other userbuf");
            assert_eq!((v.sdkappid, v.identifier.as_str()), (app, id.as_str()));
            assert_eq!((v.time, v.expire), (time, expire), "accepted changed times");
            assert!(now <= v.expires_at, "accepted an expired sig");
            assert_eq!(
                v.expires_at,
                i64::try_from(i128::from(time) + i128::from(expire)).unwrap_or(i64::MAX)
            );
        }
        Err(e) => {
            let code = e.code();
            assert!(
                [70002, 70003, 70014, 70013, 70001, 70009].contains(&code),
                "unexpected code {code}"
            );
            let text = e.to_string();
            let key_text = verify_key.expose_secret();
            // Identifiers are quoted on purpose (expected and found): one the caller wrote, or
            // the sig carries, may be any text, the key included (regressions/usersig_verify/
            // identifier-is-the-key); that is the caller's text, not a leak.
            let carried = usersig::decode(&candidate)
                .map(|d| d.identifier)
                .unwrap_or_default();
            if key_text.len() >= 16 && !verify_id.contains(key_text) && !carried.contains(key_text)
            {
                assert!(!text.contains(key_text), "an error quotes the key: {text}");
            }
            // The signed sig itself is refused only for a reason that concerns the verifier's
            // side: another app, identifier, key or userbuf, or the time.
            if candidate == signed {
                let expires_at =
                    i64::try_from(i128::from(time) + i128::from(expire)).unwrap_or(i64::MAX);
                let fair = verify_app != app
                    || verify_id != id
                    || now > expires_at
                    || input.verify_userbuf != input.userbuf
                    || key_index(input.key) != key_index(input.verify_key);
                assert!(fair, "a genuine sig was refused: {e}");
            }
        }
    }
}

fn app_or(c: &Choice<u64>, signed: u64) -> u64 {
    match c {
        // Known(0) is "the app it was signed for", so matches are frequent.
        Choice::Known(0) => signed,
        other => app(other),
    }
}

fn identifier_or(c: &Choice<String>, signed: &str) -> String {
    match c {
        Choice::Known(0) => signed.to_owned(),
        other => identifier(other),
    }
}

fn mutate(signed: &str, original: &SigDocument, key: &SecretKey, m: Mutation) -> String {
    match m {
        Mutation::None => signed.to_owned(),
        Mutation::Raw(s) => s,
        Mutation::Claim(c) => {
            let mut doc = original.clone();
            match c {
                Claim::Version(v) => doc.version = v,
                Claim::Identifier(v) => doc.identifier = v,
                Claim::SdkAppId(v) => doc.sdkappid = v,
                Claim::Expire(v) => doc.expire = v,
                Claim::Time(v) => doc.time = v,
                Claim::Userbuf(v) => doc.userbuf = v,
                Claim::Sig(v) => doc.sig = v,
                Claim::OtherSig { app, identifier } => {
                    let other = usersig::sign(app, key, &identifier, doc.expire, doc.time);
                    doc.sig = usersig::decode(&other)
                        .expect("a signed usersig decodes")
                        .sig;
                }
            }
            usersig::encode(&doc)
        }
        Mutation::Flip { at, to } => {
            let mut bytes = signed.as_bytes().to_vec();
            if !bytes.is_empty() {
                let i = usize::from(at) % bytes.len();
                bytes[i] = to;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Mutation::Truncate(n) => {
            let n = usize::from(n) % (signed.len() + 1);
            signed[..n].to_owned()
        }
        Mutation::Append(s) => format!("{signed}{s}"),
        Mutation::Padding(n) => {
            let body = signed.trim_end_matches('_');
            format!("{body}{}", "_".repeat(usize::from(n % 4)))
        }
    }
}

/// Decoding never panics; a decoded document encodes to one that decodes to it again.
fn check_decode(candidate: &str) {
    if let Ok(doc) = usersig::decode(candidate) {
        let again = usersig::encode(&doc);
        assert_eq!(
            usersig::decode(&again).as_ref(),
            Ok(&doc),
            "decode(encode(doc)) != doc"
        );
    }
}
