//! The `tim-server` binary as users run it: the `listening on` line, configuration precedence
//! (flags > `TIM_*` environment > TOML file > development defaults), signals, refusals of bad
//! configuration, and what the logs must never contain.

use std::time::Duration;

use rstest::rstest;
use serde_json::{json, Value};
use tim_model::usersig::{sign, SecretKey};
use tim_model::{Command, CommonQuery};
use tim_server::config::{DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};

use crate::support::{
    code, run_server_to_exit, spawn_server, system_now, text_msg, Remote, ServerProcess,
};

/// How long a stopping server may take to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a server refusing its configuration may take to exit.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(20);
/// A non-default secret key for tests.
const OTHER_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Polls `cond` every 20 ms for at most 10 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops `p` with SIGTERM and asserts a clean exit with nothing more on stdout; returns stderr.
async fn stop(p: ServerProcess) -> String {
    p.signal("TERM");
    let f = p.finish(STOP_TIMEOUT).await;
    assert!(
        f.status.success(),
        "exit status {:?}; stderr:\n{}",
        f.status,
        f.stderr
    );
    assert!(
        f.stdout_after_listening.is_empty(),
        "extra stdout lines: {:?}",
        f.stdout_after_listening
    );
    f.stderr
}

/// The envelope code of an authenticated `get_group_info` for a group that does not exist:
/// 0 when the server accepts this app, admin and key (the entry itself says 10010).
async fn probe(p: &ServerProcess, sdkappid: u64, identifier: &str, key: &str) -> u64 {
    let c = Remote::new(p.addr, sdkappid, identifier, &SecretKey::new(key));
    let v = c
        .call(
            Command::GetGroupInfo,
            json!({"GroupIdList": ["no-such-group"]}),
        )
        .await;
    if code(&v) == 0 {
        assert_eq!(v["GroupInfo"][0]["ErrorCode"], 10010, "{v}");
    }
    code(&v)
}

/// Writes `text` to `config.toml` in a new temporary directory.
fn toml_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// Creates a Public group created 10 000 s ago on a process server.
async fn make_group(c: &Remote, id: &str) -> i64 {
    let create = system_now() - 10_000;
    let v = c
        .call(
            Command::ImportGroup,
            json!({"GroupId": id, "Type": "Public", "Name": "p", "CreateTime": create}),
        )
        .await;
    assert_eq!(code(&v), 0, "import_group: {v}");
    create
}

/// An `import_group_msg` body of `n` text messages one second apart after `t0`.
fn batch(group: &str, t0: i64, n: usize) -> Value {
    let msgs: Vec<Value> = (0..n)
        .map(|i| text_msg("alice", t0 + i as i64, &format!("m{i}")))
        .collect();
    json!({"GroupId": group, "MsgList": msgs})
}

#[tokio::test]
async fn prints_one_listening_line_and_answers() {
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--memory"], &[]).await;
    assert!(p.addr.ip().is_loopback(), "{}", p.addr);
    assert_ne!(p.addr.port(), 0, "the real port is printed, not 0");
    let c = p.client();
    assert_eq!(c.health().await, json!({"status": "ok"}));
    let create = make_group(&c, "proc-1").await;
    let v = c
        .call(Command::ImportGroupMsg, batch("proc-1", create + 1, 2))
        .await;
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["ImportMsgResult"][1]["MsgSeq"], 2, "{v}");
    stop(p).await;
}

#[tokio::test]
async fn env_sdkappid_is_used_without_a_flag() {
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory"],
        &[("TIM_SDKAPPID", "1400000001")],
    )
    .await;
    assert_eq!(probe(&p, 1_400_000_001, DEV_ADMIN, DEV_SECRET_KEY).await, 0);
    assert_eq!(
        probe(&p, DEV_SDKAPPID, DEV_ADMIN, DEV_SECRET_KEY).await,
        70020
    );
    stop(p).await;
}

