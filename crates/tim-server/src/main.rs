//! `tim-server`: the reference server binary. See `tim_server::config::Args` for flags.

use std::io::Write;

use clap::Parser;
use tim_server::config::{Args, DataLocation, ServerConfig};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("TIM_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let config = ServerConfig::resolve(Args::parse())?;
    if !config.dev_defaults.is_empty() {
        tracing::warn!(
            settings = ?config.dev_defaults,
            sdkappid = config.sdkappid,
            admins = ?config.admins,
            "using documented development credentials; set --sdkappid, --admin and --secret-key (or TIM_*) for anything else"
        );
    }
    match &config.data {
        DataLocation::File(p) => tracing::info!(data = %p.display(), "embedded SQLite store"),
        DataLocation::Memory => tracing::info!("in-memory store (data is lost on exit)"),
    }
    tracing::info!(edition = %config.limits.edition, rate_limit = ?config.limits.requests_per_second, "limits");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(tim_server::serve(
        config,
        |addr| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on http://{addr}");
            let _ = out.flush();
        },
        shutdown_signal(),
    ))?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, stopping"),
        () = term => tracing::info!("SIGTERM received, stopping"),
    }
}
