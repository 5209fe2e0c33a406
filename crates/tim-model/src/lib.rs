//! Wire model of Tencent Cloud IM's group-message import API (`import_group_msg`) and its neighbours.
//!
//! This crate is the single place where field names, endpoint paths, limits and error codes are
//! written down. It does no I/O: the reference server, the client and the conformance suite all
//! build on it.
//!
//! - [`api`]: one module per endpoint, request and response types that reproduce the wire exactly.
//! - [`element`]: the eight `TIMMsgElement` kinds, plus [`element::MsgElement::Unknown`].
//! - [`envelope`]: the REST response envelope and the common query string.
//! - [`error_code`]: the error-code registry and its classification.
//! - [`edition`]: editions (`seed`, `current`) and the [`edition::Limits`] they imply.
//! - [`ids`]: group-ID and account syntax.
//! - [`validate`]: strict validation of an import request, every problem with its JSON path.
//! - [`usersig`]: UserSig v2 signing and verification.
//! - [`endpoint`]: the REST paths.

pub mod api;
pub mod edition;
pub mod element;
pub mod endpoint;
pub mod envelope;
pub mod error_code;
pub mod group_type;
pub mod ids;
pub mod usersig;
pub mod validate;

mod decode;

pub use decode::{decode_json, DecodeError};
pub use edition::{Edition, Limits};
pub use element::MsgElement;
pub use endpoint::Command;
pub use envelope::{ActionStatus, CommonQuery, Envelope, Response};
pub use error_code::{ErrorClass, ErrorCode};
pub use group_type::GroupType;