#[tokio::test]
async fn flag_beats_env_beats_toml() {
    let (_dir, cfg) = toml_file("sdkappid = 1400000003\nadmins = [\"from_toml\"]\n");
    // Flag over env over file.
    let p = spawn_server(
        &[
            "--listen",
            "127.0.0.1:0",
            "--memory",
            "--config",
            &cfg,
            "--sdkappid",
            "1400000002",
        ],
        &[("TIM_SDKAPPID", "1400000001")],
    )
    .await;
    assert_eq!(
        probe(&p, 1_400_000_002, "from_toml", DEV_SECRET_KEY).await,
        0
    );
    assert_eq!(
        probe(&p, 1_400_000_001, "from_toml", DEV_SECRET_KEY).await,
        70020
    );
    assert_eq!(
        probe(&p, 1_400_000_003, "from_toml", DEV_SECRET_KEY).await,
        70020
    );
    assert_eq!(
        probe(&p, 1_400_000_002, DEV_ADMIN, DEV_SECRET_KEY).await,
        60010,
        "admins from the file"
    );
    stop(p).await;
    // Env over file.
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory", "--config", &cfg],
        &[
            ("TIM_SDKAPPID", "1400000001"),
            ("TIM_ADMINS", "env_a,env_b"),
        ],
    )
    .await;
    assert_eq!(probe(&p, 1_400_000_001, "env_a", DEV_SECRET_KEY).await, 0);
    assert_eq!(
        probe(&p, 1_400_000_001, "env_b", DEV_SECRET_KEY).await,
        0,
        "TIM_ADMINS is comma-separated"
    );
    assert_eq!(
        probe(&p, 1_400_000_001, "from_toml", DEV_SECRET_KEY).await,
        60010
    );
    assert_eq!(
        probe(&p, 1_400_000_003, "env_a", DEV_SECRET_KEY).await,
        70020
    );
    stop(p).await;
    // File alone (named by TIM_CONFIG), flag admins over file admins.
    let p = spawn_server(
        &[
            "--listen",
            "127.0.0.1:0",
            "--memory",
            "--admin",
            "flag_admin",
        ],
        &[("TIM_CONFIG", cfg.as_str())],
    )
    .await;
    assert_eq!(
        probe(&p, 1_400_000_003, "flag_admin", DEV_SECRET_KEY).await,
        0
    );
    assert_eq!(
        probe(&p, 1_400_000_003, "from_toml", DEV_SECRET_KEY).await,
        60010
    );
    stop(p).await;
}

#[tokio::test]
async fn secret_key_from_env_and_toml() {
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory"],
        &[("TIM_SECRET_KEY", OTHER_KEY)],
    )
    .await;
    assert_eq!(probe(&p, DEV_SDKAPPID, DEV_ADMIN, OTHER_KEY).await, 0);
    assert_eq!(
        probe(&p, DEV_SDKAPPID, DEV_ADMIN, DEV_SECRET_KEY).await,
        70009
    );
    stop(p).await;
    let (_dir, cfg) = toml_file(&format!("secret_key = \"{OTHER_KEY}\"\n"));
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory", "--config", &cfg],
        &[],
    )
    .await;
    assert_eq!(probe(&p, DEV_SDKAPPID, DEV_ADMIN, OTHER_KEY).await, 0);
    assert_eq!(
        probe(&p, DEV_SDKAPPID, DEV_ADMIN, DEV_SECRET_KEY).await,
        70009
    );
    stop(p).await;
}

#[tokio::test]
async fn toml_limits_override_takes_effect() {
    // `listen` and `memory` from the file too.
    let (_dir, cfg) = toml_file(
        "listen = \"127.0.0.1:0\"\nmemory = true\nedition = \"seed\"\n\n[limits]\nmsgs_per_request = 3\n",
    );
    let p = spawn_server(&["--config", &cfg], &[]).await;
    let c = p.client();
    let create = make_group(&c, "limits").await;
    let v = c
        .call(Command::ImportGroupMsg, batch("limits", create + 1, 4))
        .await;
    assert_eq!(code(&v), 10004, "{v}");
    assert!(
        v["ErrorInfo"].as_str().unwrap().contains("at most 3"),
        "{v}"
    );
    assert!(v.get("ImportMsgResult").is_none(), "{v}");
    let v = c
        .call(Command::ImportGroupMsg, batch("limits", create + 1, 3))
        .await;
    assert_eq!(code(&v), 0, "{v}");
    stop(p).await;
}

