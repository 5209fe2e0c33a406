//! The state every task of a running import shares: checkpoint, rejects file, report, stop flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tim_client::{Client, Error as ClientError};
use tim_model::{ErrorClass, ErrorCode};
use tracing::Span;

use super::ImportError;
use crate::checkpoint::Checkpoint;
use crate::rejects::{Reject, RejectsWriter};
use crate::report::ImportReport;

/// Shared state of a running import.
pub(super) struct Shared {
    pub(super) checkpoint: Checkpoint,
    pub(super) rejects: Option<RejectsWriter>,
    /// The rejects file as the user named it, for error messages.
    pub(super) rejects_path: String,
    pub(super) report: ImportReport,
    pub(super) dirty: bool,
    /// Bumped by every change that must be durable before the importer acts on it (a group's
    /// start seq); see [`Run::ensure_saved`].
    pub(super) generation: u64,
    pub(super) fatal: Option<ClientError>,
    /// A local failure that stopped the import (the checkpoint could not be written).
    pub(super) halted: Option<ImportError>,
}

impl Shared {
    /// Writes a rejected line to the rejects file, if there is one.
    pub(super) fn reject(
        &mut self,
        file: &str,
        line: u64,
        group_id: &str,
        code: ErrorCode,
        reason: &str,
        raw: &str,
    ) -> Result<(), ImportError> {
        if let Some(w) = self.rejects.as_mut() {
            w.write(&Reject {
                file: file.to_owned(),
                line,
                group_id: group_id.to_owned(),
                code: code.0,
                reason: reason.to_owned(),
                input: raw.to_owned(),
            })
            .map_err(|source| ImportError::Io {
                what: "rejects file",
                path: self.rejects_path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

pub(super) struct Run {
    pub(super) client: Client,
    pub(super) shared: Mutex<Shared>,
    pub(super) stop: AtomicBool,
    /// Held while a checkpoint is written, so saves never overtake each other.
    pub(super) saving: Mutex<()>,
    /// The `generation` of the last checkpoint written.
    pub(super) saved_generation: AtomicU64,
    pub(super) checkpoint_path: std::path::PathBuf,
    pub(super) messages_file: String,
    pub(super) members_file: String,
    pub(super) bar: Span,
}

impl Run {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Records an error after which nothing more can be sent, and stops every task.
    pub(super) fn fail(&self, err: ClientError) {
        let mut s = self.lock();
        if s.fatal.is_none() {
            s.fatal = Some(err);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Records a local failure after which the import must not go on (a checkpoint that cannot
    /// be written), and stops every task after its request in flight.
    pub(super) fn halt(&self, err: ImportError) {
        let mut s = self.lock();
        if s.halted.is_none() {
            s.halted = Some(err);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Syncs the rejects file, records its length, then writes the checkpoint (if anything
    /// changed).
    pub(super) fn save(&self) -> Result<(), ImportError> {
        let _saving = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        self.save_locked()
    }

    fn save_locked(&self) -> Result<(), ImportError> {
        let (snapshot, generation) = {
            let mut guard = self.lock();
            let s = &mut *guard;
            if !s.dirty {
                return Ok(());
            }
            if let Some(r) = s.rejects.as_mut() {
                r.sync().map_err(|source| ImportError::Io {
                    what: "rejects file",
                    path: s.rejects_path.clone(),
                    source,
                })?;
                let len = r.len();
                s.checkpoint.rejects_len = Some(len);
            }
            s.dirty = false;
            (s.checkpoint.clone(), s.generation)
        };
        if let Err(e) = snapshot.save(&self.checkpoint_path) {
            self.lock().dirty = true;
            return Err(ImportError::CheckpointWrite(e));
        }
        self.saved_generation
            .fetch_max(generation, Ordering::Relaxed);
        Ok(())
    }

    /// Returns once a checkpoint holding every change up to `generation` is on disk (one save
    /// serves every group waiting at that moment).
    pub(super) fn ensure_saved(&self, generation: u64) -> Result<(), ImportError> {
        let _saving = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        if self.saved_generation.load(Ordering::Relaxed) >= generation {
            return Ok(());
        }
        self.lock().dirty = true;
        self.save_locked()
    }
}

/// Whether an API error concerns only this group (its messages are rejected, the import goes on),
/// as opposed to the whole import (credentials, permissions, an unreachable target).
pub(super) fn group_scoped(err: &ClientError) -> bool {
    matches!(
        err,
        ClientError::Api {
            class: ErrorClass::Caller,
            ..
        }
    ) || matches!(err, ClientError::Api { code, .. } if *code == ErrorCode::PERMISSION_DENIED)
}
