//! `tim-load`: drives `import_group_msg` over HTTP and reports throughput, latency and errors.
//! See `tim_benches::load` for how the load is built and measured.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use tim_benches::load::{
    run_compared, run_phase, start_baseline, start_reference, Load, Mode, ReferenceOptions, Report,
    Store, Target, DEFAULT_GROUPS,
};
use tim_model::usersig::SecretKey;
use tim_model::Edition;

/// Connections of a `--max` run when `--connections` is not given.
const DEFAULT_CONNECTIONS: usize = 32;

/// Load driver for Tencent Cloud IM's `import_group_msg`: open loop at a fixed rate, or closed
/// loop to find the ceiling (compared with a bare axum baseline in the same run).
///
/// Without `--target` it starts the reference server in process on a free port, with a fresh
/// SQLite file (or `--memory`), the rate limit at the edition's quota for a rate run and off for
/// `--max`.
#[derive(Debug, Parser)]
#[command(name = "tim-load", version)]
struct Args {
    /// Open loop at N requests/s [default: the edition's quota].
    #[arg(long, value_name = "N", value_parser = positive_rate, conflicts_with = "max")]
    rate: Option<f64>,
    /// Closed loop as fast as the target answers (its rate limit must be off); also measures the
    /// bare baseline and prints the ratio.
    #[arg(long)]
    max: bool,
    /// Concurrent connections of a --max run [default: 32].
    #[arg(long, value_name = "N", requires = "max", value_parser = clap::value_parser!(u32).range(1..))]
    connections: Option<u32>,
    /// How long to drive each target, e.g. 20s or 10m.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// API edition: seed (20 messages a request, 100/s) or current (7, 200/s).
    #[arg(long, default_value = "seed")]
    edition: Edition,
    /// Groups the load rotates over (at least --connections are used).
    #[arg(long, default_value_t = DEFAULT_GROUPS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    groups: u32,
    /// In-process server: in-memory store instead of a durable SQLite file.
    #[arg(long, conflicts_with = "target")]
    memory: bool,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Exit with status 1 when any request failed.
    #[arg(long)]
    fail_on_error: bool,
    /// Drive this server instead of an in-process one, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", requires_all = ["sdkappid", "identifier"])]
    target: Option<String>,
    /// SDKAppID of the target app.
    #[arg(long, requires = "target")]
    sdkappid: Option<u64>,
    /// Admin identifier on the target.
    #[arg(long, requires = "target")]
    identifier: Option<String>,
    /// Secret key of the target app (never printed).
    #[arg(long, env = "TIM_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a positive number of requests per second"
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tim-load: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let edition = args.edition;
    let groups = args.groups as usize;
    let limits = edition.limits();
    let quota = limits.requests_per_second.unwrap_or(100);
    let load = if args.max {
        let connections = args.connections.map_or(DEFAULT_CONNECTIONS, |c| c as usize);
        Load::Max { connections }
    } else {
        Load::Rate(args.rate.unwrap_or(f64::from(quota)))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tim-load")
        .build()?;

    let (target, label, server) = match &args.target {
        Some(url) => {
            let Some(key) = args.secret_key.clone() else {
                bail!("--target needs --secret-key (or TIM_SECRET_KEY)");
            };
            let target = Target {
                base_url: url.trim_end_matches('/').to_owned(),
                sdkappid: args.sdkappid.context("--target needs --sdkappid")?,
                identifier: args
                    .identifier
                    .clone()
                    .context("--target needs --identifier")?,
                secret_key: SecretKey::new(key),
            };
            (target, url.clone(), None)
        }
        None => {
            let store = if args.memory {
                Store::Memory
            } else {
                Store::Sqlite
            };
            let rate_limit = matches!(load, Load::Rate(_)).then_some(quota);
            let server = start_reference(&ReferenceOptions {
                edition,
                store,
                rate_limit,
                restricted_words: Vec::new(),
            })?;
            let limit = rate_limit.map_or("off".to_owned(), |r| format!("{r}/s"));
            let label = format!(
                "in-process reference server at {} ({} store, rate limit {limit})",
                server.base_url(),
                store.label()
            );
            (server.target(), label, Some(server))
        }
    };

    let (stats, baseline) = match load {
        Load::Rate(_) => {
            eprintln!("tim-load: driving {label}");
            let stats =
                runtime.block_on(run_phase(target, edition, groups, load, args.duration))?;
            (stats, None)
        }
        Load::Max { connections } => {
            let baseline = start_baseline()?;
            eprintln!(
                "tim-load: driving {label} and the bare axum baseline at {}, in turns",
                baseline.base_url()
            );
            let (stats, base) = runtime.block_on(run_compared(
                target,
                baseline.target(),
                edition,
                groups,
                connections,
                args.duration,
            ))?;
            baseline.stop()?;
            (stats, Some(base))
        }
    };
    if let Some(server) = server {
        server.stop()?;
    }
    let (mode, rate, connections) = match load {
        Load::Rate(r) => (Mode::Rate, Some(r), None),
        Load::Max { connections } => (Mode::Max, None, Some(connections)),
    };
    let mut report = Report {
        mode,
        edition: edition.to_string(),
        target: label,
        batch: limits.msgs_per_request,
        groups: match load {
            Load::Max { connections } => groups.max(connections),
            Load::Rate(_) => groups,
        },
        duration_secs: args.duration.as_secs_f64(),
        rate,
        connections,
        stats,
        baseline_rps: None,
        ratio_to_baseline: None,
        baseline: None,
    };
    if let Some(baseline) = baseline {
        report = report.with_baseline(baseline);
    }

    print!("{}", report.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if args.fail_on_error && report.error_count() > 0 {
        eprintln!(
            "tim-load: {} errors (--fail-on-error)",
            report.error_count()
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
