//! `cargo xtask image [--tag T]` and `cargo xtask image-test [--tag T] [--no-build]`: the container
//! image of `tim-server`, built offline, and its test against the real thing.
//!
//! - `image`: builds `tim-server` in the `dist` profile as a static binary (glibc with
//!   `+crt-static`, for the host's `*-linux-gnu` target, so build scripts and proc macros stay
//!   dynamic), stages it in `target/image/` beside the empty mount point of the data volume, and
//!   runs `docker build` on the workspace root: the `Dockerfile` starts `FROM scratch` and
//!   `.dockerignore` lets in only `target/image/`, so nothing is pulled. Fails when the image is
//!   25 MB or more. Default tag [`DEFAULT_TAG`].
//! - `image-test`: builds the image (unless `--no-build`), then, with every container on the
//!   host's network (`--network host`: the daemon may have no bridge) and listening on
//!   `127.0.0.1:PORT` (`TIM_LISTEN`):
//!   1. the conformance suite against a container with a fresh volume, in each edition;
//!   2. data survives a restart on the same volume: a group and a message loaded through the
//!      control plane read back equal after SIGTERM and a new container; the health check turns
//!      healthy; `docker stop` (SIGTERM) ends the server within [`STOP_LIMIT`] with status 0;
//!   3. cold start to the `listening on` line, five times (median printed);
//!   4. the Python and Node helpers of `examples/` against the image, their dependencies in a
//!      scratch venv and `node_modules` under `target/image-test/` (never in the source tree).
//!
//!   Every container and volume it made is removed at the end, also on failure (containers the
//!   helpers' Testcontainers left behind too). Needs `docker`, `python3` and `node`/`npm`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::conformance::{
    cargo, free_port, target_dir, DEV_ADMIN, DEV_SDKAPPID, DEV_SECRET_KEY, RESTRICTED_WORD,
};

/// The tag of `cargo xtask image` without `--tag`.
pub const DEFAULT_TAG: &str = "tim-server:dev";
/// The largest image accepted (issue 19).
const MAX_IMAGE_BYTES: u64 = 25_000_000;
/// How long `docker stop` may take: the server's drain time (3 s) and a margin.
const STOP_LIMIT: Duration = Duration::from_secs(5);
/// How long a container may take to print its `listening on` line.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long the health check may take to report healthy (its interval is 5 s).
const HEALTHY_LIMIT: Duration = Duration::from_secs(30);
/// Cold starts measured.
const COLD_STARTS: usize = 5;

/// `cargo xtask image [--tag T]`.
pub fn image(root: &Path, args: &[String], locked: bool) -> Result<()> {
    let (tag, rest) = take_tag(args)?;
    if let Some(unknown) = rest.first() {
        bail!("unknown argument {unknown:?}; usage: cargo xtask image [--tag T]");
    }
    build(root, &tag, locked)
}

/// `cargo xtask image-test [--tag T] [--no-build]`.
pub fn image_test(root: &Path, args: &[String], locked: bool) -> Result<()> {
    let (tag, rest) = take_tag(args)?;
    let mut no_build = false;
    for a in rest {
        match a.as_str() {
            "--no-build" => no_build = true,
            _ => bail!(
                "unknown argument {a:?}; usage: cargo xtask image-test [--tag T] [--no-build]"
            ),
        }
    }
    test(root, &tag, !no_build, locked)
}

