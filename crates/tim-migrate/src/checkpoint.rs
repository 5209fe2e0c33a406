//! The import checkpoint: what the server confirmed, per group, so that `--resume` continues with
//! nothing lost and nothing imported twice.
//!
//! A checkpoint records the target (base URL, SDKAppID, edition), a fingerprint of each input file
//! (size and SHA-256 of its first and last MiB, checked before anything else, plus the SHA-256 of
//! the whole file: the messages file is hashed during the sort pass and checked right after it, the
//! groups and members files when the import starts), the length of the rejects file as of the save,
//! and, per group: whether it was created, the group's `NextMsgSeq` before the importer's first
//! message (saved before that message is sent), how many messages of its ordered stream
//! ([`crate::prepare`]) the server confirmed, the last `MsgSeq`, how many were rejected, and how many
//! members were imported.
//!
//! Format version 2 added `sha256`, `rejects_len` and `start_seq`, and goes with version 2 of the
//! `Random` derivation ([`crate::random`]). A version-1 checkpoint is refused: the messages its
//! import sent without `Random` or `SourceId` carry values this build would not derive, so a
//! resume could not recognise them on the server; finish that import with the build that started
//! it. [`Checkpoint::save`] is atomic: a temporary file in the same directory is
//! written, fsynced and renamed over the old one, then the directory is fsynced, so a crash leaves
//! either the old or the new checkpoint, never a torn one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tim_model::Edition;

/// Format version written by this build.
pub const VERSION: u32 = 2;
/// Bytes hashed at each end of an input file.
pub const FINGERPRINT_SPAN: u64 = 1 << 20;

/// Where the import goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Base URL of the REST API (no query string).
    pub base_url: String,
    /// The app's SDKAppID.
    pub sdkappid: u64,
    /// The edition whose limits the import follows.
    pub edition: Edition,
}

