//! `cargo xtask replicas`: the reference server as several replicas on one PostgreSQL database
//! behind nginx, end to end with real processes (issue 15).
//!
//! Starts a throw-away PostgreSQL cluster (Debian's `postgresql` package; `TIM_TEST_POSTGRES_URL`
//! names a running server instead), then per edition: a fresh database, two `tim-server`
//! replicas on it and nginx in front (round-robin, `127.0.0.1` only), and
//! - the conformance suite through nginx, rate-limit cases included (one quota for the app,
//!   whichever replica answers);
//! - in the seed edition, concurrent writers into shared groups while one replica is killed
//!   (SIGKILL) and restarted: every acknowledged message is stored with the `MsgSeq` it was
//!   acknowledged with, and every group's `MsgSeq`s are 1..N without a gap or a double;
//! - in the seed edition, `tim-migrate import` then `verify` through nginx: clean.
//!
//! Everything it starts is stopped on every path (the guards below).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use tim_model::api::group_msg_get_simple::{HistoryWalk, PageStep};
use tim_model::usersig::{SecretKey, SigCache};
use tim_model::Command as Api;

use crate::conformance::{
    cargo, free_port, listening_url, target_dir, Server, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY,
    RESTRICTED_WORD,
};

/// Runs the task (`--bench`: the throughput figures of BENCHMARKS.md instead of the tests).
pub fn run(root: &Path, args: &[String], locked: bool) -> Result<()> {
    let lock: &[&str] = if locked { &["--locked"] } else { &[] };
    if args.iter().any(|a| a == "--bench") {
        return bench(root, lock);
    }
    cargo_build(
        root,
        lock,
        &[
            "-p",
            "tim-server",
            "-p",
            "tim-conformance",
            "-p",
            "tim-migrate",
        ],
        &["--bins", "--example", "gen-corpus"],
    )?;
    let bin = target_dir(root).join("debug");
    let work = RemoveDir::fresh("tim-replicas")?;
    let work = &work.0;
    let pg = Postgres::start(&work.join("pg"))?;
    eprintln!("==> replicas: PostgreSQL at {}", pg.describe());
    for edition in ["seed", "current"] {
        let db = format!("tim_e2e_{edition}");
        pg.create_db(&db)?;
        let data = pg.url(&db);
        let dir = work.join(edition);
        std::fs::create_dir_all(&dir)?;
        let ports = [free_port()?, free_port()?];
        let mut replicas = vec![
            Replica::start(&bin, &dir, 0, ports[0], &data, edition)?,
            Replica::start(&bin, &dir, 1, ports[1], &data, edition)?,
        ];
        let nginx = Nginx::start(&dir.join("nginx"), &ports)?;
        eprintln!(
            "==> replicas ({edition}): two replicas on {ports:?}, nginx at {}",
            nginx.url
        );
        conformance(&bin, &nginx.url, edition)?;
        if edition == "seed" {
            writers_with_a_kill(&nginx.url, &bin, &dir, &mut replicas, &data)?;
            migrate(&bin, &dir, &nginx.url)?;
        }
    }
    eprintln!("==> replicas: all passed");
    Ok(())
}

/// The suite through nginx; its summary line must say 0 failed.
fn conformance(bin: &Path, url: &str, edition: &str) -> Result<()> {
    let out = Command::new(bin.join("tim-conformance"))
        .args(["--target", url, "--sdkappid", DEV_SDKAPPID])
        .args(["--identifier", DEV_ADMIN, "--edition", edition])
        .args(["--restricted-word", RESTRICTED_WORD])
        .env("TIM_SECRET_KEY", DEV_SECRET_KEY)
        .stderr(Stdio::inherit())
        .output()
        .context("running tim-conformance")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    eprintln!("==> replicas ({edition}): conformance through nginx: {last}");
    if !out.status.success() || !last.contains(" 0 failed") {
        std::io::stdout().write_all(&out.stdout)?;
        bail!("the conformance suite failed through nginx ({edition}): {last}");
    }
    Ok(())
}

// ---- throughput: tim-load through nginx, one and two replicas, Postgres beside SQLite ----

