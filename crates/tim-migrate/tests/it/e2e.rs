//! End to end: the real `tim-migrate` binary against the reference server running in this process
//! (real HTTP on 127.0.0.1, SQLite in a temporary directory, rate limit at the seed quota), then a
//! direct read-back of every group with `tim_client`. One run has faults injected by the server's
//! control plane (lost answers, gateway pages, a message refused alone).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tim_client::Client;
use tim_migrate::corpus::Corpus;
use tim_migrate::rejects::Reject;
use tim_model::api::group_msg_get_simple::{GroupMsgGetSimpleRequest, HistoryMsg};
use tim_model::control::{FaultEffect, FaultRule};
use tim_model::{Edition, ErrorCode};
use tim_server::config::DEV_SECRET_KEY;

use crate::support::{
    assert_exit, confirmed, corpus, import_args, report, run, text, verify_args, wait_for_progress,
    Server, INPUT,
};

/// The input lines of `messages`, by group in import order (`SendTime`, stable by line), without
/// the lines in `skip`: (line number, parsed line).
fn expected(messages: &Path, skip: &BTreeSet<u64>) -> BTreeMap<String, Vec<(u64, Value)>> {
    let mut out: BTreeMap<String, Vec<(u64, Value)>> = BTreeMap::new();
    let content = std::fs::read_to_string(messages).unwrap();
    for (i, line) in content.lines().enumerate() {
        let n = i as u64 + 1;
        if skip.contains(&n) {
            continue;
        }
        let v: Value = serde_json::from_str(line).unwrap();
        out.entry(v["GroupId"].as_str().unwrap().to_owned())
            .or_default()
            .push((n, v));
    }
    for list in out.values_mut() {
        list.sort_by_key(|(n, v)| (v["SendTime"].as_i64().unwrap(), *n));
    }
    out
}

/// A group's whole history, paging back from the newest message.
async fn history(client: &Client, group_id: &str) -> Vec<HistoryMsg> {
    let mut req = GroupMsgGetSimpleRequest {
        group_id: group_id.to_owned(),
        req_msg_number: client.limits().history_page_max as i64,
        req_msg_seq: None,
        with_recalled_msg: None,
    };
    let mut out = Vec::new();
    loop {
        let page = client
            .group_msg_get_simple(&req)
            .await
            .unwrap()
            .rsp_msg_list;
        let Some(lowest) = page.iter().map(|m| m.msg_seq).min() else {
            break;
        };
        out.extend(page);
        if lowest <= 1 {
            break;
        }
        req.req_msg_seq = Some(lowest - 1);
    }
    out.sort_by_key(|m| m.msg_seq);
    out
}

/// Reads every group of `messages` back and asserts that it holds exactly its input messages
/// (minus the lines in `skip`): `MsgSeq` 1..n without gaps or repeats, in input order, each with
/// its sender, time and content.
async fn assert_read_back(server: &Server, messages: &Path, skip: &BTreeSet<u64>) {
    let client = server.client();
    let mut total = 0;
    for (group_id, want) in expected(messages, skip) {
        let got = history(&client, &group_id).await;
        let seqs: Vec<u64> = got.iter().map(|m| m.msg_seq).collect();
        let n = want.len() as u64;
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{group_id}: MsgSeqs");
        for ((line, w), g) in want.iter().zip(&got) {
            let at = format!("{group_id} MsgSeq {} (input line {line})", g.msg_seq);
            assert_eq!(g.from_account, w["From_Account"].as_str().unwrap(), "{at}");
            assert_eq!(g.msg_time_stamp, w["SendTime"].as_i64().unwrap(), "{at}");
            assert_eq!(
                serde_json::to_value(&g.msg_body).unwrap(),
                w["MsgBody"],
                "{at}"
            );
        }
        total += n;
    }
    assert!(total > 0);
}

