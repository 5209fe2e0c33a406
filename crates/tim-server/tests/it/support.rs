//! Test harness: a reference server on a real loopback port, with a manual clock and a fixed
//! RNG seed, plus helpers to sign calls and to snapshot responses with volatile values redacted.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tim_model::edition::Edition;
use tim_model::usersig::{sign, SecretKey};
use tim_model::{Command, CommonQuery};
use tim_server::clock::ManualClock;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::store::memory::MemoryStore;
use tim_server::store::sqlite::SqliteStore;
use tim_server::store::Store;

/// The time the manual clock starts at (2023-11-14T22:13:20Z).
pub const NOW: i64 = 1_700_000_000;

/// Which backend a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// In-memory store.
    Memory,
    /// SQLite on a temporary file.
    Sqlite,
    /// PostgreSQL: a fresh database of the test server (`pg.rs`).
    Postgres,
}

/// Options of a test server.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Edition.
    pub edition: Edition,
    /// Backend.
    pub backend: Backend,
    /// Rate limit (`None`: off).
    pub rate_limit: Option<u32>,
    /// Restricted words.
    pub restricted_words: Vec<String>,
    /// Whether the control plane is served.
    pub control: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            edition: Edition::Seed,
            backend: Backend::Memory,
            rate_limit: None,
            restricted_words: vec!["forbidden".into()],
            control: true,
        }
    }
}

/// A running server.
pub struct TestServer {
    /// Bound address.
    pub addr: SocketAddr,
    /// The server's clock.
    pub clock: Arc<ManualClock>,
    /// The server's configuration.
    pub config: ServerConfig,
    /// HTTP client.
    pub http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The development configuration with `opts` applied.
pub fn config(opts: &Opts) -> ServerConfig {
    let mut limits = opts.edition.limits();
    limits.requests_per_second = opts.rate_limit;
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        sdkappid: DEV_SDKAPPID,
        admins: [DEV_ADMIN.to_owned(), "second_admin".to_owned()].into(),
        secret_key: SecretKey::new(DEV_SECRET_KEY),
        data: DataLocation::Memory,
        durability: Default::default(),
        limits,
        restricted_words: opts.restricted_words.clone(),
        seed: None,
        control: opts.control,
        dev_defaults: Vec::new(),
    }
}

impl TestServer {
    /// Starts a seed-edition server on the memory backend without rate limiting.
    pub async fn start() -> TestServer {
        TestServer::with(Opts::default()).await
    }

