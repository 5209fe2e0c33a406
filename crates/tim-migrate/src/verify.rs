//! `tim-migrate verify`: reads every group back with `group_msg_get_simple` (paging with
//! `ReqMsgSeq`) and compares it with the input: count, order, sender, time, content. Messages
//! are matched by their `Random` (the importer's deterministic one), so a missing message, an
//! extra one, a changed one and a swapped pair are each named.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tim_client::{Client, Error as ClientError, Rate};
use tim_model::api::group_msg_get_simple::{GroupMsgGetSimpleRequest, HistoryMsg};
use tim_model::ErrorCode;
use tokio::task::JoinSet;
use tracing::info;

use crate::cli::{Exit, VerifyArgs};
use crate::input;
use crate::prepare::{PrepareError, Prepared, PreparedMsg};
use crate::rejects::Reject;

/// Why verification could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The messages file cannot be read.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// The messages could not be read or sorted.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The rejects file could not be read.
    #[error("rejects file {path}: {message}")]
    Rejects {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The report could not be written.
    #[error("report {path}")]
    Report {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The target cannot be used.
    #[error(transparent)]
    Connect(#[from] crate::target::ConnectError),
    /// The target refused or could not be reached.
    #[error("cannot read the groups back")]
    Target(#[source] ClientError),
}

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// In the input, not on the server.
    Missing,
    /// On the server, not in the input.
    Unexpected,
    /// On the server, but a field differs.
    Changed,
    /// On the server, but not in the input's order.
    OutOfOrder,
}

/// One difference between the input and the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The group.
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// What kind.
    pub kind: DiffKind,
    /// Line in the messages file, for input messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// `MsgSeq` on the server, for stored messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_seq: Option<u64>,
    /// What differs.
    pub detail: String,
}

/// The outcome of `verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Groups compared.
    pub groups: u64,
    /// Input messages expected on the server (rejected ones excluded).
    pub expected: u64,
    /// Messages read back from the server.
    pub found: u64,
    /// Input messages found identical and in order.
    pub matching: u64,
    /// Differences by kind.
    pub counts: BTreeMap<String, u64>,
    /// The differences (at most [`MAX_LISTED`]).
    pub differences: Vec<Difference>,
}

/// Most differences listed (all are counted).
pub const MAX_LISTED: usize = 1000;

impl VerifyReport {
    fn add(&mut self, d: Difference) {
        let key = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *self.counts.entry(key).or_default() += 1;
        if self.differences.len() < MAX_LISTED {
            self.differences.push(d);
        }
    }

    /// Whether the server holds exactly the input.
    pub fn is_clean(&self) -> bool {
        self.counts.values().all(|n| *n == 0)
    }

    /// The human rendering.
    pub fn render_human(&self) -> String {
        let mut s = String::new();
        for d in &self.differences {
            let at = match (d.line, d.msg_seq) {
                (Some(l), Some(q)) => format!("line {l}, MsgSeq {q}"),
                (Some(l), None) => format!("line {l}"),
                (None, Some(q)) => format!("MsgSeq {q}"),
                (None, None) => String::new(),
            };
            s.push_str(&format!(
                "{}: {:?} ({at}): {}\n",
                d.group_id, d.kind, d.detail
            ));
        }
        let total: u64 = self.counts.values().sum();
        s.push_str(&format!(
            "verified {} groups: {} messages expected, {} found on the server, {} identical and in order, {total} difference{}\n",
            self.groups,
            self.expected,
            self.found,
            self.matching,
            if total == 1 { "" } else { "s" }
        ));
        s
    }
}