/// Sum of the messages the checkpoint confirms, or 0 while it does not exist.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_import_verify_round_trip() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c: Corpus = corpus(dir.path(), 30, 1500, 0);

    let mut check = vec!["check"];
    check.extend(INPUT);
    assert_exit(&run(dir.path(), &check, &[]), 0);

    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 0);
    let r = report(dir.path());
    assert_eq!(r.groups.total, 30);
    assert_eq!((r.groups.done, r.groups.failed), (30, 0));
    assert_eq!(r.messages.total, 1500);
    assert_eq!(r.messages.imported, r.messages.total);
    assert_eq!(
        (
            r.messages.duplicates,
            r.messages.rejected,
            r.messages.skipped
        ),
        (0, 0, 0)
    );
    assert_eq!(r.members.total, c.member_lines);
    assert_eq!((r.members.done, r.members.failed), (c.member_lines, 0));
    assert_eq!(r.rate_limited, 0);
    assert!(!r.interrupted);
    assert!(lines(&dir.path().join("rejects.jsonl")).is_empty());

    assert_read_back(&server, &c.messages, &BTreeSet::new()).await;

    let out = server.run(dir.path(), &verify_args(&[]));
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("verified 30 groups: 1500 messages expected, 1500 found on the server, 1500 identical and in order, 0 differences"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_import_resumes_exactly_once() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    // About 340 requests: over 3 s at 100/s.
    let c = corpus(dir.path(), 30, 6500, 0);
    let ckpt = dir.path().join("import.ckpt");

    let mut child = server.spawn(dir.path(), &import_args(&[]));
    wait_for_progress(&mut child, &ckpt, 1000, 6500);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = confirmed(&ckpt);

    let out = server.run(dir.path(), &import_args(&["--resume"]));
    assert_exit(&out, 0);
    let r = report(dir.path());
    assert!(
        r.messages.skipped >= before && r.messages.skipped > 0,
        "{r:?}"
    );
    assert_eq!(
        r.messages.imported + r.messages.duplicates + r.messages.skipped,
        6500,
        "{r:?}"
    );
    assert_eq!(r.messages.rejected, 0);

    assert_read_back(&server, &c.messages, &BTreeSet::new()).await;
    assert_exit(&server.run(dir.path(), &verify_args(&[])), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_import_exits_130_and_resumes() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 30, 6500, 0);
    let ckpt = dir.path().join("import.ckpt");

    let mut child = server.spawn(dir.path(), &import_args(&[]));
    wait_for_progress(&mut child, &ckpt, 1000, 6500);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 130);
    assert!(
        text(&out.stdout).contains("--resume"),
        "{}",
        text(&out.stdout)
    );
    assert!(report(dir.path()).interrupted);
    let before = confirmed(&ckpt);
    assert!(before > 0 && before < 6500, "{before}");

    let out = server.run(dir.path(), &import_args(&["--resume"]));
    assert_exit(&out, 0);
    let r = report(dir.path());
    assert_eq!(r.messages.skipped, before, "{r:?}");
    assert_eq!(
        r.messages.imported + r.messages.duplicates + r.messages.skipped,
        6500,
        "{r:?}"
    );
    assert_read_back(&server, &c.messages, &BTreeSet::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_go_to_the_rejects_file() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 30, 600, 6);

    let mut check = vec!["check"];
    check.extend(INPUT);
    assert_exit(&run(dir.path(), &check, &[]), 1);

    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 1);
    let input = lines(&c.messages);
    let rejects: Vec<Reject> = lines(&dir.path().join("rejects.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects.len(), 6);
    let mut rejected = BTreeSet::new();
    for r in &rejects {
        assert_eq!(r.file, "messages.jsonl");
        assert_eq!(r.input, input[r.line as usize - 1], "line {}", r.line);
        let original: Value = serde_json::from_str(&r.input).unwrap();
        assert_eq!(r.group_id, original["GroupId"].as_str().unwrap());
        let too_long = original["MsgBody"][0]["MsgContent"]["Text"]
            .as_str()
            .is_some_and(|t| t.len() > 8000);
        let want = if too_long {
            ErrorCode::MSG_TOO_LONG
        } else {
            ErrorCode::INVALID_PARAMETER
        };
        assert_eq!(r.code, want.0, "{r:?}");
        assert!(!r.reason.is_empty());
        rejected.insert(r.line);
    }
    let r = report(dir.path());
    assert_eq!((r.messages.imported, r.messages.rejected), (600, 6));

    assert_read_back(&server, &c.messages, &rejected).await;

    let out = server.run(dir.path(), &verify_args(&["--rejects", "rejects.jsonl"]));
    assert_exit(&out, 0);
    let out = server.run(dir.path(), &verify_args(&[]));
    assert_exit(&out, 1);
    let listing = text(&out.stdout);
    for line in &rejected {
        assert!(
            listing.contains(&format!("Missing (line {line})")),
            "{line}: {listing}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_runs_exit_2() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 3, 30, 0);
    assert_exit(&server.run(dir.path(), &import_args(&[])), 0);

    // A second import over the existing checkpoint.
    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );

    // --resume after the messages file changed.
    let mut more = std::fs::read_to_string(&c.messages).unwrap();
    more.push_str(&lines(&c.messages)[0]);
    more.push('\n');
    std::fs::write(&c.messages, more).unwrap();
    let out = server.run(dir.path(), &import_args(&["--resume"]));
    assert_exit(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains("checkpoint import.ckpt was written for messages file messages.jsonl"),
        "{err}"
    );
    assert!(
        err.contains("resume with the original messages file"),
        "{err}"
    );

    // A wrong secret key: refused by the connection check, before any work.
    let other = tempfile::tempdir().unwrap();
    corpus(other.path(), 3, 30, 0);
    let mut cmd = import_args(&[]);
    cmd.extend([
        "--secret-key",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ]);
    let out = server.run(other.path(), &cmd);
    assert_exit(&out, 2);
    let err = text(&out.stderr);
    assert!(err.contains("cannot use the target"), "{err}");
    assert!(
        !err.contains(DEV_SECRET_KEY) && !err.contains("00000000000000"),
        "{err}"
    );
    assert!(!other.path().join("import.ckpt").exists());
}

/// A small hand-written input, so that the snapshots are stable.
fn write_small(dir: &Path, leave_out: Option<&str>) -> PathBuf {
    let t = 1_600_000_000;
    let groups = [
        format!(r#"{{"GroupId":"hist-a","Type":"Public","Name":"A","CreateTime":{t}}}"#),
        format!(r#"{{"GroupId":"hist-b","Type":"ChatRoom","Name":"B","CreateTime":{t}}}"#),
    ];
    let members =
        [r#"{"GroupId":"hist-a","Member_Account":"ann","JoinTime":1600000001,"UnreadMsgNum":1}"#];
    let mut messages = Vec::new();
    for (i, g) in ["hist-b", "hist-a", "hist-a", "hist-b", "hist-a", "hist-b"]
        .iter()
        .enumerate()
    {
        messages.push(format!(
            r#"{{"GroupId":"{g}","From_Account":"ann","SendTime":{},"SourceId":"m{i}","MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"第 {i} 条"}}}}]}}"#,
            t + 10 + (i as i64 % 3)
        ));
    }
    let messages: Vec<String> = messages
        .into_iter()
        .filter(|m| leave_out.is_none_or(|s| !m.contains(s)))
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("groups.jsonl"), groups.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("members.jsonl"), members.join("\n") + "\n").unwrap();
    let path = dir.join("messages.jsonl");
    std::fs::write(&path, messages.join("\n") + "\n").unwrap();
    path
}

/// Replaces the volatile figures of the summary's `requests:` line (duration, rates, share).
fn redact_figures(summary: &str) -> String {
    summary
        .lines()
        .map(|line| {
            let Some(rest) = line.strip_prefix("requests: ") else {
                return line.to_owned();
            };
            let (requests, rest) = rest.split_once(" in ").unwrap();
            let (_, rest) = rest.split_once(" (import_group_msg at ").unwrap();
            let (_, rest) = rest.split_once("/s, ").unwrap();
            let (_, rest) = rest.split_once("% of the ").unwrap();
            let (quota, rest) = rest.split_once("; ").unwrap();
            let (limited, rest) = rest.split_once("), ").unwrap();
            assert!(rest.ends_with(" messages/s"), "{line}");
            format!(
                "requests: {requests} in [DURATION] (import_group_msg at [RATE]/s, [SHARE]% of the {quota}; {limited}), [RATE] messages/s"
            )
        })
        .map(|l| l + "\n")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_and_differences_snapshots() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path(), Some("\"m4\""));
    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 0);
    insta::assert_snapshot!("import_summary", redact_figures(&text(&out.stdout)));

    // The full input has one message more than the server: verify names it.
    let messages = write_small(dir.path(), None);
    let out = server.run(dir.path(), &verify_args(&[]));
    assert_exit(&out, 1);
    insta::assert_snapshot!("verify_missing", text(&out.stdout));
    assert_read_back(&server, &messages, &BTreeSet::from([5])).await;
}

/// A checkpoint that lags behind the server (the importer died after the server confirmed some
/// batches and before the next save): `--resume` finds those messages on the server by their
/// `Random` and does not send them again, whatever the server's duplicate window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_checkpoint_is_reconciled_with_the_server() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c: Corpus = corpus(dir.path(), 4, 400, 0);
    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 0);

    // Roll every group back to its first batch: 20 messages confirmed, MsgSeq 20 the last.
    let ckpt = dir.path().join("import.ckpt");
    let mut cp: Value = serde_json::from_slice(&std::fs::read(&ckpt).unwrap()).unwrap();
    let mut rolled_back = 0;
    for (_, g) in cp["groups"].as_object_mut().unwrap() {
        rolled_back += g["confirmed"].as_u64().unwrap() - 20;
        g["confirmed"] = 20.into();
        g["last_seq"] = 20.into();
        g["members_done"] = 0.into();
    }
    std::fs::write(&ckpt, serde_json::to_vec(&cp).unwrap()).unwrap();

    let out = server.run(dir.path(), &import_args(&["--resume"]));
    assert_exit(&out, 0);
    let r = report(dir.path());
    assert_eq!(r.messages.skipped, 4 * 20);
    assert_eq!(r.messages.duplicates, rolled_back);
    assert_eq!(r.messages.imported, 0);
    // Not one import_group_msg request was needed.
    assert_eq!(r.requests_per_second, 0.0);
    assert_read_back(&server, &c.messages, &BTreeSet::new()).await;
}

