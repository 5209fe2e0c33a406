//! The CI-facing outputs: JUnit XML parses and maps every verdict, the HTML page escapes hostile
//! strings and carries no secret, expectations files follow their rules, and the binary's exit
//! codes follow the verdicts and the expectations (0 / 1 / 2).

use std::path::Path;
use std::process::Output;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_json::json;
use tim_conformance::expectations::{Applied, Expectations};
use tim_conformance::report::{html, junit, CaseReport, ClauseCoverage, Exchange, ExchangeKind};
use tim_conformance::{
    run, Case, Failure, SecretKey, Strength, Suite, SuiteOptions, SuiteReport, Target, Verdict,
};
use tim_model::Edition;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID};
use tim_server::EmbeddedServer;

/// A string that breaks naive XML and HTML writers.
const HOSTILE: &str = "<script>alert(\"x\")</script> & 'q' ]]> \u{1b}[31mred\u{0}";

fn exchange(response: serde_json::Value) -> Exchange {
    Exchange {
        kind: ExchangeKind::Step,
        method: "POST".into(),
        path: "/v4/group_open_http_svc/import_group_msg?usersig=[usersig]".into(),
        body: json!({ "GroupId": "[group:g]", "Note": HOSTILE }),
        http: 200,
        response,
        curl: "curl -sS -X POST \"$TIM_TARGET/v4/x?usersig=$TIM_USERSIG\" --data-raw '{\"a\":\"</pre><script>\"}'".into(),
        reading: None,
    }
}

fn case(id: &str, verdict: Verdict) -> CaseReport {
    let failures = match verdict {
        Verdict::Fail => vec![Failure {
            clause: "IGM-LIMIT-BATCH,GW-HTTP-200".into(),
            strength: Strength::Must,
            at: "step[0]".into(),
            message: format!("ErrorCode differs {HOSTILE}"),
            expected: Some(json!({ "ErrorCode": 10004, "ActionStatus": "FAIL" })),
            actual: Some(json!({ "ErrorCode": 0, "ActionStatus": "OK", "Extra": HOSTILE })),
        }],
        Verdict::NonStrict => vec![Failure {
            clause: "IGM-ERRINFO-MSGLIST".into(),
            strength: Strength::Should,
            at: "step[0]".into(),
            message: "ErrorInfo does not mention MsgList".into(),
            expected: Some(json!("… MsgList …")),
            actual: Some(json!(HOSTILE)),
        }],
        _ => Vec::new(),
    };
    CaseReport {
        id: id.into(),
        title: format!("title of {id} {HOSTILE}"),
        clauses: vec!["IGM-LIMIT-BATCH".into()],
        verdict,
        reading: (verdict == Verdict::Pass).then(|| "request-level".into()),
        note: match verdict {
            Verdict::Skip => Some("needs --restricted-word".into()),
            Verdict::SetupError => Some(format!("setup[0] import_group failed {HOSTILE}")),
            _ => None,
        },
        failures,
        transcript: if matches!(verdict, Verdict::Skip) {
            Vec::new()
        } else {
            vec![exchange(
                json!({ "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": HOSTILE }),
            )]
        },
        duration: 0.25,
    }
}

fn report(edition: Edition) -> SuiteReport {
    SuiteReport {
        edition,
        target_url: format!("http://127.0.0.1:9/\"{HOSTILE}"),
        clock: None,
        started: 1_780_000_000,
        duration: 3.5,
        cases: vec![
            case("igm-pass", Verdict::Pass),
            case("igm-nonstrict", Verdict::NonStrict),
            case("igm-fail", Verdict::Fail),
            case("gw-skip", Verdict::Skip),
            case("grp-setup", Verdict::SetupError),
        ],
        clauses: vec![ClauseCoverage {
            id: "IGM-LIMIT-BATCH".into(),
            strength: Strength::Must,
            source: format!("seed §2.8 {HOSTILE}"),
            text: "A batch over the limit fails with 10004.".into(),
            reading: None,
            cases: vec!["igm-fail".into()],
            verdict: Some(Verdict::Fail),
        }],
    }
}

/// A small suite with the case IDs the synthetic report uses.
fn tiny_suite() -> Suite {
    let cases = ["igm-pass", "igm-nonstrict", "igm-fail", "gw-skip", "grp-setup"]
        .iter()
        .map(|id| {
            let editions = if *id == "gw-skip" { "[\"seed\"]" } else { "[\"seed\", \"current\"]" };
            toml::from_str::<Case>(&format!(
                "id = \"{id}\"\ntitle = \"t\"\nclauses = [\"IGM-LIMIT-BATCH\"]\neditions = {editions}\n"
            ))
            .unwrap()
        })
        .collect();
    Suite {
        clauses: Vec::new(),
        cases,
    }
}

