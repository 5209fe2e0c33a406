//! Configuration: command-line flags, `TIM_*` environment variables and an optional TOML file,
//! in that order of precedence, over documented development defaults.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;
use tim_model::edition::LimitsPatch;
use tim_model::usersig::SecretKey;
use tim_model::{Edition, Limits};

pub use crate::store::sqlite::Durability;

/// Development SDKAppID used when none is configured.
pub const DEV_SDKAPPID: u64 = 1_400_000_000;
/// Development admin used when none is configured.
pub const DEV_ADMIN: &str = "administrator";
/// Development secret key used when none is configured: the digest's published test key, like
/// Azurite's well-known account key. Never use it outside development.
pub const DEV_SECRET_KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data file of the embedded store.
pub const DEFAULT_DATA: &str = "tim-server.db";

/// Command-line flags of `tim-server`.
#[derive(Debug, Parser)]
#[command(
    name = "tim-server",
    version,
    about = "Reference server for Tencent Cloud IM's import_group_msg API family"
)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TIM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// SDKAppID of the emulated app.
    #[arg(long, env = "TIM_SDKAPPID")]
    pub sdkappid: Option<u64>,
    /// App admin identifier; repeat for several (env: comma-separated).
    #[arg(long = "admin", env = "TIM_ADMINS", value_delimiter = ',')]
    pub admins: Vec<String>,
    /// UserSig v2 secret key of the app.
    #[arg(long, env = "TIM_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// SQLite data file of the embedded store, or a PostgreSQL database shared by several
    /// replicas: `postgres://user[:password]@host:port/database`.
    #[arg(
        long,
        env = "TIM_DATA",
        conflicts_with = "memory",
        hide_env_values = true
    )]
    pub data: Option<PathBuf>,
    /// When a SQLite commit counts as done: `full` (default) fsyncs every commit, so acknowledged
    /// messages survive a power loss; `normal` fsyncs only at checkpoints: faster, survives a
    /// killed process but may lose the last acknowledged commits on an OS crash or power loss.
    #[arg(long, env = "TIM_DURABILITY", value_enum)]
    pub durability: Option<Durability>,
    /// Keep everything in memory (lost on exit). `TIM_MEMORY` takes 1/0, true/false, yes/no, on/off.
    #[arg(long, env = "TIM_MEMORY", value_parser = clap::builder::BoolishValueParser::new())]
    pub memory: bool,
    /// API edition to emulate: seed (20 msgs, 100/s) or current (7 msgs, 200/s).
    #[arg(long, env = "TIM_EDITION")]
    pub edition: Option<Edition>,
    /// Requests per second per app and API, or `off`; defaults to the edition's quota.
    #[arg(long, env = "TIM_RATE_LIMIT")]
    pub rate_limit: Option<RateLimit>,
    /// A restricted word (80001); repeat for several (env: comma-separated).
    #[arg(
        long = "restricted-word",
        env = "TIM_RESTRICTED_WORDS",
        value_delimiter = ','
    )]
    pub restricted_words: Vec<String>,
    /// TOML configuration file.
    #[arg(long, env = "TIM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seed of every random choice (faults, generated group IDs and `Random`s); printed at start.
    /// Default: drawn at random.
    #[arg(long, env = "TIM_SEED")]
    pub seed: Option<u64>,
    /// Remove the control plane (`/_tim/…` answers 404).
    #[arg(long, env = "TIM_NO_CONTROL", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_control: bool,
}

pub use tim_model::edition::RateLimit;