/// The seed of the server's dice in [`faults_injected_by_the_server_leave_every_message_stored_exactly_once`].
const FAULT_SEED: u64 = 20_240_611;

/// The import under faults the server injects through its control plane: about one
/// `import_group_msg` call in twenty is applied and its answer lost (the importer must re-send it
/// and be answered with the original `MsgSeq`s), about one in thirty gets a 502 page and is not
/// applied, and one message of one group is refused alone (80001). Every other message must be
/// stored exactly once, in order; the refused one must be in the rejects file and nowhere else.
///
/// The dice are seeded and only `import_group_msg` calls roll them, so the number of faults of
/// each kind is the same on every run (which calls they hit depends on how the groups interleave).
/// The refusal is the first rule: it always hits the first batch of its group, never a batch
/// re-sent after a lost answer (whose first message the server already holds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_injected_by_the_server_leave_every_message_stored_exactly_once() {
    let server = Server::start_seeded(Some(FAULT_SEED)).await;
    let dir = tempfile::tempdir().unwrap();
    // About 160 import_group_msg calls: under 2 s at the quota.
    let c = corpus(dir.path(), 8, 3000, 0);
    let plan = expected(&c.messages, &BTreeSet::new());
    let batch = Edition::Seed.limits().msgs_per_request;
    let batches: u64 = plan.values().map(|m| m.len().div_ceil(batch) as u64).sum();
    // The first message (in import order) of one group is refused alone.
    let victim = tim_migrate::corpus::group_id(3);
    let victim_line = plan[&victim][0].0;
    let input = lines(&c.messages);

    let admin = server.client();
    let control = admin.control();
    let import = tim_model::Command::ImportGroupMsg;
    control
        .set_faults(&[
            FaultRule::new(
                import,
                FaultEffect::message_result(0, ErrorCode::RESTRICTED_WORDS),
            )
            .on_group(victim.clone())
            .times(1),
            FaultRule::new(import, FaultEffect::lose_reply()).with_probability(0.05),
            FaultRule::new(import, FaultEffect::http_status(502)).with_probability(0.03),
        ])
        .await
        .unwrap();

    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 1);

    // The faults were applied (the test cannot pass without them), and each lost answer and each
    // 502 cost exactly one re-sent call: nothing else was sent twice.
    let journal = control.requests(1000).await.unwrap().requests;
    assert!(journal.len() < 1000, "the journal holds the whole run");
    let calls: Vec<_> = journal
        .iter()
        .filter(|e| e.command.as_deref() == Some(import.name()))
        .collect();
    let hits = |fault: &str| {
        calls
            .iter()
            .filter(|e| e.fault.as_deref() == Some(fault))
            .count() as u64
    };
    let (lost, pages, refused) = (
        hits("lose_reply"),
        hits("http_status 502"),
        hits("message_result [0] 80001"),
    );
    assert!(
        lost > 0 && pages > 0,
        "{lost} lost answers, {pages} 502 pages"
    );
    assert_eq!(refused, 1);
    assert!(
        calls.iter().all(|e| e.fault.is_none()
            || (e.fault.as_deref() == Some("lose_reply")) == e.http_status.is_none()),
        "{calls:?}"
    );
    let answered = calls
        .iter()
        .filter(|e| e.http_status == Some(200) && e.error_code == Some(ErrorCode::OK))
        .count() as u64;
    let r = report(dir.path());
    // A lost answer is confirmed by reading the group back, which finds the batch stored: it is
    // not sent again. A 502 page (nothing applied) costs one re-sent call.
    assert_eq!(
        answered,
        batches - lost,
        "one answered call per batch whose answer arrived"
    );
    assert_eq!(
        calls.len() as u64,
        batches + pages + r.rate_limited,
        "{lost} lost answers, {pages} 502 pages, {} rate-limited",
        r.rate_limited
    );
    control.clear_faults().await.unwrap();

    assert_eq!(r.groups.total, 8);
    assert_eq!((r.groups.done, r.groups.failed), (8, 0));
    assert_eq!(r.messages.total, 3000);
    assert_eq!(
        (
            r.messages.imported,
            r.messages.duplicates,
            r.messages.rejected,
            r.messages.skipped
        ),
        (2999, 0, 1, 0),
        "{r:?}"
    );
    assert_eq!((r.members.done, r.members.failed), (c.member_lines, 0));
    assert_eq!(r.rate_limited, 0);
    assert!(!r.interrupted);

    let rejects: Vec<Reject> = lines(&dir.path().join("rejects.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let reject = &rejects[0];
    assert_eq!(
        (
            reject.file.as_str(),
            reject.line,
            reject.group_id.as_str(),
            reject.code
        ),
        (
            "messages.jsonl",
            victim_line,
            victim.as_str(),
            ErrorCode::RESTRICTED_WORDS.0
        )
    );
    assert_eq!(reject.input, input[victim_line as usize - 1]);
    assert!(!reject.reason.is_empty());

    assert_read_back(&server, &c.messages, &BTreeSet::from([victim_line])).await;

    let out = server.run(dir.path(), &verify_args(&["--rejects", "rejects.jsonl"]));
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains(", 0 differences"),
        "{}",
        text(&out.stdout)
    );
}

