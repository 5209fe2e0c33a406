//! Stopping an import (issue 18 item 7): a second Ctrl-C aborts at once (exit 130), and a
//! checkpoint that cannot be written stops the import (exit 1, naming the file and the OS error)
//! rather than letting it run on without one. Each run is then resumed to completion and verified.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tim_model::control::{FaultEffect, FaultRule};

use crate::support::{
    assert_exit, confirmed, corpus, import_args_at, text, verify_args, wait_for_progress, Server,
};

/// A reference server in this process: seed edition, SQLite, rate limit at the quota.
/// `verify` of the whole input: every message once, in order, nothing else.
pub(crate) fn assert_verified(server: &Server, dir: &Path, messages: u64) {
    let out = server.run(dir, &verify_args(&[]));
    assert_exit(&out, 0);
    let want = format!("{messages} messages expected, {messages} found on the server");
    assert!(text(&out.stdout).contains(&want), "{}", text(&out.stdout));
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

    let mut child = server.spawn(dir.path(), &import_args_at("import.ckpt", &[]));
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
    let out = server.run(dir.path(), &import_args_at("import.ckpt", &["--resume"]));
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

    let mut child = server.spawn(dir.path(), &import_args_at("ck/import.ckpt", &[]));
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
    let out = server.run(dir.path(), &import_args_at("ck/import.ckpt", &["--resume"]));
    assert_exit(&out, 0);
    assert_verified(&server, dir.path(), 6500);
}
