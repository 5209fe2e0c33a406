//! `tim-migrate`: move group chat history into Tencent Cloud IM (check, import, verify, usersig).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tim_migrate::cli::{self, Cli, Command, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result: anyhow::Result<Exit> = match &cli.command {
        Command::Check(args) => cli::run_check(args, &mut out).map_err(Into::into),
        Command::Usersig(args) => cli::run_usersig(args, &mut out).map_err(Into::into),
        Command::Import(args) => runtime().and_then(|rt| {
            rt.block_on(tim_migrate::import::run(args)).or_else(|e| {
                // A checkpoint that cannot be written mid-run is exit 1, the rest exit 2.
                let exit = e.exit();
                eprintln!("tim-migrate: {:#}", anyhow::Error::from(e));
                Ok(exit)
            })
        }),
        Command::Verify(args) => runtime().and_then(|rt| {
            rt.block_on(tim_migrate::verify::run(args))
                .map_err(Into::into)
        }),
    };
    let _ = out.flush();
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            eprintln!("tim-migrate: {e:#}");
            ExitCode::from(Exit::Usage.code())
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Logs go to stderr through the progress bars' writer, so that a log line never breaks a bar;
/// bars show only when stderr is a terminal.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let bars = tracing_indicatif::IndicatifLayer::new();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,tim_migrate=info"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(bars.get_stderr_writer())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(bars)
        .init();
}
