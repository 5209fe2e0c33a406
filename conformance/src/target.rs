//! The implementation under test: base URL and admin credentials, and the one place that speaks
//! HTTP to it (reqwest), including every query override of conf-spec.md.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tim_model::envelope::query;
use tim_model::usersig::{self, SecretKey, SigCache};

use crate::case::{QueryOverrides, SigOverride};
use crate::template::{TemplateError, Vars};

/// Where the implementation under test listens and how to sign for its admin.
#[derive(Clone)]
pub struct Target {
    /// Base URL, e.g. `http://127.0.0.1:8080` (no trailing path).
    pub base_url: String,
    /// The app's SDKAppID.
    pub sdkappid: u64,
    /// An App admin account.
    pub identifier: String,
    /// The app's secret key (never printed).
    pub secret_key: SecretKey,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("base_url", &self.base_url)
            .field("sdkappid", &self.sdkappid)
            .field("identifier", &self.identifier)
            .field("secret_key", &self.secret_key)
            .finish()
    }
}

/// Validity of the sigs the runner signs, in seconds.
const SIG_EXPIRE: u64 = 86_400;
/// Per-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The body of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A JSON value, serialized compactly.
    Json(Value),
    /// Bytes sent as they are.
    Raw(String),
}

/// One request, fully resolved (real IDs and a real usersig in `query`).
#[derive(Clone, PartialEq)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path, starting with `/`.
    pub path: String,
    /// Query parameters in order.
    pub query: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let query: Vec<_> = self
            .query
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if k == query::USERSIG {
                        "***"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &query)
            .field("body", &self.body)
            .finish()
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub http: u16,
    /// The body as JSON, or a JSON string holding the text when it was not JSON.
    pub body: Value,
    /// Whether the body parsed as JSON.
    pub is_json: bool,
}

/// The target could not be reached (connection, timeout, unreadable body).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// An HTTP client bound to one target.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    target: Target,
    /// The round trips of the last requests (seconds), shared by every clone.
    latencies: Arc<Mutex<VecDeque<f64>>>,
    /// The admin's valid UserSig, signed once and renewed ([`SigCache`]).
    admin: Arc<SigCache>,
}

/// How many recent round trips [`Http::median_latency`] looks at.
const LATENCY_WINDOW: usize = 128;

/// A reply with what the runner observed around it: when it was sent and received (the runner's
/// clock, Unix seconds with fractions) and the target's HTTP `Date` header, if any.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The reply.
    pub reply: Reply,
    /// When the request left (runner clock).
    pub sent: f64,
    /// When the reply was read (runner clock).
    pub received: f64,
    /// The target's `Date` header as Unix seconds (whole seconds: the header has no fractions).
    pub date: Option<i64>,
}

