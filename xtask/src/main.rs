//! Project automation: `cargo xtask <task>`. The only build tool besides cargo itself.
//!
//! - `ci`: what CI runs: format check, clippy with warnings denied, `cargo bench --no-run`, a
//!   two-second load-driver smoke run against the reference server (fails on any error), the
//!   conformance suite against the reference server (both editions), doctests and every test
//!   (nextest when installed, else `cargo test`), clippy and the variant tests with feature
//!   `mutants`, then the mutant self-check alone (it times rate-limit bursts).
//! - `bench`: runs the criterion benches (`-- --quick` style arguments pass through).
//! - `bench load [tim-load flags]`: runs the load driver (`tim-load --help`), optimised build
//!   (the `bench` profile, shared with `cargo bench`).
//! - `conformance [--target URL … | --mutants | --readings] [tim-conformance flags]`: the
//!   conformance suite (see `conformance.rs` and `conformance/README.md`).

mod conformance;

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match args.first().map(String::as_str) {
        Some("ci") => ci(&sh),
        Some("bench") if args.get(1).map(String::as_str) == Some("load") => {
            let rest = &args[2..];
            cmd!(
                sh,
                "cargo run --profile bench -p tim-benches --bin tim-load -- {rest...}"
            )
            .run()?;
            Ok(())
        }
        Some("conformance") => {
            let code = conformance::run(&project_root(), &args[1..], false)?;
            std::process::exit(code)
        }
        Some("bench") => {
            let rest = &args[1..];
            cmd!(sh, "cargo bench -p tim-benches -- {rest...}").run()?;
            Ok(())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | bench [criterion args] | bench load [tim-load flags] | conformance [--target URL … | --mutants | --readings] [flags]>"
            );
            bail!("unknown task")
        }
    }
}

fn ci(sh: &Shell) -> Result<()> {
    step("format check");
    cmd!(sh, "cargo fmt --all -- --check").run()?;
    step("clippy");
    cmd!(
        sh,
        "cargo clippy --workspace --all-targets --locked -- -D warnings"
    )
    .run()?;
    step("benches compile");
    cmd!(sh, "cargo bench --workspace --locked --no-run").run()?;
    // `cargo bench` also builds the package's binaries, in the `bench` profile: running with
    // `--profile bench` reuses them (`--release` would compile everything again). Speed is not
    // asserted: only that nothing fails.
    step("load driver smoke run");
    cmd!(
        sh,
        "cargo run --profile bench --locked -p tim-benches --bin tim-load -- --duration 2s --groups 64 --fail-on-error"
    )
    .run()?;
    // The conformance suite against the reference server as a separate process, both editions,
    // alone on the machine (its rate-limit cases time bursts).
    step("conformance suite (reference server, both editions)");
    let root = project_root();
    if conformance::run(&root, &[], true)? != 0 {
        bail!("the conformance suite failed against the reference server");
    }
    run_tests(sh)?;
    // The deliberately broken servers (feature `mutants`) are code too: lint and test them.
    step("clippy and tests with feature mutants");
    cmd!(
        sh,
        "cargo clippy -p tim-server -p tim-conformance --features mutants --all-targets --locked -- -D warnings"
    )
    .run()?;
    cmd!(
        sh,
        "cargo test -p tim-server --features mutants --locked --test it mutants"
    )
    .run()?;
    // The self-check times rate-limit bursts: it runs alone, after the tests, not beside them.
    step("conformance self-check (mutants), alone");
    if conformance::run(&root, &["--mutants".to_owned()], true)? != 0 {
        bail!("the mutant self-check failed: a broken server survived or a benign variant failed");
    }
    Ok(())
}

/// Doctests and every test (nextest when installed).
fn run_tests(sh: &Shell) -> Result<()> {
    if cmd!(sh, "cargo nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
    {
        step("doctests");
        cmd!(sh, "cargo test --workspace --locked --doc").run()?;
        step("tests (nextest)");
        cmd!(sh, "cargo nextest run --workspace --locked --no-fail-fast").run()?;
    } else {
        step("tests");
        cmd!(sh, "cargo test --workspace --locked --no-fail-fast").run()?;
    }
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> xtask ci: {name}");
}

fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}
