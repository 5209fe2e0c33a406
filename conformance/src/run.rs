//! Running the suite: a probe, then every selected case (concurrently, paced), then the
//! exclusive cases alone and unpaced (one case: `exec.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tim_model::{Command, Edition};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::case::{Case, Need};
use crate::check;
use crate::clock::{create_time, ClockEstimate, ClockSource, Stamp};
use crate::exec::{run_case, setup_error, skipped, timed, unix_now, Shared};
use crate::pace::{default_rate, Pacer};
use crate::reference;
use crate::report::{coverage, CaseReport, SuiteReport};
use crate::target::{Body, Http, Request, Target};
use crate::template::base36;
use crate::verdict::Verdict;
use crate::Suite;

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The edition the target claims.
    pub edition: Edition,
    /// Run only cases whose ID contains this.
    pub filter: Option<String>,
    /// The restricted word the target was configured with (enables `restricted-word` cases).
    pub restricted_word: Option<String>,
    /// Cases in flight at once.
    pub concurrency: usize,
    /// Requests per second per API; default 80% of the edition quota.
    pub pace: Option<u32>,
    /// The reference server's snapshots: a passing case whose responses differ from them is
    /// NON-STRICT (`None`: no comparison).
    pub reference: Option<std::path::PathBuf>,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        SuiteOptions {
            edition: Edition::Seed,
            filter: None,
            restricted_word: None,
            concurrency: 16,
            pace: None,
            reference: None,
        }
    }
}

/// The suite could not run at all (exit 2).
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    /// No HTTP exchange with the target was possible.
    #[error("the target cannot be reached: {0}")]
    Unreachable(String),
    /// The target answered the probe, but not with an OK envelope (URL or credentials wrong).
    #[error("the target refused the probe (get_group_info as the admin): HTTP {http}, {detail}")]
    Refused {
        /// HTTP status of the probe.
        http: u16,
        /// ErrorCode and ErrorInfo, or the start of the body.
        detail: String,
    },
}

/// Runs `suite` against `target`.
pub async fn run(
    suite: &Suite,
    target: &Target,
    opts: &SuiteOptions,
) -> Result<SuiteReport, RunError> {
    let http = Http::new(target).map_err(|e| RunError::Unreachable(e.0))?;
    let run = run_id();
    probe(&http, &run).await?;
    let clock_estimate = estimate_clock(&http, &run).await;
    let started = unix_now();
    let clock = Instant::now();
    let limits = opts.edition.limits();
    let shared = Arc::new(Shared {
        http,
        pacer: Pacer::new(opts.pace.or_else(|| default_rate(&limits))),
        run,
        limits,
        restricted_word: opts.restricted_word.clone(),
        clock_shift: clock_estimate.map_or(0, |c| c.shift),
    });
    let selected: Vec<&Case> = suite
        .cases
        .iter()
        .filter(|c| {
            opts.filter
                .as_ref()
                .is_none_or(|f| c.id.contains(f.as_str()))
        })
        .collect();
    let mut reports: Vec<Option<CaseReport>> = vec![None; selected.len()];
    let mut exclusive = Vec::new();
    let mut set = JoinSet::new();
    let gate = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    // Cases that pause (`wait_ms`) start first, so that their pauses overlap the other cases
    // instead of lengthening the run's tail.
    let mut order: Vec<usize> = (0..selected.len()).collect();
    order.sort_by_key(|i| !selected[*i].step.iter().any(|s| s.is_wait()));
    for i in order {
        let case = selected[i];
        let skip =
            skip_reason(case, opts).or_else(|| clock_estimate.and_then(|c| c.skip_reason(case)));
        if let Some(why) = skip {
            reports[i] = Some(skipped(case, why));
        } else if case.needs(Need::Exclusive) {
            exclusive.push(i);
        } else {
            let (case, shared, gate) = (case.clone(), Arc::clone(&shared), Arc::clone(&gate));
            set.spawn(async move {
                let _permit = gate.acquire_owned().await;
                (i, timed(run_case(&shared, &case, true)).await)
            });
        }
    }
    while let Some(done) = set.join_next().await {
        if let Ok((i, r)) = done {
            reports[i] = Some(r);
        }
    }
    // Exclusive cases start from an idle quota, and the run leaves the target's quota idle
    // after them (so that a run right after this one is not refused).
    let refill = Duration::from_millis(1100);
    for i in &exclusive {
        tokio::time::sleep(refill).await;
        reports[*i] = Some(timed(run_case(&shared, selected[*i], false)).await);
    }
    if !exclusive.is_empty() {
        tokio::time::sleep(refill).await;
    }
    let mut cases: Vec<CaseReport> = reports
        .into_iter()
        .zip(&selected)
        .map(|(r, c)| {
            r.unwrap_or_else(|| {
                setup_error(c, "the case task panicked".into(), Vec::new(), Vec::new())
            })
        })
        .collect();
    if let Some(dir) = &opts.reference {
        for c in cases.iter_mut().filter(|c| c.verdict == Verdict::Pass) {
            if let Some(r) = reference::load(dir, opts.edition, &c.id) {
                c.failures.extend(reference::compare(&r, c));
                c.verdict = Verdict::from_failures(&c.failures);
            }
        }
    }
    Ok(SuiteReport {
        edition: opts.edition,
        target_url: target.base_url.clone(),
        clock: clock_estimate,
        started,
        duration: clock.elapsed().as_secs_f64(),
        clauses: coverage(&suite.clauses, &cases, opts.edition),
        cases,
    })
}

