//! Shared helpers.

use std::path::Path;
use std::process::{Command, Output};

use tim_migrate::corpus::{self, Corpus, CorpusOptions};

/// Writes a corpus into `dir`.
pub fn corpus(dir: &Path, groups: usize, messages: u64, bad: u64) -> Corpus {
    corpus::write(
        dir,
        &CorpusOptions {
            groups,
            messages,
            bad,
            ..CorpusOptions::default()
        },
    )
    .unwrap()
}

/// Runs the real binary with no `TIM_*` variables from the environment, in `cwd`.
pub fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tim-migrate"));
    cmd.current_dir(cwd).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("TIM_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("COLUMNS", "100");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Exit code, stdout and stderr as one text for snapshots, with `tmp` redacted.
pub fn transcript(out: &Output, tmp: &Path) -> String {
    let redact = |b: &[u8]| {
        let text = String::from_utf8_lossy(b).replace(tmp.to_str().unwrap(), "[TMP]");
        redact_now(&text)
    };
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        redact(&out.stdout),
        redact(&out.stderr)
    )
}

/// Replaces the volatile current time in `(now is 1700000000)` by `[NOW]`.
fn redact_now(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("now is ") {
        let (head, tail) = rest.split_at(i + "now is ".len());
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str("[NOW]");
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}