/// The importer is exactly once on every reading of the duplicate rule and the failure scope
/// that the documents allow (docs/behaviour.md, "Readings"), and on a server with no duplicate
/// rule at all, under lost answers (applied, then the connection closed) and 502 pages, with a
/// SIGKILL mid-run and a resume after the (wall-clock) duplicate window has passed: every message
/// stored once, in order, nothing rejected, `verify` clean.
#[rstest::rstest]
#[case::no_duplicate_rule(r#"{"dedup_window_secs":0}"#)]
#[case::wall_clock_window(r#"{"dedup_clock":"wall","dedup_window_secs":2}"#)]
#[case::duplicates_refused(r#"{"duplicate_answer":"refused"}"#)]
#[case::refused_per_message(r#"{"duplicate_answer":"refused","failure_scope":"message"}"#)]
#[case::per_message_scope(r#"{"failure_scope":"message"}"#)]
#[case::send_time_window(r#"{}"#)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_on_every_reading(#[case] reading: &str) {
    use tim_model::control::ConfigPatch;
    let server = Server::start_seeded(Some(FAULT_SEED)).await;
    let dir = tempfile::tempdir().unwrap();
    let total = 3000;
    let c = corpus(dir.path(), 6, total, 0);
    let ckpt = dir.path().join("import.ckpt");
    let admin = server.client();
    let control = admin.control();
    let patch: ConfigPatch = serde_json::from_str(&format!(r#"{{"limits":{reading}}}"#)).unwrap();
    control.set_config(&patch).await.unwrap();
    let import = tim_model::Command::ImportGroupMsg;
    control
        .set_faults(&[
            FaultRule::new(import, FaultEffect::lose_reply()).with_probability(0.05),
            FaultRule::new(import, FaultEffect::http_status(502)).with_probability(0.03),
        ])
        .await
        .unwrap();
    // Killed a third of the way, then resumed after the duplicate window (2 s on the wall clock)
    // has passed: the resume cannot lean on the server's duplicate rule.
    let mut child = server.spawn(dir.path(), &import_args(&[]));
    wait_for_progress(&mut child, &ckpt, total / 3, total);
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let out = server.run(dir.path(), &import_args(&["--resume"]));
    let journal = control.requests(1000).await.unwrap().requests;
    let lost = journal
        .iter()
        .filter(|e| e.fault.as_deref() == Some("lose_reply"))
        .count();
    assert!(
        lost > 0,
        "{reading}: no answer was lost; the test proves nothing"
    );
    control.clear_faults().await.unwrap();
    assert_exit(&out, 0);
    let r = report(dir.path());
    assert_eq!(
        (
            r.messages.imported + r.messages.duplicates + r.messages.skipped,
            r.messages.rejected,
            r.messages.duplicates_unexpected
        ),
        (total, 0, 0),
        "{reading}: {r:?}"
    );
    assert_read_back(&server, &c.messages, &BTreeSet::new()).await;
    let out = server.run(dir.path(), &verify_args(&[]));
    assert_exit(&out, 0);
}

/// Another writer stores a message into one group while the importer's batch for it is in
/// flight and its answer is lost: the read-back finds a message the import did not send, so that
/// group stops (nothing more is sent to it) while the other groups finish; exit 1, the summary
/// says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_writer_stops_its_group_only() {
    let server = Server::start_seeded(Some(FAULT_SEED)).await;
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 4, 800, 0);
    let plan = expected(&c.messages, &BTreeSet::new());
    let victim = tim_migrate::corpus::group_id(1);
    let admin = server.client();
    let control = admin.control();
    let import = tim_model::Command::ImportGroupMsg;
    // The victim's first batch waits 1.5 s (time for the other writer), is applied, and its
    // answer is lost.
    let mut slow = FaultEffect::lose_reply();
    slow.delay_ms = Some(1500);
    control
        .set_faults(&[FaultRule::new(import, slow)
            .on_group(victim.clone())
            .times(1)])
        .await
        .unwrap();
    let child = server.spawn(dir.path(), &import_args(&[]));
    // The rule's count goes down when the call arrives, before its delay.
    let deadline = Instant::now() + Duration::from_secs(60);
    while control.faults().await.unwrap().rules[0].remaining != Some(0) {
        assert!(
            Instant::now() < deadline,
            "the victim's first batch never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let send_time = plan[&victim][0].1["SendTime"].as_i64().unwrap();
    let mut foreign = tim_model::api::import_group_msg::ImportMsg::new(
        "someone-else",
        send_time,
        vec![tim_model::MsgElement::text("not from the import")],
    );
    foreign.random = Some(77);
    let req =
        tim_model::api::import_group_msg::ImportGroupMsgRequest::new(victim.clone(), vec![foreign]);
    assert!(admin.import_group_msg(&req).await.unwrap().envelope.is_ok());
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 1);
    assert!(
        text(&out.stdout).contains("stopped:  1 groups"),
        "{}",
        text(&out.stdout)
    );
    let r = report(dir.path());
    assert_eq!(r.groups.stopped, 1, "{r:?}");
    // The other groups are complete; the victim holds the foreign message and one batch.
    for (group, msgs) in &plan {
        let back = history(&admin, group).await;
        if *group == victim {
            assert_eq!(
                back.len(),
                1 + Edition::Seed.limits().msgs_per_request.min(msgs.len())
            );
        } else {
            assert_eq!(back.len(), msgs.len(), "{group}");
        }
    }
}