#[rstest]
#[case::flag(&["--edition", "current"], &[], None)]
#[case::env(&[], &[("TIM_EDITION", "current")], None)]
#[case::toml(&[], &[], Some("edition = \"current\"\n"))]
#[case::flag_beats_toml(&["--edition", "current"], &[], Some("edition = \"seed\"\n"))]
#[tokio::test]
async fn edition_current_allows_seven_messages(
    #[case] flags: &[&str],
    #[case] envs: &[(&str, &str)],
    #[case] toml: Option<&str>,
) {
    let file = toml.map(toml_file);
    let mut args = vec!["--listen", "127.0.0.1:0", "--memory"];
    args.extend_from_slice(flags);
    if let Some((_, path)) = &file {
        args.extend(["--config", path.as_str()]);
    }
    let p = spawn_server(&args, envs).await;
    let c = p.client();
    let create = make_group(&c, "edition").await;
    let v = c
        .call(Command::ImportGroupMsg, batch("edition", create + 1, 8))
        .await;
    assert_eq!(code(&v), 10004, "8 messages: {v}");
    assert!(
        v["ErrorInfo"].as_str().unwrap().contains("at most 7"),
        "{v}"
    );
    let v = c
        .call(Command::ImportGroupMsg, batch("edition", create + 1, 7))
        .await;
    assert_eq!(code(&v), 0, "7 messages: {v}");
    assert_eq!(v["ImportMsgResult"].as_array().unwrap().len(), 7);
    stop(p).await;
}

#[tokio::test]
async fn seed_edition_is_the_default() {
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--memory"], &[]).await;
    let c = p.client();
    let create = make_group(&c, "seed").await;
    let v = c
        .call(Command::ImportGroupMsg, batch("seed", create + 1, 21))
        .await;
    assert_eq!(code(&v), 10004, "{v}");
    let v = c
        .call(Command::ImportGroupMsg, batch("seed", create + 1, 20))
        .await;
    assert_eq!(code(&v), 0, "{v}");
    stop(p).await;
}

/// The import code of a one-message batch whose text is `text`.
async fn import_text(c: &Remote, group: &str, t: i64, text: &str) -> u64 {
    let v = c
        .call(
            Command::ImportGroupMsg,
            json!({"GroupId": group, "MsgList": [text_msg("alice", t, text)]}),
        )
        .await;
    code(&v)
}

#[tokio::test]
async fn restricted_words_flag_env_toml() {
    let (_dir, cfg) = toml_file("restricted_words = [\"delta\"]\n");
    // The file alone.
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory", "--config", &cfg],
        &[],
    )
    .await;
    let c = p.client();
    let create = make_group(&c, "words").await;
    assert_eq!(
        import_text(&c, "words", create + 1, "a DELTA wing").await,
        80001
    );
    assert_eq!(import_text(&c, "words", create + 1, "alpha").await, 0);
    stop(p).await;
    // The environment (comma-separated) over the file.
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory", "--config", &cfg],
        &[("TIM_RESTRICTED_WORDS", "alpha,beta")],
    )
    .await;
    let c = p.client();
    let create = make_group(&c, "words").await;
    assert_eq!(
        import_text(&c, "words", create + 1, "alphabet").await,
        80001
    );
    assert_eq!(import_text(&c, "words", create + 1, "Beta").await, 80001);
    assert_eq!(import_text(&c, "words", create + 1, "delta").await, 0);
    stop(p).await;
    // Flags over the environment.
    let p = spawn_server(
        &[
            "--listen",
            "127.0.0.1:0",
            "--memory",
            "--restricted-word",
            "gamma",
            "--restricted-word",
            "omega",
        ],
        &[("TIM_RESTRICTED_WORDS", "alpha")],
    )
    .await;
    let c = p.client();
    let create = make_group(&c, "words").await;
    assert_eq!(
        import_text(&c, "words", create + 1, "gamma ray").await,
        80001
    );
    assert_eq!(import_text(&c, "words", create + 1, "omega").await, 80001);
    assert_eq!(import_text(&c, "words", create + 1, "alpha").await, 0);
    stop(p).await;
}

