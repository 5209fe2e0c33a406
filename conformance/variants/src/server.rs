//! A variant server: the shipped reference server's public pieces, composed. Per variant, the
//! simplest faithful means (see [`Means`]): its readings (`tim_model::Limits`, set through
//! [`ServerConfig`]), a skewed clock for the API rules ([`crate::clock`]), a wrapping store
//! ([`crate::store`]) and a layer around the router ([`crate::layer`]).

use std::net::SocketAddr;
use std::sync::Arc;

use tim_model::edition::FailureScope;
use tim_server::clock::{Clock, SystemClock};
use tim_server::config::ServerConfig;
use tim_server::store::Store;

use crate::clock::SkewedClock;
use crate::layer::{self, LayerState};
use crate::store::VariantStore;
use crate::variant::{Benign, Mutant, Variant};

/// Two minutes: the skew of the clock mutants that check `SendTime` against a wrong clock.
const SKEW_SECS: i64 = 120;
/// Thirty days: a clock so far ahead that no `SendTime` the suite sends is in its future.
const FAR_AHEAD_SECS: i64 = 30 * 86_400;

/// How a variant is built (for the documentation and the self-check's report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Means {
    /// A setting of the shipped server (a reading or a limit of `Limits`).
    Readings,
    /// The API rules read a skewed clock (the gateway keeps the system clock).
    Clock,
    /// A wrapping store.
    Store,
    /// A layer around the reference router (and, for the rate-limit variants, the inner
    /// server's limiter off).
    Layer,
}

impl Means {
    /// One word: `readings`, `clock`, `store` or `layer`.
    pub const fn name(self) -> &'static str {
        match self {
            Means::Readings => "readings",
            Means::Clock => "clock",
            Means::Store => "store",
            Means::Layer => "layer",
        }
    }
}

/// How `variant` is built.
pub fn means(variant: Variant) -> Means {
    if clock_offset(variant) != 0 {
        Means::Clock
    } else if layer::needed(variant) {
        Means::Layer
    } else if VariantStore::needed(variant, 0) {
        Means::Store
    } else {
        Means::Readings
    }
}

/// The skew of the API rules' clock under `variant`.
fn clock_offset(variant: Variant) -> i64 {
    match variant {
        Variant::Mutant(Mutant::FutureSendTimeAccepted) => FAR_AHEAD_SECS,
        Variant::Mutant(Mutant::FutureCheckSkewedClock) => SKEW_SECS,
        Variant::Mutant(Mutant::ImportClockSlow) => -SKEW_SECS,
        _ => 0,
    }
}

/// `config` with the readings and limits `variant` changes (the inner server's configuration).
pub fn configure(config: &ServerConfig, variant: Variant) -> ServerConfig {
    let mut config = config.clone();
    let l = &mut config.limits;
    match variant {
        Variant::Mutant(Mutant::BatchLimitPlusOne) => l.msgs_per_request += 1,
        Variant::Mutant(Mutant::MsgSizePlusOne) => l.msg_max_bytes += 1,
        Variant::Mutant(Mutant::MsgSizeUnchecked) => l.msg_max_bytes = usize::MAX,
        // The layer limits instead (or, for this mutant, nobody does).
        Variant::Mutant(Mutant::RateLimiterOff | Mutant::RateLimitedStillStored)
        | Variant::Benign(Benign::RateLimitFixedWindow) => l.requests_per_second = None,
        Variant::Benign(Benign::SeedPerMessageScope | Benign::MixedFailureScope) => {
            l.failure_scope = FailureScope::Message;
        }
        Variant::Benign(Benign::StrictSendTimeOrder) => l.allow_equal_send_time = false,
        _ => {}
    }
    config
}

/// The router of `variant` (`None`: the reference server) for `config` over `store`.
pub fn router(
    config: &ServerConfig,
    variant: Option<Variant>,
    store: Arc<dyn Store>,
    rng_seed: Option<u64>,
) -> axum::Router {
    let seed = rng_seed.or(config.seed).unwrap_or_else(rand::random);
    let Some(variant) = variant else {
        return tim_server::app(config, store, Arc::new(SystemClock), Some(seed));
    };
    let inner = configure(config, variant);
    let offset = clock_offset(variant);
    let store: Arc<dyn Store> = match VariantStore::needed(variant, offset) {
        true => Arc::new(VariantStore::new(store, variant, offset)),
        false => store,
    };
    let rules_clock: Arc<dyn Clock> = match offset {
        0 => Arc::new(SystemClock),
        offset => Arc::new(SkewedClock { offset }),
    };
    let router = tim_server::app_with_clocks(
        &inner,
        store,
        rules_clock,
        Arc::new(SystemClock),
        Some(seed),
    );
    match layer::needed(variant) {
        true => {
            let state = LayerState::new(variant, &inner, config.limits.requests_per_second, seed);
            router.layer(axum::middleware::from_fn_with_state(
                Arc::new(state),
                layer::layer,
            ))
        }
        false => router,
    }
}

/// A variant server running in this process, stopped when dropped.
#[derive(Debug)]
pub struct VariantServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl VariantServer {
    /// Starts `variant` (`None`: the reference server) for `config` on the current tokio
    /// runtime, on `config.listen` and `config.data`; returns once it accepts connections.
    pub async fn start(config: ServerConfig, variant: Option<Variant>) -> anyhow::Result<Self> {
        let store = tim_server::open_store(&config.data, config.durability)?;
        let router = router(&config, variant, store, None);
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(tim_server::serve_router(
            listener,
            router,
            std::future::pending(),
        ));
        Ok(VariantServer { addr, task })
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

impl Drop for VariantServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
