//! `tim-server control …`: the control plane (`/_tim/…`) of a running server from the command
//! line, through `tim_client::control`.
//!
//! Output is pretty JSON on stdout (a state dump: raw JSON Lines). Exit status: 0 on success, 1
//! when the server refused the call (`error: <code> <info>` and what to do on stderr), 2 when the
//! server cannot be reached, answered with something other than the control plane, or the usage
//! is wrong.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use serde::Serialize;
use tim_client::control::{ControlError, ControlFailure};
use tim_client::{Client, Error, Rate};
use tim_model::control::{ConfigPatch, FaultRule, StateKind};
use tim_model::edition::LimitsPatch;
use tim_model::usersig::SecretKey;
use tim_model::{Edition, ErrorClass, ErrorCode};
use tim_server::config::{DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};

/// Default URL of the server to control.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// Timeout of one control call (state transfers: the client's state timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit status when the server refused the call.
const EXIT_REFUSED: u8 = 1;
/// Exit status when the server cannot be reached or the usage is wrong.
const EXIT_UNREACHABLE_OR_USAGE: u8 = 2;

/// `tim-server control`: where the server is and who calls.
#[derive(Debug, Args)]
pub struct ControlArgs {
    // The ids differ from the server's flags (`sdkappid`, `secret_key`): clap copies the values
    // of global arguments up to the parent command, where they would pass for server flags.
    /// Base URL of the running server.
    #[arg(id = "control_url", long = "url", value_name = "URL", env = "TIM_URL", default_value = DEFAULT_URL, global = true)]
    pub url: String,
    /// SDKAppID of the server's app.
    #[arg(id = "control_sdkappid", long = "sdkappid", value_name = "SDKAPPID", env = "TIM_SDKAPPID", default_value_t = DEV_SDKAPPID, global = true)]
    pub sdkappid: u64,
    /// Admin identifier to call as (one of the server's `--admin` accounts).
    #[arg(id = "control_identifier", long = "identifier", value_name = "IDENTIFIER", env = "TIM_IDENTIFIER", default_value = DEV_ADMIN, global = true)]
    pub identifier: String,
    /// Secret key of the app, to sign the UserSig (default: the development key).
    #[arg(
        id = "control_secret_key",
        long = "secret-key",
        value_name = "SECRET_KEY",
        env = "TIM_SECRET_KEY",
        default_value = DEV_SECRET_KEY,
        hide_default_value = true,
        hide_env_values = true,
        global = true
    )]
    pub secret_key: String,
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// The control actions.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Whether the server is ready, and its store, edition and seed.
    Health,
    /// Remove every group (or only the --group ones) with their members and messages.
    Reset {
        /// A group to remove; repeat for several. Default: every group.
        #[arg(long = "group", value_name = "GROUP_ID")]
        groups: Vec<String>,
    },
    /// Dump the stored groups, members and messages as JSON Lines, or load such a dump.
    State {
        /// Dump or load.
        #[command(subcommand)]
        action: StateAction,
    },
    /// Show the seed and the limits in force; change them with --set, --edition, --seed.
    Config {
        /// A limit or reading to change, as KEY=VALUE (a `[limits]` key of the TOML file, e.g.
        /// dedup_window_secs=0 or dedup_clock=wall); VALUE is JSON, else a string. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Start again from this edition's documented limits (before --set applies).
        #[arg(long)]
        edition: Option<Edition>,
        /// A new seed for every random choice.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Show or change the fault-injection rules (default: list).
    Faults {
        /// What to do with the rules.
        #[command(subcommand)]
        action: Option<FaultsAction>,
    },
    /// The latest API calls the server answered, newest first.
    Requests {
        /// How many calls to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// `state …`.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Write the state as JSON Lines (to stdout, or --out).
    Dump {
        /// Which lines: all, groups, members or messages.
        #[arg(long, default_value = "all", value_parser = parse_kind)]
        kind: StateKind,
        /// Only this group; repeat for several. Default: every group.
        #[arg(long = "group", value_name = "GROUP_ID")]
        groups: Vec<String>,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Load a JSON Lines dump into the server.
    Load {
        /// The dump file, or - for stdin.
        #[arg(value_name = "FILE|-")]
        file: String,
    },
}

/// `faults …`.
#[derive(Debug, Subcommand)]
pub enum FaultsAction {
    /// List the rules in force, with the hits left of those with a count.
    List,
    /// Replace the rules with these (a JSON rule or array of rules, a file holding one, or -).
    Set {
        /// JSON, a file or - for stdin.
        #[arg(value_name = "FILE|JSON")]
        rules: String,
    },
    /// Append these rules (a JSON rule or array of rules, a file holding one, or -).
    Add {
        /// JSON, a file or - for stdin.
        #[arg(value_name = "FILE|JSON")]
        rules: String,
    },
    /// Remove the rules equal to these, ignoring `remaining`.
    Remove {
        /// JSON, a file or - for stdin.
        #[arg(value_name = "FILE|JSON")]
        rules: String,
    },
    /// Remove every rule.
    Clear,
}

fn parse_kind(s: &str) -> Result<StateKind, String> {
    [
        StateKind::All,
        StateKind::Groups,
        StateKind::Members,
        StateKind::Messages,
    ]
    .into_iter()
    .find(|k| k.name() == s)
    .ok_or_else(|| format!("{s:?} is not one of all, groups, members, messages"))
}

/// Runs `tim-server control …` and returns the exit status.
pub fn run(args: ControlArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_UNREACHABLE_OR_USAGE);
        }
    };
    let url = args.url.clone();
    match runtime.block_on(execute(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, &url),
    }
}

