//! The `tim-migrate` importer as a library.
//!
//! The offline half, which never talks to a server:
//!
//! - [`input`]: streaming JSON Lines readers for `--messages`, `--groups` and `--members`, every
//!   error as `file:line: JSON.path: what is wrong; what to do`;
//! - [`prepare`]: orders each group's messages by `SendTime` (stable by line) with bounded memory
//!   (external sort), and gives every message its final `Random`;
//! - [`random`]: the deterministic, collision-free `Random` derivation;
//! - [`check`]: `tim-migrate check`, offline validation with the model's rules and statistics;
//! - [`checkpoint`]: the atomic import checkpoint and input/target fingerprints;
//! - [`rejects`] and [`report`]: the rejects file and the import summary;
//! - [`cli`]: the flags of every command, and the offline commands;
//! - [`corpus`]: a generator of realistic inputs, for tests and benchmarks.
//!
//! [`import`] and [`verify`] hold the pipelines that talk to the server through `tim-client`.
//!
//! # Example
//!
//! Order a messages file and read one group back, `Random`s included:
//!
//! ```
//! use tim_migrate::prepare::{PrepareOptions, Prepared};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("messages.jsonl");
//! std::fs::write(&path, concat!(
//!     r#"{"GroupId":"g1","From_Account":"a","SendTime":20,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"second"}}]}"#, "\n",
//!     r#"{"GroupId":"g1","From_Account":"b","SendTime":10,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"first"}}],"Random":7}"#, "\n",
//! )).unwrap();
//! let prepared = Prepared::build(&path, &PrepareOptions::default()).unwrap();
//! let g = &prepared.groups()[0];
//! let msgs: Vec<_> = prepared.read_group(g, 0).unwrap().map(Result::unwrap).collect();
//! assert_eq!(msgs.iter().map(|m| m.line).collect::<Vec<_>>(), [2, 1]);
//! assert_eq!(msgs[0].msg.random, Some(7));
//! assert!(msgs[1].msg.random.is_some());
//! ```

pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod corpus;
pub mod import;
pub mod input;
pub mod prepare;
pub mod random;
pub mod rejects;
pub mod report;
pub mod target;
pub mod verify;