    /// Starts a server with `opts`.
    pub async fn with(opts: Opts) -> TestServer {
        let config = config(&opts);
        let (store, dir): (Arc<dyn Store>, _) = match opts.backend {
            Backend::Memory => (Arc::new(MemoryStore::new()), None),
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteStore::open(&dir.path().join("tim.db")).unwrap();
                (Arc::new(store), Some(dir))
            }
            Backend::Postgres => {
                let url = crate::pg::fresh_database();
                let store = tokio::task::spawn_blocking(move || {
                    tim_server::store::postgres::PostgresStore::open(&url).unwrap()
                })
                .await
                .unwrap();
                (Arc::new(store), None)
            }
        };
        let clock = Arc::new(ManualClock::new(NOW));
        let router = tim_server::app(&config, store, clock.clone(), Some(7));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            tim_server::serve_router(listener, router, std::future::pending()).await;
        });
        TestServer {
            addr,
            clock,
            config,
            http: reqwest::Client::new(),
            _dir: dir,
            task,
        }
    }

    /// A valid query string for the development admin, signed at the clock's time.
    pub fn query(&self) -> CommonQuery {
        self.query_for(DEV_ADMIN)
    }

    /// A valid query string for `identifier`, signed with the app key at the clock's time.
    pub fn query_for(&self, identifier: &str) -> CommonQuery {
        let sig = sign(
            self.config.sdkappid,
            &self.config.secret_key,
            identifier,
            86_400,
            self.now(),
        );
        CommonQuery::new(self.config.sdkappid, identifier, &sig, 42)
    }

    /// The server clock's time.
    pub fn now(&self) -> i64 {
        use tim_server::clock::Clock;
        self.clock.now()
    }

    /// The URL of `command` with the given query.
    pub fn url(&self, path: &str, query: &CommonQuery) -> String {
        format!("http://{}{}?{}", self.addr, path, query.to_query_string())
    }

    /// Calls `command` with a JSON body as the development admin; returns the response JSON.
    pub async fn call(&self, command: Command, body: Value) -> Value {
        let q = self.query();
        self.raw(
            "POST",
            &command.path(),
            &q,
            serde_json::to_vec(&body).unwrap(),
        )
        .await
    }

    /// Sends any request; asserts HTTP 200 and a JSON envelope, and returns the JSON.
    pub async fn raw(&self, method: &str, path: &str, query: &CommonQuery, body: Vec<u8>) -> Value {
        let url = self.url(path, query);
        let resp = self
            .http
            .request(method.parse().unwrap(), url)
            .body(body)
            .send()
            .await
            .expect("server answers");
        assert_eq!(resp.status(), 200, "every API-level outcome is HTTP 200");
        let v: Value = resp.json().await.expect("JSON envelope");
        assert!(
            v.get("ActionStatus").is_some() && v.get("ErrorCode").is_some(),
            "envelope: {v}"
        );
        v
    }

    /// Creates (imports) a group of `group_type` created at `create_time`; returns its ID.
    pub async fn group(&self, id: &str, group_type: &str, create_time: i64) -> String {
        let v = self
            .call(
                Command::ImportGroup,
                serde_json::json!({"GroupId": id, "Type": group_type, "Name": "test", "CreateTime": create_time}),
            )
            .await;
        assert_eq!(v["ErrorCode"], 0, "setup import_group: {v}");
        v["GroupId"].as_str().unwrap().to_owned()
    }
}

/// The `ErrorCode` of a response.
pub fn code(v: &Value) -> u64 {
    v["ErrorCode"].as_u64().expect("ErrorCode is a number")
}

/// A text message `{"From_Account","SendTime","MsgBody":[Text]}`.
pub fn text_msg(from: &str, send_time: i64, text: &str) -> Value {
    serde_json::json!({
        "From_Account": from,
        "SendTime": send_time,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]
    })
}

/// Insta settings that redact `RequestId` (checked to look like one first).
pub fn redacted() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_redaction(
        ".RequestId",
        insta::dynamic_redaction(|value, _| {
            let id = value.as_str().expect("RequestId is a string");
            assert!(
                id.starts_with("Id-") && id.len() > 10,
                "RequestId looks like one: {id}"
            );
            "[request-id]"
        }),
    );
    s.set_sort_maps(true);
    s
}

// ---- helpers of the HTTP API suites (gateway, import_msg, groups) ----

impl Opts {
    /// The default options with `edition`.
    pub fn edition(edition: Edition) -> Opts {
        Opts {
            edition,
            ..Opts::default()
        }
    }

    /// These options on `backend`.
    pub fn on(self, backend: Backend) -> Opts {
        Opts { backend, ..self }
    }
}

/// A reply as it came over the wire.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The raw body text.
    pub text: String,
}

impl Reply {
    /// The body parsed as JSON (panics when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }
}

