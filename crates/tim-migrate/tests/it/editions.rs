//! The real service (issue 18 item 8): the edition `--region` implies, the summary naming the
//! edition and limits in use, and group IDs already in use (10021 and 10025 alike).

use clap::Parser;
use tim_migrate::cli::{Cli, Command as Sub, TargetArgs};
use tim_migrate::report::ImportReport;
use tim_model::api::import_group::ImportGroupRequest;
use tim_model::control::{FaultEffect, FaultRule};
use tim_model::{Edition, ErrorCode};

use crate::support::{assert_exit, corpus, import_args, text, Server};

fn target(flags: &[&str]) -> TargetArgs {
    let mut args = vec![
        "tim-migrate",
        "import",
        "--sdkappid",
        "1400000000",
        "--identifier",
        "administrator",
        "--secret-key",
        "k",
        "--messages",
        "m.jsonl",
        "--checkpoint",
        "c.ckpt",
    ];
    args.extend(flags);
    // The defaults under test must not come from the environment.
    for (k, _) in std::env::vars() {
        assert!(
            !matches!(k.as_str(), "TIM_EDITION" | "TIM_REGION" | "TIM_BASE_URL"),
            "unset {k} to run this test"
        );
    }
    match Cli::try_parse_from(args).unwrap().command {
        Sub::Import(a) => a.target,
        other => panic!("{other:?}"),
    }
}

#[test]
fn region_defaults_to_the_current_edition_and_base_url_to_seed() {
    let t = target(&["--region", "singapore"]);
    assert_eq!(t.edition, Edition::Current);
    let limits = t.edition.limits();
    assert_eq!(limits.msgs_per_request, 7);
    assert_eq!(limits.requests_per_second, Some(200));

    let t = target(&["--region", "singapore", "--edition", "seed"]);
    assert_eq!(t.edition, Edition::Seed);
    assert_eq!(t.edition.limits().msgs_per_request, 20);
    assert_eq!(t.edition.limits().requests_per_second, Some(100));

    assert_eq!(
        target(&["--base-url", "http://127.0.0.1:8080"]).edition,
        Edition::Seed
    );
    assert_eq!(
        target(&[
            "--base-url",
            "http://127.0.0.1:8080",
            "--edition",
            "current"
        ])
        .edition,
        Edition::Current
    );
}

/// Imports the group of `line` (a line of groups.jsonl) with `admin`, as another tool would have.
async fn pre_create(server: &Server, line: &str, rename: Option<&str>) -> String {
    let mut req: ImportGroupRequest = serde_json::from_str(line).unwrap();
    if let Some(name) = rename {
        req.profile.name = name.to_owned();
    }
    server.client().import_group(&req).await.unwrap();
    req.profile.group_id.unwrap()
}

/// Two groups exist before the import: one with the input's profile, whose `import_group` the
/// server answers 10025 (ID in use, owned by the operator: a fault rule), and one renamed since,
/// which the reference server answers 10021. Both count as created, their messages go in, the
/// renamed one is named in a warning; the summary and the report name the edition and limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_ids_in_use_10021_and_10025_both_mean_the_group_exists() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 4, 200, 0);
    let groups = std::fs::read_to_string(&c.groups).unwrap();
    let lines: Vec<&str> = groups.lines().collect();
    let owned = pre_create(&server, lines[0], None).await;
    let renamed = pre_create(&server, lines[1], Some("another name")).await;

    let admin = server.client();
    let control = admin.control();
    control
        .set_faults(&[FaultRule::new(
            tim_model::Command::ImportGroup,
            FaultEffect::error(ErrorCode::GROUP_ID_OWNED),
        )
        .on_group(owned.clone())
        .times(1)])
        .await
        .unwrap();

    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 0);
    control.clear_faults().await.unwrap();
    let journal = control.requests(1000).await.unwrap().requests;
    assert!(
        journal
            .iter()
            .any(|e| e.fault.as_deref() == Some("error 10025")),
        "the 10025 rule was applied"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the group ID is in use by a group whose Name is \"another name\""),
        "{stderr}"
    );
    assert!(stderr.contains(&renamed), "{stderr}");

    let r: ImportReport =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!((r.groups.total, r.groups.done, r.groups.failed), (4, 4, 0));
    assert_eq!(r.messages.imported, 200);
    assert_eq!(r.edition, "seed");
    assert_eq!(r.messages_per_request, 20);
    assert_eq!(r.quota_per_second, Some(100));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "edition:  seed (20 messages a request, at most 100 requests/s per API)\n"
        ),
        "{stdout}"
    );
    // verify reads the profiles back too: the renamed group is the one difference.
    let out = server.run(
        dir.path(),
        &[
            "verify",
            "--messages",
            "messages.jsonl",
            "--groups",
            "groups.jsonl",
            "--members",
            "members.jsonl",
        ],
    );
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("200 messages expected, 200 found on the server, 200 identical and in order, 1 difference"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{renamed}: GroupChanged (line 2): Name \"another name\""
        )),
        "{stdout}"
    );
}

/// A member the server refuses alone (`Result` 0: `JoinTime` before the group's `CreateTime`) is
/// written to the rejects file with the server's own code, 0, not a code the importer makes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_member_keeps_the_servers_code() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path(), 2, 40, 0);
    let group = tim_migrate::corpus::group_id(0);
    let mut members = std::fs::read_to_string(&c.members).unwrap();
    members.push_str(&format!(
        "{{\"GroupId\":\"{group}\",\"Member_Account\":\"too-early\",\"JoinTime\":1}}\n"
    ));
    let line = members.lines().count() as u64;
    std::fs::write(&c.members, members).unwrap();

    let out = server.run(dir.path(), &import_args(&[]));
    assert_exit(&out, 1);
    let rejects = std::fs::read_to_string(dir.path().join("rejects.jsonl")).unwrap();
    let rejects: Vec<tim_migrate::rejects::Reject> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let r = &rejects[0];
    assert_eq!((r.file.as_str(), r.line), ("members.jsonl", line));
    assert_eq!(r.code, 0, "the member's Result, as the server answered it");
    assert!(r.reason.contains("Result 0"), "{}", r.reason);
    assert!(r.input.contains("too-early"));
}
