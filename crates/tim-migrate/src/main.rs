//! `tim-migrate`: move group chat history into Tencent Cloud IM (check, import, verify, usersig).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tim_migrate::cli::{self, Cli, Command, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result: anyhow::Result<Exit> = match &cli.command {
        Command::Check(args) => cli::run_check(args, &mut out).map_err(Into::into),
        Command::Usersig(args) => cli::run_usersig(args, &mut out).map_err(Into::into),
        Command::Import(args) => runtime().and_then(|rt| {
            rt.block_on(tim_migrate::import::run(args))
                .map_err(Into::into)
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
