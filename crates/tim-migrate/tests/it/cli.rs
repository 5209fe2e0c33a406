//! The real binary: `--help` of every command, `check` on good and bad inputs, `usersig`.

use std::path::Path;

use tim_model::usersig::{self, SecretKey};

use crate::support::{self, run, transcript};

#[test]
fn help_of_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_check", &["check", "--help"]),
        ("help_import", &["import", "--help"]),
        ("help_verify", &["verify", "--help"]),
        ("help_usersig", &["usersig", "--help"]),
    ] {
        let out = run(dir.path(), args, &[]);
        insta::assert_snapshot!(name, transcript(&out, dir.path()));
    }
}

#[test]
fn secret_key_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let key = "0123456789abcdef-super-secret";
    for args in [
        &["usersig", "--help"][..],
        &["import", "--help"],
        &["usersig"],
    ] {
        let out = run(dir.path(), args, &[("TIM_SECRET_KEY", key)]);
        let all = transcript(&out, dir.path());
        assert!(!all.contains(key), "{all}");
    }
}

#[test]
fn usersig_prints_only_a_valid_sig() {
    let dir = tempfile::tempdir().unwrap();
    let key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    let out = run(
        dir.path(),
        &[
            "usersig",
            "--identifier",
            "administrator",
            "--expire",
            "3600",
        ],
        &[("TIM_SECRET_KEY", key), ("TIM_SDKAPPID", "1400000000")],
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let sig = stdout.strip_suffix('\n').unwrap();
    assert!(!sig.contains(char::is_whitespace));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ok = usersig::verify(
        sig,
        1_400_000_000,
        &SecretKey::new(key),
        "administrator",
        now,
    )
    .unwrap();
    assert_eq!(ok.expire, 3600);
}

#[test]
fn check_accepts_a_clean_corpus_and_reports_bad_messages() {
    let dir = tempfile::tempdir().unwrap();
    support::corpus(&dir.path().join("good"), 30, 3000, 0);
    let out = run(
        dir.path(),
        &[
            "check",
            "--messages",
            "good/messages.jsonl",
            "--groups",
            "good/groups.jsonl",
            "--members",
            "good/members.jsonl",
        ],
        &[],
    );
    let text = transcript(&out, dir.path());
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("30 groups with messages (30 in the groups file), 3000 messages, 90 members"),
        "{text}"
    );
    assert!(
        text.ends_with("ok: no problems found\n--- stderr\n"),
        "{text}"
    );

    support::corpus(&dir.path().join("bad"), 5, 500, 6);
    let out = run(
        dir.path(),
        &[
            "check",
            "--json",
            "--edition",
            "current",
            "--messages",
            "bad/messages.jsonl",
            "--groups",
            "bad/groups.jsonl",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problem_count"], 6, "{v:#}");
    assert_eq!(v["stats"]["messages"], 506);
    assert_eq!(v["stats"]["msgs_per_request"], 7);
    let paths: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths.iter().filter(|p| **p == "SendTime").count(),
        3,
        "{paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| **p == "MsgBody").count(),
        3,
        "{paths:?}"
    );
}

fn write(dir: &Path, name: &str, lines: &[&str]) {
    std::fs::write(dir.join(name), lines.join("\n") + "\n").unwrap();
}

const GROUPS: &[&str] = &[
    r#"{"GroupId":"g1","Type":"Public","Name":"one","CreateTime":1600000000}"#,
    r#"{"GroupId":"g2","Type":"AVChatRoom","Name":"live","CreateTime":1600000000}"#,
    r#"{"GroupId":"g3","Type":"Private","Name":"no time"}"#,
];

fn msg(group: &str, time: i64, extra: &str) -> String {
    format!(
        r#"{{"GroupId":"{group}","From_Account":"alice","SendTime":{time},"MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"hi"}}}}]{extra}}}"#
    )
}

/// Error messages for bad input files, as users see them.
#[test]
fn check_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("not_json", vec![msg("g1", 1600000100, ""), "{\"GroupId\": \"g1\", oops}".into(), "".into(), "[1, 2".into()]),
        ("missing_field", vec![
            r#"{"GroupId":"g1","SendTime":1600000100,"MsgBody":[]}"#.into(),
            r#"{"From_Account":"alice","SendTime":1600000100,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}"#.into(),
            r#"{"GroupId":"g1","From_Account":"alice","SendTime":1600000100,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{}}]}"#.into(),
        ]),
        ("unknown_group", vec![msg("g1", 1600000100, ""), msg("nope", 1600000100, ""), msg("nope", 1600000200, ""), msg("g2", 1600000100, ""), msg("g3", 1600000100, "")]),
        ("wrong_order", vec![
            msg("g1", 1600000100, ""),
            msg("g1", 1600000000, ""),
            msg("g1", 1599999000, r#","Random":7"#),
            msg("g1", 1599999100, r#","Random":7"#),
            msg("g1", 1600000200, r#","SourceId":"a""#),
            msg("g1", 1600000300, r#","SourceId":"a""#),
            msg("g1", 4102444800, ""),
        ]),
    ];
    for (name, lines) in cases {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        write(d, "messages.jsonl", &refs);
        // Group-level and member problems only in the unknown-group case, to keep the others focused.
        let full = name == "unknown_group";
        write(d, "groups.jsonl", if full { GROUPS } else { &GROUPS[..1] });
        let members: &[&str] = if full {
            &[
                r#"{"GroupId":"g1","Member_Account":"bob","JoinTime":1500000000}"#,
                r#"{"GroupId":"zz","Member_Account":"carol","UnreadMsgNum":-1}"#,
                r#"{"GroupId":"g1","Member_Account":"","JoinTime":1600000000}"#,
            ]
        } else {
            &[r#"{"GroupId":"g1","Member_Account":"bob"}"#]
        };
        write(d, "members.jsonl", members);
        let out = run(
            d,
            &[
                "check",
                "--messages",
                "messages.jsonl",
                "--groups",
                "groups.jsonl",
                "--members",
                "members.jsonl",
            ],
            &[],
        );
        insta::assert_snapshot!(format!("check_{name}"), transcript(&out, d));
    }
    // An unreadable file is a usage error.
    let out = run(d, &["check", "--messages", "missing.jsonl"], &[]);
    insta::assert_snapshot!("check_unreadable", transcript(&out, d));
}

#[test]
fn import_and_verify_name_a_missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TIM_SECRET_KEY", "k"),
        ("TIM_SDKAPPID", "1"),
        ("TIM_IDENTIFIER", "admin"),
    ];
    let out = run(
        dir.path(),
        &[
            "import",
            "--region",
            "singapore",
            "--messages",
            "m",
            "--checkpoint",
            "c",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tim-migrate: m: cannot read: "), "{err}");
    assert!(
        !dir.path().join("c").exists(),
        "no checkpoint is written for an unreadable input"
    );
    let out = run(
        dir.path(),
        &[
            "verify",
            "--base-url",
            "http://127.0.0.1:1",
            "--messages",
            "m",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tim-migrate: m: cannot read: "), "{err}");
    // Usage errors exit 2.
    let out = run(
        dir.path(),
        &[
            "import",
            "--region",
            "mars",
            "--messages",
            "m",
            "--checkpoint",
            "c",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown region \"mars\""));
    let out = run(
        dir.path(),
        &["import", "--messages", "m", "--checkpoint", "c"],
        &env,
    );
    assert_eq!(out.status.code(), Some(2));
}
