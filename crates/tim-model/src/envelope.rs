//! The REST common layer (digest §2): the query string every call carries and the response
//! envelope `{"ActionStatus","ErrorCode","ErrorInfo",…}` every answer has.

use serde::{Deserialize, Serialize};

use crate::error_code::ErrorCode;

/// Query parameter names (digest §2.1). Names and values are case-sensitive.
pub mod query {
    /// `sdkappid`: the app's SDKAppID.
    pub const SDKAPPID: &str = "sdkappid";
    /// `identifier`: the app admin account making the call.
    pub const IDENTIFIER: &str = "identifier";
    /// `usersig`: the admin's UserSig.
    pub const USERSIG: &str = "usersig";
    /// `random`: a 32-bit unsigned random number.
    pub const RANDOM: &str = "random";
    /// `contenttype`: always `json`.
    pub const CONTENTTYPE: &str = "contenttype";
    /// The only `contenttype` value.
    pub const CONTENTTYPE_JSON: &str = "json";
}

/// The common query string, as read (every field optional so that the gateway can report what is missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommonQuery {
    /// `sdkappid`, as text (it may be malformed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdkappid: Option<String>,
    /// `identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// `usersig`. Never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usersig: Option<String>,
    /// `random`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<String>,
    /// `contenttype`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contenttype: Option<String>,
}

impl CommonQuery {
    /// A complete query for a call.
    pub fn new(sdkappid: u64, identifier: &str, usersig: &str, random: u32) -> CommonQuery {
        CommonQuery {
            sdkappid: Some(sdkappid.to_string()),
            identifier: Some(identifier.to_owned()),
            usersig: Some(usersig.to_owned()),
            random: Some(random.to_string()),
            contenttype: Some(query::CONTENTTYPE_JSON.to_owned()),
        }
    }

    /// Reads a raw query string (`a=b&c=d`, percent-encoded). Unknown keys are ignored; the first
    /// occurrence of a key wins.
    pub fn parse(raw: &str) -> CommonQuery {
        let mut q = CommonQuery::default();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            let slot = match k.as_ref() {
                query::SDKAPPID => &mut q.sdkappid,
                query::IDENTIFIER => &mut q.identifier,
                query::USERSIG => &mut q.usersig,
                query::RANDOM => &mut q.random,
                query::CONTENTTYPE => &mut q.contenttype,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v.into_owned());
            }
        }
        q
    }

    /// Renders the query string, percent-encoding values.
    pub fn to_query_string(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            (query::SDKAPPID, &self.sdkappid),
            (query::IDENTIFIER, &self.identifier),
            (query::USERSIG, &self.usersig),
            (query::RANDOM, &self.random),
            (query::CONTENTTYPE, &self.contenttype),
        ] {
            if let Some(v) = v {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }
}

/// `ActionStatus`: `OK` or `FAIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionStatus {
    /// `OK`.
    #[serde(rename = "OK")]
    Ok,
    /// `FAIL`.
    #[serde(rename = "FAIL")]
    Fail,
}

/// The envelope fields every response carries (digest §2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// `OK` or `FAIL`.
    #[serde(rename = "ActionStatus")]
    pub action_status: ActionStatus,
    /// 0 on success.
    #[serde(rename = "ErrorCode")]
    pub error_code: ErrorCode,
    /// Error text; empty on success (absent from seed-era samples, so optional on read).
    #[serde(rename = "ErrorInfo", default)]
    pub error_info: String,
    /// Request ID (current family docs); absent in the seed era.
    #[serde(rename = "RequestId", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Envelope {
    /// A success envelope.
    pub fn ok() -> Envelope {
        Envelope {
            action_status: ActionStatus::Ok,
            error_code: ErrorCode::OK,
            error_info: String::new(),
            request_id: None,
        }
    }

    /// A failure envelope.
    pub fn fail(code: ErrorCode, info: impl Into<String>) -> Envelope {
        Envelope {
            action_status: ActionStatus::Fail,
            error_code: code,
            error_info: info.into(),
            request_id: None,
        }
    }

    /// Whether this envelope reports success (`ErrorCode` 0).
    pub fn is_ok(&self) -> bool {
        self.error_code.is_ok()
    }
}

/// A response: the envelope plus the API's own fields, flattened into one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response<T> {
    /// The envelope.
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The API fields (all defaulted when absent, as on a `FAIL`).
    #[serde(flatten)]
    pub body: T,
}

impl<T> Response<T> {
    /// A success response.
    pub fn ok(body: T) -> Response<T> {
        Response {
            envelope: Envelope::ok(),
            body,
        }
    }
}

impl<T: Default> Response<T> {
    /// A failure response with default API fields.
    pub fn fail(code: ErrorCode, info: impl Into<String>) -> Response<T> {
        Response {
            envelope: Envelope::fail(code, info),
            body: T::default(),
        }
    }
}

/// The API body of responses that carry only the envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip() {
        let q = CommonQuery::new(1400000000, "admin", "eJx*a-b_", 99);
        let s = q.to_query_string();
        assert_eq!(CommonQuery::parse(&s), q);
        let q = CommonQuery::parse(
            "usersig=xxx&identifier=admin&sdkappid=88888888&random=99999999&contenttype=json&x=1",
        );
        assert_eq!(q.sdkappid.as_deref(), Some("88888888"));
        assert_eq!(q.usersig.as_deref(), Some("xxx"));
        assert_eq!(
            CommonQuery::parse("identifier=a%20b").identifier.as_deref(),
            Some("a b")
        );
    }
}
