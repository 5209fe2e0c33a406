//! The rejects file: one JSON object per line for every message the server refused, with the
//! original input line so that it can be fixed and imported again.
//!
//! ```json
//! {"file":"messages.jsonl","line":12,"GroupId":"g1","code":80002,"reason":"message is 9000 bytes; at most 8000 are allowed","input":"{\"GroupId\":\"g1\",…}"}
//! ```
//!
//! The file survives kills: the checkpoint records its length after each sync
//! ([`RejectsWriter::len`]), and a resumed import opens it with [`RejectsWriter::resume`], which cuts
//! off whatever lies beyond that length (a line torn by the kill, or rejects of batches the
//! checkpoint does not confirm: those batches are sent again and their rejects written again).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
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
    len: u64,
}

/// What [`RejectsWriter::resume`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resumed {
    /// Bytes cut off the end of the file.
    pub truncated: u64,
    /// The file was shorter than the checkpoint records (moved, or edited): nothing was cut, the
    /// new rejects are appended to what is there.
    pub shorter: bool,
}

impl RejectsWriter {
    /// Creates (or truncates) `path`, for a new import.
    pub fn create(path: &Path) -> io::Result<RejectsWriter> {
        Ok(Self::from_file(File::create(path)?))
    }

    /// Opens `path` for appending (created if missing), for a resumed import.
    pub fn append(path: &Path) -> io::Result<RejectsWriter> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        let len = f.metadata()?.len();
        let mut w = Self::from_file(f);
        w.len = len;
        Ok(w)
    }

    /// Opens `path` for a resumed import whose checkpoint recorded `recorded` bytes of it: cuts
    /// off anything beyond (with `None`, from an older checkpoint, only a torn last line), then
    /// appends. Created if missing.
    pub fn resume(path: &Path, recorded: Option<u64>) -> io::Result<(RejectsWriter, Resumed)> {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        let size = f.metadata()?.len();
        let keep = match recorded {
            Some(n) => n.min(size),
            None => last_line_end(&mut f, size)?,
        };
        let resumed = Resumed {
            truncated: size - keep,
            shorter: recorded.is_some_and(|n| n > size),
        };
        if keep < size {
            f.set_len(keep)?;
            f.sync_data()?;
        }
        f.seek(SeekFrom::Start(keep))?;
        let mut w = Self::from_file(f);
        w.len = keep;
        Ok((w, resumed))
    }

    fn from_file(f: File) -> RejectsWriter {
        RejectsWriter {
            out: BufWriter::new(f),
            written: 0,
            len: 0,
        }
    }

    /// Writes one reject (buffered; see [`RejectsWriter::sync`]).
    pub fn write(&mut self, reject: &Reject) -> io::Result<()> {
        let mut line = serde_json::to_vec(reject).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.written += 1;
        self.len += line.len() as u64;
        Ok(())
    }

    /// Length of the file in bytes once everything written is flushed (record it in the
    /// checkpoint after [`RejectsWriter::sync`]).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
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

/// Offset just past the last `\n` of the first `size` bytes of `f` (0 if none).
fn last_line_end(f: &mut File, size: u64) -> io::Result<u64> {
    let mut end = size;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}