fn status_of<'a>(xml: &'a Report, name: &str) -> &'a TestCaseStatus {
    &xml.test_suites[0]
        .test_cases
        .iter()
        .find(|t| t.name.as_str() == name)
        .unwrap_or_else(|| panic!("no testcase {name}"))
        .status
}

#[test]
fn junit_parses_and_maps_every_verdict() {
    let text = junit::render(&report(Edition::Seed));
    let xml = Report::deserialize_from_str(&text).expect("the JUnit XML parses");
    assert_eq!(xml.test_suites.len(), 1);
    let suite = &xml.test_suites[0];
    assert_eq!(suite.name.as_str(), "tim-conformance (seed)");
    assert_eq!(
        (suite.tests, suite.failures, suite.errors, suite.skipped),
        (5, 1, 1, 1),
        "tests, failures, errors, skipped"
    );
    assert!(matches!(
        status_of(&xml, "igm-pass"),
        TestCaseStatus::Success { .. }
    ));
    assert!(matches!(
        status_of(&xml, "igm-nonstrict"),
        TestCaseStatus::Success { .. }
    ));
    assert!(matches!(
        status_of(&xml, "gw-skip"),
        TestCaseStatus::Skipped { .. }
    ));
    assert!(matches!(
        status_of(&xml, "grp-setup"),
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        }
    ));
    let TestCaseStatus::NonSuccess {
        kind,
        message,
        ty,
        description,
        ..
    } = status_of(&xml, "igm-fail")
    else {
        panic!("igm-fail is not a failure");
    };
    assert_eq!(*kind, NonSuccessKind::Failure);
    assert_eq!(ty.as_deref(), Some("FAIL"));
    let message = message.as_deref().unwrap();
    // Markup survives the round trip as text; the control characters are shown, not dropped.
    assert!(
        message.contains("<script>alert(\"x\")</script> & 'q' ]]> \\u{1b}[31mred\\u{0}"),
        "{message}"
    );
    let description = description.as_deref().unwrap();
    for part in [
        "expected:",
        "actual:",
        "request:",
        "response: HTTP 200",
        "curl -sS",
        "IGM-LIMIT-BATCH",
    ] {
        assert!(
            description.contains(part),
            "description lacks {part:?}:\n{description}"
        );
    }
    let t = suite
        .test_cases
        .iter()
        .find(|t| t.name.as_str() == "igm-fail")
        .unwrap();
    assert_eq!(t.classname.as_deref(), Some("tim-conformance.seed.igm"));
    assert_eq!(t.time, Some(std::time::Duration::from_millis(250)));
    let ns = suite
        .test_cases
        .iter()
        .find(|t| t.name.as_str() == "igm-nonstrict")
        .unwrap();
    let out = ns.system_out.as_deref().unwrap();
    assert!(
        out.starts_with("NON-STRICT") && out.contains("IGM-ERRINFO-MSGLIST"),
        "{out}"
    );
    // No raw control character reaches the file (XML 1.0 forbids them).
    assert!(!text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')));
}

#[test]
fn junit_has_one_testsuite_per_edition() {
    let (seed, current) = (report(Edition::Seed), report(Edition::Current));
    let runs = [
        junit::Run {
            report: &seed,
            expectations: None,
        },
        junit::Run {
            report: &current,
            expectations: None,
        },
    ];
    let xml = Report::deserialize_from_str(&junit::render_runs(&runs)).unwrap();
    let names: Vec<&str> = xml.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["tim-conformance (seed)", "tim-conformance (current)"]
    );
    assert_eq!(xml.tests, 10);
    assert_eq!(
        xml.test_suites[1].test_cases[0].classname.as_deref(),
        Some("tim-conformance.current.igm")
    );
}

#[test]
fn junit_shows_known_failures_as_skipped_and_stale_entries_as_failures() {
    let r = report(Edition::Seed);
    let e = Expectations::parse(
        "known.toml",
        "[[expected]]\ncase = \"igm-fail\"\nreason = \"we allow 25\"\n\n[[expected]]\ncase = \"igm-pass\"\nreason = \"was broken\"\n",
        &tiny_suite(),
    )
    .unwrap();
    let applied = e.apply(&r);
    let xml = Report::deserialize_from_str(&junit::render_with(&r, Some(&applied))).unwrap();
    let TestCaseStatus::Skipped { ty, message, .. } = status_of(&xml, "igm-fail") else {
        panic!("a known failure is reported as skipped");
    };
    assert_eq!(ty.as_deref(), Some("KNOWN-FAIL"));
    assert!(message.as_deref().unwrap().contains("we allow 25"));
    let TestCaseStatus::NonSuccess { ty, message, .. } = status_of(&xml, "igm-pass") else {
        panic!("a stale entry is reported as a failure");
    };
    assert_eq!(ty.as_deref(), Some("STALE"));
    assert!(
        message.as_deref().unwrap().contains("line 6"),
        "{message:?}"
    );
}