/// The TOML file: the same settings as the flags, plus `[limits]` overrides.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Args::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Args::sdkappid`].
    pub sdkappid: Option<u64>,
    /// See [`Args::admins`].
    pub admins: Option<Vec<String>>,
    /// See [`Args::secret_key`].
    pub secret_key: Option<String>,
    /// See [`Args::data`].
    pub data: Option<PathBuf>,
    /// See [`Args::durability`].
    pub durability: Option<Durability>,
    /// See [`Args::memory`].
    pub memory: Option<bool>,
    /// See [`Args::edition`].
    pub edition: Option<Edition>,
    /// See [`Args::rate_limit`].
    pub rate_limit: Option<RateLimit>,
    /// See [`Args::restricted_words`].
    pub restricted_words: Option<Vec<String>>,
    /// See [`Args::seed`].
    pub seed: Option<u64>,
    /// See [`Args::no_control`].
    pub no_control: Option<bool>,
    /// Overrides of the edition's limits and readings (the keys of `PUT /_tim/config`).
    #[serde(default)]
    pub limits: LimitsPatch,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataLocation {
    /// A SQLite file.
    File(PathBuf),
    /// In memory.
    Memory,
    /// A PostgreSQL database (`postgres://…`), which several replicas may share.
    Postgres(PostgresUrl),
}

/// A PostgreSQL connection URL; `Debug` and `Display` hide its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// `data` as a PostgreSQL URL when it starts with `postgres://` or `postgresql://`.
    pub fn parse(data: &str) -> Option<PostgresUrl> {
        crate::store::postgres::PostgresStore::is_url(data).then(|| PostgresUrl(data.to_owned()))
    }

    /// The URL itself, password included: for connecting only, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.0;
        let rest_at = url.find("://").map_or(0, |i| i + 3);
        let authority_end = url[rest_at..]
            .find(['/', '?'])
            .map_or(url.len(), |i| rest_at + i);
        match url[rest_at..authority_end].rfind('@') {
            Some(at) => {
                let userinfo = &url[rest_at..rest_at + at];
                match userinfo.find(':') {
                    Some(colon) => write!(
                        f,
                        "{}{}:***{}",
                        &url[..rest_at],
                        &userinfo[..colon],
                        &url[rest_at + at..]
                    ),
                    None => f.write_str(url),
                }
            }
            None => f.write_str(url),
        }
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// SDKAppID.
    pub sdkappid: u64,
    /// Admin identifiers.
    pub admins: BTreeSet<String>,
    /// Secret key.
    pub secret_key: SecretKey,
    /// Store location.
    pub data: DataLocation,
    /// Commit durability of the SQLite store (ignored in memory and on PostgreSQL, whose
    /// server's `synchronous_commit` decides).
    pub durability: Durability,
    /// Limits in force (edition plus overrides).
    pub limits: Limits,
    /// Restricted words.
    pub restricted_words: Vec<String>,
    /// Seed of every random choice; `None` draws one at start.
    pub seed: Option<u64>,
    /// Whether the control plane (`/_tim/…`) is served.
    pub control: bool,
    /// Settings that fell back to development defaults (to warn about).
    pub dev_defaults: Vec<&'static str>,
}

