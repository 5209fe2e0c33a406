//! `cargo xtask conformance`: the conformance suite against a fresh reference server, or any target.
//!
//! - Without `--target`: builds `tim-server` and `tim-conformance`, then for each edition (both
//!   unless `--edition` names one) starts `tim-server --listen 127.0.0.1:0` as a separate process
//!   with a fresh durable store and the development credentials, runs the suite against it through
//!   `--target` exactly as a third party would, and stops it. Report files (`--json`, `--junit`,
//!   `--html`) get the edition before their extension when both editions run.
//! - With `--readings` (no `--target`): the same, once per reading setting of the reference server
//!   ([`READINGS`]: `failure_scope`, `allow_equal_send_time`, `dedup_clock`, `duplicate_answer`)
//!   and edition, each setting written as the `[limits]` table of a `--config` file; one summary
//!   line per run. Every run must end with 0 FAIL: the suite accepts every documented reading.
//!   About 2 minutes on two cores (12 runs of 7 to 9 s, plus server starts), so not part of
//!   `cargo xtask ci`.
//! - With `--target URL …`: runs `tim-conformance` with the arguments as given.
//! - With `--mutants`: runs the self-check (`tim-conformance-mutants` of crate `tim-variants`):
//!   every deliberately broken server must be caught, each kill must repeat when its killing cases
//!   run again, and every benign variant must pass.
//!
//! The last line is `N passed, N failed` (summed over the editions run); the exit status is the
//! runner's: 0 when no required case failed, 2 when a target could not be reached or set up.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// SDKAppID, admin and key of `tim-server`'s development defaults (`tim_server::config`).
pub(crate) const DEV_SDKAPPID: &str = "1400000000";
pub(crate) const DEV_ADMIN: &str = "administrator";
pub(crate) const DEV_SECRET_KEY: &str =
    "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
/// The restricted word the reference server is started with, so the 80001 cases run.
pub(crate) const RESTRICTED_WORD: &str = "conformance-forbidden-word";
const EDITIONS: [&str; 2] = ["seed", "current"];

/// Runs the task; returns the process exit code.
pub fn run(root: &Path, args: &[String], locked: bool) -> Result<i32> {
    let lock: &[&str] = if locked { &["--locked"] } else { &[] };
    if args.iter().any(|a| a == "--mutants") {
        let rest: Vec<&String> = args.iter().filter(|a| *a != "--mutants").collect();
        let status = Command::new(cargo())
            .current_dir(root)
            .args(["run", "-q", "-p", "tim-variants"])
            .args(lock)
            .args(["--bin", "tim-conformance-mutants", "--"])
            .args(rest)
            .status()
            .context("running cargo")?;
        return Ok(code(status));
    }
    // `TIM_TARGET` names a target as `--target` does (the runner reads it too).
    if args
        .iter()
        .any(|a| a == "--target" || a.starts_with("--target="))
        || std::env::var_os("TIM_TARGET").is_some_and(|t| !t.is_empty())
    {
        let status = Command::new(cargo())
            .current_dir(root)
            .args(["run", "-q", "-p", "tim-conformance"])
            .args(lock)
            .args(["--bin", "tim-conformance", "--"])
            .args(args)
            .status()
            .context("running cargo")?;
        return Ok(code(status));
    }
    build(root, lock)?;
    let (editions, rest) = split_edition(args)?;
    if rest.iter().any(|a| a == "--readings") {
        let rest: Vec<String> = rest.into_iter().filter(|a| a != "--readings").collect();
        return readings(root, &editions, &rest);
    }
    let several = editions.len() > 1;
    let (mut passed, mut failed, mut worst) = (0u64, 0u64, 0i32);
    for edition in editions {
        let rest = if several {
            suffix_report_files(&rest, edition)
        } else {
            rest.clone()
        };
        let outcome = against_reference(root, edition, None, &rest)?;
        passed += outcome.passed;
        failed += outcome.failed;
        worst = worse(worst, outcome.code);
    }
    if several {
        println!("{passed} passed, {failed} failed");
    }
    Ok(worst)
}

/// Builds both binaries; a no-op when they are current.
pub fn build(root: &Path, lock: &[&str]) -> Result<()> {
    let status = Command::new(cargo())
        .current_dir(root)
        .args([
            "build",
            "-q",
            "-p",
            "tim-server",
            "-p",
            "tim-conformance",
            "--bins",
        ])
        .args(lock)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building tim-server and tim-conformance failed");
    }
    Ok(())
}

struct Outcome {
    passed: u64,
    failed: u64,
    code: i32,
}

