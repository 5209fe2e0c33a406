//! The rejects file: one JSON object per line for every message the server refused, with the
//! original input line so that it can be fixed and imported again.
//!
//! ```json
//! {"file":"messages.jsonl","line":12,"GroupId":"g1","code":80002,"reason":"message is 9000 bytes; at most 8000 are allowed","input":"{\"GroupId\":\"g1\",…}"}
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One rejected message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// The input file as the user named it.
    pub file: String,
    /// 1-based line number in that file.
    pub line: u64,
    /// The group.
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// The Tencent error code (per-message `Result`, or the API-level code).
    pub code: u32,
    /// Why, as the server or the importer put it.
    pub reason: String,
    /// The original input line.
    pub input: String,
}

/// Appends [`Reject`]s to a file.
#[derive(Debug)]
pub struct RejectsWriter {
    out: BufWriter<File>,
    written: u64,
}

impl RejectsWriter {
    /// Creates (or truncates) `path`, for a new import.
    pub fn create(path: &Path) -> io::Result<RejectsWriter> {
        Ok(Self::from_file(File::create(path)?))
    }

    /// Opens `path` for appending (created if missing), for a resumed import.
    pub fn append(path: &Path) -> io::Result<RejectsWriter> {
        Ok(Self::from_file(
            OpenOptions::new().create(true).append(true).open(path)?,
        ))
    }

    fn from_file(f: File) -> RejectsWriter {
        RejectsWriter {
            out: BufWriter::new(f),
            written: 0,
        }
    }

    /// Writes one reject (buffered; see [`RejectsWriter::sync`]).
    pub fn write(&mut self, reject: &Reject) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, reject).map_err(io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Flushes and fsyncs: call before saving a checkpoint that counts these rejects.
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    /// Rejects written by this writer.
    pub fn written(&self) -> u64 {
        self.written
    }
}
