//! UserSig v2 (digest §3): the §3.4 vectors, one case per error code, properties, and a
//! cross-check against Tencent's own Python generator.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use proptest::prelude::*;
use rstest::rstest;
use tim_model::usersig::{
    decode, encode, sign, sign_with_userbuf, verify, verify_with_userbuf, SecretKey, SigDocument,
    UserSigError, VerifiedSig, DEFAULT_EXPIRE_SECS, MAX_DOCUMENT_BYTES,
};

const APPID: u64 = 1_400_000_000;
const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const ADMIN: &str = "administrator";
const NOW: i64 = 1_700_000_000;
const DAY: u64 = 86_400;

/// Digest §3.4: Python generator, zlib level 6.
const PY_VECTOR: &str = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-Myi0uKEkvyi2BKilOyEwsKMlOACgxNDKAAKpdaUZBZlAqUsTAzgQuWZOaChAzN0RQXZ6aDLKn0cUzVLjcPD00NLS1MCrPM0A*JMLcoNTLMD3HP1M60jCowLDUOKMiLNDOwVaoFAD4PNPI_";
/// Digest §3.4: the same claims as compact JSON, zlib level 0 (Go style).
const GO_VECTOR: &str = "eAEBrgBR-3siVExTLnZlciI6IjIuMCIsIlRMUy5pZGVudGlmaWVyIjoiYWRtaW5pc3RyYXRvciIsIlRMUy5zZGthcHBpZCI6MTQwMDAwMDAwMCwiVExTLmV4cGlyZSI6ODY0MDAsIlRMUy50aW1lIjoxNzAwMDAwMDAwLCJUTFMuc2lnIjoieUxBZSt3N1dVZVV1cWJWOWgvVFg3OHUyMW9UR2kraTlacDF1M1Bwblk2MD0ifbyIM5I_";
/// Digest §3.4: `TLS.sig` of the vector.
const VECTOR_SIG: &str = "yLAe+w7WUeUuqbV9h/TX78u21oTGi+i9Zp1u3PpnY60=";
/// Digest §3.4: `TLS.sig` of the vector with userbuf `abc`.
const VECTOR_USERBUF_SIG: &str = "8genqljbpEaJZVMsIbmfmZ/85Nx6/a80jcuFHDVj+RM=";
/// Digest §3.4: the Python serialization of the vector's document.
const VECTOR_JSON: &str = r#"{"TLS.ver": "2.0", "TLS.identifier": "administrator", "TLS.sdkappid": 1400000000, "TLS.expire": 86400, "TLS.time": 1700000000, "TLS.sig": "yLAe+w7WUeUuqbV9h/TX78u21oTGi+i9Zp1u3PpnY60="}"#;

fn key() -> SecretKey {
    SecretKey::new(KEY)
}

fn vector_document() -> SigDocument {
    SigDocument {
        version: "2.0".to_owned(),
        identifier: ADMIN.to_owned(),
        sdkappid: APPID,
        expire: DAY,
        time: NOW,
        userbuf: None,
        sig: VECTOR_SIG.to_owned(),
    }
}

/// Builds a usersig around arbitrary bytes, independently of the crate: zlib at `level`, then
/// standard base64 with Tencent's substitutions.
fn envelope_bytes(compressed: &[u8]) -> String {
    STANDARD
        .encode(compressed)
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_")
}

fn zlib(data: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(level));
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn envelope(json: &str, level: u32) -> String {
    envelope_bytes(&zlib(json.as_bytes(), level))
}

/// Reverses the envelope independently of the crate, returning the raw JSON text.
fn inflate_text(usersig: &str) -> String {
    let b64 = usersig
        .replace('*', "+")
        .replace('-', "/")
        .replace('_', "=");
    let compressed = STANDARD.decode(b64).unwrap();
    let mut json = String::new();
    ZlibDecoder::new(&compressed[..])
        .read_to_string(&mut json)
        .unwrap();
    json
}

