//! Command-line interface: flags (each also from a `TIM_*` variable) and the offline commands.
//!
//! The binary is a thin wrapper: it parses [`Cli`], then calls [`run_check`], [`run_usersig`],
//! [`crate::import::run`] or [`crate::verify::run`] and exits with the [`Exit`] code they give
//! (2 for usage errors and unreadable inputs).

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::builder::ArgPredicate;
use clap::{Args, Parser, Subcommand};
use tim_model::usersig::{self, SecretKey};
use tim_model::{Edition, Limits, Region};

use crate::check::{self, CheckError, CheckOptions};
use crate::input::InputPaths;
use crate::prepare::PrepareOptions;

/// Exit codes (DESIGN.md "Command-line contracts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: problems found (invalid input, rejected messages, differences), or an import stopped
    /// because its checkpoint could not be written.
    Problems = 1,
    /// 2: usage error, unreadable input or unreachable target.
    Usage = 2,
    /// 130: interrupted (Ctrl-C) after the requests in flight finished, or at once on a second
    /// Ctrl-C; `--resume` continues.
    Interrupted = 130,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

const ABOUT: &str = "Move group chat history into Tencent Cloud IM: check, import (resumable, at the quota), verify.";

const LONG_ABOUT: &str = "Move group chat history into Tencent Cloud IM: check, import (resumable, at the quota), verify.

