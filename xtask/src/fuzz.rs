//! `cargo xtask fuzz [--seconds-per-target N] [--sanitizer none|address] [--dev] [target…]`: the fuzz
//! smoke run: every target of `fuzz/` (or the ones named) for a few seconds each (60 s in all by
//! default), one after the other, with `cargo fuzz` on whatever toolchain the machine has
//! (`RUSTC_BOOTSTRAP=1` lets the stable compiler take libFuzzer's flags). Installs nothing:
//! `cargo install cargo-fuzz --locked` first (`.ci/run` does).
//!
//! Sanitizer `none` by default: every crate forbids `unsafe`, and AddressSanitizer (which works
//! on stable here, its runtime ships with the std component) runs these allocation-heavy
//! targets about 20 times slower (docs/fuzzing.md). Each sanitizer builds in its own
//! `fuzz/target/<sanitizer>/`.
//!
//! `--dev` builds without optimisations (`cargo fuzz --dev`): slower targets, but a much shorter
//! first build, which is what CI's 60-second smoke on a fresh clone needs.
//!
//! New corpus entries go to `fuzz/target/scratch/<target>/` (the committed seeds in
//! `fuzz/corpus/<target>/` are read, never written), crash inputs to
//! `fuzz/target/artifacts/<target>/`. A crash fails the task and prints the input (path, hex,
//! base64) and the command that replays it. See docs/fuzzing.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context, Result};

/// Seconds for the whole smoke run when `--seconds-per-target` is not given.
const TOTAL_SECONDS: u64 = 60;

/// Largest crash input printed in full (hex and base64); longer ones are cut.
const PRINT_MAX: usize = 4096;

/// Runs the smoke; `args` are the task's arguments after `fuzz`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let fuzz = root.join("fuzz");
    let mut seconds = None;
    let mut sanitizer = "none".to_owned();
    let mut profile = "-O";
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds-per-target" => {
                let v = it.next().context("--seconds-per-target needs a number")?;
                seconds = Some(v.parse::<u64>().context("--seconds-per-target")?);
            }
            "--sanitizer" => {
                sanitizer = it.next().context("--sanitizer needs a value")?.clone();
            }
            "--dev" => profile = "--dev",
            "-h" | "--help" => {
                eprintln!("usage: cargo xtask fuzz [--seconds-per-target N] [--sanitizer none|address] [--dev] [target…]");
                return Ok(());
            }
            t if t.starts_with('-') => bail!("unknown flag {t}"),
            t => targets.push(t.to_owned()),
        }
    }
    let known = known_targets(&fuzz)?;
    if targets.is_empty() {
        targets = known.clone();
    }
    for t in &targets {
        if !known.contains(t) {
            bail!(
                "unknown fuzz target {t:?}; the targets are {}",
                known.join(", ")
            );
        }
    }
    let seconds = seconds.unwrap_or((TOTAL_SECONDS / targets.len().max(1) as u64).max(1));
    let has_cargo_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_fuzz {
        bail!("cargo-fuzz is not installed: cargo install cargo-fuzz --locked");
    }

    let started = Instant::now();
    eprintln!(
        "==> fuzz: building {} target(s), sanitizer {sanitizer}",
        targets.len()
    );
    // One target directory per sanitizer, so that switching does not rebuild the other.
    let target_dir = if profile == "--dev" {
        format!("target/{sanitizer}-dev")
    } else {
        format!("target/{sanitizer}")
    };
    let status = cargo_fuzz(&fuzz)
        .args([
            "build",
            profile,
            "--sanitizer",
            &sanitizer,
            "--target-dir",
            &target_dir,
        ])
        .status()
        .context("cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build failed");
    }
    eprintln!("==> fuzz: built in {:.0?}", started.elapsed());

    for t in &targets {
        let scratch = fuzz.join("target/scratch").join(t);
        let artifacts = fuzz.join("target/artifacts").join(t);
        std::fs::create_dir_all(&scratch)?;
        std::fs::create_dir_all(&artifacts)?;
        let before = SystemTime::now();
        eprintln!("==> fuzz: {t} for {seconds} s");
        let status = cargo_fuzz(&fuzz)
            .args([
                "run",
                profile,
                "--sanitizer",
                &sanitizer,
                "--target-dir",
                &target_dir,
                t,
            ])
            .arg(&scratch)
            .arg(fuzz.join("corpus").join(t))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .args(["-timeout=10", "-rss_limit_mb=4096", "-print_final_stats=1"])
            .status()
            .with_context(|| format!("cargo fuzz run {t}"))?;
        if !status.success() {
            for input in new_files(&artifacts, before)? {
                print_input(t, &sanitizer, &input)?;
            }
            bail!("fuzz target {t} failed ({status})");
        }
    }
    eprintln!(
        "==> fuzz: {} target(s) passed in {:.0?}",
        targets.len(),
        started.elapsed()
    );
    Ok(())
}

/// `cargo fuzz` in `fuzz/`, on the machine's toolchain: `RUSTC_BOOTSTRAP=1` admits the `-Z`
/// flags cargo-fuzz passes (a no-op on nightly).
fn cargo_fuzz(fuzz: &Path) -> Command {
    let mut c = Command::new("cargo");
    c.arg("fuzz").current_dir(fuzz).env("RUSTC_BOOTSTRAP", "1");
    c
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`, which are the targets.
fn known_targets(fuzz: &Path) -> Result<Vec<String>> {
    let manifest =
        std::fs::read_to_string(fuzz.join("Cargo.toml")).context("reading fuzz/Cargo.toml")?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let Some(v) = line.strip_prefix("name = ").filter(|_| in_bin) {
            names.push(v.trim_matches('"').to_owned());
        }
    }
    Ok(names)
}

fn new_files(dir: &Path, since: SystemTime) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let modified = e.metadata()?.modified()?;
        if e.path().is_file() && modified >= since {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Prints a failing input so that the CI log alone is enough to reproduce it.
fn print_input(target: &str, sanitizer: &str, path: &Path) -> Result<()> {
    let data = std::fs::read(path)?;
    let shown = &data[..data.len().min(PRINT_MAX)];
    let cut = if data.len() > PRINT_MAX { " (cut)" } else { "" };
    eprintln!(
        "\n==> fuzz: {target} failed on {} ({} bytes)",
        path.display(),
        data.len()
    );
    eprintln!("hex{cut}: {}", hex(shown));
    eprintln!("base64{cut}: {}", base64(shown));
    eprintln!(
        "replay: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O -s {sanitizer} --target-dir target/{sanitizer} {target} {}",
        path.display()
    );
    eprintln!(
        "keep it: cp {} fuzz/regressions/{target}/<what-it-found> (replayed by cargo test -p tim-fuzz)",
        path.display()
    );
    Ok(())
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(hex(b"\x00\xffa"), "00ff61");
    }

    #[test]
    fn targets_are_the_bins_of_the_fuzz_manifest() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let names = known_targets(&root.join("fuzz")).unwrap();
        assert!(names.contains(&"import_group_msg".to_owned()), "{names:?}");
        assert!(!names.contains(&"tim-fuzz-targets".to_owned()));
        for n in &names {
            assert!(root
                .join("fuzz/fuzz_targets")
                .join(format!("{n}.rs"))
                .is_file());
        }
    }
}
