//! Project automation: `cargo xtask <task>`. The only build tool besides cargo itself.
//!
//! - `ci`: what CI runs: format check, clippy with warnings denied, a two-second load-driver smoke
//!   run against the reference server (fails on any error), the conformance suite against the
//!   reference server (both editions), doctests and every test (nextest when installed, else
//!   `cargo test`; all but `tim-variants`), the variant servers' tests alone, the mutant
//!   self-check alone, the fuzz smoke, the replicas on PostgreSQL behind nginx, and the container
//!   image (the last three need what `.ci/run` installs: cargo-fuzz, PostgreSQL, nginx, docker).
//! - `bench`: runs the criterion benches (`-- --quick` style arguments pass through).
//! - `bench load [tim-load flags]`: runs the load driver (`tim-load --help`), optimised build
//!   (the `bench` profile, shared with `cargo bench`).
//! - `conformance [--target URL … | --mutants | --readings] [tim-conformance flags]`: the
//!   conformance suite (see `conformance.rs` and `conformance/README.md`).
//! - `replicas`: two `tim-server` replicas on one throw-away PostgreSQL database behind nginx,
//!   end to end with real processes: the conformance suite through nginx (both editions),
//!   concurrent writers with one replica killed, `tim-migrate` import and verify (`replicas.rs`).
//! - `image [--tag T]`: the container image (default `tim-server:dev`), built offline from a
//!   static binary; `image-test [--tag T] [--no-build]`: builds it and tests it for real (see
//!   `image.rs`).

mod conformance;
mod fuzz;
mod image;
mod replicas;

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
        Some("fuzz") => fuzz::run(&project_root(), &args[1..]),
        Some("conformance") => {
            let code = conformance::run(&project_root(), &args[1..], false)?;
            std::process::exit(code)
        }
        Some("replicas") => replicas::run(&project_root(), &args[1..], false),
        Some("image") => image::image(&project_root(), &args[1..], false),
        Some("image-test") => image::image_test(&project_root(), &args[1..], false),
        Some("bench") => {
            let rest = &args[1..];
            cmd!(sh, "cargo bench -p tim-benches -- {rest...}").run()?;
            Ok(())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | bench [criterion args] | bench load [tim-load flags] | conformance [--target URL … | --mutants | --readings] [flags] | replicas | image [--tag T] | image-test [--tag T] [--no-build] | fuzz [--seconds-per-target N] [--sanitizer none|address] [target…]>"
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
    // The benches are type-checked by clippy (`--all-targets`) above; the load driver runs a
    // two-second smoke in the test profile (speed is not asserted: only that nothing fails).
    // No optimised build here: the container image below is CI's one optimised build.
    step("load driver smoke run");
    cmd!(
        sh,
        "cargo run --locked -p tim-benches --bin tim-load -- --duration 2s --groups 64 --fail-on-error"
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
    // The variant servers (crate `tim-variants`, linted with the workspace above) are code too:
    // their tests time a rate-limit window, so they run here, alone, not beside the others.
    step("variant servers (tim-variants): tests, alone");
    cmd!(sh, "cargo test -p tim-variants --locked").run()?;
    // The self-check times rate-limit bursts: it runs alone, after the tests, not beside them.
    step("conformance self-check (mutants), alone");
    if conformance::run(&root, &["--mutants".to_owned()], true)? != 0 {
        bail!("the mutant self-check failed: a broken server survived or a benign variant failed");
    }
    // The fuzz smoke (issue 16): every target for a few seconds, 60 s in all; built without
    // optimisations (`--dev`), which halves the first build on a fresh clone.
    step("fuzz smoke (every target, 60 s in all)");
    fuzz::run(&root, &["--dev".to_owned()])?;
    // Two replicas on one PostgreSQL database behind nginx, as real processes (issue 15): the
    // suite through nginx times rate-limit bursts, so this runs alone as well.
    step("replicas on PostgreSQL behind nginx (cargo xtask replicas), alone");
    replicas::run(&root, &[], true)?;
    // The container image, built FROM scratch and run for real (issue 19): the suite against it
    // in both editions, a restart on the same volume, SIGTERM, cold starts, the Python and Node
    // helpers.
    step("container image: build and test (cargo xtask image-test)");
    image::test(&root, image::DEFAULT_TAG, true, true)?;
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
        cmd!(
            sh,
            "cargo test --workspace --exclude tim-variants --locked --doc"
        )
        .run()?;
        step("tests (nextest)");
        cmd!(
            sh,
            "cargo nextest run --workspace --exclude tim-variants --locked --no-fail-fast"
        )
        .run()?;
    } else {
        step("tests");
        cmd!(
            sh,
            "cargo test --workspace --exclude tim-variants --locked --no-fail-fast"
        )
        .run()?;
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