/// Prints `e` and what to do; returns the exit status it implies.
fn report(e: &anyhow::Error, url: &str) -> ExitCode {
    if stdout_closed(e) {
        // The reader of our output went away (`… | head`): nothing more to say to anyone.
        return ExitCode::SUCCESS;
    }
    let Some(ce) = control_error(e) else {
        eprintln!("error: {e:#}");
        return ExitCode::from(EXIT_UNREACHABLE_OR_USAGE);
    };
    match &ce.failure {
        ControlFailure::Refused {
            status,
            code,
            info,
            class,
        } => {
            eprintln!("error: {} {info}", code.0);
            eprintln!("{}", hint(*status, *code, *class));
            ExitCode::from(EXIT_REFUSED)
        }
        ControlFailure::Transport {
            maybe_sent: false, ..
        } => {
            eprintln!("error: cannot reach the server at {url}: {e:#}");
            eprintln!(
                "is it running? start it with `tim-server --listen ADDR`, or give its address with --url (TIM_URL)"
            );
            ExitCode::from(EXIT_UNREACHABLE_OR_USAGE)
        }
        ControlFailure::HttpStatus { .. }
        | ControlFailure::Decode { .. }
        | ControlFailure::Protocol(_) => {
            eprintln!("error: {e:#}");
            eprintln!("is {url} a tim-server? check --url (TIM_URL)");
            ExitCode::from(EXIT_UNREACHABLE_OR_USAGE)
        }
        _ => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_UNREACHABLE_OR_USAGE)
        }
    }
}

/// The control error in `e`'s chain, if any.
fn control_error(e: &anyhow::Error) -> Option<&ControlError> {
    e.chain().find_map(|c| match c.downcast_ref::<Error>() {
        Some(Error::Control(ce)) => Some(ce),
        _ => c.downcast_ref::<ControlError>(),
    })
}

/// Whether `e` is a write to a closed stdout pipe (and not a network failure).
fn stdout_closed(e: &anyhow::Error) -> bool {
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    let network = control_error(e).is_some_and(|ce| {
        matches!(
            ce.failure,
            ControlFailure::Transport { .. } | ControlFailure::HttpStatus { .. }
        )
    });
    broken_pipe && !network
}

