//! `tim-migrate`'s state files read back: the checkpoint and the rejects file.
//!
//! Each target writes its input to a file of its own thread in a scratch directory (on
//! `/dev/shm` when there is one: the rejects writer fsyncs) and runs the real reader on it.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use tim_migrate::checkpoint::{Checkpoint, CheckpointError, VERSION};
use tim_migrate::rejects::{Reject, RejectsWriter};

thread_local! {
    static SCRATCH: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// A path in this thread's scratch directory.
fn scratch(name: &str) -> PathBuf {
    SCRATCH.with_borrow_mut(|dir| {
        let dir = dir.get_or_insert_with(|| {
            let shm = Path::new("/dev/shm");
            let made = if shm.is_dir() {
                tempfile::Builder::new().prefix("tim-fuzz").tempdir_in(shm)
            } else {
                Err(std::io::Error::other("no /dev/shm"))
            };
            made.or_else(|_| tempfile::Builder::new().prefix("tim-fuzz").tempdir())
                .expect("a scratch directory")
        });
        dir.path().join(name)
    })
}

/// `Checkpoint::load` on a file holding `data`. Properties: no panic; a loaded checkpoint has
/// this build's version, matches its own target and inputs, and written out again (as `save`
/// writes it) loads back equal; a refusal names the file.
pub fn checkpoint(data: &[u8]) {
    let path = scratch("checkpoint.json");
    std::fs::write(&path, data).expect("scratch file");
    match Checkpoint::load(&path) {
        Ok(Some(cp)) => {
            assert_eq!(cp.version, VERSION);
            cp.ensure_matches(&path, &cp.target, &cp.input)
                .expect("a checkpoint matches its own target and inputs");
            let mut json = serde_json::to_vec_pretty(&cp).expect("a checkpoint encodes");
            json.push(b'\n');
            std::fs::write(&path, &json).expect("scratch file");
            let again = Checkpoint::load(&path).expect("a saved checkpoint loads");
            assert_eq!(
                again.as_ref(),
                Some(&cp),
                "save → load changed the checkpoint"
            );
            let mut cp = cp;
            if let Some(sha) = cp.input.messages.sha256.clone() {
                cp.check_messages_hash(&path, "messages.jsonl", &sha)
                    .expect("the recorded hash matches itself");
            }
        }
        Ok(None) => panic!("the checkpoint file exists"),
        Err(CheckpointError::Format { path: shown, .. }) => {
            assert_eq!(shown, path.display().to_string());
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

/// `RejectsWriter::resume` over a file holding the input, then one reject written and synced.
/// Input: byte 0 chooses the recorded length (even: none, from an older checkpoint; odd: bytes
/// 1–2 little-endian, so also beyond the file's end), the rest is the file. Properties: the file
/// keeps exactly the recorded length (or, with none, up to its last line end), the answer says
/// what was cut, the new line follows what was kept and reads back as the reject written.
pub fn rejects(data: &[u8]) {
    let (recorded, content) = match data {
        [flag, lo, hi, rest @ ..] if flag & 1 == 1 => {
            (Some(u64::from(u16::from_le_bytes([*lo, *hi]))), rest)
        }
        [_, rest @ ..] => (None, rest),
        [] => (None, data),
    };
    let path = scratch("rejects.jsonl");
    std::fs::write(&path, content).expect("scratch file");
    let size = content.len() as u64;
    let (mut writer, resumed) = RejectsWriter::resume(&path, recorded).expect("resume");
    let keep = match recorded {
        Some(n) => n.min(size),
        None => content
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i as u64 + 1),
    };
    assert_eq!(resumed.truncated, size - keep, "{recorded:?} of {size}");
    assert_eq!(resumed.shorter, recorded.is_some_and(|n| n > size));
    assert_eq!(writer.len(), keep);
    let reject = Reject {
        file: "messages.jsonl".into(),
        line: size,
        group_id: String::from_utf8_lossy(&content[..content.len().min(16)]).into_owned(),
        code: 80002,
        reason: "fuzz".into(),
        input: String::from_utf8_lossy(content).into_owned(),
    };
    writer.write(&reject).expect("write");
    writer.sync().expect("sync");
    let after = std::fs::read(&path).expect("scratch file");
    let keep = usize::try_from(keep).expect("small");
    assert_eq!(&after[..keep], &content[..keep], "the kept part changed");
    assert_eq!(
        after.len() as u64,
        writer.len(),
        "len() is the file's length"
    );
    let line = &after[keep..];
    assert_eq!(line.last(), Some(&b'\n'), "a reject is one line");
    assert!(
        !line[..line.len() - 1].contains(&b'\n'),
        "a reject is one line"
    );
    let back: Reject = serde_json::from_slice(line).expect("the new line reads back");
    assert_eq!(back, reject);
}