/// Every `usersig=` in `text` is followed by a placeholder, never a signature.
fn assert_no_usersig(text: &str) {
    for (i, _) in text.match_indices("usersig=") {
        let rest = &text[i + "usersig=".len()..];
        let empty = rest.is_empty() || rest.starts_with(['&', '"', '\'', ' ', '\n']);
        assert!(
            empty || rest.starts_with("[usersig]") || rest.starts_with("$TIM_USERSIG"),
            "a usersig value leaks: {}",
            &rest[..rest.len().min(40)]
        );
    }
}

#[test]
fn html_escapes_hostile_strings() {
    let page = html::render(&report(Edition::Seed));
    // Our one script element, and not a single one from the data.
    assert_eq!(page.matches("<script").count(), 1, "only the filter script");
    assert!(!page.contains("<script>alert"));
    assert!(
        page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; ]]&gt;")
    );
    assert!(
        page.contains("\\u{1b}[31mred\\u{0}"),
        "control characters are shown"
    );
    assert!(!page
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')));
    assert!(
        page.contains("&lt;/pre&gt;&lt;script&gt;"),
        "the curl line is escaped too"
    );
    // Self-contained: no external fetch of any kind.
    for needle in ["<link", " src=", "@import", "url("] {
        assert!(
            !page.contains(needle),
            "the page fetches something: {needle}"
        );
    }
    for (i, _) in page.match_indices("href=\"") {
        assert!(page[i + 6..].starts_with('#'), "only in-page links");
    }
    assert_no_usersig(&page);
}

#[test]
fn html_has_summary_coverage_and_failure_details() {
    let page = html::render(&report(Edition::Seed));
    for part in [
        "2026-05-28 20:26:40 UTC",
        "3.5 s",
        "1 PASS",
        "1 NON-STRICT",
        "1 FAIL",
        "1 SKIP",
        "1 SETUP-ERROR",
        "2 passed, 2 failed",
        "Clause coverage",
        "seed §2.8",
        "id=\"igm-fail\"",
        "id=\"igm-nonstrict\"",
        "id=\"grp-setup\"",
        "<h4>expected</h4>",
        "<h4>actual</h4>",
        "ErrorCode: expected 10004, actual 0",
        "curl -sS",
        "reading: <b>request-level</b>",
    ] {
        assert!(page.contains(part), "the page lacks {part:?}");
    }
    // A case that passed has no detail section.
    assert!(!page.contains("id=\"igm-pass\""));
}

#[test]
fn expectations_classify_known_stale_unexpected_and_not_run() {
    let suite = tiny_suite();
    let r = report(Edition::Seed);
    let e = Expectations::parse(
        "e.toml",
        r#"
[[expected]]
case = "igm-fail"
reason = "batch limit 25"

[[expected]]
case = "igm-nonstrict"
reason = "used to fail"

[[expected]]
case = "gw-skip"
reason = "no restricted word"
"#,
        &suite,
    )
    .unwrap();
    let a = e.apply(&r);
    let ids = |v: &[tim_conformance::expectations::Listed]| {
        v.iter().map(|l| l.case.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&a.known), ["igm-fail"]);
    assert_eq!(ids(&a.stale), ["igm-nonstrict"]);
    assert_eq!(ids(&a.not_run), ["gw-skip"]);
    assert_eq!(
        a.unexpected,
        [("grp-setup".to_owned(), Verdict::SetupError)]
    );
    assert!(!a.ok());
    let text = a.render();
    assert!(
        text.contains("known       FAIL        igm-fail: batch limit 25"),
        "{text}"
    );
    assert!(
        text.contains(
            "STALE       NON-STRICT  igm-nonstrict: stale expectation, the case passes now; remove the entry at line 7"
        ),
        "{text}"
    );
    assert!(
        text.contains("unexpected  SETUP-ERROR grp-setup: not in the file"),
        "{text}"
    );
    assert!(
        text.contains("1 known, 1 stale, 1 unexpected => the run fails"),
        "{text}"
    );
}