Inputs are JSON Lines in the API's own field names; lines of different groups may be interleaved and
a group's lines need not be sorted (tim-migrate orders each group by SendTime, stable by line):
  messages  {\"GroupId\",\"From_Account\",\"SendTime\",\"MsgBody\":[…],\"Random\"?,\"SourceId\"?}
  groups    {\"GroupId\",\"Type\",\"Name\",\"CreateTime\"?,\"Owner_Account\"?,…}   (import_group bodies)
  members   {\"GroupId\",\"Member_Account\",\"Role\"?,\"JoinTime\"?,\"UnreadMsgNum\"?}

Every flag can also be set with the TIM_* variable shown in its help.
Exit status: 0 success, 1 problems found (or the checkpoint could not be written), 2 usage error,
unreadable input or unreachable target, 130 interrupted (Ctrl-C).";

const EXAMPLES: &str = "Examples:
  tim-migrate check --messages messages.jsonl --groups groups.jsonl --members members.jsonl
  tim-migrate import --region singapore --sdkappid 1400000000 --identifier administrator \\
      --messages messages.jsonl --groups groups.jsonl --members members.jsonl --checkpoint import.ckpt
  tim-migrate verify --region singapore --sdkappid 1400000000 --identifier administrator \\
      --messages messages.jsonl --groups groups.jsonl
  TIM_SECRET_KEY=… tim-migrate usersig --sdkappid 1400000000 --identifier administrator";

/// `tim-migrate`: the importer's command line.
#[derive(Debug, Parser)]
#[command(name = "tim-migrate", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the inputs offline with the API's rules; exit 1 when anything would be refused.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Import groups, then messages, then members; resumable from a checkpoint.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(ImportArgs),
    /// Read every group back and compare it with the input; exit 1 on any difference.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Print an admin UserSig (for curl and other tools).
    #[command(after_help = USERSIG_EXAMPLES)]
    Usersig(UsersigArgs),
}

const CHECK_EXAMPLES: &str = "Examples:
  tim-migrate check --messages messages.jsonl
  tim-migrate check --messages messages.jsonl --groups groups.jsonl --members members.jsonl
  tim-migrate check --edition current --messages messages.jsonl --groups groups.jsonl --json > check.json

Each problem is printed as FILE:LINE: JSON.PATH: what is wrong; what to do.";

const IMPORT_EXAMPLES: &str = "Examples:
  tim-migrate import --region china --sdkappid 1400000000 --identifier administrator \\
      --messages messages.jsonl --groups groups.jsonl --members members.jsonl \\
      --checkpoint import.ckpt --rejects rejects.jsonl --report report.json
  # after a crash, Ctrl-C or a network failure: same command with --resume
  tim-migrate import … --checkpoint import.ckpt --resume";

const VERIFY_EXAMPLES: &str = "Examples:
  tim-migrate verify --base-url http://127.0.0.1:8080 --sdkappid 1400000000 --identifier administrator \\
      --messages messages.jsonl --groups groups.jsonl --report verify.json";

const USERSIG_EXAMPLES: &str = "Examples:
  TIM_SECRET_KEY=… tim-migrate usersig --sdkappid 1400000000 --identifier administrator
  tim-migrate usersig --sdkappid 1400000000 --identifier administrator --expire 3600

Prints only the UserSig, so that it can be captured: SIG=$(tim-migrate usersig …)";

/// The input files.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Messages, JSON Lines: {"GroupId","From_Account","SendTime","MsgBody":[…],"Random"?,"SourceId"?}.
    #[arg(long, env = "TIM_MESSAGES", value_name = "FILE")]
    pub messages: PathBuf,
    /// Groups, JSON Lines of import_group bodies with GroupId: {"GroupId","Type","Name","CreateTime"?,…}.
    #[arg(long, env = "TIM_GROUPS", value_name = "FILE")]
    pub groups: Option<PathBuf>,
    /// Members, JSON Lines: {"GroupId","Member_Account","Role"?,"JoinTime"?,"UnreadMsgNum"?}.
    #[arg(long, env = "TIM_MEMBERS", value_name = "FILE")]
    pub members: Option<PathBuf>,
    /// Directory for the temporary files of the sort (up to about twice the size of the messages file).
    #[arg(long, env = "TIM_TEMP_DIR", value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
}

impl InputArgs {
    /// The input paths.
    pub fn paths(&self) -> InputPaths {
        InputPaths {
            messages: self.messages.clone(),
            groups: self.groups.clone(),
            members: self.members.clone(),
        }
    }

    /// Sort options with this temporary directory and the edition's duplicate window.
    pub fn prepare_options(&self, limits: &Limits) -> PrepareOptions {
        let mut o = PrepareOptions {
            temp_dir: self.temp_dir.clone(),
            ..PrepareOptions::default()
        };
        o.random.window_secs = limits.dedup_window_secs;
        o
    }
}

fn parse_secret(s: &str) -> Result<SecretKey, String> {
    if s.is_empty() {
        Err("the secret key is empty".into())
    } else {
        Ok(SecretKey::new(s))
    }
}

/// Which server to talk to, and as whom.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Base URL of the REST API, e.g. http://127.0.0.1:8080 for the reference server.
    #[arg(
        long,
        env = "TIM_BASE_URL",
        value_name = "URL",
        conflicts_with = "region",
        required_unless_present = "region"
    )]
    pub base_url: Option<String>,
    /// Data-center region: china, singapore, seoul, tokyo, frankfurt, silicon-valley or jakarta.
    #[arg(long, env = "TIM_REGION", value_name = "NAME")]
    pub region: Option<Region>,
    /// The app's SDKAppID.
    #[arg(long, env = "TIM_SDKAPPID", value_name = "N")]
    pub sdkappid: u64,
    /// An app admin account (the UserSig is made for it).
    #[arg(long, env = "TIM_IDENTIFIER", value_name = "NAME")]
    pub identifier: String,
    /// The app's secret key (prefer the variable: command lines are visible to other users).
    #[arg(long, env = "TIM_SECRET_KEY", value_name = "KEY", hide_env_values = true, value_parser = parse_secret)]
    pub secret_key: SecretKey,
    /// API edition: seed (20 messages a request, 100 requests/s) or current (7, 200/s: what
    /// Tencent enforces today). Default: current with --region, seed with --base-url.
    #[arg(
        long,
        env = "TIM_EDITION",
        value_name = "EDITION",
        default_value = "seed",
        default_value_if("region", ArgPredicate::IsPresent, Some("current")),
        hide_default_value = true
    )]
    pub edition: Edition,
}

impl TargetArgs {
    /// The base URL: `--base-url`, or the region's host.
    pub fn base_url(&self) -> String {
        match (&self.base_url, self.region) {
            (Some(u), _) => u.trim_end_matches('/').to_owned(),
            (None, Some(r)) => r.base_url(),
            (None, None) => Region::China.base_url(),
        }
    }
}

