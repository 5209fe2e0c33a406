//! UserSig v2 (TLSSigAPIv2): signing, decoding and verification of Tencent's login tickets.
//!
//! Digest §3: §3.2 for the algorithm, §3.3 for the verification order and the error codes, §3.4
//! for the test vectors.
//!
//! A UserSig is `base64'(zlib(json))` where `base64'` is standard base64 with `+`→`*`, `/`→`-`
//! and `=`→`_`, and the JSON document carries the claims plus `TLS.sig`, the standard-base64
//! HMAC-SHA256 (keyed by the app's secret key) of a fixed text rendering of the claims.
//!
//! Invariant: [`sign`] writes the document exactly like Tencent's Python generator (same key
//! order, `", "` and `": "` separators, ASCII-only escaping, zlib default level). [`verify`] never
//! compares encodings: it decodes, parses, checks the claims in the Go reference's order and
//! compares the raw HMAC bytes in constant time.
//!
//! Invariant: no error message contains the usersig or the key.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use base64::alphabet::Alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use sha2::Sha256;

/// Default validity of a UserSig in seconds: 180 days, as in Tencent's libraries (digest §3.2).
pub const DEFAULT_EXPIRE_SECS: u64 = 15_552_000;

/// Largest decompressed JSON document accepted by [`decode`], so a zlib bomb cannot exhaust memory.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Largest usersig string accepted by [`decode`], in characters (room for [`MAX_DOCUMENT_BYTES`]
/// stored uncompressed, plus zlib overhead, in base64).
pub const MAX_USERSIG_CHARS: usize = (MAX_DOCUMENT_BYTES + 1024) / 3 * 4;

/// The only document version this module signs and verifies (`TLS.ver`).
const VERSION: &str = "2.0";

/// Longest `found` identifier kept in [`UserSigError::IdentifierMismatch`], in characters.
const MAX_FOUND_IDENTIFIER_CHARS: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// Tencent's base64 alphabet: standard with `+`→`*` and `/`→`-` (padding `_` is handled apart).
const TENCENT_ALPHABET: Alphabet =
    match Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-") {
        Ok(alphabet) => alphabet,
        Err(_) => panic!("invalid base64 alphabet"),
    };

/// Engine for the usersig envelope; padding is written and stripped by hand because it is `_`.
const TENCENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &TENCENT_ALPHABET,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// An app's secret key: held in a [`secrecy::SecretString`] (wiped from memory when dropped);
/// `Debug` prints `SecretKey(***)` and there is no `Display`.
#[derive(Clone)]
pub struct SecretKey(SecretString);

impl SecretKey {
    /// Wraps a secret key as shown in the IM console (used as raw UTF-8 bytes for the HMAC).
    pub fn new(key: impl Into<String>) -> Self {
        Self(SecretString::from(key.into()))
    }

    /// Returns the key itself; call only where the raw key is really needed.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// The admin UserSig of one app and identifier, signed with the key and cached: the one signer
/// of the client, the load driver and the conformance runner.
///
/// [`SigCache::usersig_at`] answers the cached sig while more than a tenth of its validity (at
/// most one hour) remains, and signs a new one otherwise (or when the clock went back before the
/// cached one's issue time).
pub struct SigCache {
    sdkappid: u64,
    key: SecretKey,
    identifier: String,
    ttl: u64,
    cached: std::sync::Mutex<Option<(std::sync::Arc<str>, i64)>>,
}

impl fmt::Debug for SigCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigCache")
            .field("sdkappid", &self.sdkappid)
            .field("identifier", &self.identifier)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SigCache {
    /// A cache of `identifier`'s sigs for `sdkappid`, each valid `ttl` seconds (at least 60).
    pub fn new(sdkappid: u64, key: SecretKey, identifier: impl Into<String>, ttl: u64) -> Self {
        SigCache {
            sdkappid,
            key,
            identifier: identifier.into(),
            ttl: ttl.max(60),
            cached: std::sync::Mutex::new(None),
        }
    }

    /// The identifier the sigs are made for.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The app the sigs are made for.
    pub fn sdkappid(&self) -> u64 {
        self.sdkappid
    }

    /// The key the sigs are signed with.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// The sig to send at `now` (Unix seconds).
    pub fn usersig_at(&self, now: i64) -> std::sync::Arc<str> {
        let margin = (self.ttl / 10).min(3600) as i64;
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some((sig, at)) if now >= *at && now < *at + self.ttl as i64 - margin => {
                std::sync::Arc::clone(sig)
            }
            _ => {
                let sig: std::sync::Arc<str> =
                    sign(self.sdkappid, &self.key, &self.identifier, self.ttl, now).into();
                *cached = Some((std::sync::Arc::clone(&sig), now));
                sig
            }
        }
    }

