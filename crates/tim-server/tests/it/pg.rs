//! A PostgreSQL server for the tests: `TIM_TEST_POSTGRES_URL` when set (a server someone runs,
//! e.g. `.ci/run`'s throw-away cluster; its user must be allowed to create databases), else one
//! throw-away cluster per test process, started on first use from the server binaries of
//! Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`, or `TIM_TEST_POSTGRES_BIN`)
//! in a temporary directory: trust authentication, 127.0.0.1 on a free port and a Unix socket in
//! that directory only, `fsync=off`. It stops, and its directory is removed, when the test process
//! exits (a watchdog child notices its stdin close).
//!
//! Every test gets a database of its own ([`fresh_database`]), so tests stay independent.
//! Nothing is skipped: when no server can be had, the test fails and says what to install.

use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The environment variable naming a server to use instead of a throw-away cluster.
pub const URL_VAR: &str = "TIM_TEST_POSTGRES_URL";
/// The environment variable naming the directory of `initdb` and `pg_ctl`.
pub const BIN_VAR: &str = "TIM_TEST_POSTGRES_BIN";

/// The server of this test process: its base URL (without a database) and, for a cluster of
/// our own, the watchdog that stops it when the process exits.
struct Server {
    base: String,
    _watchdog: Option<Mutex<Child>>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The URL of a new, empty database on the test server (created here).
pub fn fresh_database() -> String {
    let server = SERVER
        .get_or_init(start)
        .as_ref()
        .unwrap_or_else(|why| panic!("no PostgreSQL server for the tests: {why}"));
    let name = format!(
        "tim_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    admin(
        &server.base,
        &format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"),
    )
    .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    with_database(&server.base, &name)
}

/// `base` (a URL, with or without a database) pointing at database `name`.
fn with_database(base: &str, name: &str) -> String {
    let (path_end, query) = match base.find('?') {
        Some(q) => (q, &base[q..]),
        None => (base.len(), ""),
    };
    let rest = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[rest..path_end]
        .find('/')
        .map_or(path_end, |i| rest + i);
    format!("{}/{name}{query}", &base[..authority_end])
}

/// Runs `sql` (statements separated by `;`) on the database at `url`.
pub fn execute(url: &str, sql: &str) {
    admin(url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The single BIGINT (or INTEGER) that `sql` answers on the database at `url`.
pub fn query_i64(url: &str, sql: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        let row = client.query_one(sql, &[]).await.unwrap();
        let value = match row.columns()[0].type_() {
            &tokio_postgres::types::Type::INT4 => i64::from(row.get::<_, i32>(0)),
            _ => row.get::<_, i64>(0),
        };
        drop(client);
        let _ = driver.await;
        value
    })
}

/// Runs `sql` on the server at `base` (a URL with any database), on a thread of its own (the
/// caller may be an async test).
fn admin(base: &str, sql: &str) -> Result<(), String> {
    let (base, sql) = (base.to_owned(), sql.to_owned());
    std::thread::spawn(move || admin_here(&base, &sql))
        .join()
        .map_err(|_| "the admin connection panicked".to_owned())?
}

fn admin_here(base: &str, sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let driver = tokio::spawn(connection);
        let result = client.batch_execute(sql).await.map_err(|e| e.to_string());
        drop(client);
        let _ = driver.await;
        result
    })
}

fn start() -> Result<Server, String> {
    if let Ok(url) = std::env::var(URL_VAR) {
        return Ok(Server {
            base: url,
            _watchdog: None,
        });
    }
    let bin = bin_dir()?;
    let dir = tempfile::Builder::new()
        .prefix("tim-pg-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?
        .keep();
    let data = dir.join("data");
    // initdb and the server refuse to run as root: run them as the `postgres` user then.
    let as_root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if as_root {
        let ids = Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        let uid: u32 = String::from_utf8_lossy(&ids.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                "running as root, and there is no `postgres` user to run the server as \
             (install Debian's postgresql package, or set TIM_TEST_POSTGRES_URL)"
                    .to_owned()
            })?;
        std::os::unix::fs::chown(&dir, Some(uid), None)
            .map_err(|e| format!("cannot hand {} to postgres: {e}", dir.display()))?;
    }
    let run = |program: &Path, args: &[&str]| -> Command {
        let mut cmd = match as_root {
            true => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
            false => Command::new(program),
        };
        cmd.args(args).current_dir(&dir);
        cmd
    };
    let data_s = data.to_str().ok_or("temporary path is not UTF-8")?;
    let dir_s = dir.to_str().ok_or("temporary path is not UTF-8")?;
    let out = run(
        &bin.join("initdb"),
        &[
            "-D",
            data_s,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
    )
    .output()
    .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {dir_s} -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    );
    let log = dir.join("server.log");
    let out = run(
        &bin.join("pg_ctl"),
        &[
            "-D",
            data_s,
            "-l",
            log.to_str().unwrap_or("server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "start",
        ],
    )
    .stdin(Stdio::null())
    .output()
    .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
    if !out.status.success() {
        let mut text = String::new();
        let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
        return Err(format!(
            "pg_ctl start failed: {}{text}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Stops the cluster and removes its directory when this process exits: the watchdog's
    // stdin is a pipe from us, which the OS closes then.
    let stop = format!(
        "read _; {} -D {data_s} -m immediate stop >/dev/null 2>&1; rm -rf {dir_s}",
        pg_ctl_as(&bin, as_root)
    );
    let watchdog = Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))?;
    Ok(Server {
        base: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        _watchdog: Some(Mutex::new(watchdog)),
    })
}

fn pg_ctl_as(bin: &Path, as_root: bool) -> String {
    let pg_ctl = bin.join("pg_ctl").display().to_string();
    match as_root {
        true => format!("runuser -u postgres -- {pg_ctl}"),
        false => pg_ctl,
    }
}

/// The directory of `initdb` and `pg_ctl`: [`BIN_VAR`], else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var(BIN_VAR) {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        format!(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): install them \
             (`apt-get install -y postgresql`), set {BIN_VAR} to their directory, or set \
             {URL_VAR} to a server the tests may create databases on"
        )
    })
}