/// Reads `path` (a rejects file of `import`) and returns the lines of `messages` it rejected,
/// matched by (file, line): rejects of other files (the members file) are left out. A reject's
/// file matches when it names `messages` as given, or a file of the same name (the import may
/// have been run from another directory).
fn rejected_lines(path: &Path, messages: &Path) -> Result<BTreeSet<u64>, VerifyError> {
    let shown = input::display_path(path);
    let text = std::fs::read_to_string(path).map_err(|e| VerifyError::Rejects {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let messages_shown = input::display_path(messages);
    let messages_name = messages.file_name();
    let mut out = BTreeSet::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r: Reject = serde_json::from_str(line).map_err(|e| VerifyError::Rejects {
            path: shown.clone(),
            message: format!("line {}: {e}", i + 1),
        })?;
        if r.file == messages_shown || Path::new(&r.file).file_name() == messages_name {
            out.insert(r.line);
        }
    }
    Ok(out)
}

/// A group's whole history, oldest first.
async fn read_history(client: &Client, group_id: &str) -> Result<Vec<HistoryMsg>, ClientError> {
    read_history_after(client, group_id, 0).await
}

/// The messages of a group with `MsgSeq` above `after_seq`, oldest first (pages of
/// `group_msg_get_simple`, newest first, walked down with `ReqMsgSeq`).
pub(crate) async fn read_history_after(
    client: &Client,
    group_id: &str,
    after_seq: u64,
) -> Result<Vec<HistoryMsg>, ClientError> {
    let page = client.limits().history_page_max.max(1) as i64;
    let mut req = GroupMsgGetSimpleRequest {
        group_id: group_id.to_owned(),
        req_msg_number: page,
        req_msg_seq: None,
        with_recalled_msg: None,
    };
    let mut out = Vec::new();
    loop {
        let resp = client.group_msg_get_simple(&req).await?;
        let Some(lowest) = resp.rsp_msg_list.iter().map(|m| m.msg_seq).min() else {
            break;
        };
        out.extend(
            resp.rsp_msg_list
                .into_iter()
                .filter(|m| m.msg_seq > after_seq),
        );
        if lowest <= after_seq + 1 {
            break;
        }
        req.req_msg_seq = Some(lowest - 1);
    }
    out.sort_by_key(|m| m.msg_seq);
    out.dedup_by_key(|m| m.msg_seq);
    Ok(out)
}

/// Compares one group's expected messages (input order) with its history (seq order).
fn compare(
    group_id: &str,
    expected: &[PreparedMsg],
    history: &[HistoryMsg],
    report: &mut VerifyReport,
) {
    let mut by_random: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, h) in history.iter().enumerate().rev() {
        by_random.entry(h.msg_random).or_default().push(i);
    }
    let mut used = vec![false; history.len()];
    let mut last_index: Option<usize> = None;
    for p in expected {
        let random = p.msg.random.unwrap_or_default() as u32;
        let Some(i) = by_random.get_mut(&random).and_then(Vec::pop) else {
            report.add(Difference {
                group_id: group_id.to_owned(),
                kind: DiffKind::Missing,
                line: Some(p.line),
                msg_seq: None,
                detail: format!(
                    "no message with Random {random} (SendTime {})",
                    p.msg.send_time
                ),
            });
            continue;
        };
        used[i] = true;
        let h = &history[i];
        let mut changed = Vec::new();
        if h.from_account != p.msg.from_account {
            changed.push(format!(
                "From_Account {:?} ≠ {:?}",
                h.from_account, p.msg.from_account
            ));
        }
        if h.msg_time_stamp != p.msg.send_time {
            changed.push(format!(
                "MsgTimeStamp {} ≠ SendTime {}",
                h.msg_time_stamp, p.msg.send_time
            ));
        }
        if serde_json::to_value(&h.msg_body).ok() != serde_json::to_value(&p.msg.msg_body).ok() {
            changed.push("MsgBody differs".to_owned());
        }
        if h.cloud_custom_data != p.msg.cloud_custom_data {
            changed.push("CloudCustomData differs".to_owned());
        }
        let in_order = last_index.is_none_or(|l| i > l);
        if !changed.is_empty() {
            report.add(Difference {
                group_id: group_id.to_owned(),
                kind: DiffKind::Changed,
                line: Some(p.line),
                msg_seq: Some(h.msg_seq),
                detail: changed.join("; "),
            });
        } else if !in_order {
            report.add(Difference {
                group_id: group_id.to_owned(),
                kind: DiffKind::OutOfOrder,
                line: Some(p.line),
                msg_seq: Some(h.msg_seq),
                detail: format!(
                    "stored before the previous input message (MsgSeq {})",
                    history[last_index.unwrap_or(0)].msg_seq
                ),
            });
        } else {
            report.matching += 1;
        }
        last_index = Some(last_index.map_or(i, |l| l.max(i)));
    }
    for (h, used) in history.iter().zip(used) {
        if !used {
            report.add(Difference {
                group_id: group_id.to_owned(),
                kind: DiffKind::Unexpected,
                line: None,
                msg_seq: Some(h.msg_seq),
                detail: format!(
                    "from {} at {}, Random {}, not in the input",
                    h.from_account, h.msg_time_stamp, h.msg_random
                ),
            });
        }
    }
}

/// Runs `tim-migrate verify`.
pub async fn run(args: &VerifyArgs) -> Result<Exit, VerifyError> {
    let limits = args.target.edition.limits();
    input::ensure_readable(&args.input.messages)?;
    let client = crate::target::connect(&args.target, Rate::Quota).await?;
    let rejected = match &args.rejects {
        Some(p) => rejected_lines(p, &args.input.messages)?,
        None => BTreeSet::new(),
    };
    info!("sorting messages per group");
    let prepared = Prepared::build(&args.input.messages, &args.input.prepare_options(&limits))?;
    let mut report = VerifyReport::default();
    let rejected = Arc::new(rejected);
    let concurrency = args.concurrency.max(1);
    let mut tasks = JoinSet::new();
    let mut pending = prepared.groups().iter();
    let mut results = Vec::new();
    loop {
        while tasks.len() < concurrency {
            let Some(slice) = pending.next() else { break };
            let reader = prepared.read_group(slice, 0)?;
            let (client, rejected, group_id) = (
                client.clone(),
                Arc::clone(&rejected),
                slice.group_id.clone(),
            );
            tasks.spawn(async move {
                let expected: Result<Vec<PreparedMsg>, PrepareError> = reader
                    .filter(|m| m.as_ref().map_or(true, |m| !rejected.contains(&m.line)))
                    .collect();
                let history = match read_history(&client, &group_id).await {
                    Err(e) if e.code() == Some(ErrorCode::GROUP_NOT_FOUND) => Ok(Vec::new()),
                    other => other,
                };
                (group_id, expected, history)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let Ok((group_id, expected, history)) = joined else {
            continue;
        };
        let expected = expected?;
        let history = history.map_err(VerifyError::Target)?;
        let mut part = VerifyReport::default();
        compare(&group_id, &expected, &history, &mut part);
        results.push((group_id, expected.len() as u64, history.len() as u64, part));
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, expected, found, part) in results {
        report.groups += 1;
        report.expected += expected;
        report.found += found;
        report.matching += part.matching;
        for d in part.differences {
            report.add(d);
        }
    }
    if let Some(p) = &args.report {
        let json = serde_json::to_vec_pretty(&report).map_err(|e| VerifyError::Report {
            path: input::display_path(p),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(p, json).map_err(|source| VerifyError::Report {
            path: input::display_path(p),
            source,
        })?;
    }
    print!("{}", report.render_human());
    Ok(if report.is_clean() {
        Exit::Ok
    } else {
        Exit::Problems
    })
}
