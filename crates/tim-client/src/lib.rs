//! Async client for Tencent Cloud IM's `group_open_http_svc` APIs, built for moving history.
//!
//! - Typed calls for every endpoint of [`tim_model::api`]; the envelope decodes tolerantly.
//! - Pacing: one GCRA limiter per API at the edition's quota, shared by every task using the
//!   client, so the client never causes 60007 on its own.
//! - Retries with exponential backoff and full jitter for transport errors, 5xx, 10002 and the
//!   rate-limit codes; never for caller or auth errors. An expired UserSig is renewed once.
//!   A call that a second copy could apply twice (`create_group`/`import_group` without a
//!   `GroupId`, `import_group_msg` with a message lacking `Random`) is never re-sent after an
//!   attempt that may have reached the server ([`Error::NotResent`]); see [`Client::call_envelope`].
//! - UserSigs made from the secret key, cached and renewed before expiry; they never appear in
//!   errors, logs or `Debug` output.
//! - [`Client::import_batch`] and friends: edition-sized batches, one in flight per group, many
//!   groups at once, per-message [`MsgOutcome`]s, and isolation of bad messages in the seed edition.
//! - [`Client::control`]: the reference server's control plane (reset, state dump and load,
//!   limits at run time, fault injection, the request journal); see [`control`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tim_client::{Client, MsgOutcome};
//! use tim_model::api::import_group_msg::ImportMsg;
//! use tim_model::usersig::SecretKey;
//! use tim_model::{Edition, MsgElement, Region};
//!
//! let client = Client::builder()
//!     .region(Region::Singapore)
//!     .sdkappid(1400000000)
//!     .identifier("administrator")
//!     .secret_key(SecretKey::new(std::env::var("TIM_SECRET_KEY")?))
//!     .edition(Edition::Current)
//!     .build()?;
//! let msgs = vec![ImportMsg::new("leckie", 1620808101, vec![MsgElement::text("red packet")])];
//! for outcome in client.import_group_messages("@TGS#2C5SZEAEF", &msgs).await? {
//!     if let MsgOutcome::Rejected { code, reason } = outcome {
//!         eprintln!("rejected with {}: {reason}", code.0);
//!     }
//! }
//! # Ok(()) }
//! ```

mod auth;
mod builder;
mod client;
pub mod control;
mod error;
mod import;
mod pace;
mod resend;
mod response;
mod retry;
mod stats;

pub use auth::{Credentials, DEFAULT_USERSIG_TTL_SECS};
pub use builder::{BuildError, ClientBuilder, Rate};
pub use client::Client;
pub use control::{Control, ControlError, ControlFailure};
pub use error::{Error, SNIPPET_CHARS};
pub use import::{GroupCursor, GroupResult, MsgOutcome};
pub use response::decode_response;
pub use retry::RetryPolicy;
pub use stats::StatsSnapshot;
