//! `tim-conformance-mutants`: the suite's self-check. Runs the whole suite against every
//! deliberately broken variant of the reference server (each must be caught) and every benign
//! variant (none may fail), each on a fresh in-process server, and prints the clause × mutant kill
//! matrix. Every kill is repeated once (the killing cases against a fresh server of the mutant);
//! a kill that does not repeat is FLAKY and fails the check. `cargo xtask conformance --mutants`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use tim_conformance::Suite;
use tim_model::Edition;
use tim_variants::selfcheck::{check, control, render, tally, CheckOptions};
use tim_variants::Variant;

/// Runs the conformance suite against every mutant and benign variant of the reference server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Only variants whose name contains this.
    #[arg(long)]
    variant: Option<String>,
    /// Only this edition (default: each edition a variant differs in).
    #[arg(long)]
    edition: Option<Edition>,
    /// Suite runs in flight at once, each against its own server.
    #[arg(long, default_value_t = 6)]
    parallel: usize,
    /// Cases in flight per suite run.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<bool> {
    let args = Args::parse();
    let suite = Arc::new(Suite::load_default().context("loading the suite")?);
    // Every variant names a clause of the registry: the matrix and the docs depend on it.
    let unknown: Vec<String> = Variant::all()
        .into_iter()
        .filter(|v| suite.clause(v.clause()).is_none())
        .map(|v| format!("{} names unknown clause {}", v.name(), v.clause()))
        .collect();
    anyhow::ensure!(unknown.is_empty(), "{}", unknown.join("\n"));
    let opts = CheckOptions {
        variant_filter: args.variant,
        edition: args.edition,
        parallel: args.parallel,
        concurrency: args.concurrency,
    };
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Runtime::new()?;
    // The unmodified reference server first, under the same conditions: it must pass.
    let mut control_ok = true;
    for (edition, report) in runtime.block_on(control(suite.clone(), &opts)) {
        match report {
            Ok(r) if !r.cases.iter().any(|c| c.verdict.failed()) => {
                println!("control run ({edition}): the reference server passes");
            }
            Ok(r) => {
                control_ok = false;
                let failed: Vec<&str> = r
                    .cases
                    .iter()
                    .filter(|c| c.verdict.failed())
                    .map(|c| c.id.as_str())
                    .collect();
                println!(
                    "control run ({edition}): the reference server FAILED {}: no kill can be trusted",
                    failed.join(", ")
                );
            }
            Err(e) => {
                control_ok = false;
                println!("control run ({edition}) could not run: {e}");
            }
        }
    }
    let runs = runtime.block_on(check(suite, &opts));
    anyhow::ensure!(!runs.is_empty(), "no variant matches the filter");
    print!("{}", render(&runs));
    println!("self-check took {:.1} s", started.elapsed().as_secs_f64());
    Ok(control_ok && tally(&runs).ok())
}