impl ServerConfig {
    /// The documented development app (SDKAppID [`DEV_SDKAPPID`], admin [`DEV_ADMIN`], key
    /// [`DEV_SECRET_KEY`]) on `127.0.0.1:0` over `data`: seed edition limits, full durability, no
    /// restricted words. For tests and embedding; adjust the public fields as needed.
    pub fn development(data: DataLocation) -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            sdkappid: DEV_SDKAPPID,
            admins: [DEV_ADMIN.to_owned()].into(),
            secret_key: SecretKey::new(DEV_SECRET_KEY),
            data,
            durability: Durability::default(),
            limits: Edition::default().limits(),
            restricted_words: Vec::new(),
            seed: None,
            control: true,
            dev_defaults: Vec::new(),
        }
    }

    /// Resolves flags and environment (already in `args`) over the TOML file over defaults.
    pub fn resolve(args: Args) -> anyhow::Result<ServerConfig> {
        let file = match &args.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let mut dev_defaults = Vec::new();
        let sdkappid = args.sdkappid.or(file.sdkappid).unwrap_or_else(|| {
            dev_defaults.push("sdkappid");
            DEV_SDKAPPID
        });
        let admins: BTreeSet<String> = if !args.admins.is_empty() {
            args.admins.into_iter().collect()
        } else if let Some(a) = file.admins {
            a.into_iter().collect()
        } else {
            dev_defaults.push("admin");
            [DEV_ADMIN.to_owned()].into()
        };
        let secret_key = SecretKey::new(args.secret_key.or(file.secret_key).unwrap_or_else(|| {
            dev_defaults.push("secret-key");
            DEV_SECRET_KEY.to_owned()
        }));
        let data = if args.memory || (args.data.is_none() && file.memory == Some(true)) {
            DataLocation::Memory
        } else {
            let data = args
                .data
                .or(file.data)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
            match data.to_str().and_then(PostgresUrl::parse) {
                Some(url) => DataLocation::Postgres(url),
                None => DataLocation::File(data),
            }
        };
        let edition = args.edition.or(file.edition).unwrap_or_default();
        let mut limits = edition.limits();
        let problems = file.limits.problems();
        if !problems.is_empty() {
            anyhow::bail!("config file [limits]: {}", problems.join("; "));
        }
        file.limits.apply(&mut limits);
        if let Some(r) = args.rate_limit.or(file.rate_limit) {
            limits.requests_per_second = r.per_second();
        }
        let restricted_words = if !args.restricted_words.is_empty() {
            args.restricted_words
        } else {
            file.restricted_words.unwrap_or_default()
        };
        Ok(ServerConfig {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address")),
            sdkappid,
            admins,
            secret_key,
            data,
            durability: args.durability.or(file.durability).unwrap_or_default(),
            limits,
            restricted_words,
            seed: args.seed.or(file.seed),
            control: !(args.no_control || file.no_control == Some(true)),
            dev_defaults,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--data`, `TIM_DATA` and the file's `data` all take a PostgreSQL URL; anything else is a
    /// file; the password never shows.
    #[test]
    fn data_takes_a_postgres_url() {
        let url = "postgres://tim:s3cret@127.0.0.1:5432/tim";
        let expect = DataLocation::Postgres(PostgresUrl::parse(url).unwrap());
        assert_eq!(resolve(&["--data", url], None).data, expect);
        let file = format!("data = \"{url}\"\n");
        assert_eq!(resolve(&[], Some(&file)).data, expect);
        let shown = format!("{expect:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://tim:***@127.0.0.1:5432/tim"),
            "{shown}"
        );
        assert_eq!(
            resolve(&["--data", "postgresql://127.0.0.1/tim"], None).data,
            DataLocation::Postgres(PostgresUrl::parse("postgresql://127.0.0.1/tim").unwrap())
        );
        assert_eq!(
            resolve(&["--data", "./postgres.db"], None).data,
            DataLocation::File("./postgres.db".into())
        );
    }

    fn resolve(args: &[&str], toml: Option<&str>) -> ServerConfig {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["tim-server"];
        all.extend_from_slice(args);
        let path = dir.path().join("tim.toml");
        let path_str = path.to_str().unwrap().to_owned();
        if let Some(text) = toml {
            std::fs::write(&path, text).unwrap();
            all.extend(["--config", &path_str]);
        }
        ServerConfig::resolve(Args::try_parse_from(all).unwrap()).unwrap()
    }

    /// `full` unless asked otherwise; the flag beats the file.
    #[test]
    fn durability_defaults_to_full_and_flag_beats_file() {
        assert_eq!(resolve(&[], None).durability, Durability::Full);
        let file = Some("durability = \"normal\"\n");
        assert_eq!(resolve(&[], file).durability, Durability::Normal);
        assert_eq!(
            resolve(&["--durability", "full"], file).durability,
            Durability::Full
        );
        assert_eq!(
            resolve(&["--durability", "normal"], None).durability,
            Durability::Normal
        );
    }
}
