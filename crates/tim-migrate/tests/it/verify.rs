//! `verify` against fake servers (wiremock) whose history pages read the documents differently:
//! pages shorter than asked, and a server that ignores `ReqMsgSeq`.

use std::path::Path;

use serde_json::{json, Value};
use tim_server::config::{DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::run;

const MESSAGES: u64 = 50;

fn message(i: u64) -> Value {
    json!({
        "From_Account": "a",
        "SendTime": 1_700_000_000 + i,
        "Random": i,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("m{i}")}}],
    })
}

fn write_input(dir: &Path) {
    let mut s = String::new();
    for i in 1..=MESSAGES {
        let mut m = message(i);
        m["GroupId"] = json!("g");
        s.push_str(&m.to_string());
        s.push('\n');
    }
    std::fs::write(dir.join("messages.jsonl"), s).unwrap();
}

/// A server holding messages 1..=50 of group `g` (MsgSeq = i), answering at most `cap` a page;
/// with `ignore_seq` it always answers the newest page, whatever `ReqMsgSeq`.
async fn fake(cap: u64, ignore_seq: bool) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("get_group_info$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "GroupInfo": []
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("group_msg_get_simple$"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let number = body["ReqMsgNumber"].as_u64().unwrap_or(20).min(cap);
            let top = match body["ReqMsgSeq"].as_u64() {
                Some(s) if !ignore_seq => s.min(MESSAGES),
                _ => MESSAGES,
            };
            let list: Vec<Value> = (1..=top)
                .rev()
                .take(number as usize)
                .map(|seq| {
                    let m = message(seq);
                    json!({
                        "From_Account": "a",
                        "IsPlaceMsg": 0,
                        "MsgBody": m["MsgBody"],
                        "MsgRandom": seq,
                        "MsgSeq": seq,
                        "MsgTimeStamp": m["SendTime"],
                    })
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({
                "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
                "GroupId": "g", "IsFinished": 0, "RspMsgList": list
            }))
        })
        .mount(&server)
        .await;
    server
}

fn verify(server: &MockServer, dir: &Path) -> std::process::Output {
    let sdkappid = DEV_SDKAPPID.to_string();
    run(
        dir,
        &["verify", "--messages", "messages.jsonl"],
        &[
            ("TIM_BASE_URL", server.uri().as_str()),
            ("TIM_SDKAPPID", sdkappid.as_str()),
            ("TIM_IDENTIFIER", DEV_ADMIN),
            ("TIM_SECRET_KEY", DEV_SECRET_KEY),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_pages_are_completed() {
    let server = fake(7, false).await;
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path());
    let out = verify(&server, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("50 messages expected, 50 found on the server, 50 identical and in order, 0 differences"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ignoring_req_msg_seq_is_refused_not_paged_forever() {
    let server = fake(20, true).await;
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path());
    // The old walk asked for the same page again and again, forever.
    let out = verify(&server, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ignores ReqMsgSeq"), "{stderr}");
}

/// Groups and members: a clean import verifies clean (profiles and unread counts included); files
/// that differ from the server are reported group by group and member by member, every
/// difference counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_members_and_unread_counts_are_compared() {
    use tim_model::Edition;
    use tim_server::config::{DataLocation, ServerConfig};
    use tim_server::EmbeddedServer;

    let mut config = ServerConfig::development(DataLocation::Memory);
    config.limits = Edition::Seed.limits();
    let server = EmbeddedServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    crate::support::corpus(dir.path(), 1, 60, 0);
    let sdkappid = DEV_SDKAPPID.to_string();
    let url = server.url();
    let env = [
        ("TIM_BASE_URL", url.as_str()),
        ("TIM_SDKAPPID", sdkappid.as_str()),
        ("TIM_IDENTIFIER", DEV_ADMIN),
        ("TIM_SECRET_KEY", DEV_SECRET_KEY),
    ];
    let input = [
        "--messages",
        "messages.jsonl",
        "--groups",
        "groups.jsonl",
        "--members",
        "members.jsonl",
    ];
    let mut import = vec!["import", "--checkpoint", "ck.json"];
    import.extend(input);
    let out = run(dir.path(), &import, &env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut verify = vec!["verify", "--report", "verify.json"];
    verify.extend(input);
    let out = run(dir.path(), &verify, &env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("members: 3 expected, 3 found"), "{stdout}");
    assert!(stdout.contains("groups: 1 expected, 1 found"), "{stdout}");

    // The group's Name changed in the file.
    let groups = std::fs::read_to_string(dir.path().join("groups.jsonl")).unwrap();
    let mut g: Value = serde_json::from_str(groups.trim()).unwrap();
    let name = g["Name"].as_str().unwrap().to_owned();
    g["Name"] = json!("renamed");
    std::fs::write(dir.path().join("groups.jsonl"), format!("{g}\n")).unwrap();

    // user-1 imported as Admin, user-2 with 1 unread; user-9 never imported.
    let members = std::fs::read_to_string(dir.path().join("members.jsonl")).unwrap();
    let mut lines: Vec<Value> = members
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["Member_Account"], "user-1");
    lines[0]["Role"] = json!("Member");
    assert_eq!(lines[1]["Member_Account"], "user-2");
    lines[1]["UnreadMsgNum"] = json!(7);
    let mut extra = lines[2].clone();
    extra["Member_Account"] = json!("user-9");
    lines.push(extra);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("members.jsonl"), text).unwrap();
    let out = run(dir.path(), &verify, &env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("verify.json")).unwrap()).unwrap();
    assert_eq!(report["counts"]["member_changed"], 2, "{report}");
    assert_eq!(report["counts"]["member_missing"], 1, "{report}");
    assert_eq!(report["counts"]["group_changed"], 1, "{report}");
    assert!(
        stdout.contains(&format!("Name {name:?} ≠ \"renamed\"")),
        "{stdout}"
    );
    assert_eq!(report["members_expected"], 4, "{report}");
    assert_eq!(report["members_matching"], 1, "{report}");
    assert!(stdout.contains("Role \"Admin\" ≠ \"Member\""), "{stdout}");
    assert!(
        stdout.contains("unread count 1 ≠ UnreadMsgNum 7"),
        "{stdout}"
    );
    assert!(stdout.contains("user-9 is not a member"), "{stdout}");
}
