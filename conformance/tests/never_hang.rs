//! Issue 17, item 4: the suite never hangs. Against a target whose `group_msg_get_simple` ignores
//! `ReqMsgSeq` (it always answers the newest page), a read-back stops after the first page that
//! does not move back and fails the paging clause, and the run ends with its report.

use std::time::Duration;

use serde_json::json;
use tim_conformance::case::Case;
use tim_conformance::clause::auto;
use tim_conformance::{run, SecretKey, Strength, Suite, SuiteOptions, Target, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every call is OK; `group_msg_get_simple` always answers MsgSeq 45 down to 26, whatever
/// `ReqMsgSeq` asks for.
fn answer() -> String {
    let page: Vec<_> = (26..=45u64)
        .rev()
        .map(|s| {
            json!({
                "From_Account": "someone",
                "MsgSeq": s,
                "MsgTimeStamp": 1_600_000_000u64 + s,
                "MsgRandom": s,
                "IsPlaceMsg": 0,
                "MsgBody": [{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "x" } }],
            })
        })
        .collect();
    json!({
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "GroupInfo": [{ "ErrorCode": 0 }],
        "IsFinished": 0,
        "RspMsgList": page,
    })
    .to_string()
}

/// One HTTP/1.1 exchange: read the head and the body it announces, answer, close.
async fn serve(mut conn: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = conn.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            break;
        }
    }
    let body = answer();
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(reply.as_bytes()).await;
    let _ = conn.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_ignores_req_msg_seq_fails_the_paging_clause_and_the_run_ends() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve(conn));
        }
    });
    let case: Case = toml::from_str(
        r#"
id = "read-pager-stub"
title = "a read-back against a target that ignores ReqMsgSeq"
clauses = ["READ-NEWEST-FIRST"]

[[setup]]
call = "import_group"
group = "g"
body = { Type = "Public", Name = "conformance", CreateTime = "${now-86400}" }

[[step]]
check = "readback"
group = "g"
"#,
    )
    .unwrap();
    let full = Suite::load_default().expect("the suite loads");
    let suite = Suite {
        clauses: full.clauses,
        cases: vec![case],
    };
    let target = Target {
        base_url: format!("http://{addr}"),
        sdkappid: 1_400_000_000,
        identifier: "administrator".into(),
        secret_key: SecretKey::new("stub-key"),
    };
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        run(&suite, &target, &SuiteOptions::default()),
    )
    .await
    .expect("the run ends instead of paging forever")
    .expect("the stub answers the probe");
    let c = &report.cases[0];
    assert_eq!(c.verdict, Verdict::Fail, "{c:?}");
    let paging: Vec<_> = c
        .failures
        .iter()
        .filter(|f| f.clause == auto::PAGING && f.strength == Strength::Must)
        .collect();
    assert_eq!(paging.len(), 1, "{:?}", c.failures);
    assert!(paging[0].message.contains("did not move back"));
    // The first page, then the second that did not move back: two reads, no more.
    let reads = c
        .transcript
        .iter()
        .filter(|x| x.path.contains("group_msg_get_simple"))
        .count();
    assert_eq!(reads, 2);
}