    /// Drops the cached sig (e.g. after the server said it expired): the next call signs anew.
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The decoded JSON document inside a usersig, as written by the generator (no checks applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigDocument {
    /// `TLS.ver`: the format version, `"2.0"` for v2 sigs.
    pub version: String,
    /// `TLS.identifier`: the user the sig was issued for.
    pub identifier: String,
    /// `TLS.sdkappid`: the app the sig was issued for.
    pub sdkappid: u64,
    /// `TLS.expire`: validity in seconds, counted from `time`.
    pub expire: u64,
    /// `TLS.time`: Unix time of issue, in seconds.
    pub time: i64,
    /// `TLS.userbuf`: optional opaque bytes (standard base64 on the wire); IM sigs have none.
    pub userbuf: Option<Vec<u8>>,
    /// `TLS.sig`: standard base64 of the HMAC-SHA256 over the claims.
    pub sig: String,
}

/// The claims of a usersig that passed [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSig {
    /// The user the sig was issued for (equal to the expected identifier).
    pub identifier: String,
    /// The app the sig was issued for (equal to the expected sdkappid).
    pub sdkappid: u64,
    /// Unix time of issue, in seconds.
    pub time: i64,
    /// Validity in seconds, counted from `time`.
    pub expire: u64,
    /// Last Unix second at which the sig is valid (`time + expire`, saturating).
    pub expires_at: i64,
}

/// Why a usersig was rejected; [`UserSigError::code`] gives the Tencent error code (digest §3.3).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum UserSigError {
    /// The usersig is missing or empty.
    #[error("usersig is empty")]
    Empty,
    /// The usersig does not decode (base64, zlib, JSON, a missing or out-of-range field, version).
    #[error("usersig is malformed: {0}")]
    Malformed(String),
    /// The sig was issued for another app.
    #[error("usersig sdkappid mismatch: expected {expected}, found {found}")]
    SdkAppIdMismatch {
        /// The sdkappid of the request.
        expected: u64,
        /// The sdkappid inside the sig.
        found: u64,
    },
    /// The sig was issued for another user.
    #[error("usersig identifier mismatch: expected {expected:?}, found {found:?}")]
    IdentifierMismatch {
        /// The identifier of the request.
        expected: String,
        /// The identifier inside the sig (cut to 64 characters).
        found: String,
    },
    /// The sig is past `time + expire`.
    #[error("usersig expired at {expired_at}")]
    Expired {
        /// Last Unix second at which the sig was valid.
        expired_at: i64,
    },
    /// The HMAC does not match (wrong key, altered claims, or an unexpected userbuf).
    #[error("usersig signature verification failed")]
    BadSignature,
}

impl UserSigError {
    /// The Tencent error code for this failure (digest §3.3 table).
    pub fn code(&self) -> u32 {
        match self {
            Self::Empty => 70002,
            Self::Malformed(_) => 70003,
            Self::SdkAppIdMismatch { .. } => 70014,
            Self::IdentifierMismatch { .. } => 70013,
            Self::Expired { .. } => 70001,
            Self::BadSignature => 70009,
        }
    }

