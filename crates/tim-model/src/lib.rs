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
//!
//! # Example
//!
//! Decode a request, validate it against the seed edition, and sign the admin's UserSig:
//!
//! ```
//! use tim_model::api::import_group_msg::ImportGroupMsgRequest;
//! use tim_model::usersig::{self, SecretKey};
//! use tim_model::validate::{validate_import, verdict, Context, GroupSnapshot, Verdict};
//! use tim_model::{decode_json, Command, Edition, GroupType};
//!
//! let body = br#"{"GroupId":"@TGS#2C5SZEAEF","MsgList":[{"From_Account":"leckie","SendTime":1448357837,
//!     "MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}]}]}"#;
//! let req: ImportGroupMsgRequest = decode_json(body).unwrap();
//! let limits = Edition::Seed.limits();
//! let group = GroupSnapshot { group_type: GroupType::Public, create_time: 1448000000, last_msg_time: None };
//! let ctx = Context { limits: &limits, group: Some(&group), restricted_words: &[], now: 1700000000, duplicates: &[] };
//! let problems = validate_import(&req, ctx);
//! assert!(problems.is_empty());
//! assert_eq!(verdict(&problems, 1, &limits), Verdict::Accept { outcomes: vec![None] });
//! assert_eq!(Command::ImportGroupMsg.path(), "/v4/group_open_http_svc/import_group_msg");
//!
//! let key = SecretKey::new("5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e");
//! let sig = usersig::sign(1400000000, &key, "administrator", 86400, 1700000000);
//! let ok = usersig::verify(&sig, 1400000000, &key, "administrator", 1700000000).unwrap();
//! assert_eq!(ok.expires_at, 1700086400);
//! assert_eq!(usersig::verify(&sig, 1400000000, &key, "someone", 1700000000).unwrap_err().code(), 70013);
//! ```

pub mod api;
pub mod control;
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
pub use endpoint::{Command, Region};
pub use envelope::{ActionStatus, CommonQuery, Envelope, Response};
pub use error_code::{ErrorClass, ErrorCode};
pub use group_type::GroupType;