/// `tim-load --max` through nginx against one and two replicas on PostgreSQL and one on SQLite
/// (rate limit off; each run measures the bare baseline itself and prints the ratio), then
/// `tim-load` at the quota through nginx with two replicas on PostgreSQL (rate limit on): p99.
fn bench(root: &Path, lock: &[&str]) -> Result<()> {
    cargo_build(
        root,
        lock,
        &[
            "--profile",
            "bench",
            "-p",
            "tim-server",
            "--bin",
            "tim-server",
        ],
        &["-p", "tim-benches", "--bin", "tim-load"],
    )?;
    let bin = target_dir(root).join("release");
    let work = RemoveDir::fresh("tim-replicas-bench")?;
    let work = &work.0;
    let pg = Postgres::start(&work.join("pg"))?;
    let duration = std::env::var("TIM_BENCH_DURATION").unwrap_or_else(|_| "10s".into());
    let runs: [(&str, usize, bool, &[&str]); 4] = [
        ("sqlite, 1 replica", 1, false, &["--max"]),
        ("postgres, 1 replica", 1, true, &["--max"]),
        ("postgres, 2 replicas", 2, true, &["--max"]),
        ("postgres, 2 replicas, at the quota", 2, true, &[]),
    ];
    for (i, (name, n, postgres, load)) in runs.iter().enumerate() {
        let dir = work.join(format!("run{i}"));
        std::fs::create_dir_all(&dir)?;
        let data = if *postgres {
            let db = format!("tim_bench_{i}");
            pg.create_db(&db)?;
            pg.url(&db)
        } else {
            dir.join("store.db").display().to_string()
        };
        let limit = if load.is_empty() { "100" } else { "off" };
        let mut ports = Vec::new();
        let mut replicas = Vec::new();
        for r in 0..*n {
            let port = free_port()?;
            let log = std::fs::File::create(dir.join(format!("replica{r}.log")))?;
            let mut child = Command::new(bin.join("tim-server"))
                .args([
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--edition",
                    "seed",
                ])
                .args(["--rate-limit", limit])
                .env("TIM_DATA", &data)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .context("starting tim-server")?;
            listening_url(&mut child)?;
            replicas.push(Server(child));
            ports.push(port);
        }
        let nginx = Nginx::start(&dir.join("nginx"), &ports)?;
        eprintln!("==> replicas bench: {name} through nginx ({duration})");
        let status = Command::new(bin.join("tim-load"))
            .args(["--target", &nginx.url, "--sdkappid", DEV_SDKAPPID])
            .args(["--identifier", DEV_ADMIN, "--duration", &duration])
            .args(*load)
            .env("TIM_SECRET_KEY", DEV_SECRET_KEY)
            .status()
            .context("running tim-load")?;
        ensure!(status.success(), "tim-load failed ({name})");
        drop(nginx);
        drop(replicas);
    }
    Ok(())
}

// ---- concurrent writers, one replica killed ----

const WRITERS: usize = 4;
const GROUPS: usize = 3;
const BATCH: usize = 5;
/// Requests per writer.
const ROUNDS: usize = 60;

/// What the writers learnt: acknowledged `(group, MsgSeq) → Random`, and the Randoms of calls
/// whose answer never came (uncertain: stored or not).
#[derive(Default)]
struct Ledger {
    acked: HashMap<(usize, u64), u32>,
    uncertain: HashSet<u32>,
    calls: u64,
    lost: u64,
}

fn writers_with_a_kill(
    url: &str,
    bin: &Path,
    dir: &Path,
    replicas: &mut [Replica],
    data: &str,
) -> Result<()> {
    let api = AdminApi::new(url)?;
    let run = std::process::id();
    let now = unix_now();
    let groups: Vec<String> = (0..GROUPS).map(|g| format!("e2e-{run}-{g}")).collect();
    for g in &groups {
        let r = api.call(
            Api::ImportGroup,
            &json!({ "GroupId": g, "Type": "Public", "Name": "e2e", "CreateTime": now - 86_400 }),
        )?;
        ensure!(r["ErrorCode"] == 0, "import_group {g}: {r}");
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let (api, groups, ledger, stop) = (
            api.clone(),
            groups.clone(),
            Arc::clone(&ledger),
            Arc::clone(&stop),
        );
        threads.push(std::thread::spawn(move || {
            write(w, &api, &groups, now - 3600, &ledger, &stop)
        }));
    }
    // A third of the way: SIGKILL one replica, restart it a second later.
    std::thread::sleep(Duration::from_millis(1500));
    let killed = &mut replicas[0];
    killed.kill();
    eprintln!("==> replicas: replica 0 killed (SIGKILL) mid-run");
    std::thread::sleep(Duration::from_secs(1));
    *killed = Replica::start(bin, dir, 0, killed.port, data, "seed")?;
    eprintln!("==> replicas: replica 0 restarted");
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    stop.store(true, Ordering::Relaxed);
    let ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
    ensure!(
        !ledger.acked.is_empty(),
        "no message was acknowledged: the scenario proves nothing"
    );
    let mut stored_total = 0;
    for (gi, g) in groups.iter().enumerate() {
        let history = api.history(g)?;
        stored_total += history.len();
        let seqs: Vec<u64> = history.keys().copied().collect();
        let want: Vec<u64> = (1..=history.len() as u64).collect();
        ensure!(
            seqs == want,
            "group {g}: MsgSeqs are not 1..{} without a gap or a double: {seqs:?}",
            history.len()
        );
        let mut seen = HashSet::new();
        for (seq, random) in &history {
            ensure!(
                seen.insert(*random),
                "group {g}: Random {random} stored twice"
            );
            let acked = ledger.acked.get(&(gi, *seq));
            ensure!(
                acked.is_none_or(|r| r == random),
                "group {g}: MsgSeq {seq} was acknowledged for Random {} but holds {random}",
                acked.copied().unwrap_or_default()
            );
            ensure!(
                acked.is_some() || ledger.uncertain.contains(random),
                "group {g}: MsgSeq {seq} (Random {random}) was stored though its call was refused"
            );
        }
        for ((ag, seq), random) in &ledger.acked {
            if *ag == gi {
                ensure!(
                    history.get(seq) == Some(random),
                    "group {g}: acknowledged MsgSeq {seq} (Random {random}) was lost"
                );
            }
        }
    }
    eprintln!(
        "==> replicas: {} calls by {WRITERS} writers into {GROUPS} shared groups, {} without an answer \
         (replica killed); {} messages acknowledged, {stored_total} stored, every group 1..N, none lost",
        ledger.calls,
        ledger.lost,
        ledger.acked.len()
    );
    Ok(())
}