/// A cheap identity of an input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFingerprint {
    /// The file as the user named it (informational: a moved file still matches).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the first [`FINGERPRINT_SPAN`] bytes.
    pub head_sha256: String,
    /// Hex SHA-256 of the last [`FINGERPRINT_SPAN`] bytes.
    pub tail_sha256: String,
    /// Hex SHA-256 of the whole file, once known (the messages file is hashed during the sort
    /// pass, see [`crate::prepare::Prepared::sha256`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl FileFingerprint {
    /// Fingerprints `path`.
    pub fn of(path: &Path) -> io::Result<FileFingerprint> {
        let mut f = File::open(path)?;
        let size = f.metadata()?.len();
        let head = hash_span(&mut f, 0)?;
        let tail = hash_span(&mut f, size.saturating_sub(FINGERPRINT_SPAN))?;
        Ok(FileFingerprint {
            path: crate::input::display_path(path),
            size,
            head_sha256: head,
            tail_sha256: tail,
            sha256: None,
        })
    }

    /// Fingerprints `path`, hashing the whole file as well.
    pub fn of_whole(path: &Path) -> io::Result<FileFingerprint> {
        let mut fp = FileFingerprint::of(path)?;
        let mut h = Sha256::new();
        io::copy(&mut File::open(path)?, &mut HashWriter(&mut h))?;
        fp.sha256 = Some(hex(&h.finalize()));
        Ok(fp)
    }

    /// Whether both describe the same content (the path is not compared; the whole-file hashes
    /// only when both are known).
    pub fn same_content(&self, other: &FileFingerprint) -> bool {
        (self.size, &self.head_sha256, &self.tail_sha256)
            == (other.size, &other.head_sha256, &other.tail_sha256)
            && match (&self.sha256, &other.sha256) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

fn hash_span(f: &mut File, from: u64) -> io::Result<String> {
    f.seek(SeekFrom::Start(from))?;
    let mut h = Sha256::new();
    io::copy(&mut f.take(FINGERPRINT_SPAN), &mut HashWriter(&mut h))?;
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Fingerprints of the inputs of one import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFingerprint {
    /// `--messages`.
    pub messages: FileFingerprint,
    /// `--groups`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<FileFingerprint>,
    /// `--members`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<FileFingerprint>,
}

impl InputFingerprint {
    /// Fingerprints the inputs: the groups and members files whole, the messages file by its
    /// ends (its whole hash comes from the sort pass).
    pub fn of(paths: &crate::input::InputPaths) -> io::Result<InputFingerprint> {
        Ok(InputFingerprint {
            messages: FileFingerprint::of(&paths.messages)?,
            groups: paths
                .groups
                .as_deref()
                .map(FileFingerprint::of_whole)
                .transpose()?,
            members: paths
                .members
                .as_deref()
                .map(FileFingerprint::of_whole)
                .transpose()?,
        })
    }
}

/// What the server confirmed for one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProgress {
    /// `import_group` succeeded (or the group already existed).
    #[serde(default)]
    pub created: bool,
    /// Messages of the group's ordered stream confirmed by the server (imported, duplicate or
    /// rejected): a resumed import skips this many.
    #[serde(default)]
    pub confirmed: u64,
    /// `MsgSeq` of the last message imported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// Messages the server rejected (written to the rejects file).
    #[serde(default)]
    pub rejected: u64,
    /// Members of the group imported (lines of the members file, in order).
    #[serde(default)]
    pub members_done: u64,
    /// The group's `NextMsgSeq` before the importer sent its first message, saved before that
    /// message went out: a resume reads the group back from there even when no batch was confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_seq: Option<u64>,
}

/// The checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Where the import goes.
    pub target: Target,
    /// Which inputs it reads.
    pub input: InputFingerprint,
    /// Length in bytes of the rejects file when this checkpoint was saved (after it was synced):
    /// `--resume` cuts off anything beyond (a torn line, or rejects of batches this checkpoint does
    /// not confirm, which are sent again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects_len: Option<u64>,
    /// Progress per group, by `GroupId`.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupProgress>,
}

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("checkpoint {path}")]
    Io {
        /// The checkpoint file.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a checkpoint of this format.
    #[error("checkpoint {path} is not a tim-migrate checkpoint: {message}; pass another --checkpoint file")]
    Format {
        /// The checkpoint file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The checkpoint belongs to another import.
    #[error("checkpoint {path} was written for {what} {recorded}, but this run has {given}; resume with the original {what}, or start a new import with another --checkpoint file")]
    Mismatch {
        /// The checkpoint file.
        path: String,
        /// What differs (`target`, `messages file`, …).
        what: &'static str,
        /// What the checkpoint records.
        recorded: String,
        /// What this run has.
        given: String,
    },
    /// An input file changed since the checkpoint was written (its whole-file hash differs).
    #[error("{what} {file} changed since checkpoint {path} was written (its SHA-256 is {given:.12}…, the checkpoint records {recorded:.12}…): restore the file as it was to resume, or start a new import with another --checkpoint file")]
    InputChanged {
        /// The checkpoint file.
        path: String,
        /// Which input (`messages file`, …).
        what: &'static str,
        /// The input file as this run names it.
        file: String,
        /// The hash the checkpoint records.
        recorded: String,
        /// The hash of the file now.
        given: String,
    },
}

impl Checkpoint {
    /// A fresh checkpoint with no progress.
    pub fn new(target: Target, input: InputFingerprint) -> Checkpoint {
        Checkpoint {
            version: VERSION,
            target,
            input,
            rejects_len: None,
            groups: BTreeMap::new(),
        }
    }

    /// The progress of `group_id` (created empty on first use).
    pub fn group_mut(&mut self, group_id: &str) -> &mut GroupProgress {
        self.groups.entry(group_id.to_owned()).or_default()
    }

    /// Reads a checkpoint; `Ok(None)` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let shown = crate::input::display_path(path);
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: shown,
                    source,
                })
            }
        };
        let cp: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Format {
                path: shown.clone(),
                message: e.to_string(),
            })?;
        if cp.version != VERSION {
            let why = if cp.version < VERSION {
                "; it was written by an older tim-migrate, which derived other Randoms: finish that import with the version that started it, or start a new import with another --checkpoint file"
            } else {
                ""
            };
            return Err(CheckpointError::Format {
                path: shown,
                message: format!(
                    "format version {} (this build reads {VERSION}){why}",
                    cp.version
                ),
            });
        }
        Ok(Some(cp))
    }

    /// Writes the checkpoint atomically (temp file in the same directory, fsync, rename, fsync dir).
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let io_err = |source| CheckpointError::Io {
            path: crate::input::display_path(path),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".tim-migrate-checkpoint")
            .tempfile_in(dir)
            .map_err(io_err)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| io_err(io::Error::other(e)))?;
        tmp.write_all(&json).map_err(io_err)?;
        tmp.write_all(b"\n").map_err(io_err)?;
        tmp.as_file().sync_all().map_err(io_err)?;
        tmp.persist(path).map_err(|e| io_err(e.error))?;
        sync_dir(dir).map_err(io_err)?;
        Ok(())
    }

    /// Refuses to resume when the target or an input differs from what the checkpoint records.
    pub fn ensure_matches(
        &self,
        path: &Path,
        target: &Target,
        input: &InputFingerprint,
    ) -> Result<(), CheckpointError> {
        let mismatch = |what, recorded: String, given: String| CheckpointError::Mismatch {
            path: crate::input::display_path(path),
            what,
            recorded,
            given,
        };
        let show_t = |t: &Target| {
            format!(
                "{} (sdkappid {}, {} edition)",
                t.base_url, t.sdkappid, t.edition
            )
        };
        if self.target != *target {
            return Err(mismatch("target", show_t(&self.target), show_t(target)));
        }
        let show_f = |f: Option<&FileFingerprint>| match f {
            None => "none".to_owned(),
            Some(f) => format!(
                "{} ({} bytes, sha256 of first MiB {:.12})",
                f.path, f.size, f.head_sha256
            ),
        };
        let pairs = [
            (
                "messages file",
                Some(&self.input.messages),
                Some(&input.messages),
            ),
            (
                "groups file",
                self.input.groups.as_ref(),
                input.groups.as_ref(),
            ),
            (
                "members file",
                self.input.members.as_ref(),
                input.members.as_ref(),
            ),
        ];
        for (what, rec, given) in pairs {
            if let (Some(a), Some(b)) = (rec, given) {
                if let (Some(ra), Some(gb)) = (&a.sha256, &b.sha256) {
                    if ra != gb
                        && (a.size, &a.head_sha256, &a.tail_sha256)
                            == (b.size, &b.head_sha256, &b.tail_sha256)
                    {
                        return Err(CheckpointError::InputChanged {
                            path: crate::input::display_path(path),
                            what,
                            file: b.path.clone(),
                            recorded: ra.clone(),
                            given: gb.clone(),
                        });
                    }
                }
            }
            let same = match (rec, given) {
                (None, None) => true,
                (Some(a), Some(b)) => a.same_content(b),
                _ => false,
            };
            if !same {
                return Err(mismatch(what, show_f(rec), show_f(given)));
            }
        }
        Ok(())
    }

    /// After the sort pass: records the messages file's whole-file hash, or refuses to resume when
    /// it differs from the one recorded (a file edited in the middle keeps its size and ends).
    pub fn check_messages_hash(
        &mut self,
        path: &Path,
        file: &str,
        sha256: &str,
    ) -> Result<(), CheckpointError> {
        match &self.input.messages.sha256 {
            Some(recorded) if recorded != sha256 => Err(CheckpointError::InputChanged {
                path: crate::input::display_path(path),
                what: "messages file",
                file: file.to_owned(),
                recorded: recorded.clone(),
                given: sha256.to_owned(),
            }),
            _ => {
                self.input.messages.sha256 = Some(sha256.to_owned());
                Ok(())
            }
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