/// What to do about a refusal.
fn hint(status: u16, code: ErrorCode, class: ErrorClass) -> &'static str {
    if code == ErrorCode::BAD_RESOURCE && status == 404 {
        "the server runs without its control plane (--no-control or TIM_NO_CONTROL): restart it without"
    } else if code == ErrorCode::ADMIN_REQUIRED {
        "only an admin of the app may use the control plane: give one of the server's --admin accounts with --identifier (TIM_IDENTIFIER)"
    } else if code == ErrorCode::BODY_JSON_PARSE || code == ErrorCode::INVALID_PARAMETER {
        "fix the input as the message says"
    } else if class == ErrorClass::Auth {
        "the server does not accept these credentials: check --sdkappid, --identifier and --secret-key (TIM_SDKAPPID, TIM_IDENTIFIER, TIM_SECRET_KEY) against the server's"
    } else {
        "the server refused the call; see the message"
    }
}

async fn execute(args: ControlArgs) -> anyhow::Result<()> {
    let client = Client::builder()
        .base_url(&args.url)
        .sdkappid(args.sdkappid)
        .identifier(&args.identifier)
        .secret_key(SecretKey::new(&args.secret_key))
        .rate(Rate::Unlimited)
        .timeout(CALL_TIMEOUT)
        .build()
        .context("--url")?;
    let control = client.control();
    match args.action {
        Action::Health => print_json(&control.health().await?),
        Action::Reset { groups } if groups.is_empty() => print_json(&control.reset().await?),
        Action::Reset { groups } => print_json(&control.reset_groups(&groups).await?),
        Action::State {
            action:
                StateAction::Dump {
                    kind,
                    groups,
                    out: Some(path),
                },
        } => {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = BlockingWriter(std::io::BufWriter::new(file));
            control.dump_state(kind, &groups, &mut out).await?;
            Ok(())
        }
        Action::State {
            action:
                StateAction::Dump {
                    kind,
                    groups,
                    out: None,
                },
        } => {
            let mut out = BlockingWriter(std::io::stdout().lock());
            control.dump_state(kind, &groups, &mut out).await?;
            Ok(())
        }
        Action::State {
            action: StateAction::Load { file },
        } => {
            let report = if file == "-" {
                let mut body = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut body)
                    .context("cannot read stdin")?;
                control.load_state(body).await?
            } else {
                control.load_state_file(&file).await?
            };
            print_json(&report)
        }
        Action::Config { set, edition, seed } => {
            let limits = limits_patch(&set)?;
            if set.is_empty() && edition.is_none() && seed.is_none() {
                print_json(&control.config().await?)
            } else {
                let patch = ConfigPatch {
                    edition,
                    seed,
                    limits,
                };
                print_json(&control.set_config(&patch).await?)
            }
        }
        Action::Faults { action } => {
            let list = match action.unwrap_or(FaultsAction::List) {
                FaultsAction::List => control.faults().await?,
                FaultsAction::Set { rules } => control.set_faults(&read_rules(&rules)?).await?,
                FaultsAction::Add { rules } => control.add_faults(&read_rules(&rules)?).await?,
                FaultsAction::Remove { rules } => {
                    control.remove_faults(&read_rules(&rules)?).await?
                }
                FaultsAction::Clear => control.clear_faults().await?,
            };
            print_json(&list)
        }
        Action::Requests { limit } => print_json(&control.requests(limit).await?),
    }
}

/// Prints `value` as pretty JSON and a newline on stdout.
fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).context("cannot write to stdout")?;
    writeln!(out).context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")
}

