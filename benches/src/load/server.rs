//! Servers the driver starts in process, each on its own tokio runtime and thread (as if it were
//! another process) on `127.0.0.1:0`: the reference server over a fresh store, and the bare
//! baseline.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tempfile::TempDir;
use tim_model::usersig::SecretKey;
use tim_model::Edition;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tokio::sync::oneshot;

use super::{LoadError, Target};

/// Where the in-process reference server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// A fresh SQLite file in a temporary directory (durable: one fsync per request).
    Sqlite,
    /// The in-memory store.
    Memory,
}

impl Store {
    /// The store's name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Store::Sqlite => "SQLite, durable",
            Store::Memory => "memory",
        }
    }
}

/// Settings of an in-process reference server.
#[derive(Debug, Clone)]
pub struct ReferenceOptions {
    /// Edition (limits) to emulate.
    pub edition: Edition,
    /// Store backend.
    pub store: Store,
    /// Requests per second per command, or `None` for no limit.
    pub rate_limit: Option<u32>,
    /// Restricted words (80001); empty for a load run.
    pub restricted_words: Vec<String>,
}

/// A server running on its own runtime thread; stopped (and its data removed) on drop.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    _data: Option<TempDir>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The target description for the development credentials the in-process servers use.
    pub fn target(&self) -> Target {
        Target {
            base_url: self.base_url(),
            sdkappid: DEV_SDKAPPID,
            identifier: DEV_ADMIN.to_owned(),
            secret_key: SecretKey::new(DEV_SECRET_KEY),
        }
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) -> Result<(), LoadError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), LoadError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Err(LoadError::Server(e)),
            Some(Err(_)) => Err(LoadError::Server("server thread panicked".into())),
            _ => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Starts the reference server with `options` on a free port of 127.0.0.1.
pub fn start_reference(options: &ReferenceOptions) -> Result<RunningServer, LoadError> {
    let (data, dir) = match options.store {
        Store::Memory => (DataLocation::Memory, None),
        Store::Sqlite => {
            let dir = tempfile::tempdir().map_err(|e| LoadError::Server(e.to_string()))?;
            (DataLocation::File(dir.path().join("load.db")), Some(dir))
        }
    };
    let mut limits = options.edition.limits();
    limits.requests_per_second = options.rate_limit;
    let config = ServerConfig {
        limits,
        restricted_words: options.restricted_words.clone(),
        ..ServerConfig::development(data)
    };
    spawn(dir, move |addr_tx, stop| async move {
        tim_server::serve(
            config,
            |addr| {
                let _ = addr_tx.send(addr);
            },
            async {
                let _ = stop.await;
            },
        )
        .await
        .map_err(|e| format!("{e:#}"))
    })
}

/// Starts the bare baseline ([`crate::baseline::router`]) on a free port of 127.0.0.1.
pub fn start_baseline() -> Result<RunningServer, LoadError> {
    spawn(None, |addr_tx, stop| async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| e.to_string())?;
        let _ = addr_tx.send(listener.local_addr().map_err(|e| e.to_string())?);
        axum::serve(listener, crate::baseline::router())
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await
            .map_err(|e| e.to_string())
    })
}

fn spawn<F, Fut>(data: Option<TempDir>, serve: F) -> Result<RunningServer, LoadError>
where
    F: FnOnce(mpsc::Sender<SocketAddr>, oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    // A std channel: the caller may be on a runtime thread, where tokio's blocking receive panics.
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("tim-load-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("tim-load-server")
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(serve(addr_tx, stop_rx))
        })
        .map_err(|e| LoadError::Server(e.to_string()))?;
    match addr_rx.recv() {
        Ok(addr) => Ok(RunningServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            _data: data,
        }),
        Err(_) => Err(LoadError::Server(match thread.join() {
            Ok(Err(e)) => e,
            _ => "server stopped before listening".into(),
        })),
    }
}
