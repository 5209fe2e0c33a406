//! What the replicas on one database share: the rate limit and the run-time configuration.
//!
//! - Rate limit: one GCRA row per key (app and command) in `tim_rate_limits`, tested and
//!   advanced in one `INSERT … ON CONFLICT DO UPDATE … WHERE` on the database's clock, so every
//!   replica draws from the same quota and no replica's clock matters.
//! - Configuration: one row in `tim_config`; a change bumps its version and sends `NOTIFY
//!   tim_config`. Every store keeps one connection listening on that channel (reconnecting when
//!   it drops, and re-reading the row then, so a change made meanwhile is not missed) and hands
//!   every newer version published by another replica to its subscriber.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::future::BoxFuture;
use tokio::runtime::Handle;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{pg, pool_error, StoreError, StoreResult};
use crate::store::Shared;

/// One request from the quota of `$1`: `$2` is the emission interval, `$3` the burst
/// tolerance (interval × burst), both in nanoseconds. A row comes back when the request is
/// allowed; when it is not, the row is left as it was and nothing comes back.
const TAKE: &str = "
    WITH now AS (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000)::BIGINT AS ns)
    INSERT INTO tim_rate_limits AS r (key, tat_ns)
    SELECT $1, now.ns + $2 FROM now
    ON CONFLICT (key) DO UPDATE
        SET tat_ns = GREATEST(r.tat_ns, EXCLUDED.tat_ns - $2) + $2
        WHERE GREATEST(r.tat_ns, EXCLUDED.tat_ns - $2) + $2 - (EXCLUDED.tat_ns - $2) <= $3
    RETURNING tat_ns";
const REFILL: &str = "DELETE FROM tim_rate_limits";
/// Stores a configuration document (`$1` the publishing store, `$2` the JSON) and announces
/// its version, in one statement (the notification leaves at its commit).
const PUBLISH: &str = "
    WITH up AS (
        INSERT INTO tim_config (id, version, origin, config_json) VALUES (1, 1, $1, $2)
        ON CONFLICT (id) DO UPDATE SET version = tim_config.version + 1,
            origin = EXCLUDED.origin, config_json = EXCLUDED.config_json
        RETURNING version)
    SELECT pg_notify('tim_config', version::TEXT) FROM up";
const READ_CONFIG: &str = "SELECT version, origin, config_json FROM tim_config WHERE id = 1";
/// The configuration version at open (0: none published yet).
pub(super) const CONFIG_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM tim_config";

/// How long the listener waits before connecting again after its connection failed.
const RECONNECT: Duration = Duration::from_secs(1);

type Subscriber = Arc<Mutex<Option<Box<dyn Fn(&str) + Send + Sync>>>>;

/// The [`Shared`] state of a [`super::PostgresStore`].
pub(super) struct PgShared {
    handle: Handle,
    pool: Pool,
    /// Identifies this store's own configuration documents, which it does not apply again.
    origin: i64,
    subscriber: Subscriber,
}

impl PgShared {
    /// Starts listening for configuration changes newer than `seen_version`.
    pub(super) fn start(
        handle: Handle,
        pool: Pool,
        config: tokio_postgres::Config,
        seen_version: i64,
    ) -> PgShared {
        let origin = rand::random::<i64>();
        let subscriber: Subscriber = Arc::default();
        handle.spawn(listen(
            config,
            origin,
            seen_version,
            Arc::clone(&subscriber),
        ));
        PgShared {
            handle,
            pool,
            origin,
            subscriber,
        }
    }

    /// Runs `f` on the store's runtime (where the pool's connections live) and awaits it from
    /// any runtime.
    fn spawn<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl std::future::Future<Output = StoreResult<T>> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let task = self.handle.spawn(f);
        Box::pin(async move {
            task.await.map_err(|e| {
                StoreError::Backend(format!("postgres {op}: the task did not finish: {e}"))
            })?
        })
    }
}

impl Shared for PgShared {
    fn take(&self, key: String, per_second: u32) -> BoxFuture<'static, StoreResult<bool>> {
        let pool = self.pool.clone();
        let per_second = i64::from(per_second.max(1));
        let interval = 1_000_000_000 / per_second;
        let tolerance = interval * per_second;
        self.spawn("rate limit", async move {
            let op = "rate limit";
            let client = pool.get().await.map_err(pool_error(op))?;
            let stmt = client.prepare_cached(TAKE).await.map_err(pg(op))?;
            let row = client
                .query_opt(&stmt, &[&key, &interval, &tolerance])
                .await
                .map_err(pg(op))?;
            Ok(row.is_some())
        })
    }

    fn refill(&self) -> BoxFuture<'static, StoreResult<()>> {
        let pool = self.pool.clone();
        self.spawn("refill", async move {
            let client = pool.get().await.map_err(pool_error("refill"))?;
            client.execute(REFILL, &[]).await.map_err(pg("refill"))?;
            Ok(())
        })
    }

    fn publish_config(&self, json: String) -> BoxFuture<'static, StoreResult<()>> {
        let pool = self.pool.clone();
        let origin = self.origin;
        self.spawn("publish config", async move {
            let op = "publish config";
            let client = pool.get().await.map_err(pool_error(op))?;
            client
                .execute(PUBLISH, &[&origin, &json])
                .await
                .map_err(pg(op))?;
            Ok(())
        })
    }

    fn subscribe_config(&self, apply: Box<dyn Fn(&str) + Send + Sync>) {
        *self
            .subscriber
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(apply);
    }
}

/// The listener: one connection of its own doing `LISTEN tim_config`; on every notification
/// (and after every reconnect) it reads the configuration row and hands a version newer than
/// `seen` that another store published to the subscriber.
async fn listen(
    config: tokio_postgres::Config,
    origin: i64,
    mut seen: i64,
    subscriber: Subscriber,
) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (wake, mut woken) = tokio::sync::mpsc::unbounded_channel::<()>();
                let driver = tokio::spawn(async move {
                    while let Some(message) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => {
                                let _ = wake.send(());
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "postgres: config listener connection failed");
                                break;
                            }
                        }
                    }
                });
                if let Err(e) = client.batch_execute("LISTEN tim_config").await {
                    tracing::warn!(error = %e, "postgres: cannot LISTEN for config changes");
                } else {
                    // Changes made while nobody listened, then every announced one.
                    loop {
                        match client.query_opt(READ_CONFIG, &[]).await {
                            Ok(Some(row)) => {
                                let (version, from): (i64, i64) = (row.get(0), row.get(1));
                                if version > seen {
                                    seen = version;
                                    if from != origin {
                                        let json: String = row.get(2);
                                        if let Some(apply) = &*subscriber
                                            .lock()
                                            .unwrap_or_else(PoisonError::into_inner)
                                        {
                                            apply(&json);
                                        }
                                    }
                                }
                            }
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "postgres: cannot read the shared config");
                                break;
                            }
                        }
                        if woken.recv().await.is_none() {
                            break;
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => {
                tracing::warn!(error = %e, "postgres: config listener cannot connect; retrying");
            }
        }
        tokio::time::sleep(RECONNECT).await;
    }
}
