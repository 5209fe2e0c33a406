//! Test and benchmark support: a generator of realistic inputs.
//!
//! Writes `messages.jsonl` (groups interleaved, each group's lines unsorted, every seed element
//! type, equal `SendTime`s, multi-byte text, some lines with `Random` or `SourceId`), `groups.jsonl`
//! (Private, Public and ChatRoom groups created in the past) and `members.jsonl` (with
//! `UnreadMsgNum`). The same options and seed give the same files. `bad` adds messages the server
//! would reject: alternately too long (over 8000 bytes) and sent before the group's `CreateTime`.
//! Used by `cargo run -p tim-migrate --example gen-corpus` and by the tests.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusOptions {
    /// Number of groups (at least 1).
    pub groups: usize,
    /// Number of good messages.
    pub messages: u64,
    /// Number of extra messages the server would reject.
    pub bad: u64,
    /// Seed of the generator.
    pub seed: u64,
    /// `CreateTime` of the first group; later groups are created a minute apart.
    pub base_time: i64,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            groups: 30,
            messages: 5000,
            bad: 0,
            seed: 1,
            base_time: 1_600_000_000,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// `messages.jsonl`.
    pub messages: PathBuf,
    /// `groups.jsonl`.
    pub groups: PathBuf,
    /// `members.jsonl`.
    pub members: PathBuf,
    /// Lines of `messages.jsonl` (good and bad).
    pub message_lines: u64,
    /// Lines of `members.jsonl`.
    pub member_lines: u64,
}

/// Members written per group.
pub const MEMBERS_PER_GROUP: usize = 3;
const TYPES: [&str; 3] = ["Private", "Public", "ChatRoom"];

/// The ID of group `i`.
pub fn group_id(i: usize) -> String {
    format!("grp-{i:05}")
}

fn create_time(opts: &CorpusOptions, i: usize) -> i64 {
    opts.base_time + 60 * i as i64
}

fn body(k: u64, rng: &mut StdRng) -> Value {
    let text =
        json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("你好 #{k} héllo 🎉")}});
    match k % 5 {
        0 => json!([text]),
        1 => {
            json!([{"MsgType": "TIMFaceElem", "MsgContent": {"Index": rng.random_range(0..100), "Data": "smile"}}])
        }
        2 => {
            json!([{"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "深圳 Nanshan", "Latitude": 22.5431, "Longitude": 113.9298}}])
        }
        3 => {
            json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": format!("{{\"order\":{k}}}"), "Desc": "订单", "Ext": "ext"}}])
        }
        _ => json!([text, {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 6, "Data": "abc"}}]),
    }
}

/// Writes the three files into `dir` (created if missing).
pub fn write(dir: &Path, opts: &CorpusOptions) -> io::Result<Corpus> {
    std::fs::create_dir_all(dir)?;
    let groups_n = opts.groups.max(1);
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let paths = Corpus {
        messages: dir.join("messages.jsonl"),
        groups: dir.join("groups.jsonl"),
        members: dir.join("members.jsonl"),
        message_lines: opts.messages + opts.bad,
        member_lines: (groups_n * MEMBERS_PER_GROUP) as u64,
    };

    let mut g = BufWriter::new(File::create(&paths.groups)?);
    let mut mem = BufWriter::new(File::create(&paths.members)?);
    for i in 0..groups_n {
        let ct = create_time(opts, i);
        let line = json!({
            "GroupId": group_id(i), "Type": TYPES[i % TYPES.len()], "Name": format!("群 {i}"),
            "Owner_Account": "user-0", "CreateTime": ct, "Introduction": "imported history",
        });
        writeln!(g, "{line}")?;
        for j in 0..MEMBERS_PER_GROUP {
            let mut m = json!({
                "GroupId": group_id(i), "Member_Account": format!("user-{}", j + 1),
                "JoinTime": ct + 1 + j as i64, "UnreadMsgNum": j,
            });
            if j == 0 {
                m["Role"] = json!("Admin");
            }
            writeln!(mem, "{m}")?;
        }
    }
    g.flush()?;
    mem.flush()?;

    // About one message per second per group, so that equal SendTimes are common.
    let span = (opts.messages / groups_n as u64).max(10) as i64;
    let mut out = BufWriter::with_capacity(256 * 1024, File::create(&paths.messages)?);
    let total = opts.messages + opts.bad;
    let mut bad_left = opts.bad;
    for k in 0..total {
        let gi = rng.random_range(0..groups_n);
        let ct = create_time(opts, gi);
        let is_bad = bad_left > 0 && rng.random_range(0..total - k) < bad_left;
        let mut line = json!({
            "GroupId": group_id(gi),
            "From_Account": format!("user-{}", rng.random_range(0..20)),
            "SendTime": ct + 1 + rng.random_range(0..span),
            "MsgBody": body(k, &mut rng),
        });
        if is_bad {
            if bad_left % 2 == 0 {
                line["MsgBody"] =
                    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "长".repeat(3000)}}]);
            } else {
                line["SendTime"] = json!(ct - 100);
            }
            bad_left -= 1;
        } else if k % 7 == 0 {
            line["Random"] = json!(1_000_000 + k);
        } else if k % 7 == 3 {
            line["SourceId"] = json!(format!("src-{k}"));
        } else if k % 7 == 5 {
            line["SourceId"] = json!(k);
        }
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(paths)
}