/// `tim-migrate check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// API edition whose rules apply: seed or current.
    #[arg(
        long,
        env = "TIM_EDITION",
        value_name = "EDITION",
        default_value = "seed"
    )]
    pub edition: Edition,
    /// Print the problems and statistics as one JSON object.
    #[arg(long, env = "TIM_JSON")]
    pub json: bool,
    /// Most problems listed per file (all are counted).
    #[arg(
        long,
        env = "TIM_MAX_PROBLEMS",
        value_name = "N",
        default_value_t = 1000
    )]
    pub max_problems: usize,
    /// Round trip of one call, for the forecast of the largest group (one batch per round trip),
    /// e.g. 50ms, 200ms.
    #[arg(long, env = "TIM_RTT", value_name = "DURATION", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub rtt: std::time::Duration,
}

/// `tim-migrate import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Checkpoint file: what the server confirmed, written atomically as the import goes.
    #[arg(long, env = "TIM_CHECKPOINT", value_name = "FILE")]
    pub checkpoint: PathBuf,
    /// Continue the import recorded in --checkpoint (refused if the input or target differ).
    #[arg(long, env = "TIM_RESUME")]
    pub resume: bool,
    /// Write refused messages here: the original line plus code and reason, one JSON object a line.
    #[arg(long, env = "TIM_REJECTS", value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Write the summary here as JSON.
    #[arg(long, env = "TIM_REPORT", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Groups imported at once (messages of one group are always sent one batch at a time).
    #[arg(long, env = "TIM_CONCURRENCY", value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// Requests per second per API (default: the edition's quota; raise it only if Tencent raised yours).
    #[arg(long, env = "TIM_RATE", value_name = "N")]
    pub rate: Option<u32>,
}

/// `tim-migrate verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// The target.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Write the differences and counts here as JSON.
    #[arg(long, env = "TIM_REPORT", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The rejects file of the import: the messages it lists are expected to be missing.
    #[arg(long, env = "TIM_REJECTS", value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Groups read back at once.
    #[arg(long, env = "TIM_CONCURRENCY", value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
}

/// `tim-migrate usersig`.
#[derive(Debug, Clone, Args)]
pub struct UsersigArgs {
    /// The account the UserSig is for (an app admin, for REST calls).
    #[arg(long, env = "TIM_IDENTIFIER", value_name = "NAME")]
    pub identifier: String,
    /// Validity in seconds.
    #[arg(long, env = "TIM_EXPIRE", value_name = "SECONDS", default_value_t = usersig::DEFAULT_EXPIRE_SECS)]
    pub expire: u64,
    /// The app's SDKAppID.
    #[arg(long, env = "TIM_SDKAPPID", value_name = "N")]
    pub sdkappid: u64,
    /// The app's secret key (prefer the variable: command lines are visible to other users).
    #[arg(long, env = "TIM_SECRET_KEY", value_name = "KEY", hide_env_values = true, value_parser = parse_secret)]
    pub secret_key: SecretKey,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs `check`, writing its output to `out`; `Err` means an input could not be read (exit 2).
pub fn run_check(args: &CheckArgs, out: &mut dyn Write) -> Result<Exit, CheckError> {
    let limits = args.edition.limits();
    let opts = CheckOptions {
        prepare: args.input.prepare_options(&limits),
        limits,
        now: now(),
        max_problems: args.max_problems,
        rtt: args.rtt,
    };
    let report = check::run(&args.input.paths(), &opts)?;
    let written = if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        out.write_all(report.render_human().as_bytes())
    };
    // A closed stdout (e.g. `| head`) is not the input's fault.
    let _ = written;
    Ok(if report.ok { Exit::Ok } else { Exit::Problems })
}

/// Runs `usersig`: writes only the UserSig and a newline.
pub fn run_usersig(args: &UsersigArgs, out: &mut dyn Write) -> std::io::Result<Exit> {
    let sig = usersig::sign(
        args.sdkappid,
        &args.secret_key,
        &args.identifier,
        args.expire,
        now(),
    );
    writeln!(out, "{sig}")?;
    Ok(Exit::Ok)
}
