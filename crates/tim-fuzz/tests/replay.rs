//! Replays every committed seed (`fuzz/corpus/<target>/`) and every past crash input
//! (`fuzz/regressions/<target>/`) through the target bodies, on the stable toolchain.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    out.sort();
    out
}

/// Runs `target` on every file of `dir`; returns how many, and the failures with their inputs.
fn replay(target: tim_fuzz::Target, dir: &Path) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let all = files(dir);
    for path in &all {
        let data = std::fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
            failures.push(format!(
                "{}: input {:?}",
                path.display(),
                String::from_utf8_lossy(&data)
            ));
        }
    }
    (all.len(), failures)
}

#[test]
fn every_corpus_and_regression_file_passes() {
    let mut failures = Vec::new();
    for (name, target) in tim_fuzz::TARGETS {
        let (seeds, mut f) = replay(*target, &fuzz_dir().join("corpus").join(name));
        assert!(seeds > 0, "fuzz/corpus/{name}/ has no seeds");
        failures.append(&mut f);
        let (_, mut f) = replay(*target, &fuzz_dir().join("regressions").join(name));
        failures.append(&mut f);
    }
    assert!(
        failures.is_empty(),
        "failing inputs:\n{}",
        failures.join("\n")
    );
}

/// Every target has its `fuzz_targets/<name>.rs` and a `[[bin]]` in `fuzz/Cargo.toml`; every
/// file there is a target; corpus and regression folders name known targets.
#[test]
fn targets_match_the_fuzz_crate() {
    let names: Vec<&str> = tim_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for name in &names {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains(&format!("tim_fuzz::{name}(")),
            "{} does not call tim_fuzz::{name}",
            file.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
    for dir in ["fuzz_targets", "corpus", "regressions"] {
        for entry in std::fs::read_dir(fuzz_dir().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if dir != "fuzz_targets" && !path.is_dir() {
                continue;
            }
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if stem.starts_with('.') {
                continue;
            }
            assert!(
                names.contains(&stem.as_str()),
                "unknown target {}",
                path.display()
            );
        }
    }
}
