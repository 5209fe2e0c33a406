//! Reference server for Tencent Cloud IM's `import_group_msg` API family.
//!
//! Code map: [`http`] (thin handlers) → [`gateway`] (sdkappid, UserSig, admin, rate limit) →
//! [`service`] (API rules, no HTTP) → [`store`] (SQLite or memory, behind a trait). [`error`]
//! holds the one mapping from failures to Tencent codes; [`config`] the command-line contract;
//! [`clock`] the injected time.

pub mod clock;
pub mod config;
pub mod control;
pub mod error;
pub mod gateway;
pub mod http;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use clock::{Clock, SystemClock};
use config::{DataLocation, Durability, ServerConfig};
use control::ControlPlane;
use gateway::{AppCredentials, Gateway};
use service::{Service, ServiceConfig};
use store::memory::MemoryStore;
use store::postgres::PostgresStore;
use store::sqlite::SqliteStore;
use store::Store;

/// Opens the store a configuration names (`durability` applies to a SQLite file).
pub fn open_store(data: &DataLocation, durability: Durability) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match data {
        DataLocation::Memory => Arc::new(MemoryStore::new()),
        DataLocation::Postgres(url) => Arc::new(
            PostgresStore::open(url.expose())
                .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL database {url}: {e}"))?,
        ),
        DataLocation::File(path) => Arc::new(
            SqliteStore::open_with(path, durability)
                .map_err(|e| anyhow::anyhow!("cannot open data file {}: {e}", path.display()))?,
        ),
    })
}

/// Builds the router for `config` over `store`, reading time from `clock`. `rng_seed` seeds
/// every random choice (generated IDs and `Random`s, fault dice); `None` takes `config.seed`,
/// or draws one.
pub fn app(
    config: &ServerConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng_seed: Option<u64>,
) -> axum::Router {
    app_with_clocks(config, store, Arc::clone(&clock), clock, rng_seed)
}

/// [`app`] with two clocks: the API rules (the service: `SendTime` bounds, creation and join
/// times, the duplicate window) read `rules_clock`, the gateway (UserSig expiry) reads
/// `gateway_clock`. For embedders that shift the time one side sees, e.g. to test a server
/// whose rules run on a skewed clock.
pub fn app_with_clocks(
    config: &ServerConfig,
    store: Arc<dyn Store>,
    rules_clock: Arc<dyn Clock>,
    gateway_clock: Arc<dyn Clock>,
    rng_seed: Option<u64>,
) -> axum::Router {
    let seed = rng_seed.or(config.seed).unwrap_or_else(rand::random);
    let service = Service::new(
        store,
        rules_clock,
        ServiceConfig {
            sdkappid: config.sdkappid,
            limits: config.limits.clone(),
            restricted_words: config.restricted_words.clone(),
            rng_seed: Some(seed),
        },
    );
    let gateway = Gateway::new(
        AppCredentials {
            sdkappid: config.sdkappid,
            secret_key: config.secret_key.clone(),
            admins: config.admins.clone(),
        },
        gateway_clock,
        config.limits.requests_per_second,
    );
    // On a store several replicas share, the quota and run-time configuration are shared too.
    let shared = service.store().shared();
    let gateway = match &shared {
        Some(shared) => gateway.with_shared_rate(Arc::clone(shared)),
        None => gateway,
    };
    let state = http::AppState {
        service: Arc::new(service),
        gateway: Arc::new(gateway),
        control: Arc::new(ControlPlane::new(config.control, seed)),
    };
    if let Some(shared) = shared {
        // Weak: the store holds this subscriber, and the state holds the store.
        let (service, gateway, control) = (
            Arc::downgrade(&state.service),
            Arc::downgrade(&state.gateway),
            Arc::downgrade(&state.control),
        );
        shared.subscribe_config(Box::new(move |json| {
            if let (Some(service), Some(gateway), Some(control)) =
                (service.upgrade(), gateway.upgrade(), control.upgrade())
            {
                let state = http::AppState {
                    service,
                    gateway,
                    control,
                };
                control::apply_published(&state, json);
            }
        }));
    }
    http::router(state)
}

/// Serves `config` until `shutdown` completes; `on_listening` gets the bound address first.
pub async fn serve(
    config: ServerConfig,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Opening may block (a PostgreSQL store connects and migrates on a runtime of its own).
    let (data, durability) = (config.data.clone(), config.durability);
    let store = tokio::task::spawn_blocking(move || open_store(&data, durability))
        .await
        .map_err(|e| anyhow::anyhow!("opening the store failed: {e}"))??;
    let seed = config.seed.unwrap_or_else(rand::random);
    tracing::info!(
        seed,
        control = config.control,
        "random choices seeded (replay with --seed {seed})"
    );
    let router = app(&config, store, Arc::new(SystemClock), Some(seed));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    on_listening(listener.local_addr()?);
    serve_router(listener, router, shutdown).await;
    Ok(())
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for open connections
/// to finish their requests. Like `axum::serve`, plus one thing it cannot do: a response marked
/// [`http::LoseReply`] is never written; its connection is closed instead.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::TokioIo;
    use tower::ServiceExt as _;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let router = router.clone();
                async move {
                    let response = router
                        .oneshot(req.map(axum::body::Body::new))
                        .await
                        .unwrap_or_else(|never| match never {});
                    match response.extensions().get::<http::LoseReply>() {
                        Some(_) => Err(LostReply),
                        None => Ok(response),
                    }
                }
            });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Errors here are the peer going away, or a reply lost on purpose.
            let _ = conn.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct LostReply;

impl std::fmt::Display for LostReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reply lost on purpose (lose_reply fault)")
    }
}

impl std::error::Error for LostReply {}

/// A reference server running in this process (for tests and tools that embed it), stopped
/// when dropped.
#[derive(Debug)]
pub struct EmbeddedServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl EmbeddedServer {
    /// Starts `config` on the current tokio runtime and returns once it accepts connections.
    pub async fn start(config: ServerConfig) -> anyhow::Result<EmbeddedServer> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (err_tx, err_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let served = serve(
                config,
                move |addr| {
                    let _ = tx.send(addr);
                },
                std::future::pending(),
            )
            .await;
            if let Err(e) = served {
                let _ = err_tx.send(e);
            }
        });
        match rx.await {
            Ok(addr) => Ok(EmbeddedServer { addr, task }),
            Err(_) => Err(err_rx.await.unwrap_or_else(|_| {
                anyhow::anyhow!("the embedded server stopped before listening")
            })),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