/// One writer: `ROUNDS` calls of `BATCH` messages, round-robin over the groups, all at one
/// `SendTime` (equal times are accepted), each message with its own `Random`.
fn write(
    w: usize,
    api: &AdminApi,
    groups: &[String],
    send_time: i64,
    ledger: &Mutex<Ledger>,
    stop: &AtomicBool,
) -> Result<()> {
    let mut next = 0u32;
    for round in 0..ROUNDS {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let gi = (round + w) % groups.len();
        let randoms: Vec<u32> = (0..BATCH)
            .map(|_| {
                next += 1;
                ((w as u32 + 1) << 24) | next
            })
            .collect();
        let msgs: Vec<Value> = randoms
            .iter()
            .map(|r| {
                json!({
                    "From_Account": format!("writer{w}"),
                    "SendTime": send_time,
                    "Random": r,
                    "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": format!("w{w} r{r}") } }],
                })
            })
            .collect();
        let body = json!({ "GroupId": groups[gi], "MsgList": msgs });
        // Over the shared quota (60007, nothing stored): wait and send the same call again.
        let answer = loop {
            match api.call(Api::ImportGroupMsg, &body) {
                Ok(a) if a["ErrorCode"] == 60007 => std::thread::sleep(Duration::from_millis(50)),
                other => break other,
            }
        };
        let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
        l.calls += 1;
        match answer {
            Ok(a) if a["ErrorCode"] == 0 => {
                let results = a["ImportMsgResult"].as_array().cloned().unwrap_or_default();
                ensure!(results.len() == BATCH, "one result per message: {a}");
                for (res, random) in results.iter().zip(&randoms) {
                    if res["Result"] == 0 {
                        let seq = res["MsgSeq"].as_u64().context("MsgSeq")?;
                        l.acked.insert((gi, seq), *random);
                    }
                }
            }
            Ok(a) if a.get("ErrorCode").is_some_and(Value::is_i64) && a["ErrorCode"] != 0 => {
                bail!("writer {w}: refused: {a}")
            }
            // No JSON answer (nginx's 502 page) or no answer at all: stored or not, unknown.
            _ => {
                l.lost += 1;
                l.uncertain.extend(&randoms);
            }
        }
        drop(l);
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The API as the admin, through nginx (blocking).
#[derive(Clone)]
struct AdminApi {
    http: reqwest::blocking::Client,
    base: String,
    sigs: Arc<SigCache>,
}

impl AdminApi {
    fn new(base: &str) -> Result<AdminApi> {
        Ok(AdminApi {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base: base.to_owned(),
            sigs: Arc::new(SigCache::new(
                DEV_SDKAPPID.parse()?,
                SecretKey::new(DEV_SECRET_KEY),
                DEV_ADMIN,
                86_400,
            )),
        })
    }