#[test]
fn expectations_accept_a_run_whose_failures_are_all_listed() {
    let mut r = report(Edition::Seed);
    r.cases.retain(|c| c.id != "grp-setup");
    let e = Expectations::parse(
        "e.toml",
        "[[expected]]\ncase = \"igm-fail\"\nreason = \"r\"\n",
        &tiny_suite(),
    )
    .unwrap();
    let a = e.apply(&r);
    assert!(a.ok(), "{a:?}");
    assert!(a.render().ends_with("1 known, 0 stale, 0 unexpected\n"));
    // Without the file, the same run fails.
    assert!(!r.ok());
    assert_eq!(Applied::default().unexpected.len(), 0);
}

#[test]
fn an_entry_limited_to_another_edition_does_not_apply() {
    let mut r = report(Edition::Current);
    r.cases.retain(|c| c.id == "igm-fail" || c.id == "igm-pass");
    let file = "[[expected]]\ncase = \"igm-fail\"\nreason = \"r\"\nedition = \"seed\"\n\n[[expected]]\ncase = \"igm-pass\"\nreason = \"r\"\nedition = \"seed\"\n";
    let a = Expectations::parse("e.toml", file, &tiny_suite())
        .unwrap()
        .apply(&r);
    assert_eq!(a.unexpected, [("igm-fail".to_owned(), Verdict::Fail)]);
    assert!(a.known.is_empty() && a.stale.is_empty(), "{a:?}");
    r.edition = Edition::Seed;
    let a = Expectations::parse("e.toml", file, &tiny_suite())
        .unwrap()
        .apply(&r);
    assert_eq!((a.known.len(), a.stale.len()), (1, 1));
}

fn parse_err(text: &str) -> String {
    Expectations::parse("ci/known.toml", text, &tiny_suite())
        .unwrap_err()
        .to_string()
}

#[test]
fn expectations_errors_name_the_file_and_line() {
    assert_eq!(
        parse_err("# header\n\n[[expected]]\ncase = \"igm-nope\"\nreason = \"typo\"\n"),
        "expectations file ci/known.toml:4: unknown case \"igm-nope\": the suite has no such case"
    );
    assert_eq!(
        parse_err("[[expected]]\ncase = \"gw-skip\"\nreason = \"r\"\nedition = \"current\"\n"),
        "expectations file ci/known.toml:2: case \"gw-skip\" does not apply to edition current"
    );
    assert_eq!(
        parse_err("[[expected]]\ncase = \"igm-fail\"\nreason = \"  \"\n"),
        "expectations file ci/known.toml:2: case \"igm-fail\": the reason is empty"
    );
    assert_eq!(
        parse_err("[[expected]]\ncase = \"igm-fail\"\nreason = \"a\"\n[[expected]]\ncase = \"igm-fail\"\nreason = \"b\"\nedition = \"seed\"\n"),
        "expectations file ci/known.toml:5: case \"igm-fail\" is already listed on line 2"
    );
    let unknown_key =
        parse_err("[[expected]]\ncase = \"igm-fail\"\nreason = \"a\"\nresaon = \"b\"\n");
    assert!(
        unknown_key.starts_with("expectations file ci/known.toml:4: unknown field `resaon`"),
        "{unknown_key}"
    );
    let missing_reason = parse_err("[[expected]]\ncase = \"igm-fail\"\n");
    assert!(
        missing_reason.contains("ci/known.toml:1") && missing_reason.contains("reason"),
        "{missing_reason}"
    );
    // The same case may be listed once per edition.
    let both = "[[expected]]\ncase = \"igm-fail\"\nreason = \"a\"\nedition = \"seed\"\n[[expected]]\ncase = \"igm-fail\"\nreason = \"b\"\nedition = \"current\"\n";
    assert_eq!(
        Expectations::parse("e", both, &tiny_suite())
            .unwrap()
            .expected
            .len(),
        2
    );
}

// ---- end to end: the binary against an in-process reference server --------------------------

const SECRET: &str = "conformance-report-test-secret-5f1c9a";

async fn server(rate_limit: bool) -> EmbeddedServer {
    let mut config = ServerConfig::development(DataLocation::Memory);
    config.secret_key = SecretKey::new(SECRET);
    if !rate_limit {
        config.limits.requests_per_second = None;
    }
    EmbeddedServer::start(config)
        .await
        .expect("the reference server starts")
}

async fn conformance(url: &str, dir: &Path, extra: &[&str]) -> Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tim-conformance"))
        .args([
            "--target",
            url,
            "--sdkappid",
            &DEV_SDKAPPID.to_string(),
            "--identifier",
            DEV_ADMIN,
        ])
        .args(["--secret-key", SECRET])
        .arg("--junit")
        .arg(dir.join("r.xml"))
        .arg("--html")
        .arg(dir.join("r.html"))
        .args(extra)
        .output()
        .await
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(SECRET) && !String::from_utf8_lossy(&out.stderr).contains(SECRET));
    out
}