    fn malformed(what: impl Into<String>) -> Self {
        Self::Malformed(what.into())
    }
}

/// Signs a usersig for `identifier` (no userbuf), issued at `now`, valid for `expire` seconds.
pub fn sign(sdkappid: u64, key: &SecretKey, identifier: &str, expire: u64, now: i64) -> String {
    sign_with_userbuf(sdkappid, key, identifier, expire, now, None)
}

/// Signs a usersig, optionally carrying `userbuf` (covered by the HMAC as `TLS.userbuf`).
///
/// Keeps one zlib compressor per calling thread (about 300 KiB): building one per call costs
/// more than the rest of the signing.
pub fn sign_with_userbuf(
    sdkappid: u64,
    key: &SecretKey,
    identifier: &str,
    expire: u64,
    now: i64,
    userbuf: Option<&[u8]>,
) -> String {
    let userbuf_b64 = userbuf.map(|buf| STANDARD.encode(buf));
    let mac = claims_mac(
        key,
        identifier,
        sdkappid,
        now,
        expire,
        userbuf_b64.as_deref(),
    );
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    let json = write_json(
        identifier,
        sdkappid,
        expire,
        now,
        userbuf_b64.as_deref(),
        VERSION,
        &sig,
    );
    encode_envelope(json.as_bytes())
}

/// Serializes, compresses and encodes `doc` as-is, without signing (for tests and emulators).
pub fn encode(doc: &SigDocument) -> String {
    let userbuf_b64 = doc.userbuf.as_ref().map(|buf| STANDARD.encode(buf));
    let json = write_json(
        &doc.identifier,
        doc.sdkappid,
        doc.expire,
        doc.time,
        userbuf_b64.as_deref(),
        &doc.version,
        &doc.sig,
    );
    encode_envelope(json.as_bytes())
}

/// Decodes a usersig (Tencent base64 → zlib → JSON), checking neither the claims nor the HMAC.
///
/// Lenient on what generators legitimately vary: `_` padding present or not, any zlib level, any
/// JSON layout and key order, unknown keys, integers written as strings of digits.
pub fn decode(usersig: &str) -> Result<SigDocument, UserSigError> {
    if usersig.is_empty() {
        return Err(UserSigError::Empty);
    }
    if usersig.len() > MAX_USERSIG_CHARS {
        return Err(UserSigError::malformed(format!(
            "usersig is longer than {MAX_USERSIG_CHARS} characters"
        )));
    }
    let compressed = decode_base64(usersig)?;
    let json = inflate(&compressed)?;
    parse_document(&json)
}

/// Verifies a usersig without userbuf (the IM variant) for `sdkappid` and `identifier` at `now`.
///
/// Order as the Go reference: decode, version, sdkappid, identifier, expiry, userbuf, HMAC.
pub fn verify(
    usersig: &str,
    sdkappid: u64,
    key: &SecretKey,
    identifier: &str,
    now: i64,
) -> Result<VerifiedSig, UserSigError> {
    verify_with_userbuf(usersig, sdkappid, key, identifier, now, None)
}