#[rstest]
#[case::one("1", true)]
#[case::true_("true", true)]
#[case::yes("yes", true)]
#[case::false_("false", false)]
#[case::zero("0", false)]
#[tokio::test]
async fn tim_memory_env(#[case] value: &str, #[case] memory: bool) {
    let p = spawn_server(&["--listen", "127.0.0.1:0"], &[("TIM_MEMORY", value)]).await;
    eventually("the store line", || p.stderr().contains(" store")).await;
    let stderr = stop(p).await;
    assert_eq!(
        stderr.contains("in-memory store"),
        memory,
        "TIM_MEMORY={value}:\n{stderr}"
    );
    assert_eq!(
        stderr.contains("embedded SQLite store"),
        !memory,
        "TIM_MEMORY={value}:\n{stderr}"
    );
}

/// Fires `n` authenticated calls, 8 at a time; returns their codes.
async fn burst(c: &Remote, n: usize) -> Vec<u64> {
    let mut codes = Vec::with_capacity(n);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let c = c.clone();
        tasks.spawn(async move {
            code(
                &c.call(
                    Command::GetGroupInfo,
                    json!({"GroupIdList": [format!("g{i}")]}),
                )
                .await,
            )
        });
        if tasks.len() >= 8 {
            codes.push(tasks.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(r) = tasks.join_next().await {
        codes.push(r.unwrap());
    }
    codes
}

#[tokio::test]
async fn rate_limit_off_and_on() {
    // Off: far more than a second's quota (seed: 100) is served.
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory", "--rate-limit", "off"],
        &[],
    )
    .await;
    let codes = burst(&p.client(), 300).await;
    assert!(
        codes.iter().all(|&c| c == 0),
        "no 60007 with --rate-limit off: {codes:?}"
    );
    stop(p).await;
    // A flag of 2/s beats the file's "off": a burst of 20 must meet 60007.
    let (_dir, cfg) = toml_file("rate_limit = \"off\"\n");
    let p = spawn_server(
        &[
            "--listen",
            "127.0.0.1:0",
            "--memory",
            "--config",
            &cfg,
            "--rate-limit",
            "2",
        ],
        &[],
    )
    .await;
    let codes = burst(&p.client(), 20).await;
    assert!(
        codes.contains(&60007),
        "2/s must limit a burst of 20: {codes:?}"
    );
    assert!(codes.iter().all(|&c| c == 0 || c == 60007), "{codes:?}");
    stop(p).await;
    // TIM_RATE_LIMIT=off over the file's 1/s.
    let (_dir, cfg) = toml_file("rate_limit = 1\n");
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory", "--config", &cfg],
        &[("TIM_RATE_LIMIT", "off")],
    )
    .await;
    let codes = burst(&p.client(), 50).await;
    assert!(codes.iter().all(|&c| c == 0), "{codes:?}");
    stop(p).await;
}

#[tokio::test]
async fn toml_data_file_and_memory_flag() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-toml.db");
    let (_cfg_dir, cfg) = toml_file(&format!("data = {:?}\n", db.to_str().unwrap()));
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--config", &cfg], &[]).await;
    make_group(&p.client(), "data").await;
    assert!(
        db.exists(),
        "the file named by the TOML `data` is the store"
    );
    stop(p).await;
    // --memory beats the file's `data`: the group is not there.
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--config", &cfg, "--memory"],
        &[],
    )
    .await;
    let v = p
        .client()
        .call(Command::GetGroupInfo, json!({"GroupIdList": ["data"]}))
        .await;
    assert_eq!(v["GroupInfo"][0]["ErrorCode"], 10010, "{v}");
    stop(p).await;
    // Without --memory the file's data is back.
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--config", &cfg], &[]).await;
    let v = p
        .client()
        .call(Command::GetGroupInfo, json!({"GroupIdList": ["data"]}))
        .await;
    assert_eq!(v["GroupInfo"][0]["ErrorCode"], 0, "{v}");
    stop(p).await;
}

#[tokio::test]
async fn dev_defaults_warn_without_printing_the_key() {
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--memory"], &[]).await;
    eventually("the development-credentials warning", || {
        p.stderr().contains("development credentials")
    })
    .await;
    let stderr = stop(p).await;
    let warning = stderr
        .lines()
        .find(|l| l.contains("development credentials"))
        .unwrap();
    assert!(warning.contains("WARN"), "a warning: {warning}");
    assert!(
        warning.contains("1400000000"),
        "names the SDKAppID in use: {warning}"
    );
    assert!(
        !stderr.contains(DEV_SECRET_KEY),
        "the key is never printed:\n{stderr}"
    );
    // Fully configured: no warning.
    let p = spawn_server(
        &[
            "--listen",
            "127.0.0.1:0",
            "--memory",
            "--sdkappid",
            "1400000009",
            "--admin",
            "ops",
        ],
        &[("TIM_SECRET_KEY", OTHER_KEY)],
    )
    .await;
    let stderr = stop(p).await;
    assert!(!stderr.contains("development credentials"), "{stderr}");
    assert!(!stderr.contains(OTHER_KEY), "{stderr}");
}

