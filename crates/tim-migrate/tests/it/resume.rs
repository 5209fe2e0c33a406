//! `--resume` after a kill at the worst moments, end to end (real binary, reference server in this
//! process): a group started but never confirmed, an input edited in the middle, a rejects file
//! with a torn or newer tail; and `verify` matching rejects by (file, line).

use std::path::Path;

use serde_json::Value;
use tim_migrate::checkpoint::Checkpoint;

use crate::support::{assert_exit, corpus, import_args, report, text, verify_args, Server};

#[track_caller]
fn assert_verified_clean(server: &Server, dir: &Path, extra: &[&'static str]) {
    let out = server.run(dir, &verify_args(extra));
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains(", 0 differences"),
        "{}",
        text(&out.stdout)
    );
}

/// Every group's start is saved before its first message goes out; a kill before any batch of a
/// group was confirmed in the checkpoint (here: before the first save of progress at all) leaves
/// `confirmed: 0` and the start, and `--resume` reads the group back from its start instead of
/// sending its messages again (which a server without a duplicate rule would store twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_started_but_never_confirmed_is_read_back_not_resent() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), 4, 400, 0);
    assert_exit(&server.run(dir.path(), &import_args(&[])), 0);

    let ckpt = dir.path().join("import.ckpt");
    let cp = Checkpoint::load(&ckpt).unwrap().unwrap();
    assert_eq!(cp.groups.len(), 4);
    for (g, p) in &cp.groups {
        assert!(p.start_seq.is_some(), "{g}: no start recorded: {p:?}");
    }
    // As if killed after every group's first batches went out, before any progress was saved.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&ckpt).unwrap()).unwrap();
    for (_, g) in v["groups"].as_object_mut().unwrap() {
        g["confirmed"] = 0.into();
        g["members_done"] = 0.into();
        g.as_object_mut().unwrap().remove("last_seq");
    }
    std::fs::write(&ckpt, serde_json::to_vec(&v).unwrap()).unwrap();

    assert_exit(&server.run(dir.path(), &import_args(&["--resume"])), 0);
    let r = report(dir.path());
    assert_eq!(r.messages.skipped, 0);
    assert_eq!(r.messages.duplicates, 400, "{r:?}");
    assert_eq!(r.messages.duplicates_unexpected, 0, "{r:?}");
    assert_eq!(r.messages.imported, 0);
    // Not one import_group_msg request: every message was found by reading the groups back.
    assert_eq!(r.requests_per_second, 0.0);
    assert_verified_clean(&server, dir.path(), &[]);
}

/// Pads `messages.jsonl` with blank lines (skipped by the reader) at both ends, so that the
/// checkpoint's head and tail hashes (1 MiB each) do not cover its middle.
fn pad_messages(dir: &Path) {
    let path = dir.join("messages.jsonl");
    let body = std::fs::read_to_string(&path).unwrap();
    let blank = format!("{}\n", " ".repeat(1023)).repeat(1100);
    std::fs::write(&path, format!("{blank}{body}{blank}")).unwrap();
}

