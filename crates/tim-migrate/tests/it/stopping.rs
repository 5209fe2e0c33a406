//! Stopping an import (issue 18 item 7): a second Ctrl-C aborts at once (exit 130), and a
//! checkpoint that cannot be written stops the import (exit 1, naming the file and the OS error)
//! rather than letting it run on without one. Each run is then resumed to completion and verified.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tim_client::{Client, Rate};
use tim_migrate::checkpoint::Checkpoint;
use tim_model::control::{FaultEffect, FaultRule};
use tim_model::usersig::SecretKey;
use tim_model::Edition;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::EmbeddedServer;

use crate::support::{corpus, run};

/// A reference server in this process: seed edition, SQLite, rate limit at the quota.
pub(crate) struct Server {
    pub(crate) url: String,
    _server: EmbeddedServer,
    _data: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::development(DataLocation::File(data.path().join("tim.db")));
        config.limits = Edition::Seed.limits();
        let server = EmbeddedServer::start(config).await.unwrap();
        Server {
            url: server.url(),
            _server: server,
            _data: data,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TIM_BASE_URL", self.url.clone()),
            ("TIM_SDKAPPID", DEV_SDKAPPID.to_string()),
            ("TIM_IDENTIFIER", DEV_ADMIN.to_owned()),
            ("TIM_SECRET_KEY", DEV_SECRET_KEY.to_owned()),
        ]
    }

    /// Runs the binary in `cwd` against this server and waits for it.
    pub(crate) fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(cwd, args, &env)
    }

    /// Starts the binary in `cwd` against this server, output captured.
    fn spawn(&self, cwd: &Path, args: &[&str]) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tim-migrate"));
        cmd.current_dir(cwd).args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("TIM_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// An admin client paced at the quota.
    pub(crate) fn client(&self) -> Client {
        Client::builder()
            .base_url(&self.url)
            .sdkappid(DEV_SDKAPPID)
            .identifier(DEV_ADMIN)
            .secret_key(SecretKey::new(DEV_SECRET_KEY))
            .edition(Edition::Seed)
            .rate(Rate::Quota)
            .build()
            .unwrap()
    }
}

const INPUT: [&str; 6] = [
    "--messages",
    "messages.jsonl",
    "--groups",
    "groups.jsonl",
    "--members",
    "members.jsonl",
];

pub(crate) fn import_args<'a>(checkpoint: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["import"];
    a.extend(INPUT);
    a.extend([
        "--checkpoint",
        checkpoint,
        "--rejects",
        "rejects.jsonl",
        "--report",
        "report.json",
    ]);
    a.extend(extra);
    a
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
pub(crate) fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `verify` of the whole input: every message once, in order, nothing else.
pub(crate) fn assert_verified(server: &Server, dir: &Path, messages: u64) {
    let mut args = vec!["verify"];
    args.extend(INPUT);
    let out = server.run(dir, &args);
    assert_exit(&out, 0);
    let want = format!("{messages} messages expected, {messages} found on the server");
    assert!(text(&out.stdout).contains(&want), "{}", text(&out.stdout));
}

fn confirmed(checkpoint: &Path) -> u64 {
    match Checkpoint::load(checkpoint) {
        Ok(Some(cp)) => cp.groups.values().map(|g| g.confirmed).sum(),
        _ => 0,
    }
}

/// Waits until the checkpoint confirms at least `at_least` messages, and fewer than `total`.
fn wait_for_progress(child: &mut Child, checkpoint: &Path, at_least: u64, total: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = confirmed(checkpoint);
        assert!(
            done < total,
            "the import finished before it could be stopped"
        );
        if done >= at_least {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the import ended early: {status}");
        }
        assert!(Instant::now() < deadline, "no progress: {done} confirmed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigint(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for `child` at most `limit`; `None` if it is still running then.
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first Ctrl-C waits for the requests in flight (held 8 s by the server here); the second
/// ends the process at once with 130. The resume then completes the import exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_aborts_at_once() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), 30, 6500, 0);
    let ckpt = dir.path().join("import.ckpt");

    let mut child = server.spawn(dir.path(), &import_args("import.ckpt", &[]));
    wait_for_progress(&mut child, &ckpt, 1000, 6500);
    // From now on every import_group_msg is held 8 s, then answered 502 (nothing stored).
    let admin = server.client();
    let control = admin.control();
    control
        .set_faults(&[FaultRule::new(
            tim_model::Command::ImportGroupMsg,
            FaultEffect::http_status(502).after_ms(8000),
        )])
        .await
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    sigint(&child);
    assert!(
        wait_at_most(&mut child, Duration::from_millis(1500)).is_none(),
        "the first Ctrl-C waits for the requests in flight"
    );
    let second = Instant::now();
    sigint(&child);
    let status = wait_at_most(&mut child, Duration::from_secs(3))
        .expect("the second Ctrl-C ends the import at once");
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "stderr:\n{}", text(&out.stderr));
    assert!(second.elapsed() < Duration::from_secs(3));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Ctrl-C again to abort at once"), "{stderr}");
    assert!(
        stderr.contains("tim-migrate: aborted; run the same command with --resume"),
        "{stderr}"
    );

    control.clear_faults().await.unwrap();
    let out = server.run(dir.path(), &import_args("import.ckpt", &["--resume"]));
    assert_exit(&out, 0);
    assert_verified(&server, dir.path(), 6500);
}

/// The checkpoint's directory is replaced by a file mid-run (so the temporary file of the next
/// save cannot be made, even by root): the import stops after the requests in flight, prints the
/// summary, names the checkpoint and the OS error, and exits 1. Once the directory is back, the
/// resume completes the import exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_cannot_be_written_stops_the_import() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), 30, 6500, 0);
    let ckdir = dir.path().join("ck");
    std::fs::create_dir(&ckdir).unwrap();
    let ckpt = ckdir.join("import.ckpt");

    let mut child = server.spawn(dir.path(), &import_args("ck/import.ckpt", &[]));
    wait_for_progress(&mut child, &ckpt, 1000, 6500);
    let moved = dir.path().join("ck.moved");
    std::fs::rename(&ckdir, &moved).unwrap();
    std::fs::write(&ckdir, b"not a directory\n").unwrap();

    let status = wait_at_most(&mut child, Duration::from_secs(30))
        .expect("the import stops when its checkpoint cannot be written");
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("tim-migrate: the import stopped because the checkpoint cannot be written"),
        "{stderr}"
    );
    assert!(stderr.contains("checkpoint ck/import.ckpt: "), "{stderr}");
    assert!(stderr.contains("(os error "), "{stderr}");
    assert!(
        stdout.contains("messages: 6500 ("),
        "the summary is printed: {stdout}"
    );
    let left = confirmed(&moved.join("import.ckpt"));
    assert!(left > 0 && left < 6500, "{left}");

    std::fs::remove_file(&ckdir).unwrap();
    std::fs::rename(&moved, &ckdir).unwrap();
    let out = server.run(dir.path(), &import_args("ck/import.ckpt", &["--resume"]));
    assert_exit(&out, 0);
    assert_verified(&server, dir.path(), 6500);
}
