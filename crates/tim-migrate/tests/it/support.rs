//! Shared helpers: corpora, running the binary, and the in-process reference server the
//! end-to-end tests (`e2e`, `resume`, `stopping`, `editions`, `verify`) import into.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tim_client::{Client, Rate};
use tim_migrate::checkpoint::Checkpoint;
use tim_migrate::corpus::{self, Corpus, CorpusOptions};
use tim_migrate::report::ImportReport;
use tim_model::usersig::SecretKey;
use tim_model::Edition;
use tim_server::config::{DataLocation, ServerConfig, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY};
use tim_server::EmbeddedServer;

/// Writes a corpus into `dir`.
pub fn corpus(dir: &Path, groups: usize, messages: u64, bad: u64) -> Corpus {
    corpus::write(
        dir,
        &CorpusOptions {
            groups,
            messages,
            bad,
            ..CorpusOptions::default()
        },
    )
    .unwrap()
}

/// Runs the real binary with no `TIM_*` variables from the environment, in `cwd`.
pub fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tim-migrate"));
    cmd.current_dir(cwd).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("TIM_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("COLUMNS", "100");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Exit code, stdout and stderr as one text for snapshots, with `tmp` redacted.
pub fn transcript(out: &Output, tmp: &Path) -> String {
    let redact = |b: &[u8]| {
        let text = String::from_utf8_lossy(b).replace(tmp.to_str().unwrap(), "[TMP]");
        redact_now(&text)
    };
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        redact(&out.stdout),
        redact(&out.stderr)
    )
}

/// Replaces the volatile current time in `(now is 1700000000)` by `[NOW]`.
fn redact_now(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("now is ") {
        let (head, tail) = rest.split_at(i + "now is ".len());
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str("[NOW]");
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// A reference server in this process: seed edition, SQLite, rate limit at the quota.
pub struct Server {
    /// The base URL.
    pub url: String,
    _server: EmbeddedServer,
    _data: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_seeded(None).await
    }

    /// [`Server::start`] with the seed of the server's random choices (the dice of fault rules).
    pub async fn start_seeded(seed: Option<u64>) -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::development(DataLocation::File(data.path().join("tim.db")));
        config.limits = Edition::Seed.limits();
        config.restricted_words = vec!["forbidden".into()];
        config.seed = seed;
        let server = EmbeddedServer::start(config).await.unwrap();
        Server {
            url: server.url(),
            _server: server,
            _data: data,
        }
    }

    /// The `TIM_*` variables naming this server as the target.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TIM_BASE_URL", self.url.clone()),
            ("TIM_SDKAPPID", DEV_SDKAPPID.to_string()),
            ("TIM_IDENTIFIER", DEV_ADMIN.to_owned()),
            ("TIM_SECRET_KEY", DEV_SECRET_KEY.to_owned()),
        ]
    }

    /// Runs the binary in `cwd` against this server and waits for it.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(cwd, args, &env)
    }

    /// Starts the binary in `cwd` against this server, output captured.
    pub fn spawn(&self, cwd: &Path, args: &[&str]) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tim-migrate"));
        cmd.current_dir(cwd).args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("TIM_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// A client paced at the quota.
    pub fn client(&self) -> Client {
        Client::builder()
            .base_url(&self.url)
            .sdkappid(DEV_SDKAPPID)
            .identifier(DEV_ADMIN)
            .secret_key(SecretKey::new(DEV_SECRET_KEY))
            .edition(Edition::Seed)
            .rate(Rate::Quota)
            .build()
            .unwrap()
    }
}

/// The input flags of every command, for the corpus in the current directory.
pub const INPUT: [&str; 6] = [
    "--messages",
    "messages.jsonl",
    "--groups",
    "groups.jsonl",
    "--members",
    "members.jsonl",
];

/// `import` of the corpus in the current directory, checkpoint `import.ckpt`, rejects and report
/// beside it.
pub fn import_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    import_args_at("import.ckpt", extra)
}

/// `import` of the corpus in the current directory with the checkpoint at `checkpoint`.
pub fn import_args_at<'a>(checkpoint: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["import"];
    a.extend(INPUT);
    a.extend([
        "--checkpoint",
        checkpoint,
        "--rejects",
        "rejects.jsonl",
        "--report",
        "report.json",
    ]);
    a.extend(extra);
    a
}

pub fn verify_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["verify"];
    a.extend(INPUT);
    a.extend(extra);
    a
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

pub fn report(dir: &Path) -> ImportReport {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// Messages the checkpoint confirms (0 when there is none yet).
pub fn confirmed(checkpoint: &Path) -> u64 {
    match Checkpoint::load(checkpoint) {
        Ok(Some(cp)) => cp.groups.values().map(|g| g.confirmed).sum(),
        _ => 0,
    }
}

/// Waits until the checkpoint confirms at least `at_least` messages, and fewer than `total`.
pub fn wait_for_progress(child: &mut Child, checkpoint: &Path, at_least: u64, total: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = confirmed(checkpoint);
        assert!(
            done < total,
            "the import finished before it could be stopped"
        );
        if done >= at_least {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the import ended early: {status}");
        }
        assert!(Instant::now() < deadline, "no progress: {done} confirmed");
        std::thread::sleep(Duration::from_millis(20));
    }
}