#[rstest]
#[case::sigterm("TERM")]
#[case::sigint("INT")]
#[tokio::test]
async fn signal_stops_cleanly_and_keeps_data(#[case] signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tim.db");
    let db = db.to_str().unwrap();
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--data", db], &[]).await;
    let c = p.client();
    let create = make_group(&c, "sig").await;
    let v = c
        .call(Command::ImportGroupMsg, batch("sig", create + 1, 5))
        .await;
    assert_eq!(code(&v), 0, "{v}");
    // `c` keeps an idle keep-alive connection open: it must not hold the shutdown up.
    let started = std::time::Instant::now();
    p.signal(signal);
    let f = p.finish(STOP_TIMEOUT).await;
    assert!(
        f.status.success(),
        "SIG{signal}: exit status {:?}; stderr:\n{}",
        f.status,
        f.stderr
    );
    assert!(
        f.stdout_after_listening.is_empty(),
        "{:?}",
        f.stdout_after_listening
    );
    assert!(
        f.stderr.contains(&format!("SIG{signal} received")),
        "{}",
        f.stderr
    );
    eprintln!("SIG{signal}: exited in {:?}", started.elapsed());
    // The data survives the stop.
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--data", db], &[]).await;
    let v = p
        .client()
        .call(Command::GetGroupInfo, json!({"GroupIdList": ["sig"]}))
        .await;
    assert_eq!(v["GroupInfo"][0]["NextMsgSeq"], 6, "{v}");
    stop(p).await;
}

/// A supervisor may signal as soon as the `listening on` line appears: the handlers must be in
/// place by then (a signal before them would kill the process with the default action).
#[rstest]
#[case::sigterm("TERM")]
#[case::sigint("INT")]
#[tokio::test]
async fn signal_right_after_the_listening_line_is_clean(#[case] signal: &str) {
    for _ in 0..5 {
        let p = spawn_server(&["--listen", "127.0.0.1:0", "--memory"], &[]).await;
        p.signal(signal);
        let f = p.finish(STOP_TIMEOUT).await;
        assert!(
            f.status.success(),
            "SIG{signal}: exit status {:?}; stderr:\n{}",
            f.status,
            f.stderr
        );
    }
}

