//! `tim-server control …` end to end: the real binary as a server, and the same binary as the
//! control-plane client, checking stdout, stderr and exit statuses.

use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use tim_model::Command;

use crate::support::{code, run_server_to_exit, spawn_server, system_now, text_msg, ServerProcess};

/// How long one CLI run may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `tim-server control --url <url> <args…>`.
async fn cli(url: &str, args: &[&str]) -> Output {
    let mut all = vec!["control", "--url", url];
    all.extend_from_slice(args);
    run_server_to_exit(&all, &[], CLI_TIMEOUT).await
}

/// Runs the CLI and asserts exit status 0; returns stdout.
async fn ok(url: &str, args: &[&str]) -> String {
    let out = cli(url, args).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "control {args:?}: stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs the CLI, asserts exit status 0 and parses stdout as one JSON value.
async fn ok_json(url: &str, args: &[&str]) -> Value {
    let text = ok(url, args).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("control {args:?}: {e}: {text}"))
}

/// Runs the CLI and asserts exit status `status`; returns stderr.
async fn fails(url: &str, args: &[&str], status: i32) -> String {
    let out = cli(url, args).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(status),
        "control {args:?}: {stderr}"
    );
    stderr
}

async fn start(extra: &[&str]) -> (ServerProcess, String) {
    let mut args = vec!["--memory", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let p = spawn_server(&args, &[]).await;
    let url = format!("http://{}", p.addr);
    (p, url)
}

#[tokio::test]
async fn the_cli_drives_a_running_server() {
    let (p, url) = start(&[]).await;
    let health = ok_json(&url, &["health"]).await;
    assert_eq!(health["ready"], true, "{health}");
    assert_eq!(health["store"], "memory", "{health}");

    // One import_group_msg refused with 10004, then the rule retires.
    let rule = r#"{"command":"import_group_msg","count":1,"effect":{"error":{"ErrorCode":10004}}}"#;
    let added = ok_json(&url, &["faults", "add", rule]).await;
    assert_eq!(added["rules"][0]["remaining"], 1, "{added}");
    let listed = ok_json(&url, &["faults", "list"]).await;
    assert_eq!(listed, added);
    assert_eq!(ok_json(&url, &["faults"]).await, added);

    let config = ok_json(&url, &["config", "--set", "dedup_window_secs=0"]).await;
    assert_eq!(config["limits"]["dedup_window_secs"], 0, "{config}");
    let config = ok_json(&url, &["config"]).await;
    assert_eq!(config["limits"]["dedup_window_secs"], 0, "{config}");

    let api = p.client();
    let create = system_now() - 10_000;
    let v = api
        .call(
            Command::ImportGroup,
            json!({"GroupId": "cli-1", "Type": "Public", "Name": "p", "CreateTime": create}),
        )
        .await;
    assert_eq!(code(&v), 0, "{v}");
    let batch = json!({"GroupId": "cli-1", "MsgList": [text_msg("alice", create + 1, "hi")]});
    let v = api.call(Command::ImportGroupMsg, batch.clone()).await;
    assert_eq!(code(&v), 10004, "the fault: {v}");
    let v = api.call(Command::ImportGroupMsg, batch).await;
    assert_eq!(code(&v), 0, "{v}");
    let spent = ok_json(&url, &["faults"]).await;
    assert_eq!(spent["rules"][0]["remaining"], 0, "{spent}");

    let journal = ok_json(&url, &["requests", "--limit", "5"]).await;
    let calls = journal["requests"].as_array().expect("requests array");
    assert!(!calls.is_empty() && calls.len() <= 5, "{journal}");
    assert_eq!(calls[0]["command"], "import_group_msg", "{journal}");
    assert_eq!(calls[0]["group_id"], "cli-1", "{journal}");
    assert_eq!(calls[1]["command"], "import_group_msg", "{journal}");
    assert!(calls[1]["fault"].is_string(), "{journal}");
    assert!(!journal.to_string().contains(api.usersig()), "{journal}");

    let dump = ok(&url, &["state", "dump"]).await;
    let lines: Vec<Value> = dump
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON Lines"))
        .collect();
    assert!(lines.len() >= 2, "{dump}");
    assert!(lines.iter().all(|l| l["GroupId"] == "cli-1"), "{dump}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.jsonl");
    let file = file.to_str().unwrap();
    assert!(ok(&url, &["state", "dump", "--out", file]).await.is_empty());
    assert_eq!(std::fs::read_to_string(file).unwrap(), dump);

    let reset = ok_json(&url, &["reset"]).await;
    assert_eq!(reset["GroupsRemoved"], 1, "{reset}");
    assert!(ok(&url, &["state", "dump"]).await.is_empty());

    let loaded = ok_json(&url, &["state", "load", file]).await;
    assert_eq!(loaded["Groups"], 1, "{loaded}");
    assert_eq!(loaded["Messages"], 1, "{loaded}");
    assert_eq!(ok(&url, &["state", "dump"]).await, dump);

    let cleared = ok_json(&url, &["faults", "clear"]).await;
    assert_eq!(cleared, json!({"rules": []}));
    drop(p);
}

#[tokio::test]
async fn the_cli_reports_refusals_usage_and_unreachable_servers() {
    let (p, url) = start(&[]).await;
    let err = fails(&url, &["config", "--set", "nope=1"], 2).await;
    assert!(err.contains("--set nope=1"), "{err}");
    assert!(err.contains("unknown field `nope`"), "{err}");
    let err = fails(&url, &["config", "--set", "dedup_window_secs"], 2).await;
    assert!(err.contains("KEY=VALUE"), "{err}");
    let err = fails(&url, &["faults", "add", r#"{"effect":{"lose":true}}"#], 2).await;
    assert!(err.contains("unknown field `lose`"), "{err}");

    // The server checks rules too, and says what is wrong.
    let err = fails(&url, &["faults", "add", r#"{"effect":{}}"#], 1).await;
    assert!(err.starts_with("error: 10004 "), "{err}");
    assert!(err.contains("does nothing"), "{err}");

    let err = fails(&url, &["--identifier", "leckie", "health"], 1).await;
    assert!(err.starts_with("error: 60010 "), "{err}");
    assert!(err.contains("--identifier"), "{err}");
    let err = fails(&url, &["--secret-key", &"0".repeat(64), "health"], 1).await;
    assert!(err.starts_with("error: 700"), "{err}");
    assert!(err.contains("--secret-key"), "{err}");

    // Server flags do not go with `control`.
    let out = run_server_to_exit(&["--memory", "control", "health"], &[], CLI_TIMEOUT).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--memory"));
    drop(p);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = fails(&closed, &["health"], 2).await;
    assert!(err.contains("cannot reach the server"), "{err}");

    let (off, off_url) = start(&["--no-control"]).await;
    let err = fails(&off_url, &["faults"], 1).await;
    assert!(err.starts_with("error: 60009 "), "{err}");
    assert!(err.contains("--no-control"), "{err}");
    drop(off);
}

#[tokio::test]
async fn control_help_lists_the_subcommands() {
    let out = run_server_to_exit(&["control", "--help"], &[], CLI_TIMEOUT).await;
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["health", "reset", "state", "config", "faults", "requests"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing from:\n{help}"
        );
    }
}
