//! The `tim-conformance` binary's contract: the last line is `N passed, N failed`; exit 0 when
//! nothing failed, 1 when something did (or an expectation is stale), 2 when the target cannot be
//! reached or refuses the credentials; no secret on stdout or stderr.

use std::process::{Command, Output};

use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::EmbeddedServer;

fn conformance(target: &str, key: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tim-conformance"))
        .args(["--target", target, "--sdkappid", &DEV_SDKAPPID.to_string()])
        .args(["--identifier", DEV_ADMIN])
        .args(extra)
        .env("TIM_SECRET_KEY", key)
        .output()
        .expect("the binary runs")
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn assert_no_secret(out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(DEV_SECRET_KEY), "the key leaked");
        assert!(!text.contains("usersig=eJ"), "a usersig leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_last_line() {
    let server = EmbeddedServer::start(ServerConfig::development(DataLocation::Memory))
        .await
        .expect("reference server starts");
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let expectations = dir.path().join("expected.toml");
    std::fs::write(
        &expectations,
        "[[expected]]\ncase = \"igm-batch-over-limit\"\nreason = \"test\"\n",
    )
    .unwrap();

    let (url2, url3) = (url.clone(), url.clone());
    let json_arg = json.display().to_string();
    let exp_arg = expectations.display().to_string();
    let (ok, stale, refused, unreachable) = tokio::task::spawn_blocking(move || {
        (
            conformance(
                &url,
                DEV_SECRET_KEY,
                &["--filter", "igm-batch", "--json", &json_arg],
            ),
            conformance(
                &url2,
                DEV_SECRET_KEY,
                &[
                    "--filter",
                    "igm-batch-over-limit",
                    "--expectations",
                    &exp_arg,
                ],
            ),
            conformance(&url3, "not-the-key", &[]),
            conformance("http://127.0.0.1:1", DEV_SECRET_KEY, &[]),
        )
    })
    .await
    .unwrap();

    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let line = last_line(&ok);
    assert!(
        line.ends_with(" passed, 0 failed") && !line.starts_with("0 "),
        "{line}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["cases"].as_array().is_some_and(|c| !c.is_empty()));

    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stdout).contains("stale expectation"));
    assert!(last_line(&stale).ends_with(" passed, 0 failed"));

    for out in [&refused, &unreachable] {
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(last_line(out), "0 passed, 0 failed");
    }
    assert!(String::from_utf8_lossy(&refused.stderr).contains("70009"));
    for out in [&ok, &stale, &refused, &unreachable] {
        assert_no_secret(out);
    }
}