/// Builds the static binary, stages it and builds the image `tag` (at most 25 MB).
pub fn build(root: &Path, tag: &str, locked: bool) -> Result<()> {
    let triple = host_triple()?;
    ensure!(
        triple.ends_with("-linux-gnu"),
        "the image needs a Linux glibc host (the static binary comes from +crt-static), not {triple}"
    );
    let clock = Instant::now();
    eprintln!("==> image: cargo build --profile dist --target {triple} (static)");
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    rustflags.push_str(" -C target-feature=+crt-static");
    let lock: &[&str] = if locked { &["--locked"] } else { &[] };
    let status = Command::new(cargo())
        .current_dir(root)
        .args(["build", "--profile", "dist", "--target", &triple])
        .args(["-p", "tim-server", "--bin", "tim-server"])
        .args(lock)
        .env("RUSTFLAGS", rustflags.trim())
        .status()
        .context("running cargo build")?;
    ensure!(status.success(), "building the static tim-server failed");
    let binary = target_dir(root)
        .join(&triple)
        .join("dist")
        .join("tim-server");
    let elf = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    ensure!(
        !has_interpreter(&elf)?,
        "{} is dynamically linked: the scratch image could not run it",
        binary.display()
    );
    let built = clock.elapsed();

    // The build context: `.dockerignore` lets in target/image/ only.
    let stage = root.join("target").join("image");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(stage.join("data"))
        .with_context(|| format!("creating {}", stage.display()))?;
    std::fs::copy(&binary, stage.join("tim-server"))
        .with_context(|| format!("copying {} to {}", binary.display(), stage.display()))?;

    eprintln!("==> image: docker build --tag {tag}");
    let status = Command::new("docker")
        .current_dir(root)
        .args(["build", "--tag", tag, "--file", "Dockerfile", "."])
        .stdout(Stdio::null())
        .status()
        .context("running docker build (is docker installed?)")?;
    ensure!(status.success(), "docker build failed");
    let size: u64 = docker_output(&["image", "inspect", "--format", "{{.Size}}", tag])?
        .trim()
        .parse()
        .context("reading the image size")?;
    eprintln!(
        "==> image: {tag}: {:.1} MB (binary {:.1} MB); built in {:.0} s (cargo {:.0} s)",
        size as f64 / 1e6,
        elf.len() as f64 / 1e6,
        clock.elapsed().as_secs_f64(),
        built.as_secs_f64()
    );
    ensure!(
        size < MAX_IMAGE_BYTES,
        "the image is {size} bytes, over the limit of {MAX_IMAGE_BYTES}"
    );
    Ok(())
}