    /// One call; `Err` when no JSON answer came (connection lost, a gateway page).
    fn call(&self, api: Api, body: &Value) -> Result<Value> {
        let sig = self.sigs.usersig_at(unix_now());
        let resp = self
            .http
            .post(format!("{}{}", self.base, api.path()))
            .query(&[
                ("sdkappid", DEV_SDKAPPID),
                ("identifier", DEV_ADMIN),
                ("usersig", &sig),
                ("random", "1"),
                ("contenttype", "json"),
            ])
            .json(body)
            .send()
            .map_err(|e| anyhow::anyhow!("{}", e.without_url()))?;
        Ok(resp.json()?)
    }

    /// A group's history: `MsgSeq → Random`, read with the workspace's pager.
    fn history(&self, group: &str) -> Result<BTreeMap<u64, u32>> {
        let mut walk = HistoryWalk::down_to_after(0);
        let mut out = BTreeMap::new();
        loop {
            let mut body = json!({ "GroupId": group, "ReqMsgNumber": 20 });
            if let Some(s) = walk.req_msg_seq() {
                body["ReqMsgSeq"] = json!(s);
            }
            let page = self.call(Api::GroupMsgGetSimple, &body)?;
            ensure!(page["ErrorCode"] == 0, "read-back of {group}: {page}");
            let list = page["RspMsgList"].as_array().cloned().unwrap_or_default();
            let mut seqs = Vec::new();
            for m in &list {
                let seq = m["MsgSeq"].as_u64().context("MsgSeq")?;
                let random = m["MsgRandom"].as_u64().context("MsgRandom")? as u32;
                ensure!(
                    out.insert(seq, random).is_none(),
                    "group {group}: MsgSeq {seq} read twice"
                );
                seqs.push(seq);
            }
            match walk.advance(seqs) {
                PageStep::Next => {}
                PageStep::Done => return Ok(out),
                PageStep::Stuck { asked, got } => {
                    bail!("group {group}: asked for MsgSeq <= {asked}, got {got}")
                }
            }
        }
    }
}

// ---- tim-migrate through nginx ----

fn migrate(bin: &Path, dir: &Path, url: &str) -> Result<()> {
    let corpus = dir.join("corpus");
    let status = Command::new(bin.join("examples").join("gen-corpus"))
        .args([
            "--groups",
            "8",
            "--messages",
            "2000",
            "--seed",
            "15",
            "--out",
        ])
        .arg(&corpus)
        .stdout(Stdio::null())
        .status()
        .context("running gen-corpus")?;
    ensure!(status.success(), "gen-corpus failed");
    let inputs = |c: &mut Command| {
        c.arg("--messages")
            .arg(corpus.join("messages.jsonl"))
            .arg("--groups")
            .arg(corpus.join("groups.jsonl"))
            .arg("--members")
            .arg(corpus.join("members.jsonl"))
            .args(["--base-url", url, "--sdkappid", DEV_SDKAPPID])
            .args(["--identifier", DEV_ADMIN, "--edition", "seed"])
            .env("TIM_SECRET_KEY", DEV_SECRET_KEY)
            .stdout(Stdio::null());
    };
    let started = Instant::now();
    let mut import = Command::new(bin.join("tim-migrate"));
    import.arg("import");
    inputs(&mut import);
    import.arg("--checkpoint").arg(dir.join("import.ckpt"));
    let status = import.status().context("running tim-migrate import")?;
    ensure!(status.success(), "tim-migrate import through nginx failed");
    let mut verify = Command::new(bin.join("tim-migrate"));
    verify.arg("verify");
    inputs(&mut verify);
    let status = verify.status().context("running tim-migrate verify")?;
    ensure!(
        status.success(),
        "tim-migrate verify through nginx found differences"
    );
    eprintln!(
        "==> replicas: tim-migrate import + verify of 2,000 messages through nginx: clean ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---- the processes ----

/// One `tim-server` replica on the shared database.
struct Replica {
    server: Option<Server>,
    port: u16,
}

impl Replica {
    fn start(
        bin: &Path,
        dir: &Path,
        n: usize,
        port: u16,
        data: &str,
        edition: &str,
    ) -> Result<Replica> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("replica{n}.log")))?;
        let mut child = Command::new(bin.join("tim-server"))
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--edition",
                edition,
            ])
            .args(["--restricted-word", RESTRICTED_WORD])
            .env("TIM_DATA", data)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting tim-server")?;
        listening_url(&mut child).with_context(|| {
            format!(
                "replica {n} did not start (log: {})",
                dir.join(format!("replica{n}.log")).display()
            )
        })?;
        Ok(Replica {
            server: Some(Server(child)),
            port,
        })
    }

    /// SIGKILL, no shutdown.
    fn kill(&mut self) {
        drop(self.server.take());
    }
}