/// The vector's claims as JSON, with `TLS.sig` replaced; `extra` is spliced in before `TLS.sig`.
fn vector_json_with(extra: &str) -> String {
    format!(
        r#"{{"TLS.ver": "2.0", "TLS.identifier": "administrator", "TLS.sdkappid": 1400000000, "TLS.expire": 86400, "TLS.time": 1700000000{extra}, "TLS.sig": "{VECTOR_SIG}"}}"#
    )
}

/// The vector's JSON without `key` (in serde_json's key order, which verifiers must not mind).
fn vector_json_without(key: &str) -> String {
    let mut doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(VECTOR_JSON).unwrap();
    doc.remove(key).unwrap();
    serde_json::to_string(&doc).unwrap()
}

/// The vector's JSON at zlib level 6, altered by `edit`.
fn vector_zlib(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut compressed = zlib(VECTOR_JSON.as_bytes(), 6);
    edit(&mut compressed);
    compressed
}

fn verified_vector() -> VerifiedSig {
    VerifiedSig {
        identifier: ADMIN.to_owned(),
        sdkappid: APPID,
        time: NOW,
        expire: DAY,
        expires_at: NOW + 86_400,
    }
}

#[rstest]
#[case::python_level6(PY_VECTOR)]
#[case::go_compact_level0(GO_VECTOR)]
#[case::python_unpadded(PY_VECTOR.trim_end_matches('_'))]
fn vector_verifies_until_expiry(#[case] usersig: &str) {
    assert_eq!(
        verify(usersig, APPID, &key(), ADMIN, NOW),
        Ok(verified_vector())
    );
    assert_eq!(
        verify(usersig, APPID, &key(), ADMIN, 1_700_086_400),
        Ok(verified_vector())
    );
    assert_eq!(
        verify(usersig, APPID, &key(), ADMIN, 1_700_086_401),
        Err(UserSigError::Expired {
            expired_at: 1_700_086_400
        })
    );
    assert_eq!(decode(usersig), Ok(vector_document()));
}

#[test]
fn sign_reproduces_vector_sig_and_python_layout() {
    let usersig = sign(APPID, &key(), ADMIN, DAY, NOW);
    assert_eq!(decode(&usersig), Ok(vector_document()));
    // Same key order, separators and escaping as Python's json.dumps.
    assert_eq!(inflate_text(&usersig), VECTOR_JSON);
    assert_eq!(
        verify(&usersig, APPID, &key(), ADMIN, NOW),
        Ok(verified_vector())
    );
}

