//! `tim-conformance`: run the conformance suite against an implementation.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use tim_conformance::expectations::Expectations;
use tim_conformance::report::{html, json, junit, text};
use tim_conformance::{run, SecretKey, Suite, SuiteOptions, Target};
use tim_model::Edition;

/// Runs the conformance suite of the import_group_msg API family against a target.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Base URL of the implementation, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "TIM_TARGET")]
    target: String,
    /// The app's SDKAppID.
    #[arg(long, env = "TIM_SDKAPPID")]
    sdkappid: u64,
    /// An App admin account.
    #[arg(long, env = "TIM_IDENTIFIER")]
    identifier: String,
    /// The app's secret key.
    #[arg(long, env = "TIM_SECRET_KEY", hide_env_values = true, value_parser = parse_key)]
    secret_key: SecretKey,
    /// The edition the target implements.
    #[arg(long, env = "TIM_EDITION", default_value = "seed")]
    edition: Edition,
    /// Run only cases whose ID contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a self-contained HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Known failures with reasons; a listed case that passes is stale and fails the run.
    #[arg(long)]
    expectations: Option<PathBuf>,
    /// The restricted word the target was configured with (enables those cases).
    #[arg(long)]
    restricted_word: Option<String>,
    /// Cases in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Directory holding clauses.toml and cases/ (default: the suite shipped with this binary).
    #[arg(long)]
    cases: Option<PathBuf>,
}

/// Wraps the key at once, so that `Args`'s `Debug` never shows it.
fn parse_key(s: &str) -> Result<SecretKey, String> {
    Ok(SecretKey::new(s))
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            println!("0 passed, 0 failed");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let dir = args.cases.clone().unwrap_or_else(Suite::default_dir);
    let suite = Suite::load(&dir).context("loading the suite")?;
    let snapshots = dir.join("tests").join("snapshots");
    let expectations = args
        .expectations
        .as_deref()
        .map(|p| Expectations::load(p, &suite))
        .transpose()?;
    let target = Target {
        base_url: args.target.clone(),
        sdkappid: args.sdkappid,
        identifier: args.identifier.clone(),
        secret_key: args.secret_key.clone(),
    };
    let opts = SuiteOptions {
        edition: args.edition,
        filter: args.filter.clone(),
        restricted_word: args.restricted_word.clone(),
        concurrency: args.concurrency,
        pace: None,
        reference: snapshots.is_dir().then_some(snapshots),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(run(&suite, &target, &opts))?;
    print!("{}", text::render(&report));
    let applied = expectations.as_ref().map(|e| e.apply(&report));
    if let Some(p) = &args.json {
        std::fs::write(p, json::render(&report)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &args.junit {
        std::fs::write(p, junit::render_with(&report, applied.as_ref()))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &args.html {
        std::fs::write(p, html::render_with(&report, applied.as_ref()))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    let ok = match &applied {
        Some(a) => {
            print!("{}", a.render());
            a.ok()
        }
        None => report.ok(),
    };
    println!("{}", report.summary_line());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