/// nginx in front of the replicas: round-robin, 127.0.0.1 only, its files in `dir`.
struct Nginx {
    child: Child,
    url: String,
}

impl Nginx {
    fn start(dir: &Path, upstreams: &[u16]) -> Result<Nginx> {
        std::fs::create_dir_all(dir)?;
        // nginx's workers may run as another user: let them write their temporary files.
        set_mode(dir, 0o777)?;
        let port = free_port()?;
        let servers: String = upstreams
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n"))
            .collect();
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_max_body_size 16m;\n\
               client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               upstream tim {{\n{servers}    keepalive 32;\n  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                 proxy_pass http://tim;\n      proxy_http_version 1.1;\n\
                 proxy_set_header Connection \"\";\n      proxy_buffering off;\n    }}\n  }}\n}}\n"
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, conf)?;
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&file)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .context("starting nginx (install Debian's nginx package)")?;
        let mut nginx = Nginx {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                bail!(
                    "nginx exited with {status}: {}",
                    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "nginx did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT would wait for connections; the test is over.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_bin() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nginx"))
}

/// A throw-away PostgreSQL cluster (or `TIM_TEST_POSTGRES_URL`'s server).
struct Postgres {
    /// `postgres://user@host:port` without a database.
    base: String,
    /// The cluster directory and `pg_ctl`, when this process started it.
    owned: Option<(PathBuf, PathBuf)>,
}

impl Postgres {
    fn start(dir: &Path) -> Result<Postgres> {
        if let Some(url) = std::env::var("TIM_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            let base = url
                .rsplit_once('/')
                .map_or(url.clone(), |(b, _)| b.to_owned());
            return Ok(Postgres { base, owned: None });
        }
        let bin = postgres_bin()?;
        std::fs::create_dir_all(dir)?;
        set_mode(dir, 0o777)?;
        let data = dir.join("data");
        let port = free_port()?;
        let as_postgres = |program: &Path| -> Command {
            if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            }
        };
        let out = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .context("running initdb")?;
        ensure!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=200",
            dir.display()
        );
        let pg_ctl = bin.join("pg_ctl");
        let out = as_postgres(&pg_ctl)
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(dir.join("server.log"))
            .args(["-w", "start"])
            .output()
            .context("running pg_ctl start")?;
        ensure!(
            out.status.success(),
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Postgres {
            base: format!("postgres://postgres@127.0.0.1:{port}"),
            owned: Some((data, pg_ctl)),
        })
    }

    fn describe(&self) -> String {
        match &self.owned {
            Some(_) => format!("{} (throw-away cluster)", self.base),
            None => format!("{} (TIM_TEST_POSTGRES_URL)", self.base),
        }
    }

    fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.base)
    }

    fn create_db(&self, db: &str) -> Result<()> {
        let psql = |sql: &str| -> Result<()> {
            let out = Command::new("psql")
                .arg(self.url("postgres"))
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
                .output()
                .context("running psql (Debian's postgresql-client)")?;
            ensure!(
                out.status.success(),
                "psql {sql}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(())
        };
        psql(&format!("DROP DATABASE IF EXISTS {db}"))?;
        psql(&format!("CREATE DATABASE {db}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((data, pg_ctl)) = &self.owned {
            let mut c = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(pg_ctl);
                c
            } else {
                Command::new(pg_ctl)
            };
            let _ = c
                .arg("-D")
                .arg(data)
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }
}

/// The directory of `initdb` and `pg_ctl`: `TIM_TEST_POSTGRES_BIN`, or Debian's newest.
fn postgres_bin() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("TIM_TEST_POSTGRES_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    found.retain(|p| p.join("initdb").exists());
    found.sort();
    found.pop().context(
        "no PostgreSQL server found under /usr/lib/postgresql: install Debian's postgresql \
         package, or set TIM_TEST_POSTGRES_URL",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn set_mode(dir: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", dir.display()))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `cargo build -q ARGS… [--locked]`, failing unless it succeeds.
fn cargo_build(root: &Path, lock: &[&str], args: &[&str], more: &[&str]) -> Result<()> {
    let status = Command::new(cargo())
        .current_dir(root)
        .args(["build", "-q"])
        .args(args)
        .args(more)
        .args(lock)
        .status()
        .context("running cargo build")?;
    ensure!(status.success(), "cargo build failed");
    Ok(())
}

/// A work directory, removed when dropped.
struct RemoveDir(PathBuf);

impl RemoveDir {
    /// An empty `<temp>/<prefix>-<pid>` directory.
    fn fresh(prefix: &str) -> Result<RemoveDir> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(RemoveDir(dir))
    }
}

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