/// Verifies a usersig that must carry exactly `userbuf` (`None`: must carry none), like [`verify`].
///
/// A userbuf presence or content mismatch is reported as [`UserSigError::BadSignature`].
pub fn verify_with_userbuf(
    usersig: &str,
    sdkappid: u64,
    key: &SecretKey,
    identifier: &str,
    now: i64,
    userbuf: Option<&[u8]>,
) -> Result<VerifiedSig, UserSigError> {
    let doc = decode(usersig)?;
    if doc.version != VERSION {
        return Err(UserSigError::malformed(
            "unsupported TLS.ver (only \"2.0\" is supported)",
        ));
    }
    if doc.sdkappid != sdkappid {
        return Err(UserSigError::SdkAppIdMismatch {
            expected: sdkappid,
            found: doc.sdkappid,
        });
    }
    if doc.identifier != identifier {
        return Err(UserSigError::IdentifierMismatch {
            expected: identifier.to_owned(),
            found: doc
                .identifier
                .chars()
                .take(MAX_FOUND_IDENTIFIER_CHARS)
                .collect(),
        });
    }
    let expires_at = expires_at(doc.time, doc.expire);
    if now > expires_at {
        return Err(UserSigError::Expired {
            expired_at: expires_at,
        });
    }
    if doc.userbuf.as_deref() != userbuf {
        return Err(UserSigError::BadSignature);
    }
    let claimed = STANDARD
        .decode(&doc.sig)
        .map_err(|_| UserSigError::malformed("TLS.sig is not valid base64"))?;
    let userbuf_b64 = doc.userbuf.as_ref().map(|buf| STANDARD.encode(buf));
    let mac = claims_mac(
        key,
        &doc.identifier,
        doc.sdkappid,
        doc.time,
        doc.expire,
        userbuf_b64.as_deref(),
    );
    // `verify_slice` compares in constant time (and rejects a wrong length).
    mac.verify_slice(&claimed)
        .map_err(|_| UserSigError::BadSignature)?;
    Ok(VerifiedSig {
        identifier: doc.identifier,
        sdkappid: doc.sdkappid,
        time: doc.time,
        expire: doc.expire,
        expires_at,
    })
}

/// `time + expire`, saturating at `i64::MAX`.
fn expires_at(time: i64, expire: u64) -> i64 {
    i64::try_from(i128::from(time) + i128::from(expire)).unwrap_or(i64::MAX)
}

/// Feeds the text of digest §3.2 step 2 into an HMAC-SHA256 keyed by the raw key bytes.
fn claims_mac(
    key: &SecretKey,
    identifier: &str,
    sdkappid: u64,
    time: i64,
    expire: u64,
    userbuf_b64: Option<&str>,
) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    let mut w = MacWriter(&mut mac);
    writeln!(
        w,
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}"
    )
    .expect("writing to an HMAC cannot fail");
    if let Some(buf) = userbuf_b64 {
        writeln!(w, "TLS.userbuf:{buf}").expect("writing to an HMAC cannot fail");
    }
    mac
}

/// Streams formatted text into an HMAC without an intermediate buffer.
struct MacWriter<'a>(&'a mut HmacSha256);

impl fmt::Write for MacWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// Writes the document like Python's `json.dumps` with default arguments (insertion order).
fn write_json(
    identifier: &str,
    sdkappid: u64,
    expire: u64,
    time: i64,
    userbuf_b64: Option<&str>,
    version: &str,
    sig: &str,
) -> String {
    let mut out = String::with_capacity(160 + identifier.len() + sig.len());
    out.push_str("{\"TLS.ver\": ");
    push_json_string(&mut out, version);
    out.push_str(", \"TLS.identifier\": ");
    push_json_string(&mut out, identifier);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        ", \"TLS.sdkappid\": {sdkappid}, \"TLS.expire\": {expire}, \"TLS.time\": {time}"
    );
    if let Some(buf) = userbuf_b64 {
        out.push_str(", \"TLS.userbuf\": ");
        push_json_string(&mut out, buf);
    }
    out.push_str(", \"TLS.sig\": ");
    push_json_string(&mut out, sig);
    out.push('}');
    out
}

/// Appends a JSON string literal escaped like Python's `ensure_ascii=True` (lowercase `\uXXXX`).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// zlib (default level, with header), then Tencent base64 with `_` padding.
fn encode_envelope(json: &[u8]) -> String {
    thread_local! {
        /// A compressor per thread: building one allocates and zeroes ~300 KiB of tables.
        static COMPRESSOR: RefCell<Compress> =
            RefCell::new(Compress::new(Compression::default(), true));
    }
    let compressed = COMPRESSOR.with_borrow_mut(|compress| {
        compress.reset();
        let mut compressed = Vec::with_capacity(json.len() + 64);
        loop {
            let consumed = usize::try_from(compress.total_in()).expect("input fits in memory");
            let status = compress
                .compress_vec(&json[consumed..], &mut compressed, FlushCompress::Finish)
                .expect("compressing into a Vec cannot fail");
            match status {
                Status::StreamEnd => break compressed,
                Status::Ok | Status::BufError => compressed.reserve(compressed.len().max(64)),
            }
        }
    });
    let mut out = TENCENT_BASE64.encode(&compressed);
    let padding = (4 - out.len() % 4) % 4;
    out.extend(std::iter::repeat_n('_', padding));
    out
}

