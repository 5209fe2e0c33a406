//! Shared helpers: a reference server on `127.0.0.1:0` with the real clock, and message builders.

use std::time::Duration;

use tim_client::{Client, ClientBuilder, Rate, RetryPolicy};
use tim_model::api::import_group::{GroupProfile, ImportGroupRequest};
use tim_model::api::import_group_msg::ImportMsg;
use tim_model::usersig::SecretKey;
use tim_model::{Edition, GroupType, MsgElement};
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::EmbeddedServer;

/// The restricted word the test servers refuse.
pub const FORBIDDEN: &str = "forbidden";

/// A reference server running in this process (with its data directory, when durable).
pub struct Server {
    server: EmbeddedServer,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server of `edition` (rate limit `rate`, `None` = off), SQLite when `durable`.
    pub async fn start(edition: Edition, rate: Option<u32>, durable: bool) -> Server {
        let dir = durable.then(|| tempfile::tempdir().unwrap());
        let data = match &dir {
            Some(d) => DataLocation::File(d.path().join("tim.db")),
            None => DataLocation::Memory,
        };
        let mut config = ServerConfig::development(data);
        config.limits = edition.limits();
        config.limits.requests_per_second = rate;
        config.restricted_words = vec![FORBIDDEN.to_owned()];
        Server {
            server: EmbeddedServer::start(config).await.unwrap(),
            _dir: dir,
        }
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// A builder for the development app at `url`, with quick retries.
pub fn builder(url: &str, edition: Edition) -> ClientBuilder {
    Client::builder()
        .base_url(url)
        .sdkappid(DEV_SDKAPPID)
        .identifier(DEV_ADMIN)
        .secret_key(SecretKey::new(DEV_SECRET_KEY))
        .edition(edition)
        .rate(Rate::Unlimited)
        .retry(quick_retries(4))
        .timeout(Duration::from_secs(5))
}

/// A retry policy with millisecond backoff.
pub fn quick_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Creation time of test groups: ten days ago.
pub fn create_time() -> i64 {
    now() - 10 * 86_400
}

/// Imports a `Public` group `id` created ten days ago.
pub async fn import_group(client: &Client, id: &str, group_type: GroupType) {
    let mut profile = GroupProfile::new(group_type, "history");
    profile.group_id = Some(id.to_owned());
    let req = ImportGroupRequest {
        create_time: Some(create_time()),
        profile,
    };
    let resp = client.import_group(&req).await.unwrap();
    assert_eq!(resp.group_id, id);
}

/// Message `i` of a test history: a day after the group's creation plus `i` seconds, with a
/// distinct `Random` and multi-byte text.
pub fn msg(i: usize) -> ImportMsg {
    let mut m = ImportMsg::new(
        ["leckie", "peter", "tommy"][i % 3],
        create_time() + 86_400 + i as i64,
        vec![MsgElement::text(format!("message {i}: 你好 👋"))],
    );
    m.random = Some(1_000 + i as i64);
    m
}