fn code_and_stdout(out: &Output) -> (Option<i32>, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The case that fails against a server without rate limit (it expects 60007 under a burst).
const RATE_CASE: &str = "rate-burst-unknown-group";

/// Runs [`RATE_CASE`] against `url` with the expectations file `known`.
async fn rate_case_with(url: &str, dir: &Path, known: &Path) -> (Option<i32>, String) {
    let known = known.to_str().unwrap();
    let extra = ["--filter", RATE_CASE, "--expectations", known];
    code_and_stdout(&conformance(url, dir, &extra).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_follow_verdicts_and_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let no_limit = server(false).await;
    let limited = server(true).await;

    // A must-level FAIL, nothing expected: exit 1, last line counts it.
    let (code, out) =
        code_and_stdout(&conformance(&no_limit.url(), dir.path(), &["--filter", RATE_CASE]).await);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.trim_end().ends_with("0 passed, 1 failed"), "{out}");
    let xml = std::fs::read_to_string(dir.path().join("r.xml")).unwrap();
    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    for text in [&xml, &page] {
        assert!(!text.contains(SECRET), "the secret key leaks into a report");
        assert_no_usersig(text);
        assert!(text.contains(RATE_CASE) && text.contains("curl"));
    }
    assert_eq!(Report::deserialize_from_str(&xml).unwrap().failures, 1);

    // The same failure listed in an expectations file: exit 0, shown as known.
    let known = dir.path().join("known.toml");
    std::fs::write(
        &known,
        format!("[[expected]]\ncase = \"{RATE_CASE}\"\nreason = \"no rate limit here\"\n"),
    )
    .unwrap();
    let known_arg = known.to_str().unwrap();
    let (code, out) = rate_case_with(&no_limit.url(), dir.path(), &known).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 known, 0 stale, 0 unexpected"), "{out}");
    let xml =
        Report::deserialize_from_str(&std::fs::read_to_string(dir.path().join("r.xml")).unwrap())
            .unwrap();
    assert_eq!(
        (xml.failures, xml.test_suites[0].skipped),
        (0, 1),
        "a known failure is skipped in JUnit"
    );

    // The server is fixed (rate limit on): the entry is stale and fails the run.
    let (code, out) = rate_case_with(&limited.url(), dir.path(), &known).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("STALE") && out.contains("0 known, 1 stale, 0 unexpected"),
        "{out}"
    );

    // An entry limited to the other edition does not tolerate the failure.
    std::fs::write(
        &known,
        format!("[[expected]]\ncase = \"{RATE_CASE}\"\nreason = \"r\"\nedition = \"current\"\n"),
    )
    .unwrap();
    let (code, out) = rate_case_with(&no_limit.url(), dir.path(), &known).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("0 known, 0 stale, 1 unexpected"), "{out}");

    // Every case passes: exit 0.
    let (code, out) =
        code_and_stdout(&conformance(&limited.url(), dir.path(), &["--filter", "sig-"]).await);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.trim_end().ends_with(" 0 failed"), "{out}");

    // A typo in the expectations file is an error naming the file and line.
    std::fs::write(
        &known,
        "[[expected]]\ncase = \"rate-no-such-case\"\nreason = \"r\"\n",
    )
    .unwrap();
    let out = conformance(&limited.url(), dir.path(), &["--expectations", known_arg]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{known_arg}:2: unknown case \"rate-no-such-case\""
        )),
        "{stderr}"
    );

    // Nothing listens: exit 2.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, out) = code_and_stdout(&conformance(&url, dir.path(), &[]).await);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.trim_end().ends_with("0 passed, 0 failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_of_a_real_run_carry_no_secret() {
    let srv = server(true).await;
    let target = Target {
        base_url: srv.url(),
        sdkappid: DEV_SDKAPPID,
        identifier: DEV_ADMIN.to_owned(),
        secret_key: SecretKey::new(SECRET),
    };
    let suite = Suite::load_default().unwrap();
    let opts = SuiteOptions {
        filter: Some("sig-".into()),
        ..SuiteOptions::default()
    };
    let r = run(&suite, &target, &opts).await.expect("the run starts");
    assert!(!r.cases.is_empty());
    for text in [
        html::render(&r),
        junit::render(&r),
        serde_json::to_string(&r).unwrap(),
    ] {
        assert!(!text.contains(SECRET));
        assert_no_usersig(&text);
    }
}