#[test]
fn sign_with_userbuf_reproduces_vector_sig() {
    let usersig = sign_with_userbuf(APPID, &key(), ADMIN, DAY, NOW, Some(b"abc"));
    let doc = decode(&usersig).unwrap();
    assert_eq!(doc.sig, VECTOR_USERBUF_SIG);
    assert_eq!(doc.userbuf.as_deref(), Some(&b"abc"[..]));
    assert!(inflate_text(&usersig)
        .contains(r#""TLS.time": 1700000000, "TLS.userbuf": "YWJj", "TLS.sig": "#));

    let ok = verify_with_userbuf(&usersig, APPID, &key(), ADMIN, NOW, Some(b"abc"));
    assert_eq!(ok, Ok(verified_vector()));
    // Like Go's VerifyUserSig: an IM verifier rejects a sig that carries a userbuf.
    assert_eq!(
        verify(&usersig, APPID, &key(), ADMIN, NOW),
        Err(UserSigError::BadSignature)
    );
    assert_eq!(
        verify_with_userbuf(&usersig, APPID, &key(), ADMIN, NOW, Some(b"abd")),
        Err(UserSigError::BadSignature)
    );
    assert_eq!(
        verify_with_userbuf(PY_VECTOR, APPID, &key(), ADMIN, NOW, Some(b"abc")),
        Err(UserSigError::BadSignature)
    );
}

#[test]
fn sign_without_userbuf_equals_sign_with_none() {
    assert_eq!(
        sign(APPID, &key(), ADMIN, DAY, NOW),
        sign_with_userbuf(APPID, &key(), ADMIN, DAY, NOW, None)
    );
}

/// `sign` reuses a compressor per thread; its output must not depend on what was signed before.
#[test]
fn sign_is_deterministic_across_calls_and_threads() {
    let fresh = std::thread::spawn(|| sign(APPID, &key(), ADMIN, DAY, NOW))
        .join()
        .unwrap();
    let _ = sign_with_userbuf(7, &key(), &"z".repeat(5000), 1, 2, Some(&[9; 3000]));
    assert_eq!(sign(APPID, &key(), ADMIN, DAY, NOW), fresh);
}

#[test]
fn sign_escapes_non_ascii_like_python() {
    let usersig = sign(APPID, &key(), "张三\u{1F600}\"\\\n\u{7f}", DAY, NOW);
    assert!(inflate_text(&usersig)
        .contains(r#""TLS.identifier": "\u5f20\u4e09\ud83d\ude00\"\\\n\u007f""#));
    assert!(verify(&usersig, APPID, &key(), "张三\u{1F600}\"\\\n\u{7f}", NOW).is_ok());
}

#[test]
fn default_expiry_is_180_days() {
    assert_eq!(DEFAULT_EXPIRE_SECS, 180 * DAY);
}

#[rstest]
#[case::compact_level_9(r#"{"TLS.ver":"2.0","TLS.identifier":"administrator","TLS.sdkappid":1400000000,"TLS.expire":86400,"TLS.time":1700000000,"TLS.sig":"yLAe+w7WUeUuqbV9h/TX78u21oTGi+i9Zp1u3PpnY60="}"#.to_owned(), 9)]
#[case::go_trailing_newline_level_1(format!("{}\n", VECTOR_JSON), 1)]
#[case::numbers_as_strings(r#"{"TLS.ver": "2.0", "TLS.identifier": "administrator", "TLS.sdkappid": "1400000000", "TLS.expire": "86400", "TLS.time": "1700000000", "TLS.sig": "yLAe+w7WUeUuqbV9h/TX78u21oTGi+i9Zp1u3PpnY60="}"#.to_owned(), 6)]
#[case::unknown_field_ignored(vector_json_with(r#", "TLS.extra": [1, {"a": null}]"#), 6)]
#[case::null_userbuf_is_absent(vector_json_with(r#", "TLS.userbuf": null"#), 6)]
fn lenient_reading(#[case] json: String, #[case] level: u32) {
    let usersig = envelope(&json, level);
    assert_eq!(
        verify(&usersig, APPID, &key(), ADMIN, NOW),
        Ok(verified_vector())
    );
}

/// Inputs for the error table; each must fail with the code and a message containing `what`.
#[rstest]
#[case::empty(String::new(), 70002, "empty")]
#[case::garbage("not a usersig!".to_owned(), 70003, "base64: invalid character")]
#[case::standard_base64_alphabet(PY_VECTOR.replace('*', "+"), 70003, "base64: invalid character")]
#[case::extra_padding(format!("{PY_VECTOR}_"), 70003, "base64: invalid padding")]
#[case::bad_length(PY_VECTOR[..PY_VECTOR.len() - 4].to_owned() + "A", 70003, "base64: invalid length")]
#[case::truncated(PY_VECTOR[..100].to_owned(), 70003, "zlib: truncated")]
#[case::checksum_cut(envelope_bytes(&vector_zlib(|z| z.truncate(z.len() - 4))), 70003, "zlib: truncated")]
#[case::trailing_bytes(envelope_bytes(&vector_zlib(|z| z.extend(b"xyz"))), 70003, "zlib: trailing data")]
#[case::bad_checksum(envelope_bytes(&vector_zlib(|z| *z.last_mut().unwrap() ^= 1)), 70003, "zlib: invalid stream")]
#[case::not_zlib(envelope_bytes(VECTOR_JSON.as_bytes()), 70003, "zlib")]
#[case::not_json(envelope("hello, world", 6), 70003, "json: syntax error")]
#[case::json_array(envelope("[1, 2]", 6), 70003, "json: unexpected value")]
#[case::missing_sig(envelope(&vector_json_without("TLS.sig"), 6), 70003, "missing field TLS.sig")]
#[case::missing_time(envelope(&vector_json_without("TLS.time"), 6), 70003, "missing field TLS.time")]
#[case::missing_version(envelope(&vector_json_without("TLS.ver"), 6), 70003, "missing field TLS.ver")]
#[case::missing_identifier(envelope(&vector_json_without("TLS.identifier"), 6), 70003, "missing field TLS.identifier")]
#[case::negative_sdkappid(envelope(&vector_json_with("").replace("1400000000,", "-1,"), 6), 70003, "TLS.sdkappid is out of range")]
#[case::float_time(envelope(&vector_json_with("").replace("1700000000", "1700000000.5"), 6), 70003, "json: unexpected value")]
#[case::duplicate_field(envelope(&vector_json_with(r#", "TLS.sdkappid": 1"#), 6), 70003, "json")]
#[case::version_1(envelope(&vector_json_with("").replace("\"2.0\"", "\"1.0\""), 6), 70003, "TLS.ver")]
#[case::sig_not_base64(envelope(&vector_json_with("").replace(VECTOR_SIG, "%%%"), 6), 70003, "TLS.sig is not valid base64")]
#[case::userbuf_not_base64(envelope(&vector_json_with(r#", "TLS.userbuf": "%%%""#), 6), 70003, "TLS.userbuf is not valid base64")]
#[case::zip_bomb(envelope(&" ".repeat(MAX_DOCUMENT_BYTES * 16), 9), 70003, "larger than")]
#[case::other_sdkappid(sign(APPID + 1, &key(), ADMIN, DAY, NOW), 70014, "sdkappid mismatch")]
#[case::other_identifier(sign(APPID, &key(), "root", DAY, NOW), 70013, "identifier mismatch")]
#[case::expired(sign(APPID, &key(), ADMIN, DAY, NOW - 86_401), 70001, "expired at 1699999999")]
#[case::wrong_key(sign(APPID, &SecretKey::new("not the key"), ADMIN, DAY, NOW), 70009, "signature verification failed")]
#[case::claims_altered(encode(&SigDocument { expire: 10 * DAY, ..vector_document() }), 70009, "signature verification failed")]
#[case::sig_truncated(encode(&SigDocument { sig: STANDARD.encode([0u8; 31]), ..vector_document() }), 70009, "signature")]
fn rejects_with_code(#[case] usersig: String, #[case] code: u32, #[case] what: &str) {
    let err = verify(&usersig, APPID, &key(), ADMIN, NOW).unwrap_err();
    let message = err.to_string();
    assert_eq!(err.code(), code, "{message}");
    assert!(message.contains(what), "{message:?} lacks {what:?}");
    assert!(!message.contains(KEY));
    if !usersig.is_empty() {
        assert!(!message.contains(&usersig), "message leaks the usersig");
    }
}

#[test]
fn zip_bomb_input_is_small() {
    // The bomb case above must exercise the output bound, not the input-length bound.
    let bomb = envelope(&" ".repeat(MAX_DOCUMENT_BYTES * 16), 9);
    assert!(bomb.len() < 4096, "{}", bomb.len());
}

#[test]
fn mismatch_errors_carry_both_values() {
    assert_eq!(
        verify(
            &sign(APPID + 1, &key(), ADMIN, DAY, NOW),
            APPID,
            &key(),
            ADMIN,
            NOW
        ),
        Err(UserSigError::SdkAppIdMismatch {
            expected: APPID,
            found: APPID + 1
        })
    );
    assert_eq!(
        verify(
            &sign(APPID, &key(), "root", DAY, NOW),
            APPID,
            &key(),
            ADMIN,
            NOW
        ),
        Err(UserSigError::IdentifierMismatch {
            expected: ADMIN.to_owned(),
            found: "root".to_owned()
        })
    );
}

#[test]
fn found_identifier_is_cut_to_64_chars() {
    let long = "x".repeat(1000);
    let err = verify(
        &sign(APPID, &key(), &long, DAY, NOW),
        APPID,
        &key(),
        ADMIN,
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        err,
        UserSigError::IdentifierMismatch {
            expected: ADMIN.to_owned(),
            found: "x".repeat(64)
        }
    );
}

/// Go order: sdkappid, identifier, expiry, userbuf, then the HMAC.
#[test]
fn checks_run_in_go_order() {
    let wrong = SecretKey::new("wrong");
    let all_wrong = sign(APPID + 1, &wrong, "root", DAY, 0);
    assert_eq!(
        verify(&all_wrong, APPID, &key(), ADMIN, NOW)
            .unwrap_err()
            .code(),
        70014
    );
    let id_wrong = sign(APPID, &wrong, "root", DAY, 0);
    assert_eq!(
        verify(&id_wrong, APPID, &key(), ADMIN, NOW)
            .unwrap_err()
            .code(),
        70013
    );
    let expired_wrong_key = sign(APPID, &wrong, ADMIN, DAY, 0);
    assert_eq!(
        verify(&expired_wrong_key, APPID, &key(), ADMIN, NOW)
            .unwrap_err()
            .code(),
        70001
    );
    let bad_version = encode(&SigDocument {
        version: "3.0".to_owned(),
        sdkappid: APPID + 1,
        ..vector_document()
    });
    assert_eq!(
        verify(&bad_version, APPID, &key(), ADMIN, NOW)
            .unwrap_err()
            .code(),
        70003
    );
}

#[test]
fn expiry_saturates_instead_of_overflowing() {
    let usersig = sign(APPID, &key(), ADMIN, u64::MAX, i64::MAX - 5);
    let verified = verify(&usersig, APPID, &key(), ADMIN, i64::MAX).unwrap();
    assert_eq!(verified.expires_at, i64::MAX);
}

#[rstest]
#[case::empty(UserSigError::Empty, 70002)]
#[case::malformed(UserSigError::Malformed("json".to_owned()), 70003)]
#[case::sdkappid(UserSigError::SdkAppIdMismatch { expected: 1, found: 2 }, 70014)]
#[case::identifier(UserSigError::IdentifierMismatch { expected: "a".to_owned(), found: "b".to_owned() }, 70013)]
#[case::expired(UserSigError::Expired { expired_at: 0 }, 70001)]
#[case::bad_signature(UserSigError::BadSignature, 70009)]
fn error_codes(#[case] err: UserSigError, #[case] code: u32) {
    assert_eq!(err.code(), code);
    let message = err.to_string();
    assert!(message.starts_with("usersig "), "{message}");
    assert_eq!(message, message.to_lowercase());
}

#[test]
fn secret_key_debug_hides_the_key() {
    let key = key();
    assert_eq!(format!("{key:?}"), "SecretKey(***)");
    assert_eq!(format!("{key:#?}"), "SecretKey(***)");
    assert_eq!(key.clone().expose_secret(), KEY);
}

#[test]
fn decode_does_not_check_claims() {
    let doc = SigDocument {
        version: "9.9".to_owned(),
        identifier: String::new(),
        sdkappid: 0,
        expire: 0,
        time: -1,
        userbuf: Some(vec![0, 255]),
        sig: "not a sig".to_owned(),
    };
    assert_eq!(decode(&encode(&doc)), Ok(doc));
}

/// Tencent's base64 alphabet plus a few characters outside it.
const MUTATIONS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_+/= .";

proptest! {
    #[test]
    fn sign_then_verify_roundtrips(
        identifier in "[ -~]{1,32}",
        secret in any::<String>(),
        sdkappid in any::<u64>(),
        time in 0i64..=4_102_444_800,
        expire in 0u64..=50 * 365 * 86_400,
        userbuf in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..48)),
    ) {
        let key = SecretKey::new(secret);
        let buf = userbuf.as_deref();
        let usersig = sign_with_userbuf(sdkappid, &key, &identifier, expire, time, buf);
        let expires_at = time + i64::try_from(expire).unwrap();
        let expected = VerifiedSig {
            identifier: identifier.clone(),
            sdkappid,
            time,
            expire,
            expires_at,
        };
        prop_assert_eq!(
            verify_with_userbuf(&usersig, sdkappid, &key, &identifier, expires_at, buf),
            Ok(expected)
        );
        prop_assert_eq!(
            verify_with_userbuf(&usersig, sdkappid, &key, &identifier, expires_at + 1, buf),
            Err(UserSigError::Expired { expired_at: expires_at })
        );
        let doc = decode(&usersig).unwrap();
        prop_assert_eq!(
            (doc.identifier, doc.sdkappid, doc.time, doc.expire, doc.userbuf),
            (identifier, sdkappid, time, expire, userbuf)
        );
    }

    #[test]
    fn any_hmac_byte_change_is_bad_signature(
        identifier in "[ -~]{1,32}",
        index in 0usize..32,
        flip in 1u8..=255,
    ) {
        let usersig = sign(APPID, &key(), &identifier, DAY, NOW);
        let mut doc = decode(&usersig).unwrap();
        let mut mac = STANDARD.decode(&doc.sig).unwrap();
        mac[index] ^= flip;
        doc.sig = STANDARD.encode(&mac);
        prop_assert_eq!(
            verify(&encode(&doc), APPID, &key(), &identifier, NOW),
            Err(UserSigError::BadSignature)
        );
    }

    /// A one-character change never yields a valid sig for other claims: it fails, or (rarely)
    /// it only touches bits the inflater ignores and the document is unchanged (see
    /// `deflate_is_malleable`).
    #[test]
    fn single_character_change_never_forges(
        identifier in "[ -~]{1,32}",
        position in any::<prop::sample::Index>(),
        replacement in any::<prop::sample::Index>(),
    ) {
        let usersig = sign(APPID, &key(), &identifier, DAY, NOW);
        let mut chars: Vec<char> = usersig.chars().collect();
        let at = position.index(chars.len());
        let candidates: Vec<char> = MUTATIONS.chars().filter(|&c| c != chars[at]).collect();
        chars[at] = *replacement.get(&candidates);
        let mutated: String = chars.into_iter().collect();
        if verify(&mutated, APPID, &key(), &identifier, NOW).is_ok() {
            prop_assert_eq!(decode(&mutated), decode(&usersig));
        }
    }
}

/// zlib is malleable: the unused high bits of the last deflate byte are ignored by every inflater
/// (zlib, Go, miniz), a back-reference may point at another copy of the same bytes, and the
/// adler32 covers only the inflated bytes. So a few one-character changes (about 0.13% of them
/// for our own output) leave a valid sig with the same claims. Tencent's verifiers accept those
/// too; nothing is forged, which is why sigs are never compared as strings (digest §3.2).
#[test]
fn deflate_is_malleable() {
    let mut accepted = Vec::new();
    for (at, original) in PY_VECTOR.char_indices() {
        for replacement in MUTATIONS.chars().filter(|&c| c != original) {
            let mut mutated = PY_VECTOR.to_owned();
            mutated.replace_range(at..=at, replacement.encode_utf8(&mut [0; 4]));
            if verify(&mutated, APPID, &key(), ADMIN, NOW).is_ok() {
                assert_eq!(decode(&mutated), Ok(vector_document()));
                accepted.push((at, replacement));
            }
        }
    }
    // Only character 184: its 6 bits fall in compressed byte 138 of 143, past the end of the final
    // deflate block (the last 4 bytes are the adler32), so the inflater never reads them.
    let expected: Vec<(usize, char)> = MUTATIONS[..64]
        .chars()
        .filter(|&c| c != 'A')
        .map(|c| (184, c))
        .collect();
    assert_eq!(accepted, expected);
}

/// Path of the Python generator script, next to the other fixtures.
fn python_script() -> String {
    format!(
        "{}/tests/fixtures/usersig_python.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `true` when `python3` can import Tencent's `TLSSigAPIv2` module.
fn python_generator_available() -> bool {
    Command::new("python3")
        .args(["-c", "import TLSSigAPIv2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

struct PyCase {
    sdkappid: u64,
    key: &'static str,
    identifier: &'static str,
    expire: u64,
    time: i64,
    userbuf: Option<&'static [u8]>,
}

const PY_CASES: &[PyCase] = &[
    PyCase {
        sdkappid: APPID,
        key: KEY,
        identifier: ADMIN,
        expire: DAY,
        time: NOW,
        userbuf: None,
    },
    PyCase {
        sdkappid: APPID,
        key: KEY,
        identifier: ADMIN,
        expire: DAY,
        time: NOW,
        userbuf: Some(b"abc"),
    },
    PyCase {
        sdkappid: 1_600_012_345,
        key: "k",
        identifier: "user_01-x",
        expire: DEFAULT_EXPIRE_SECS,
        time: 1_750_000_123,
        userbuf: None,
    },
    PyCase {
        sdkappid: 20_000_000,
        key: "密钥 with spaces",
        identifier: "张三",
        expire: 0,
        time: 1,
        userbuf: None,
    },
    PyCase {
        sdkappid: u32::MAX as u64,
        key: "",
        identifier: "a\"b\\c\td",
        expire: 3_600,
        time: 2_000_000_000,
        userbuf: Some(&[0, 1, 2, 254, 255]),
    },
];

/// Runs the Python generator on every case of [`PY_CASES`].
fn python_usersigs() -> Vec<String> {
    let cases: Vec<serde_json::Value> = PY_CASES
        .iter()
        .map(|c| {
            serde_json::json!({
                "sdkappid": c.sdkappid,
                "key": c.key,
                "identifier": c.identifier,
                "expire": c.expire,
                "time": c.time,
                "userbuf_b64": c.userbuf.map(|b| STANDARD.encode(b)),
            })
        })
        .collect();
    let mut child = Command::new("python3")
        .arg(python_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    serde_json::to_writer(child.stdin.take().unwrap(), &cases).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "usersig_python.py failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn cross_check_with_tencent_python_generator() {
    if !python_generator_available() {
        eprintln!(
            "skipping the Python cross-check: `python3 -c 'import TLSSigAPIv2'` failed; \
             enable it with `pip install tls-sig-api-v2==1.1`"
        );
        return;
    }
    let python = python_usersigs();
    assert_eq!(python.len(), PY_CASES.len());
    assert_eq!(python[0], PY_VECTOR);
    for (case, py) in PY_CASES.iter().zip(&python) {
        let key = SecretKey::new(case.key);
        let verified = verify_with_userbuf(
            py,
            case.sdkappid,
            &key,
            case.identifier,
            case.time,
            case.userbuf,
        );
        assert_eq!(
            verified.map(|v| v.identifier),
            Ok(case.identifier.to_owned())
        );

        let ours = sign_with_userbuf(
            case.sdkappid,
            &key,
            case.identifier,
            case.expire,
            case.time,
            case.userbuf,
        );
        assert_eq!(decode(&ours), decode(py), "{}", case.identifier);
        assert_eq!(inflate_text(&ours), inflate_text(py), "{}", case.identifier);
    }
}