/// The reading settings of the reference server (docs/behaviour.md, "Readings") that
/// `--readings` runs the suite under: a name, the `[limits]` table of the server's `--config`
/// file, and the editions in which the setting is a fair reading of the documents. The suite must
/// pass (0 FAIL) in every one.
///
/// Left out on purpose, as they contradict a `must` clause: `failure_scope = "request"` in the
/// current edition (its documents state per-message `Result`s: IGM-CUR-PERMSG-10004, -80001,
/// -80002) and `dedup_window_secs = 0` (the duplicate rule is stated: IGM-DUP-RANDOM).
pub const READINGS: [Reading; 7] = [
    Reading {
        name: "failure_scope=request allow_equal_send_time=true",
        limits: "failure_scope = \"request\"\nallow_equal_send_time = true\n",
        editions: &["seed"],
    },
    Reading {
        name: "failure_scope=request allow_equal_send_time=false",
        limits: "failure_scope = \"request\"\nallow_equal_send_time = false\n",
        editions: &["seed"],
    },
    Reading {
        name: "failure_scope=message allow_equal_send_time=true",
        limits: "failure_scope = \"message\"\nallow_equal_send_time = true\n",
        editions: &EDITIONS,
    },
    Reading {
        name: "failure_scope=message allow_equal_send_time=false",
        limits: "failure_scope = \"message\"\nallow_equal_send_time = false\n",
        editions: &EDITIONS,
    },
    Reading {
        name: "dedup_clock=wall",
        limits: "dedup_clock = \"wall\"\n",
        editions: &EDITIONS,
    },
    Reading {
        name: "duplicate_answer=refused",
        limits: "duplicate_answer = \"refused\"\n",
        editions: &EDITIONS,
    },
    Reading {
        name: "dedup_clock=wall duplicate_answer=refused",
        limits: "dedup_clock = \"wall\"\nduplicate_answer = \"refused\"\n",
        editions: &EDITIONS,
    },
];

/// One reading setting of the reference server.
pub struct Reading {
    /// What the report calls it.
    pub name: &'static str,
    /// The `[limits]` table (TOML lines).
    pub limits: &'static str,
    /// The editions it is a fair reading of.
    pub editions: &'static [&'static str],
}