/// The `LimitsPatch` of `--set KEY=VALUE` options: each VALUE is read as JSON, else as a string;
/// an unknown key or a value of the wrong type names the option.
fn limits_patch(set: &[String]) -> anyhow::Result<LimitsPatch> {
    let mut all = serde_json::Map::new();
    for item in set {
        let Some((key, raw)) = item.split_once('=') else {
            bail!("--set {item}: expected KEY=VALUE, e.g. --set dedup_window_secs=0");
        };
        let key = key.trim();
        let value = serde_json::from_str::<serde_json::Value>(raw)
            .unwrap_or_else(|_| serde_json::Value::String(raw.to_owned()));
        let one = serde_json::Map::from_iter([(key.to_owned(), value.clone())]);
        if let Err(e) = serde_json::from_value::<LimitsPatch>(serde_json::Value::Object(one)) {
            bail!("--set {item}: {e}");
        }
        all.insert(key.to_owned(), value);
    }
    serde_json::from_value(serde_json::Value::Object(all)).context("--set")
}

/// Fault rules from `arg`: inline JSON (starting with `[` or `{`), `-` for stdin, else a file;
/// one rule or an array of rules.
fn read_rules(arg: &str) -> anyhow::Result<Vec<FaultRule>> {
    let trimmed = arg.trim_start();
    let (text, source) = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        (arg.to_owned(), "the rules".to_owned())
    } else if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        (text, "stdin".to_owned())
    } else {
        let text = std::fs::read_to_string(Path::new(arg))
            .with_context(|| format!("cannot read {arg} (not JSON, so read as a file)"))?;
        (text, arg.to_owned())
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{source} are not JSON"))?;
    let rules = match value {
        serde_json::Value::Array(_) => serde_json::from_value::<Vec<FaultRule>>(value),
        other => serde_json::from_value::<FaultRule>(other).map(|r| vec![r]),
    }
    .with_context(|| format!("{source}: not a fault rule or an array of fault rules"))?;
    Ok(rules)
}

/// A blocking writer as an `AsyncWrite`: the CLI's runtime has one thread and nothing else to
/// do while the dump is written.
struct BlockingWriter<W>(W);

impl<W: Write + Unpin> tokio::io::AsyncWrite for BlockingWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.get_mut().0.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().0.flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().0.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_options_build_a_limits_patch() {
        let p = limits_patch(&[
            "dedup_window_secs=0".into(),
            "dedup_clock=wall".into(),
            "requests_per_second=off".into(),
            "allow_equal_send_time=false".into(),
        ])
        .unwrap();
        assert_eq!(p.dedup_window_secs, Some(0));
        assert_eq!(p.dedup_clock, Some(tim_model::edition::DedupClock::Wall));
        assert_eq!(
            p.requests_per_second,
            Some(tim_model::edition::RateLimit::Off)
        );
        assert_eq!(p.allow_equal_send_time, Some(false));
        let e = limits_patch(&["nope=1".into()]).unwrap_err().to_string();
        assert!(
            e.contains("--set nope=1") && e.contains("unknown field"),
            "{e}"
        );
        let e = limits_patch(&["dedup_window_secs".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("KEY=VALUE"), "{e}");
        let e = limits_patch(&["dedup_window_secs=soon".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--set dedup_window_secs=soon"), "{e}");
    }

    #[test]
    fn rules_come_inline_one_or_many() {
        let one =
            read_rules(r#"{"command":"import_group_msg","effect":{"lose_reply":true}}"#).unwrap();
        assert_eq!(one.len(), 1);
        let two = read_rules(
            r#"[{"effect":{"delay_ms":5}},{"group_id":"g","effect":{"http_status":502}}]"#,
        )
        .unwrap();
        assert_eq!(two.len(), 2);
        let e = format!(
            "{:#}",
            read_rules(r#"{"effect":{"lose":true}}"#).unwrap_err()
        );
        assert!(e.contains("unknown field"), "{e}");
        let e = format!("{:#}", read_rules("/no/such/file.json").unwrap_err());
        assert!(e.contains("cannot read /no/such/file.json"), "{e}");
    }
}