impl Http {
    /// A client for `target`.
    pub fn new(target: &Target) -> Result<Http, TransportError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| TransportError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            client,
            target: target.clone(),
            latencies: Arc::default(),
            admin: Arc::new(SigCache::new(
                target.sdkappid,
                target.secret_key.clone(),
                target.identifier.clone(),
                SIG_EXPIRE,
            )),
        })
    }

    /// The median round trip of the last requests, in seconds (`None` before any).
    pub fn median_latency(&self) -> Option<f64> {
        let l = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<f64> = l.iter().copied().collect();
        drop(l);
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Sends `req` and reads the reply.
    pub async fn send(&self, req: &Request) -> Result<Reply, TransportError> {
        Ok(self.send_observed(req).await?.reply)
    }

    /// Sends `req` and reads the reply, with the times around it and the target's `Date`.
    pub async fn send_observed(&self, req: &Request) -> Result<Observed, TransportError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| TransportError(format!("bad method {:?}", req.method)))?;
        let url = format!("{}{}", self.target.base_url.trim_end_matches('/'), req.path);
        let body = match &req.body {
            Body::Json(v) => v.to_string(),
            Body::Raw(s) => s.clone(),
        };
        let sent = unix_seconds();
        let clock = Instant::now();
        let resp = self
            .client
            .request(method, url)
            .query(&req.query)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| TransportError(e.without_url().to_string()))?;
        let http = resp.status().as_u16();
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.timestamp());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| TransportError(e.without_url().to_string()))?;
        let rtt = clock.elapsed().as_secs_f64();
        {
            let mut l = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
            if l.len() == LATENCY_WINDOW {
                l.pop_front();
            }
            l.push_back(rtt);
        }
        let reply = match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => Reply {
                http,
                body: v,
                is_json: true,
            },
            Err(_) => Reply {
                http,
                body: Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                is_json: false,
            },
        };
        Ok(Observed {
            reply,
            sent,
            received: sent + rtt,
            date,
        })
    }

    /// A valid admin UserSig at `now` (cached, renewed before it expires).
    pub fn admin_sig(&self, now: i64) -> String {
        self.admin.usersig_at(now).to_string()
    }

    fn sign(&self, sdkappid: u64, identifier: &str, now: i64) -> String {
        usersig::sign(
            sdkappid,
            &self.target.secret_key,
            identifier,
            SIG_EXPIRE,
            now,
        )
    }

    /// The query string of a request: the valid admin query with `overrides` applied.
    pub fn query(
        &self,
        overrides: Option<&QueryOverrides>,
        vars: &mut Vars,
        random: u32,
    ) -> Result<Vec<(String, String)>, TemplateError> {
        let t = &self.target;
        let now = vars.now;
        let o = overrides.cloned().unwrap_or_default();
        let mut identifier = Some(t.identifier.clone());
        let sig = match o.usersig.unwrap_or_default() {
            SigOverride::Valid => Some(self.admin_sig(now)),
            SigOverride::Expired => Some(usersig::sign(
                t.sdkappid,
                &t.secret_key,
                &t.identifier,
                3600,
                now - 7200,
            )),
            SigOverride::Empty => Some(String::new()),
            SigOverride::Missing => None,
            SigOverride::Truncated => {
                // Cut at a multiple of four characters: the base64 still decodes and the zlib
                // stream is cut short, whatever the sig's content (a stable answer).
                let s = self.admin_sig(now);
                Some(s[..(s.len() / 2) & !3].to_owned())
            }
            SigOverride::BadHmac => {
                let other = SecretKey::new(format!("{}-other", t.secret_key.expose_secret()));
                Some(usersig::sign(
                    t.sdkappid,
                    &other,
                    &t.identifier,
                    SIG_EXPIRE,
                    now,
                ))
            }
            SigOverride::ForeignApp => Some(self.sign(t.sdkappid + 1, &t.identifier, now)),
            SigOverride::ForeignIdentifier => Some(self.sign(t.sdkappid, &vars.user("other"), now)),
            SigOverride::NotAdmin => {
                let user = vars.user("notadmin");
                identifier = Some(user.clone());
                Some(self.sign(t.sdkappid, &user, now))
            }
        };
        let sdkappid = match &o.sdkappid {
            None => Some(t.sdkappid.to_string()),
            Some(Value::String(s)) if s == "missing" => None,
            Some(Value::String(s)) if s == "unknown" => Some((t.sdkappid + 1).to_string()),
            Some(v) => Some(scalar(&vars.expand(v)?)),
        };
        if let Some(id) = &o.identifier {
            identifier = match id.as_str() {
                "missing" => None,
                other => Some(vars.interpolate(other)?),
            };
        }
        let random = match &o.random {
            None => Some(random.to_string()),
            Some(Value::String(s)) if s == "missing" => None,
            Some(v) => Some(scalar(&vars.expand(v)?)),
        };
        let contenttype = match o.contenttype.as_deref() {
            None => Some(query::CONTENTTYPE_JSON.to_owned()),
            Some("missing") => None,
            Some(v) => Some(vars.interpolate(v)?),
        };
        let mut q = Vec::new();
        for (k, v) in [
            (query::SDKAPPID, sdkappid),
            (query::IDENTIFIER, identifier),
            (query::USERSIG, sig),
            (query::RANDOM, random),
            (query::CONTENTTYPE, contenttype),
        ] {
            if let Some(v) = v {
                q.push((k.to_owned(), v));
            }
        }
        for (k, v) in &o.extra {
            q.push((k.clone(), scalar(&vars.expand(v)?)));
        }
        Ok(q)
    }
}

/// A JSON scalar as query text (strings without quotes).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The runner clock, Unix seconds with fractions.
pub(crate) fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