impl TestServer {
    /// Sends any request and returns the reply without asserting anything about it.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        query: &CommonQuery,
        body: Vec<u8>,
    ) -> Reply {
        let resp = self
            .http
            .request(method.parse().unwrap(), self.url(path, query))
            .body(body)
            .send()
            .await
            .expect("server answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.expect("body readable");
        Reply {
            status,
            content_type,
            text,
        }
    }

    /// `import_group_msg` of `msgs` into `group`.
    pub async fn import(&self, group: &str, msgs: Vec<Value>) -> Value {
        self.call(
            Command::ImportGroupMsg,
            serde_json::json!({"GroupId": group, "MsgList": msgs}),
        )
        .await
    }

    /// The `get_group_info` entry of `group` (asserts the call itself succeeded).
    pub async fn info(&self, group: &str) -> Value {
        let v = self
            .call(
                Command::GetGroupInfo,
                serde_json::json!({"GroupIdList": [group]}),
            )
            .await;
        assert_eq!(code(&v), 0, "get_group_info: {v}");
        v["GroupInfo"][0].clone()
    }

    /// `NextMsgSeq` of an existing `group`.
    pub async fn next_msg_seq(&self, group: &str) -> u64 {
        let info = self.info(group).await;
        assert_eq!(code(&info), 0, "group exists: {info}");
        info["NextMsgSeq"].as_u64().expect("NextMsgSeq")
    }

    /// `group_msg_get_simple` of `group`: `number` messages up to `seq` (newest when `None`).
    pub async fn history(&self, group: &str, number: i64, seq: Option<u64>) -> Value {
        let mut body = serde_json::json!({"GroupId": group, "ReqMsgNumber": number});
        if let Some(s) = seq {
            body["ReqMsgSeq"] = s.into();
        }
        self.call(Command::GroupMsgGetSimple, body).await
    }

    /// Every message of `group`, newest first, read 20 at a time.
    pub async fn all_messages(&self, group: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut seq = None;
        loop {
            let v = self.history(group, 20, seq).await;
            assert_eq!(code(&v), 0, "group_msg_get_simple: {v}");
            let page = v["RspMsgList"].as_array().expect("RspMsgList").clone();
            let Some(last) = page.last() else { break };
            let oldest = last["MsgSeq"].as_u64().expect("MsgSeq");
            out.extend(page);
            if oldest <= 1 {
                break;
            }
            seq = Some(oldest - 1);
        }
        out
    }

    /// `import_group_member` of `members` (a JSON array) into `group`.
    pub async fn add_members(&self, group: &str, members: Value) -> Value {
        self.call(
            Command::ImportGroupMember,
            serde_json::json!({"GroupId": group, "MemberList": members}),
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Shared API helpers, for the in-process server and for `tim-server` processes alike.

/// Anything that answers API calls with a JSON envelope.
pub trait Api {
    /// Calls `command` with a JSON body as an admin; asserts HTTP 200 and an envelope.
    fn api(&self, command: Command, body: Value)
        -> impl std::future::Future<Output = Value> + Send;
}

impl Api for TestServer {
    async fn api(&self, command: Command, body: Value) -> Value {
        self.call(command, body).await
    }
}

/// Reads a group's whole history with `group_msg_get_simple`, paging down by `ReqMsgSeq`, and
/// returns it oldest first. Checks on the way that every page is newest first and within bounds.
pub async fn history(api: &impl Api, group_id: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut req_seq: Option<u64> = None;
    loop {
        let mut body = serde_json::json!({"GroupId": group_id, "ReqMsgNumber": 20});
        if let Some(s) = req_seq {
            body["ReqMsgSeq"] = s.into();
        }
        let v = api.api(Command::GroupMsgGetSimple, body).await;
        assert_eq!(
            code(&v),
            0,
            "group_msg_get_simple {group_id} at {req_seq:?}: {v}"
        );
        let page = v["RspMsgList"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= 20, "at most 20 messages per page");
        let seqs: Vec<u64> = page.iter().map(|m| m["MsgSeq"].as_u64().unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] > w[1]),
            "page is newest first: {seqs:?}"
        );
        if let (Some(bound), Some(&first)) = (req_seq, seqs.first()) {
            assert!(
                first <= bound,
                "page starts at {first}, above ReqMsgSeq {bound}"
            );
        }
        let Some(&lowest) = seqs.last() else { break };
        out.extend(page);
        if lowest <= 1 {
            break;
        }
        req_seq = Some(lowest - 1);
    }
    out.reverse();
    out
}

/// The group's `NextMsgSeq` from `get_group_info`.
pub async fn next_msg_seq(api: &impl Api, group_id: &str) -> u64 {
    let v = api
        .api(
            Command::GetGroupInfo,
            serde_json::json!({"GroupIdList": [group_id]}),
        )
        .await;
    assert_eq!(code(&v), 0, "get_group_info: {v}");
    let info = &v["GroupInfo"][0];
    assert_eq!(info["ErrorCode"], 0, "get_group_info entry: {v}");
    info["NextMsgSeq"].as_u64().expect("NextMsgSeq")
}

/// A text message with a supplied `Random`.
pub fn text_msg_r(from: &str, send_time: i64, random: u32, text: &str) -> Value {
    let mut m = text_msg(from, send_time, text);
    m["Random"] = random.into();
    m
}

// ---------------------------------------------------------------------------------------------
// `tim-server` as a child process.

/// How long a spawned server may take to print its `listening on` line (generous: CI machines
/// are slow, and a healthy server takes milliseconds).
pub const STARTUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The current Unix time from the system clock (what a `tim-server` process uses).
pub fn system_now() -> i64 {
    use tim_server::clock::Clock;
    tim_server::clock::SystemClock.now()
}

/// A client of a server reached over the network, signing as an admin at the system clock.
#[derive(Clone)]
pub struct Remote {
    /// Server address.
    pub addr: SocketAddr,
    /// The query every call carries.
    pub query: CommonQuery,
    /// HTTP client (30 s timeout per request).
    pub http: reqwest::Client,
}

impl Remote {
    /// A client with the documented development credentials.
    pub fn dev(addr: SocketAddr) -> Remote {
        Remote::new(
            addr,
            DEV_SDKAPPID,
            DEV_ADMIN,
            &SecretKey::new(DEV_SECRET_KEY),
        )
    }

    /// A client for `sdkappid`, calling as `identifier` with a UserSig made with `key`.
    pub fn new(addr: SocketAddr, sdkappid: u64, identifier: &str, key: &SecretKey) -> Remote {
        let sig = sign(sdkappid, key, identifier, 86_400, system_now());
        Remote {
            addr,
            query: CommonQuery::new(sdkappid, identifier, &sig, 42),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// The UserSig this client sends.
    pub fn usersig(&self) -> &str {
        self.query.usersig.as_deref().unwrap_or_default()
    }

    /// The URL of `command`.
    pub fn url(&self, command: Command) -> String {
        format!(
            "http://{}{}?{}",
            self.addr,
            command.path(),
            self.query.to_query_string()
        )
    }

    /// Posts `body` to `command`; `Err` when no envelope came back (connection refused or reset).
    pub async fn try_call(&self, command: Command, body: &Value) -> Result<Value, reqwest::Error> {
        let resp = self.http.post(self.url(command)).json(body).send().await?;
        assert_eq!(resp.status(), 200, "every API-level outcome is HTTP 200");
        resp.json().await
    }

    /// Posts `body` to `command`; panics unless an envelope comes back.
    pub async fn call(&self, command: Command, body: Value) -> Value {
        let v = self.try_call(command, &body).await.expect("server answers");
        assert!(
            v.get("ActionStatus").is_some() && v.get("ErrorCode").is_some(),
            "envelope: {v}"
        );
        v
    }

    /// `GET /healthz`; the JSON it answers.
    pub async fn health(&self) -> Value {
        let resp = self
            .http
            .get(format!("http://{}/healthz", self.addr))
            .send()
            .await
            .expect("healthz answers");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("healthz JSON")
    }
}

impl Api for Remote {
    async fn api(&self, command: Command, body: Value) -> Value {
        self.call(command, body).await
    }
}

/// A running `tim-server` process, started by [`spawn_server`]. Killed (SIGKILL) on drop.
pub struct ServerProcess {
    /// The child process.
    pub child: tokio::process::Child,
    /// The address of its `listening on` line.
    pub addr: SocketAddr,
    /// Lines printed to stdout after the `listening on` line.
    stdout: Arc<std::sync::Mutex<Vec<String>>>,
    /// Everything printed to stderr so far.
    stderr: Arc<std::sync::Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    _cwd: tempfile::TempDir,
}

/// What a finished `tim-server` process left behind.
#[derive(Debug)]
pub struct Finished {
    /// Exit status.
    pub status: std::process::ExitStatus,
    /// Lines printed to stdout after the `listening on` line.
    pub stdout_after_listening: Vec<String>,
    /// Everything printed to stderr.
    pub stderr: String,
}

/// A `tim-server` command with `args` and `envs`, in a fresh empty working directory `cwd`, with
/// every inherited `TIM_*` variable removed and all three standard streams redirected.
fn server_command(
    args: &[&str],
    envs: &[(&str, &str)],
    cwd: &std::path::Path,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tim-server"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TIM_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .envs(envs.iter().copied())
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Starts `tim-server` with `args` and `envs` (inherited `TIM_*` variables removed) and waits,
/// at most [`STARTUP_TIMEOUT`], for its one `listening on http://HOST:PORT` line on stdout.
/// stderr is drained continuously (see [`ServerProcess::stderr`]). Panics, showing stderr, if the
/// process exits first or prints anything else first.
pub async fn spawn_server(args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let cwd = tempfile::tempdir().unwrap();
    let mut child = server_command(args, envs, cwd.path())
        .spawn()
        .expect("spawn tim-server");
    let stderr = Arc::new(std::sync::Mutex::new(String::new()));
    let mut err_pipe = child.stderr.take().unwrap();
    let sink = Arc::clone(&stderr);
    let err_task = tokio::spawn(async move {
        let mut buf = [0u8; 8192];
        while let Ok(n) = err_pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(STARTUP_TIMEOUT, lines.next_line()).await;
    let line = match first {
        Ok(Ok(Some(line))) => line,
        other => {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(STARTUP_TIMEOUT, err_task).await;
            panic!(
                "tim-server {args:?} printed no `listening on` line ({other:?}); stderr:\n{}",
                stderr.lock().unwrap()
            );
        }
    };
    let addr: SocketAddr = line
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            panic!("first stdout line is not `listening on http://HOST:PORT`: {line:?}")
        });
    let stdout = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&stdout);
    let out_task = tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            sink.lock().unwrap().push(l);
        }
    });
    ServerProcess {
        child,
        addr,
        stdout,
        stderr,
        readers: vec![out_task, err_task],
        _cwd: cwd,
    }
}