/// Changes one digit of the first `SendTime` of `messages.jsonl` (same size, same ends).
fn edit_one_line_in_the_middle(dir: &Path) {
    let path = dir.join("messages.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    let key = b"\"SendTime\":";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    let end = at
        + bytes[at..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap();
    let d = &mut bytes[end - 1];
    *d = if *d == b'9' { b'8' } else { *d + 1 };
    let before = std::fs::metadata(&path).unwrap().len();
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_edited_in_the_middle_is_refused_on_resume() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), 3, 60, 0);
    pad_messages(dir.path());
    assert_exit(&server.run(dir.path(), &import_args(&[])), 0);
    let ckpt = dir.path().join("import.ckpt");
    let recorded = Checkpoint::load(&ckpt).unwrap().unwrap();
    assert!(recorded.input.messages.sha256.is_some());
    assert!(recorded.input.groups.as_ref().unwrap().sha256.is_some());

    // The untouched file resumes (nothing left to do).
    assert_exit(&server.run(dir.path(), &import_args(&["--resume"])), 0);

    edit_one_line_in_the_middle(dir.path());
    let out = server.run(dir.path(), &import_args(&["--resume"]));
    assert_exit(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "messages file messages.jsonl changed since checkpoint import.ckpt was written"
        ),
        "{err}"
    );
    assert!(
        err.contains("restore the file as it was to resume, or start a new import with another --checkpoint file"),
        "{err}"
    );
    // The refusal leaves the checkpoint as it was.
    assert_eq!(Checkpoint::load(&ckpt).unwrap().unwrap(), recorded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_cuts_the_rejects_file_back_to_the_checkpoint() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), 3, 60, 3);
    assert_exit(&server.run(dir.path(), &import_args(&[])), 1);
    let rejects = dir.path().join("rejects.jsonl");
    let original = std::fs::read(&rejects).unwrap();
    assert_eq!(original.iter().filter(|&&b| b == b'\n').count(), 3);
    let ckpt = dir.path().join("import.ckpt");
    let cp = Checkpoint::load(&ckpt).unwrap().unwrap();
    assert_eq!(cp.rejects_len, Some(original.len() as u64));

    // A line torn by a kill.
    let mut torn = original.clone();
    torn.extend_from_slice(b"{\"file\":\"messages.jsonl\",\"li");
    std::fs::write(&rejects, &torn).unwrap();
    server.run(dir.path(), &import_args(&["--resume"]));
    assert_eq!(std::fs::read(&rejects).unwrap(), original);

    // Whole lines written after the last checkpoint save (their batches are sent again).
    let mut newer = original.clone();
    let first_line = original.split(|&b| b == b'\n').next().unwrap();
    for _ in 0..2 {
        newer.extend_from_slice(first_line);
        newer.push(b'\n');
    }
    std::fs::write(&rejects, &newer).unwrap();
    server.run(dir.path(), &import_args(&["--resume"]));
    assert_eq!(std::fs::read(&rejects).unwrap(), original);
}

/// `verify --rejects` leaves out the messages the rejects file names by (file, line): a rejected
/// member on line 3 of the members file does not hide line 3 of the messages file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_matches_rejects_by_file_and_line() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), 2, 40, 0);
    assert_exit(&server.run(dir.path(), &import_args(&[])), 0);
    let reject = serde_json::json!({
        "file": "members.jsonl",
        "line": 3,
        "GroupId": "g",
        "code": 10003,
        "reason": "invalid member",
        "input": "{}",
    });
    std::fs::write(
        dir.path().join("member-rejects.jsonl"),
        format!("{reject}\n"),
    )
    .unwrap();
    let out = server.run(
        dir.path(),
        &verify_args(&["--rejects", "member-rejects.jsonl"]),
    );
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("40 messages expected, 40 found on the server"),
        "{}",
        text(&out.stdout)
    );
}

/// Two messages of a group supplying the same `Random` within the window: the server keeps the
/// first and answers the second as its duplicate. That message was never sent before, so the
/// import does not take the answer for success: it counts it apart, says so, and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_answer_to_a_first_send_is_reported() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = 1_600_000_000;
    std::fs::write(
        dir.path().join("groups.jsonl"),
        format!("{{\"GroupId\":\"dup\",\"Type\":\"Public\",\"Name\":\"D\",\"CreateTime\":{t}}}\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("members.jsonl"), "").unwrap();
    let msg = |i: i64, random: &str| {
        format!(
            "{{\"GroupId\":\"dup\",\"From_Account\":\"ann\",\"SendTime\":{},\"MsgBody\":[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"{i}\"}}}}]{random}}}\n",
            t + 10 + i
        )
    };
    let messages = [
        msg(0, ",\"Random\":42"),
        msg(1, ",\"Random\":42"),
        msg(2, ""),
    ]
    .concat();
    std::fs::write(dir.path().join("messages.jsonl"), messages).unwrap();

    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 1);
    let r = report(dir.path());
    assert_eq!(r.messages.imported, 2, "{r:?}");
    assert_eq!(
        (r.messages.duplicates, r.messages.duplicates_unexpected),
        (1, 1),
        "{r:?}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("1 of the duplicates were never sent before"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("line=2"),
        "{}",
        text(&out.stderr)
    );
}