#[tokio::test]
async fn signal_during_a_request_stream_still_exits_cleanly() {
    let p = spawn_server(
        &["--listen", "127.0.0.1:0", "--memory", "--rate-limit", "off"],
        &[],
    )
    .await;
    let c = p.client();
    let create = make_group(&c, "busy").await;
    // Four clients import as fast as they can until the server goes away.
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (c, served) = (c.clone(), served.clone());
        tasks.push(tokio::spawn(async move {
            let body = batch("busy", create + 1, 20);
            while c.try_call(Command::ImportGroupMsg, &body).await.is_ok() {
                served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    eventually("20 requests served", || {
        served.load(std::sync::atomic::Ordering::SeqCst) >= 20
    })
    .await;
    p.signal("TERM");
    let f = p.finish(STOP_TIMEOUT).await;
    assert!(
        f.status.success(),
        "exit status {:?}; stderr:\n{}",
        f.status,
        f.stderr
    );
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("clients see the server gone")
            .unwrap();
    }
}

/// A client that stalls in the middle of a request (headers or body) must not hold the shutdown
/// up for ever: SIGTERM still ends the process within a few seconds.
#[rstest]
#[case::partial_headers(
    "POST /v4/group_open_http_svc/import_group_msg HTTP/1.1\r\nHost: x\r\nContent-"
)]
#[case::partial_body("POST /v4/group_open_http_svc/import_group_msg HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"GroupId\"")]
#[tokio::test]
async fn sigterm_with_a_stalled_client_still_exits(#[case] partial: &str) {
    use tokio::io::AsyncWriteExt;
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--memory"], &[]).await;
    let mut stalled = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    stalled.write_all(partial.as_bytes()).await.unwrap();
    // The server has the bytes once it answers another connection.
    assert_eq!(p.client().health().await, json!({"status": "ok"}));
    let started = std::time::Instant::now();
    p.signal("TERM");
    let f = p.finish(Duration::from_secs(15)).await;
    let took = started.elapsed();
    assert!(
        f.status.success(),
        "exit status {:?}; stderr:\n{}",
        f.status,
        f.stderr
    );
    assert!(
        took <= STOP_TIMEOUT,
        "SIGTERM took {took:?} with a stalled client"
    );
    drop(stalled);
}

#[rstest]
#[case::bad_edition(&["--edition", "nope"], &[], &["nope", "seed", "current"])]
#[case::bad_edition_env(&[], &[("TIM_EDITION", "nope")], &["nope"])]
#[case::zero_rate_limit(&["--rate-limit", "0"], &[], &["rate-limit", "off"])]
#[case::bad_rate_limit(&["--rate-limit", "fast"], &[], &["fast"])]
#[case::bad_durability(&["--durability", "fast"], &[], &["fast", "full", "normal"])]
#[case::bad_durability_env(&[], &[("TIM_DURABILITY", "off")], &["off", "full", "normal"])]
#[case::bad_sdkappid(&["--sdkappid", "abc"], &[], &["sdkappid", "abc"])]
#[case::bad_listen(&["--listen", "localhost"], &[], &["listen", "localhost"])]
#[case::data_and_memory(&["--data", "x.db", "--memory"], &[], &["--memory"])]
#[case::unknown_flag(&["--frobnicate"], &[], &["--frobnicate"])]
#[case::missing_config(&["--config", "/nonexistent/tim-config.toml"], &[], &["/nonexistent/tim-config.toml"])]
#[tokio::test]
async fn bad_configuration_is_refused(
    #[case] args: &[&str],
    #[case] envs: &[(&str, &str)],
    #[case] mentions: &[&str],
) {
    // Always a free port, so that a configuration wrongly accepted cannot take a real one.
    let mut all = args.to_vec();
    if !args.contains(&"--listen") {
        all.extend(["--listen", "127.0.0.1:0"]);
    }
    let out = run_server_to_exit(&all, envs, REFUSE_TIMEOUT).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{args:?} must be refused; stderr:\n{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    for m in mentions {
        assert!(
            stderr.contains(m),
            "{args:?}: the message mentions {m:?}:\n{stderr}"
        );
    }
}

#[rstest]
#[case::unknown_key("sdkappid = 1\nfrobnicate = true\n", "frobnicate")]
#[case::unknown_limit("[limits]\nmsgs_per_requests = 3\n", "msgs_per_requests")]
#[case::bad_edition("edition = \"nope\"\n", "nope")]
#[case::bad_rate_limit("rate_limit = 0\n", "rate_limit")]
#[case::bad_durability("durability = \"off\"\n", "durability")]
#[case::not_toml("this is [not toml\n", "config.toml")]
#[tokio::test]
async fn bad_config_file_is_refused(#[case] text: &str, #[case] mention: &str) {
    let (_dir, cfg) = toml_file(text);
    let out = run_server_to_exit(
        &["--listen", "127.0.0.1:0", "--memory", "--config", &cfg],
        &[],
        REFUSE_TIMEOUT,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{text:?} must be refused; stderr:\n{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert!(stderr.contains(&cfg), "names the file {cfg}:\n{stderr}");
    assert!(stderr.contains(mention), "mentions {mention:?}:\n{stderr}");
}

#[tokio::test]
async fn unopenable_data_path_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist.
    let missing = dir.path().join("no/such/dir/tim.db");
    let missing = missing.to_str().unwrap();
    // A directory where the file should be.
    let is_dir = dir.path().to_str().unwrap();
    // A file that is not an SQLite database.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
    let garbage = garbage.to_str().unwrap();
    for path in [missing, is_dir, garbage] {
        let out = run_server_to_exit(
            &["--listen", "127.0.0.1:0", "--data", path],
            &[],
            REFUSE_TIMEOUT,
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "--data {path} must be refused; stderr:\n{stderr}"
        );
        assert!(out.stdout.is_empty(), "no listening line for --data {path}");
        assert!(stderr.contains(path), "the message names {path}:\n{stderr}");
    }
    assert!(
        !dir.path().join("no").exists(),
        "no directories are created"
    );
}

#[tokio::test]
async fn busy_port_is_refused_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_server_to_exit(&["--listen", &addr, "--memory"], &[], REFUSE_TIMEOUT).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "stderr:\n{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains(&addr), "names {addr}:\n{stderr}");
}

#[tokio::test]
async fn help_does_not_show_the_secret_key_from_env() {
    let out = run_server_to_exit(
        &["--help"],
        &[("TIM_SECRET_KEY", OTHER_KEY)],
        REFUSE_TIMEOUT,
    )
    .await;
    assert!(out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("--secret-key"), "{all}");
    assert!(!all.contains(OTHER_KEY), "{all}");
}

#[rstest]
#[case::info(None)]
#[case::debug(Some("debug"))]
#[case::trace(Some("trace"))]
#[tokio::test]
async fn logs_never_contain_usersigs_or_the_key(#[case] level: Option<&str>) {
    let mut envs = vec![
        ("TIM_SECRET_KEY", OTHER_KEY),
        ("TIM_ADMINS", "administrator,ops"),
    ];
    if let Some(l) = level {
        envs.push(("TIM_LOG", l));
    }
    let p = spawn_server(&["--listen", "127.0.0.1:0", "--memory"], &envs).await;
    let key = SecretKey::new(OTHER_KEY);
    let good = Remote::new(p.addr, DEV_SDKAPPID, DEV_ADMIN, &key);
    let mut sigs = vec![good.usersig().to_owned()];
    let create = make_group(&good, "logs").await;
    let v = good
        .call(Command::ImportGroupMsg, batch("logs", create + 1, 3))
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let v = good
        .call(
            Command::ImportGroupMsg,
            json!({"GroupId": "logs", "MsgList": "nope"}),
        )
        .await;
    assert_eq!(code(&v), 10004, "{v}");
    // Failing UserSigs: wrong key (70009), other identifier (70013), expired (70001), garbage (70003),
    // and a non-admin with a valid sig (60010).
    let now = system_now();
    let wrong_key = sign(
        DEV_SDKAPPID,
        &SecretKey::new(DEV_SECRET_KEY),
        DEV_ADMIN,
        86_400,
        now,
    );
    let other_id = sign(DEV_SDKAPPID, &key, "ops", 86_400, now);
    let expired = sign(DEV_SDKAPPID, &key, DEV_ADMIN, 10, now - 1000);
    let not_admin = sign(DEV_SDKAPPID, &key, "mallory", 86_400, now);
    let garbage =
        "eJyrVspOLUksSc1LLVKyUjA0MjA1NDG2MjQxNgJyrmSiSYlRUNDI1NDE3NjA1NTQ2MDK1MVeqBQCqYBHQ"
            .to_owned();
    for (identifier, sig, want) in [
        (DEV_ADMIN, &wrong_key, 70009),
        (DEV_ADMIN, &other_id, 70013),
        (DEV_ADMIN, &expired, 70001),
        (DEV_ADMIN, &garbage, 70003),
        ("mallory", &not_admin, 60010),
    ] {
        let mut bad = good.clone();
        bad.query = CommonQuery::new(DEV_SDKAPPID, identifier, sig, 7);
        let v = bad
            .call(Command::GetGroupInfo, json!({"GroupIdList": ["logs"]}))
            .await;
        assert_eq!(code(&v), want, "{identifier}: {v}");
        assert!(
            !v.to_string().contains(sig.as_str()),
            "ErrorInfo never quotes the sig: {v}"
        );
        sigs.push(sig.clone());
    }
    let stderr = stop(p).await;
    assert!(
        stderr.contains("request handled") || level.is_none(),
        "requests were logged:\n{stderr}"
    );
    assert!(!stderr.contains(OTHER_KEY), "the key is not logged");
    for s in &sigs {
        // Long enough a slice of the sig that a match cannot be a coincidence.
        let needle = &s[s.len().min(40) / 2..s.len().min(40)];
        assert!(
            !stderr.contains(needle),
            "a UserSig is logged at {level:?}:\n{stderr}"
        );
    }
}
