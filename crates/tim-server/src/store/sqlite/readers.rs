//! The pool of read connections: each read runs in its own deferred transaction and, in WAL
//! mode, never waits for the writer.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{backend, Fail, StoreResult, BUSY_TIMEOUT, MMAP_BYTES};

/// Idle read connections kept open. Opening one costs more than a read (schema parse, WAL
/// index mapping), so the pool covers the concurrency of the blocking pool under load.
const MAX_IDLE_READERS: usize = 64;

/// Read connections to the database file, kept for reuse.
#[derive(Debug)]
pub(super) struct Readers {
    pub(super) path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Runs `f` in one read transaction on an idle (or new) read connection.
    pub(super) fn read<T>(
        &self,
        op: &str,
        f: impl FnOnce(&Connection) -> Result<T, Fail>,
    ) -> StoreResult<T> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(c) => c,
            None => self.open().map_err(|e| backend(op, &e))?,
        };
        let result: Result<T, Fail> = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        drop(idle);
        result.map_err(|e| e.into_store(op))
    }
}
