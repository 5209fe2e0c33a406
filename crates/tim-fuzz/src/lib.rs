//! The bodies of the fuzz targets in `fuzz/`, one `pub fn <target>(data: &[u8])` each.
//!
//! `fuzz/fuzz_targets/<target>.rs` only calls the function of the same name; the tests of this
//! crate (`tests/replay.rs`) feed every committed seed (`fuzz/corpus/<target>/`) and every past
//! crash input (`fuzz/regressions/<target>/`) through the same functions on the stable
//! toolchain. Each function panics when a property fails, which is what libFuzzer reports.
//!
//! | target | what it drives | properties |
//! |---|---|---|
//! | [`import_group_msg`] | `Service::call(ImportGroupMsg, body)` on a memory store, both editions, the body sent twice | no panic; the answer's code agrees with a second decode; the envelope encodes and reads back; re-encoding a decoded request decodes to it; a re-sent accepted batch whose messages all carry a `Random` gets the same answer |
//! | [`api_command`] | the other seven commands the same way (first byte: command and setup) | as above |
//! | [`usersig_verify`] | `usersig::{sign, verify_with_userbuf, decode, encode}` (structured) | a sig is accepted only for the key, app, identifier, userbuf and time it was signed for; decode ∘ encode is the identity; errors never quote the key |
//! | [`gateway_query`] | `CommonQuery::parse` → `Gateway::authenticate` (structured) | the first occurrence of a key wins; parse ∘ render is the identity; a caller is authenticated only with a sig signed for that app and admin, unexpired; the codes come in the gateway's order |
//! | [`migrate_input`] | `tim-migrate`'s messages, groups and members readers | no panic; one item per non-blank line; a decoded line decodes again to the same value, also after re-encoding |
//! | [`checkpoint`] | `Checkpoint::load` on a file holding the input | a loaded checkpoint has this build's version, saves and loads back equal, and matches its own target and inputs |
//! | [`rejects`] | `RejectsWriter::resume` over a file holding the input, then one write | what is kept is exactly what the checkpoint length (or the last full line) says; the new line reads back |

mod api;
mod files;
mod gateway;
mod migrate;
mod usersig;

pub use api::{api_command, import_group_msg};
pub use files::{checkpoint, rejects};
pub use gateway::gateway_query;
pub use migrate::migrate_input;
pub use usersig::usersig_verify;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("import_group_msg", import_group_msg),
    ("api_command", api_command),
    ("usersig_verify", usersig_verify),
    ("gateway_query", gateway_query),
    ("migrate_input", migrate_input),
    ("checkpoint", checkpoint),
    ("rejects", rejects),
];

/// The fixed "now" of every target (Unix seconds); seeds write times relative to it.
pub const NOW: i64 = 1_700_000_000;

/// Creation time of the groups the targets set up: a day before [`NOW`].
pub const CREATE_TIME: i64 = NOW - 86_400;

/// The SDKAppID the targets serve.
pub const SDKAPPID: u64 = 1_400_000_000;

/// The restricted word of the services the targets run (80001); seeds use it.
pub const RESTRICTED_WORD: &str = "forbidden-word";
