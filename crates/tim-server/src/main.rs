//! `tim-server`: the reference server binary. See `tim_server::config::Args` for flags, and
//! `tim-server control --help` for the control-plane client (`control_cli`).

mod control_cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tim_server::config::{Args, DataLocation, ServerConfig};
use tracing_subscriber::EnvFilter;

/// The command line: the server's flags, or a subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "tim-server",
    version,
    about = "Reference server for Tencent Cloud IM's import_group_msg API family"
)]
struct Cli {
    /// The server's flags (when no subcommand is given).
    #[command(flatten)]
    server: Args,
    /// A subcommand instead of running the server.
    #[command(subcommand)]
    command: Option<Sub>,
}

/// Subcommands of `tim-server`.
#[derive(Debug, Subcommand)]
enum Sub {
    /// Control a running server: reset, state dump and load, limits, faults, request journal.
    ///
    /// Calls the control plane (/_tim/…) of a running reference server as the app's admin.
    /// Output is pretty JSON on stdout (a state dump: JSON Lines). Exit status: 0 on success, 1
    /// when the server refused the call, 2 when it cannot be reached or the usage is wrong.
    Control(control_cli::ControlArgs),
    /// Check that the server configured by the same flags, `TIM_*` variables and TOML file answers.
    ///
    /// GETs /healthz on the configured listen address (a wildcard address is reached through
    /// loopback): exit 0 when it answers 200, 1 otherwise. For container health checks, where no
    /// curl is at hand: `HEALTHCHECK CMD ["/tim-server", "healthcheck"]`.
    Healthcheck,
}

/// How long a stopping server waits for open connections to finish their requests.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

fn main() -> anyhow::Result<ExitCode> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Some(Sub::Control(args)) => {
            let command = Cli::command();
            let server_flags: Vec<String> = command
                .get_arguments()
                .filter(|a| {
                    matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine)
                })
                .map(|a| format!("--{}", a.get_long().unwrap_or(a.get_id().as_str())))
                .collect();
            if !server_flags.is_empty() {
                eprintln!(
                    "error: server flags ({}) do not go with `control`; put control options after it, e.g. `tim-server control --url URL health`",
                    server_flags.join(", ")
                );
                return Ok(ExitCode::from(2));
            }
            Ok(control_cli::run(args))
        }
        Some(Sub::Healthcheck) => Ok(healthcheck(cli.server)),
        None => serve(cli.server).map(|()| ExitCode::SUCCESS),
    }
}

/// `tim-server healthcheck`: GET /healthz on the configured listen address.
fn healthcheck(args: Args) -> ExitCode {
    let outcome = ServerConfig::resolve(args).and_then(|config| probe(config.listen));
    match outcome {
        Ok(url) => {
            println!("healthy: {url}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("unhealthy: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// GETs /healthz at `listen` (a wildcard address through loopback) within 2 s per step; returns
/// the URL when the answer is 200.
fn probe(mut listen: std::net::SocketAddr) -> anyhow::Result<String> {
    use std::io::Read;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream};
    use std::time::Duration;

    const TIMEOUT: Duration = Duration::from_secs(2);
    let path = tim_model::endpoint::HEALTH_PATH;
    if listen.port() == 0 {
        anyhow::bail!("the listen address {listen} has port 0: the actual port is unknown");
    }
    if listen.ip().is_unspecified() {
        listen.set_ip(match listen.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let url = format!("http://{listen}{path}");
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&listen, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        // One write: `write!` on an unbuffered stream sends each piece in its own segment.
        let request = format!("GET {path} HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply)?;
        let reply = String::from_utf8_lossy(&reply);
        Ok(reply.lines().next().unwrap_or_default().to_owned())
    };
    let status = exchange().map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(url),
        _ => anyhow::bail!("{url}: unexpected answer {status:?}"),
    }
}

/// Runs the server until SIGINT or SIGTERM.
fn serve(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("TIM_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: log files and pipes get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = ServerConfig::resolve(args)?;
    if !config.dev_defaults.is_empty() {
        tracing::warn!(
            settings = ?config.dev_defaults,
            sdkappid = config.sdkappid,
            admins = ?config.admins,
            "using documented development credentials; set --sdkappid, --admin and --secret-key (or TIM_*) for anything else"
        );
    }
    match &config.data {
        DataLocation::File(p) => tracing::info!(
            data = %p.display(),
            durability = %config.durability,
            "embedded SQLite store"
        ),
        DataLocation::Memory => tracing::info!("in-memory store (data is lost on exit)"),
        DataLocation::Postgres(url) => tracing::info!(data = %url, "PostgreSQL store"),
    }
    tracing::info!(edition = %config.limits.edition, rate_limit = ?config.limits.requests_per_second, "limits");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Handlers are installed before the `listening on` line: a SIGTERM sent as soon as the
        // line appears must stop the server cleanly, not kill it with the default action.
        let signal = shutdown_signal()?;
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            signal.await;
            let _ = signalled_tx.send(());
        };
        let serve = tim_server::serve(
            config,
            |addr| {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "listening on http://{addr}");
                let _ = out.flush();
            },
            shutdown,
        );
        // Graceful shutdown waits for open connections; one that stalls mid-request (hyper has
        // no header timeout here) would hold it for ever. Replies are only sent after commit,
        // so closing such connections loses nothing that was acknowledged.
        let deadline = async {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = serve => result,
            () = deadline => {
                tracing::warn!(
                    grace_secs = SHUTDOWN_GRACE.as_secs(),
                    "connections still open after the shutdown grace period; closing them"
                );
                Ok(())
            }
        }
    })?;
    tracing::info!("stopped");
    Ok(())
}

/// Installs the SIGINT and SIGTERM handlers now and returns a future that completes on either.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use anyhow::Context as _;
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT received, stopping"),
            _ = term.recv() => tracing::info!("SIGTERM received, stopping"),
        }
    })
}

/// Returns a future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received, stopping");
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener};

    /// A one-shot HTTP server on 127.0.0.1:0 that answers `reply` and returns the request line.
    fn answer_once(reply: &'static str) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Read the whole head before answering: closing with unread bytes would reset the
            // connection before the client reads the answer.
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            conn.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap()
                .to_owned()
        });
        (addr, handle)
    }

    #[test]
    fn healthy_on_200_through_loopback_for_a_wildcard_address() {
        let (addr, server) = answer_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        let wildcard = SocketAddr::from(([0, 0, 0, 0], addr.port()));
        let url = super::probe(wildcard).unwrap();
        assert_eq!(url, format!("http://{addr}/healthz"));
        assert_eq!(server.join().unwrap(), "GET /healthz HTTP/1.1");
    }

    #[test]
    fn unhealthy_on_another_status_a_closed_port_or_port_0() {
        let (addr, server) = answer_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let e = super::probe(addr).unwrap_err().to_string();
        assert!(e.contains("503"), "{e}");
        server.join().unwrap();
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(super::probe(closed).is_err());
        let e = super::probe("127.0.0.1:0".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("port 0"), "{e}");
    }
}