/// Reverses the Tencent base64: padding `_` optional, but if present it must be canonical.
fn decode_base64(usersig: &str) -> Result<Vec<u8>, UserSigError> {
    let body = usersig.trim_end_matches('_');
    let padding = usersig.len() - body.len();
    if padding > 0 && (padding > 2 || usersig.len() % 4 != 0) {
        return Err(UserSigError::malformed("base64: invalid padding"));
    }
    TENCENT_BASE64.decode(body).map_err(|e| {
        UserSigError::malformed(match e {
            base64::DecodeError::InvalidByte(offset, _) => {
                format!("base64: invalid character at offset {offset}")
            }
            base64::DecodeError::InvalidLength(_) => "base64: invalid length".to_owned(),
            base64::DecodeError::InvalidLastSymbol(offset, _) => {
                format!("base64: non-canonical last character at offset {offset}")
            }
            base64::DecodeError::InvalidPadding => "base64: invalid padding".to_owned(),
        })
    })
}

/// Inflates a complete zlib stream (any level), bounded by [`MAX_DOCUMENT_BYTES`].
///
/// The stream must end (checksum included) exactly at the end of the input.
fn inflate(compressed: &[u8]) -> Result<Vec<u8>, UserSigError> {
    let mut inflater = Decompress::new(true);
    let initial = compressed
        .len()
        .saturating_mul(4)
        .clamp(256, MAX_DOCUMENT_BYTES + 1);
    let mut out = Vec::with_capacity(initial);
    loop {
        if out.len() == out.capacity() {
            if out.len() > MAX_DOCUMENT_BYTES {
                return Err(UserSigError::malformed(format!(
                    "zlib: document is larger than {MAX_DOCUMENT_BYTES} bytes"
                )));
            }
            let room = out.len().min(MAX_DOCUMENT_BYTES + 1 - out.len()).max(1);
            out.reserve_exact(room);
        }
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let consumed = usize::try_from(in_before).expect("input fits in memory");
        let status = inflater
            .decompress_vec(&compressed[consumed..], &mut out, FlushDecompress::None)
            .map_err(|_| UserSigError::malformed("zlib: invalid stream"))?;
        if out.len() > MAX_DOCUMENT_BYTES {
            return Err(UserSigError::malformed(format!(
                "zlib: document is larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {
                let progressed =
                    inflater.total_in() != in_before || inflater.total_out() != out_before;
                if !progressed && out.len() < out.capacity() {
                    return Err(UserSigError::malformed("zlib: truncated stream"));
                }
            }
        }
    }
    if usize::try_from(inflater.total_in()).ok() != Some(compressed.len()) {
        return Err(UserSigError::malformed("zlib: trailing data after stream"));
    }
    Ok(out)
}

/// The document as found on the wire; every field optional so a missing one is named.
#[derive(Deserialize)]
struct RawDocument {
    #[serde(rename = "TLS.ver")]
    version: Option<String>,
    #[serde(rename = "TLS.identifier")]
    identifier: Option<String>,
    #[serde(rename = "TLS.sdkappid")]
    sdkappid: Option<JsonInt>,
    #[serde(rename = "TLS.expire")]
    expire: Option<JsonInt>,
    #[serde(rename = "TLS.time")]
    time: Option<JsonInt>,
    #[serde(rename = "TLS.userbuf")]
    userbuf: Option<String>,
    #[serde(rename = "TLS.sig")]
    sig: Option<String>,
}

/// Parses the JSON document and checks that every field is present and in range.
fn parse_document(json: &[u8]) -> Result<SigDocument, UserSigError> {
    let raw: RawDocument = serde_json::from_slice(json).map_err(|e| {
        // serde_json's own message may quote document content; keep only the category and place.
        let what = match e.classify() {
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Eof => "unexpected end",
            serde_json::error::Category::Data => "unexpected value",
            serde_json::error::Category::Io => "read error",
        };
        UserSigError::malformed(format!(
            "json: {what} at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    fn required<T>(value: Option<T>, name: &str) -> Result<T, UserSigError> {
        value.ok_or_else(|| UserSigError::malformed(format!("missing field {name}")))
    }
    fn in_range<T: TryFrom<i128>>(value: JsonInt, name: &str) -> Result<T, UserSigError> {
        T::try_from(value.0).map_err(|_| UserSigError::malformed(format!("{name} is out of range")))
    }
    let userbuf = match raw.userbuf {
        None => None,
        Some(b64) => Some(
            STANDARD
                .decode(b64)
                .map_err(|_| UserSigError::malformed("TLS.userbuf is not valid base64"))?,
        ),
    };
    Ok(SigDocument {
        version: required(raw.version, "TLS.ver")?,
        identifier: required(raw.identifier, "TLS.identifier")?,
        sdkappid: in_range(required(raw.sdkappid, "TLS.sdkappid")?, "TLS.sdkappid")?,
        expire: in_range(required(raw.expire, "TLS.expire")?, "TLS.expire")?,
        time: in_range(required(raw.time, "TLS.time")?, "TLS.time")?,
        userbuf,
        sig: required(raw.sig, "TLS.sig")?,
    })
}

/// An integer written as a JSON number or, tolerated, as a string of decimal digits.
struct JsonInt(i128);

impl<'de> Deserialize<'de> for JsonInt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;

        impl Visitor<'_> for IntVisitor {
            type Value = JsonInt;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string of decimal digits")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonInt, E> {
                Ok(JsonInt(v.into()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonInt, E> {
                Ok(JsonInt(v.into()))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonInt, E> {
                let digits = v.strip_prefix('-').unwrap_or(v);
                if digits.is_empty()
                    || digits.len() > 20
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(E::custom("not a decimal integer"));
                }
                v.parse().map(JsonInt).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(IntVisitor)
    }
}

#[cfg(test)]
mod sig_cache_tests {
    use super::*;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    fn cache(ttl: u64) -> SigCache {
        SigCache::new(1_400_000_000, SecretKey::new(KEY), "administrator", ttl)
    }

    #[test]
    fn a_cached_sig_is_reused_until_a_tenth_of_its_validity_remains() {
        let c = cache(86_400);
        let first = c.usersig_at(1_000_000);
        assert_eq!(c.usersig_at(1_000_000 + 3600), first);
        // One hour (the most of a tenth) before expiry: renewed, and verifiable.
        let renewed = c.usersig_at(1_000_000 + 86_400 - 3600);
        assert_ne!(renewed, first);
        let now = 1_000_000 + 86_400 - 3600;
        verify(
            &renewed,
            1_400_000_000,
            &SecretKey::new(KEY),
            "administrator",
            now,
        )
        .expect("a valid sig for the administrator");
    }

    #[test]
    fn a_clock_gone_back_or_an_invalidation_signs_anew() {
        let c = cache(600);
        let first = c.usersig_at(2_000);
        assert_ne!(c.usersig_at(1_999), first, "clock went back");
        let second = c.usersig_at(2_000);
        c.invalidate();
        assert_ne!(c.usersig_at(2_001), second);
    }

    #[test]
    fn debug_shows_no_secret() {
        let text = format!("{:?} {:?}", cache(600), SecretKey::new(KEY));
        assert!(!text.contains(KEY), "{text}");
    }
}