/// Builds the image (when `build_first`) and tests it; see the module documentation.
pub fn test(root: &Path, tag: &str, build_first: bool, locked: bool) -> Result<()> {
    if build_first {
        build(root, tag, locked)?;
    }
    let work = target_dir(root).join("image-test");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let mut run = Run {
        image: tag.to_owned(),
        prefix: format!("tim-image-test-{}", std::process::id()),
        logs: work.clone(),
        containers: Vec::new(),
        volumes: Vec::new(),
        helpers_before: None,
    };
    let clock = Instant::now();

    for edition in ["seed", "current"] {
        eprintln!("==> image-test: conformance suite ({edition}) against a container");
        let volume = run.volume(&format!("conformance-{edition}"))?;
        let server = run.start(
            &format!("conformance-{edition}"),
            &[
                ("TIM_EDITION", edition),
                ("TIM_RESTRICTED_WORDS", RESTRICTED_WORD),
            ],
            Some(&volume),
        )?;
        let suite = [
            "--target",
            &server.url,
            "--sdkappid",
            DEV_SDKAPPID,
            "--identifier",
            DEV_ADMIN,
            "--secret-key",
            DEV_SECRET_KEY,
            "--edition",
            edition,
            "--restricted-word",
            RESTRICTED_WORD,
        ]
        .map(String::from);
        let code = crate::conformance::run(root, &suite, locked)?;
        ensure!(
            code == 0,
            "the conformance suite ({edition}) failed against the image (exit {code})"
        );
        server.stop()?;
    }

    eprintln!("==> image-test: a restart on the same volume keeps the data");
    restart_keeps_data(&mut run)?;

    eprintln!("==> image-test: cold start to `listening on`, {COLD_STARTS} times");
    let mut starts = Vec::with_capacity(COLD_STARTS);
    for i in 0..COLD_STARTS {
        let server = run.start(&format!("cold-{i}"), &[], None)?;
        starts.push(server.started_in);
        server.stop()?;
    }
    starts.sort();
    eprintln!(
        "==> image-test: cold start median {:.0} ms ({})",
        ms(starts[COLD_STARTS / 2]),
        starts
            .iter()
            .map(|d| format!("{:.0}", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    );

    run.helpers_before = Some(testcontainers_left()?);
    eprintln!("==> image-test: Python helper (examples/python) against the image");
    python_helper(root, &work, tag)?;
    eprintln!("==> image-test: Node helper (examples/node) against the image");
    node_helper(root, &work, tag)?;

    drop(run);
    eprintln!(
        "==> image-test: passed in {:.0} s",
        clock.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Loads a group and a message through the control plane, dumps them, waits for the health check,
/// stops the container with SIGTERM (timed), starts a new one on the same volume and compares
/// the dumps.
fn restart_keeps_data(run: &mut Run) -> Result<()> {
    let volume = run.volume("restart")?;
    let group = "image-test-restart";
    let dump_lines = [
        format!(
            r#"{{"GroupId":"{group}","Type":"Public","Name":"restart","CreateTime":1448000000}}"#
        ),
        format!(
            r#"{{"GroupId":"{group}","From_Account":"leckie","SendTime":1448357837,"Random":8912345,"MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"kept across restarts"}}}}]}}"#
        ),
    ];
    let first = run.start("restart-1", &[], Some(&volume))?;
    first.control(
        &["state", "load", "-"],
        Some(&(dump_lines.join("\n") + "\n")),
    )?;
    let before = first.control(&["state", "dump", "--group", group], None)?;
    ensure!(
        before.lines().count() == 2 && before.contains("kept across restarts"),
        "the dump is not the group and its message: {before}"
    );
    first.wait_healthy()?;
    let name = first.name.clone();
    let (took, code) = first.stop()?;
    ensure!(
        code == Some(0),
        "the server did not exit 0 on SIGTERM (status {code:?}; 137 = killed after docker stop's timeout)"
    );
    ensure!(
        took < STOP_LIMIT,
        "docker stop took {:.1} s, over {:.0} s",
        took.as_secs_f64(),
        STOP_LIMIT.as_secs_f64()
    );
    let log = std::fs::read_to_string(run.logs.join(format!("{name}.log"))).unwrap_or_default();
    ensure!(
        log.contains("SIGTERM received"),
        "the server's log does not show that it handled SIGTERM"
    );
    eprintln!(
        "==> image-test: SIGTERM stop in {:.0} ms, exit status 0",
        ms(took)
    );
    let second = run.start("restart-2", &[], Some(&volume))?;
    let after = second.control(&["state", "dump", "--group", group], None)?;
    ensure!(
        after == before,
        "the data changed across the restart:\nbefore: {before}\nafter:  {after}"
    );
    second.stop()?;
    Ok(())
}

/// The Python helper: a venv under `work` with `examples/python/requirements.txt`, then pytest.
fn python_helper(root: &Path, work: &Path, tag: &str) -> Result<()> {
    let example = root.join("examples").join("python");
    let requirements = std::fs::read_to_string(example.join("requirements.txt"))?;
    let venv = work.join("venv");
    let stamp = venv.join("requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(requirements.as_str()) {
        let _ = std::fs::remove_dir_all(&venv);
        sh(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("python3 -m venv (Debian: apt-get install python3-venv)")?;
        sh(Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(example.join("requirements.txt")))?;
        std::fs::write(&stamp, &requirements)?;
    }
    sh(Command::new(venv.join("bin").join("python"))
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-q"])
        .arg(&example)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TIM_IMAGE", tag)
        .env("TESTCONTAINERS_RYUK_DISABLED", "true"))
    .context("the Python helper failed against the image")
}

/// The Node helper: `examples/node` copied under `work`, `npm ci`, then `node --test`.
fn node_helper(root: &Path, work: &Path, tag: &str) -> Result<()> {
    let example = root.join("examples").join("node");
    let dir = work.join("node");
    std::fs::create_dir_all(&dir)?;
    let lock = std::fs::read_to_string(example.join("package-lock.json"))?;
    let fresh = std::fs::read_to_string(dir.join("package-lock.json")).ok() != Some(lock.clone())
        || !dir.join("node_modules").is_dir();
    for entry in std::fs::read_dir(&example)? {
        let path = entry?.path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().context("file name")?))?;
        }
    }
    if fresh {
        sh(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir))
        .context("npm ci for the Node helper")?;
    }
    sh(Command::new("node")
        .arg("--test")
        .current_dir(&dir)
        .env("TIM_IMAGE", tag)
        .env("TESTCONTAINERS_RYUK_DISABLED", "true")
        // Inside a container (CI's machine may be one), Testcontainers for Node looks for the
        // bridge network's gateway, and the daemon may have no bridge.
        .env("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1"))
    .context("the Node helper failed against the image")
}

/// What a test run made; removed on drop, whatever happened.
struct Run {
    image: String,
    prefix: String,
    logs: PathBuf,
    containers: Vec<String>,
    volumes: Vec<String>,
    /// Containers labelled by Testcontainers before the helpers ran (`None`: not run yet).
    helpers_before: Option<BTreeSet<String>>,
}

impl Run {
    /// Creates a named volume.
    fn volume(&mut self, suffix: &str) -> Result<String> {
        let name = format!("{}-{suffix}", self.prefix);
        self.volumes.push(name.clone());
        docker_output(&["volume", "create", &name])?;
        Ok(name)
    }

    /// Starts a container on the host's network on a free loopback port (with `volume` on
    /// /data) and waits for its `listening on` line.
    fn start(
        &mut self,
        suffix: &str,
        env: &[(&str, &str)],
        volume: Option<&str>,
    ) -> Result<Container> {
        let name = format!("{}-{suffix}", self.prefix);
        self.containers.push(name.clone());
        let listen = format!("127.0.0.1:{}", free_port()?);
        let log_path = self.logs.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new("docker");
        cmd.args(["run", "--name", &name, "--network", "host"])
            .args(["--env", &format!("TIM_LISTEN={listen}")]);
        for (k, v) in env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        if let Some(v) = volume {
            cmd.arg("--volume").arg(format!("{v}:/data"));
        }
        cmd.arg(&self.image)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let clock = Instant::now();
        let mut child = cmd.spawn().context("running docker run")?;
        let line = match first_line(&mut child, START_LIMIT) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("container {name} did not start: {e:#}\n{log}");
            }
        };
        let started_in = clock.elapsed();
        let url = format!("http://{listen}");
        let container = Container {
            name,
            child,
            url,
            started_in,
        };
        ensure!(
            line.trim() == format!("listening on {}", container.url),
            "unexpected first line {line:?} (wanted `listening on {}`)",
            container.url
        );
        Ok(container)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let mut containers = self.containers.clone();
        if let Some(before) = &self.helpers_before {
            // Testcontainers without its reaper: remove what a failed helper left behind.
            if let Ok(now) = testcontainers_left() {
                containers.extend(now.difference(before).cloned());
            }
        }
        if !containers.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "--force", "--volumes"])
                .args(&containers)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if !self.volumes.is_empty() {
            let _ = Command::new("docker")
                .args(["volume", "rm", "--force"])
                .args(&self.volumes)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A running container, attached (`docker run` in the foreground, stdout piped).
struct Container {
    name: String,
    child: Child,
    url: String,
    started_in: Duration,
}

impl Container {
    /// `tim-server control --url URL ARGS…` inside the container; returns its stdout.
    fn control(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut cmd = Command::new("docker");
        cmd.arg("exec");
        if stdin.is_some() {
            cmd.arg("--interactive");
        }
        cmd.args([&self.name, "/tim-server", "control", "--url", &self.url])
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("running docker exec")?;
        if let Some(text) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().context("docker exec stdin")?;
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        ensure!(
            out.status.success(),
            "tim-server control {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Waits until Docker reports the container healthy (its HEALTHCHECK).
    fn wait_healthy(&self) -> Result<()> {
        let clock = Instant::now();
        loop {
            let status = docker_output(&[
                "inspect",
                "--format",
                "{{.State.Health.Status}}",
                &self.name,
            ])?;
            match status.trim() {
                "healthy" => {
                    eprintln!(
                        "==> image-test: health check healthy after {:.1} s",
                        clock.elapsed().as_secs_f64()
                    );
                    return Ok(());
                }
                "unhealthy" => bail!("the health check reports {} unhealthy", self.name),
                _ if clock.elapsed() > HEALTHY_LIMIT => {
                    bail!("{} not healthy within {HEALTHY_LIMIT:?}", self.name)
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// `docker stop` (SIGTERM, SIGKILL after 10 s); returns how long it took and the exit status.
    fn stop(mut self) -> Result<(Duration, Option<i32>)> {
        let clock = Instant::now();
        docker_output(&["stop", "--time", "10", &self.name])?;
        let took = clock.elapsed();
        let status = self.child.wait()?;
        Ok((took, status.code()))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // The `docker run` client only; `Run` removes the container itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the first line of the child's stdout within `limit`.
fn first_line(child: &mut Child, limit: Duration) -> Result<String> {
    let out = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining, so the container never blocks on a full pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(limit)
        .with_context(|| format!("no `listening on` line within {limit:?}"))?;
    ensure!(!line.is_empty(), "the container exited before listening");
    Ok(line)
}

/// Containers that Testcontainers made (its label), running or not.
fn testcontainers_left() -> Result<BTreeSet<String>> {
    Ok(docker_output(&[
        "ps",
        "--all",
        "--quiet",
        "--no-trunc",
        "--filter",
        "label=org.testcontainers=true",
    ])?
    .lines()
    .map(str::to_owned)
    .collect())
}

/// Runs `docker ARGS…` and returns its stdout; fails with its stderr.
fn docker_output(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running docker (is it installed?)")?;
    ensure!(
        out.status.success(),
        "docker {} failed: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// Runs a command with inherited output; fails unless it exits 0.
fn sh(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    ensure!(
        status.success(),
        "{:?} failed ({status})",
        cmd.get_program()
    );
    Ok(())
}

/// `rustc -vV`'s host triple.
fn host_triple() -> Result<String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    let text = String::from_utf8(out.stdout)?;
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("no host line in rustc -vV")
}

/// Whether a 64-bit little-endian ELF file names a program interpreter (a dynamic loader).
fn has_interpreter(elf: &[u8]) -> Result<bool> {
    const PT_INTERP: u32 = 3;
    ensure!(
        elf.len() >= 64 && elf[..4] == *b"\x7fELF" && elf[4] == 2 && elf[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&elf[0x20..0x28]);
    let phoff = usize::try_from(u64::from_le_bytes(bytes))?;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let mut p_type = [0u8; 4];
        (&elf[at..])
            .read_exact(&mut p_type)
            .context("truncated program header")?;
        if u32::from_le_bytes(p_type) == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Takes `--tag T` out of the arguments.
fn take_tag(args: &[String]) -> Result<(String, Vec<String>)> {
    let mut tag = DEFAULT_TAG.to_owned();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--tag" {
            tag = it.next().context("--tag needs a value")?.clone();
        } else if let Some(t) = a.strip_prefix("--tag=") {
            tag = t.to_owned();
        } else {
            rest.push(a.clone());
        }
    }
    Ok((tag, rest))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_defaults_and_is_taken_out() {
        let (tag, rest) = take_tag(&[]).unwrap();
        assert_eq!(tag, DEFAULT_TAG);
        assert!(rest.is_empty());
        let args = ["--no-build", "--tag", "t:1"].map(String::from);
        let (tag, rest) = take_tag(&args).unwrap();
        assert_eq!((tag.as_str(), rest), ("t:1", vec!["--no-build".to_owned()]));
        assert_eq!(take_tag(&["--tag=x".into()]).unwrap().0, "x");
        assert!(take_tag(&["--tag".into()]).is_err());
    }

    /// A minimal ELF64 header with one program header of type `p_type`.
    fn elf_with(p_type: u32) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&p_type.to_le_bytes());
        elf
    }

    #[test]
    fn a_dynamic_loader_is_found_in_the_program_headers() {
        assert!(has_interpreter(&elf_with(3)).unwrap());
        assert!(!has_interpreter(&elf_with(1)).unwrap());
        assert!(has_interpreter(b"#!/bin/sh\n").is_err());
        // This test binary itself is dynamically linked (the default gnu target).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(has_interpreter(&me).unwrap());
    }
}