/// Runs `tim-server` with `args` and `envs` until it exits (at most `timeout`), e.g. to check how
/// it refuses a bad configuration.
pub async fn run_server_to_exit(
    args: &[&str],
    envs: &[(&str, &str)],
    timeout: std::time::Duration,
) -> std::process::Output {
    let cwd = tempfile::tempdir().unwrap();
    let cmd = server_command(args, envs, cwd.path()).output();
    tokio::time::timeout(timeout, cmd)
        .await
        .unwrap_or_else(|_| panic!("tim-server {args:?} did not exit within {timeout:?}"))
        .expect("run tim-server")
}

impl ServerProcess {
    /// A development-credentials client of this server.
    pub fn client(&self) -> Remote {
        Remote::dev(self.addr)
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("process still running")
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Everything the process printed to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits at most `timeout` for the process to exit, then collects its output.
    pub async fn finish(mut self, timeout: std::time::Duration) -> Finished {
        let status = match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("wait for tim-server"),
            Err(_) => {
                let _ = self.child.start_kill();
                panic!(
                    "tim-server did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
        };
        for r in std::mem::take(&mut self.readers) {
            // The pipes close when the process exits; bound the wait anyway.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), r).await;
        }
        Finished {
            status,
            stdout_after_listening: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr(),
        }
    }

    /// SIGKILL, then waits for the process to be gone.
    pub async fn kill9(self) -> Finished {
        self.signal("KILL");
        self.finish(std::time::Duration::from_secs(10)).await
    }
}