fn skip_reason(case: &Case, opts: &SuiteOptions) -> Option<String> {
    if !case.applies_to(opts.edition) {
        return Some(format!("not in edition {}", opts.edition));
    }
    if case.needs(Need::RestrictedWord) && opts.restricted_word.is_none() {
        return Some("needs --restricted-word".into());
    }
    None
}

/// A run ID: six base-36 characters from the clock and the process ID.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    base36(nanos ^ (u64::from(std::process::id()) << 40), 6)
}

/// A request as the admin, with a fresh UserSig.
fn admin_request(http: &Http, cmd: Command, body: Value) -> Request {
    let t = http.target();
    Request {
        method: "POST".into(),
        path: cmd.path(),
        query: vec![
            ("sdkappid".into(), t.sdkappid.to_string()),
            ("identifier".into(), t.identifier.clone()),
            ("usersig".into(), http.admin_sig(unix_now())),
            ("random".into(), "1".into()),
            ("contenttype".into(), "json".into()),
        ],
        body: Body::Json(body),
    }
}

/// One `get_group_info` as the admin: proves the URL and the credentials.
async fn probe(http: &Http, run: &str) -> Result<(), RunError> {
    let req = admin_request(
        http,
        Command::GetGroupInfo,
        json!({ "GroupIdList": [format!("cf{run}-probe")] }),
    );
    let sig = req.query[2].1.clone();
    let reply = http
        .send(&req)
        .await
        .map_err(|e| RunError::Unreachable(e.0))?;
    if reply.http == 200 && check::is_ok(&reply) {
        return Ok(());
    }
    let detail = if reply.is_json {
        format!(
            "ErrorCode {}, ErrorInfo {}",
            reply.body.get("ErrorCode").unwrap_or(&Value::Null),
            reply.body.get("ErrorInfo").unwrap_or(&Value::Null)
        )
    } else {
        let s = reply.body.as_str().unwrap_or_default();
        format!("body {:?}", s.chars().take(200).collect::<String>())
    };
    Err(RunError::Refused {
        http: reply.http,
        detail: detail.replace(&sig, "[usersig]"),
    })
}

/// The target's clock offset ([`crate::clock`]): the `Date` header of three probes, or else the
/// `CreateTime` of a group created without one. `None` when neither is to be had.
async fn estimate_clock(http: &Http, run: &str) -> Option<ClockEstimate> {
    let mut stamps = Vec::new();
    for _ in 0..3 {
        let req = admin_request(
            http,
            Command::GetGroupInfo,
            json!({ "GroupIdList": [format!("cf{run}-probe")] }),
        );
        let Ok(o) = http.send_observed(&req).await else {
            break;
        };
        let Some(target) = o.date else { break };
        stamps.push(Stamp {
            sent: o.sent,
            received: o.received,
            target,
        });
    }
    if stamps.len() == 3 {
        return ClockEstimate::from_stamps(&stamps, ClockSource::HttpDate);
    }
    let req = admin_request(
        http,
        Command::CreateGroup,
        json!({ "Type": "Public", "Name": "clock" }),
    );
    let created = http.send_observed(&req).await.ok()?;
    let id = created.reply.body.get("GroupId")?.as_str()?.to_owned();
    let info = admin_request(http, Command::GetGroupInfo, json!({ "GroupIdList": [id] }));
    let reply = http.send(&info).await.ok()?;
    let stamp = Stamp {
        sent: created.sent,
        received: created.received,
        target: create_time(&reply.body)?,
    };
    ClockEstimate::from_stamps(&[stamp], ClockSource::CreateTime)
}
