//! One module per endpoint of `group_open_http_svc`: request and response bodies.
//!
//! Every request type carries the [`crate::Command`] it belongs to via [`ApiRequest`], so that
//! clients and servers build paths from one place.

pub mod create_group;
pub mod destroy_group;
pub mod get_group_info;
pub mod group_msg_get_simple;
pub mod import_group;
pub mod import_group_member;
pub mod import_group_msg;
pub mod set_unread_msg_num;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

use crate::endpoint::Command;

/// Fields of a body that this crate does not model, kept verbatim (lenient reading).
pub type Extra = BTreeMap<String, Value>;

/// A request body of a known command, with its response body type.
pub trait ApiRequest: Serialize + DeserializeOwned {
    /// The command this body is sent to.
    const COMMAND: Command;
    /// The API fields of the response (the envelope is added by [`crate::Response`]).
    type Response: Serialize + DeserializeOwned + Default;
}

/// Removes `name` from `extra` and decodes it, for request types whose other fields are read
/// through a nested struct. Errors name the full path (`MemberList[0].JoinTime: …`), which a
/// `#[serde(flatten)]` would lose.
pub(crate) fn take_field<T: DeserializeOwned, E: serde::de::Error>(
    extra: &mut Extra,
    name: &str,
) -> Result<Option<T>, E> {
    match extra.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
            let inner = e.path().to_string();
            let path = if inner == "." || inner.is_empty() {
                name.to_owned()
            } else if inner.starts_with('[') {
                format!("{name}{inner}")
            } else {
                format!("{name}.{inner}")
            };
            E::custom(format_args!("{path}: {}", e.into_inner()))
        }),
    }
}

/// A `{Key, Value}` pair of `AppDefinedData` / `AppMemberDefinedData`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppDefinedData {
    /// The key.
    #[serde(rename = "Key")]
    pub key: String,
    /// The value.
    #[serde(rename = "Value")]
    pub value: String,
}