/// `--readings`: for each edition, the suite against a fresh reference server in each setting of
/// [`READINGS`] that applies to it; a summary line per run, then the sums.
fn readings(root: &Path, editions: &[&'static str], rest: &[String]) -> Result<i32> {
    let (mut passed, mut failed, mut worst) = (0u64, 0u64, 0i32);
    let mut lines = Vec::new();
    for edition in editions {
        for r in READINGS.iter().filter(|r| r.editions.contains(edition)) {
            eprintln!("==> conformance ({edition}, {})", r.name);
            let rest = suffix_report_files(rest, &format!("{edition}.{}", slug(r.name)));
            let clock = std::time::Instant::now();
            let outcome = against_reference(root, edition, Some(r.limits), &rest)?;
            lines.push(format!(
                "{edition:<8} {:<52} {} passed, {} failed ({:.1} s)",
                r.name,
                outcome.passed,
                outcome.failed,
                clock.elapsed().as_secs_f64()
            ));
            passed += outcome.passed;
            failed += outcome.failed;
            worst = worse(worst, outcome.code);
        }
    }
    println!("\nreadings:");
    for l in lines {
        println!("  {l}");
    }
    println!("{passed} passed, {failed} failed");
    Ok(worst)
}

/// A setting's name as a file-name part: `failure_scope=request x=y` → `failure_scope-request.x-y`.
fn slug(name: &str) -> String {
    name.replace('=', "-").replace(' ', ".")
}

/// One edition: a fresh server process (with `limits` as the `[limits]` table of its config
/// file, when given), the suite through `--target`, the server stopped.
fn against_reference(
    root: &Path,
    edition: &str,
    limits: Option<&str>,
    rest: &[String],
) -> Result<Outcome> {
    let bin = target_dir(root).join("debug");
    let dir =
        std::env::temp_dir().join(format!("tim-conformance-{}-{edition}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut cmd = Command::new(bin.join("tim-server"));
    if let Some(limits) = limits {
        let file = dir.join("server.toml");
        std::fs::write(&file, format!("[limits]\n{limits}"))
            .with_context(|| format!("writing {}", file.display()))?;
        cmd.arg("--config").arg(file);
    }
    let mut server = Server(
        cmd.args(["--listen", "127.0.0.1:0", "--edition", edition])
            .arg("--data")
            .arg(dir.join("store.db"))
            .args(["--restricted-word", RESTRICTED_WORD])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting tim-server")?,
    );
    let url = match listening_url(&mut server.0) {
        Ok(url) => url,
        Err(e) => {
            eprintln!(
                "error: the reference server did not start: {e:#} (log: {})",
                dir.join("server.log").display()
            );
            println!("0 passed, 0 failed");
            return Ok(Outcome {
                passed: 0,
                failed: 0,
                code: 2,
            });
        }
    };
    eprintln!("==> conformance ({edition}): reference server at {url}");
    let mut runner = Command::new(bin.join("tim-conformance"))
        .args(["--target", &url, "--sdkappid", DEV_SDKAPPID])
        .args(["--identifier", DEV_ADMIN, "--edition", edition])
        .args(["--restricted-word", RESTRICTED_WORD])
        .args(rest)
        .env("TIM_SECRET_KEY", DEV_SECRET_KEY)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting tim-conformance")?;
    let mut last = String::new();
    let out = runner.stdout.take().context("runner stdout")?;
    let stdout = std::io::stdout();
    for line in BufReader::new(out).lines() {
        let line = line?;
        writeln!(stdout.lock(), "{line}")?;
        if !line.trim().is_empty() {
            last = line;
        }
    }
    let status = runner.wait()?;
    drop(server);
    let (passed, failed) = parse_summary(&last).unwrap_or((0, 0));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Outcome {
        passed,
        failed,
        code: code(status),
    })
}

/// Kills the server process when dropped, on every path.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (at most 60 s) for the server's one `listening on http://HOST:PORT` line.
pub(crate) fn listening_url(child: &mut Child) -> Result<String> {
    let out = child.stdout.take().context("server stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .context("no `listening on` line within 60 s")?;
    match line.trim().strip_prefix("listening on ") {
        Some(url) => Ok(url.to_string()),
        None => bail!("unexpected first line {line:?}"),
    }
}

/// Takes `--edition X` out of the arguments: the editions to run and the rest.
fn split_edition(args: &[String]) -> Result<(Vec<&'static str>, Vec<String>)> {
    let mut editions = Vec::new();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = if a == "--edition" {
            Some(
                it.next()
                    .context("--edition needs a value: seed or current")?
                    .clone(),
            )
        } else {
            a.strip_prefix("--edition=").map(str::to_string)
        };
        match value {
            Some(v) => match EDITIONS.iter().find(|e| **e == v) {
                Some(e) => editions.push(*e),
                None => bail!("unknown edition {v:?}: seed or current"),
            },
            None => rest.push(a.clone()),
        }
    }
    if editions.is_empty() {
        editions = EDITIONS.to_vec();
    }
    Ok((editions, rest))
}

/// `--json r.json` becomes `--json r.seed.json` when several editions write reports.
fn suffix_report_files(args: &[String], edition: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        out.push(a.clone());
        if matches!(a.as_str(), "--json" | "--junit" | "--html") {
            if let Some(path) = it.next() {
                let p = PathBuf::from(path);
                let stem = p.file_stem().unwrap_or_default().to_string_lossy();
                let name = match p.extension() {
                    Some(ext) => format!("{stem}.{edition}.{}", ext.to_string_lossy()),
                    None => format!("{stem}.{edition}"),
                };
                out.push(p.with_file_name(name).to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Reads `N passed, N failed`.
fn parse_summary(line: &str) -> Option<(u64, u64)> {
    let (p, f) = line.split_once(" passed, ")?;
    let f = f.strip_suffix(" failed")?;
    Some((p.trim().parse().ok()?, f.trim().parse().ok()?))
}

/// Exit code precedence: 2 (unreachable) over 1 (failures) over 0.
fn worse(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        0 => 0,
        2 => 2,
        _ => 1,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn code(status: ExitStatus) -> i32 {
    status.code().unwrap_or(1)
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A free port on 127.0.0.1 (bound, read, released).
pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn edition_is_taken_out_and_defaults_to_both() {
        let (e, rest) =
            split_edition(&strings(&["--filter", "igm", "--edition", "current"])).unwrap();
        assert_eq!(e, vec!["current"]);
        assert_eq!(rest, strings(&["--filter", "igm"]));
        let (e, _) = split_edition(&[]).unwrap();
        assert_eq!(e, vec!["seed", "current"]);
        assert!(split_edition(&strings(&["--edition=2016"])).is_err());
    }

    #[test]
    fn report_files_get_the_edition() {
        let out = suffix_report_files(
            &strings(&["--json", "out/r.json", "--html", "r", "--filter", "x.json"]),
            "seed",
        );
        assert_eq!(
            out,
            strings(&[
                "--json",
                "out/r.seed.json",
                "--html",
                "r.seed",
                "--filter",
                "x.json"
            ])
        );
    }

    #[test]
    fn reading_settings_are_fair_in_their_editions_and_named_for_files() {
        let names: std::collections::BTreeSet<&str> = READINGS.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), READINGS.len());
        // The current edition's documents state per-message results: no request-level scope.
        for r in READINGS.iter().filter(|r| r.limits.contains("\"request\"")) {
            assert_eq!(r.editions, ["seed"], "{}", r.name);
        }
        assert!(READINGS
            .iter()
            .all(|r| !r.limits.contains("dedup_window_secs")));
        assert_eq!(
            slug("dedup_clock=wall duplicate_answer=refused"),
            "dedup_clock-wall.duplicate_answer-refused"
        );
    }

    #[test]
    fn summary_and_exit_codes() {
        assert_eq!(parse_summary("120 passed, 3 failed"), Some((120, 3)));
        assert_eq!(parse_summary("error"), None);
        assert_eq!(worse(0, 1), 1);
        assert_eq!(worse(1, 2), 2);
        assert_eq!(worse(2, 1), 2);
        assert_eq!(worse(0, 0), 0);
    }
}
