//! `tim-migrate verify`: reads every group back with `group_msg_get_simple` (paging with
//! `ReqMsgSeq`) and compares it with the input: count, order, sender, time, content. Messages
//! are matched by their `Random` (the importer's deterministic one), so a missing message, an
//! extra one, a changed one and a swapped pair are each named.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tim_client::{Client, Error as ClientError, Rate};
use tim_model::api::get_group_info::GetGroupInfoRequest;
use tim_model::api::group_msg_get_simple::{
    GroupMsgGetSimpleRequest, HistoryMsg, HistoryWalk, PageStep,
};
use tim_model::api::import_group_member::ImportMember;
use tim_model::{Command, ErrorCode};
use tokio::task::JoinSet;
use tracing::info;

use crate::cli::{Exit, VerifyArgs};
use crate::input::{self, GroupLine};
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
    /// A group of the groups file that the server does not have.
    GroupMissing,
    /// A group whose profile differs from a field the groups file gives.
    GroupChanged,
    /// A member of the members file who is not in the group.
    MemberMissing,
    /// A member whose `Role`, `JoinTime` or unread count differs from the members file.
    MemberChanged,
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
    /// Groups in the groups file (rejected ones excluded).
    pub profiles_expected: u64,
    /// Groups found with every profile field the groups file gives.
    pub profiles_matching: u64,
    /// Members in the members file (rejected ones excluded).
    pub members_expected: u64,
    /// Members found with the `Role`, `JoinTime` and unread count the file gives.
    pub members_matching: u64,
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

    /// Adds the report of one group (or more): counts summed, differences listed up to
    /// [`MAX_LISTED`].
    fn merge(&mut self, part: VerifyReport) {
        self.groups += part.groups;
        self.expected += part.expected;
        self.found += part.found;
        self.matching += part.matching;
        self.profiles_expected += part.profiles_expected;
        self.profiles_matching += part.profiles_matching;
        self.members_expected += part.members_expected;
        self.members_matching += part.members_matching;
        for (k, n) in part.counts {
            *self.counts.entry(k).or_default() += n;
        }
        let room = MAX_LISTED.saturating_sub(self.differences.len());
        self.differences
            .extend(part.differences.into_iter().take(room));
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
        if self.profiles_expected > 0 {
            s.push_str(&format!(
                "groups: {} expected, {} found with every profile field of the file\n",
                self.profiles_expected, self.profiles_matching
            ));
        }
        if self.members_expected > 0 {
            s.push_str(&format!(
                "members: {} expected, {} found with the Role, JoinTime and unread count of the file\n",
                self.members_expected, self.members_matching
            ));
        }
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

/// How many stored messages `verify` looks ahead of its place in a group for the next input
/// message: a message stored further than this from its place in the input is reported as
/// missing (at its line) and unexpected (at its `MsgSeq`). Bounds the memory of a group's
/// comparison, whatever the group's size.
pub const LOOKAHEAD: usize = 1000;

/// The `ProtocolViolation` of a server that does not honour `ReqMsgSeq`.
fn ignores_req_msg_seq(group_id: &str, asked: u64, got: u64) -> ClientError {
    ClientError::Protocol {
        command: Command::GroupMsgGetSimple,
        detail: format!(
            "group {group_id}: asked for messages with MsgSeq ≤ {asked} (ReqMsgSeq), got MsgSeq {got}: \
             the server ignores ReqMsgSeq, so the history cannot be paged"
        ),
    }
}

/// The messages of a group with `MsgSeq` above `after_seq`, oldest first (pages of
/// `group_msg_get_simple`, newest first, walked down with `ReqMsgSeq`). A server that answers a
/// page with messages above the `ReqMsgSeq` asked for is refused
/// ([`ClientError::Protocol`]) instead of being paged forever.
pub(crate) async fn read_history_after(
    client: &Client,
    group_id: &str,
    after_seq: u64,
) -> Result<Vec<HistoryMsg>, ClientError> {
    let page = client.limits().history_page_max.max(1) as i64;
    let mut walk = HistoryWalk::down_to_after(after_seq);
    let mut out = Vec::new();
    loop {
        let req = GroupMsgGetSimpleRequest {
            group_id: group_id.to_owned(),
            req_msg_number: page,
            req_msg_seq: walk.req_msg_seq(),
            with_recalled_msg: None,
        };
        let resp = client.group_msg_get_simple(&req).await?;
        let step = walk.advance(resp.rsp_msg_list.iter().map(|m| m.msg_seq));
        if let PageStep::Stuck { asked, got } = step {
            return Err(ignores_req_msg_seq(group_id, asked, got));
        }
        out.extend(
            resp.rsp_msg_list
                .into_iter()
                .filter(|m| m.msg_seq > after_seq),
        );
        if step == PageStep::Done {
            break;
        }
    }
    out.sort_by_key(|m| m.msg_seq);
    out.dedup_by_key(|m| m.msg_seq);
    Ok(out)
}

/// A group's history read oldest first, one page at a time: `ReqMsgSeq` = 20, 40, … (the page
/// size of the edition) up to the newest `MsgSeq` when the walk started. Holds one page.
pub(crate) struct HistoryPager<'a> {
    client: &'a Client,
    group_id: String,
    page: u64,
    /// Lowest `MsgSeq` not read yet.
    next: u64,
    /// Newest `MsgSeq` when the walk started (0: empty or missing group).
    top: u64,
    buf: VecDeque<HistoryMsg>,
    /// Requests made.
    pub requests: u64,
}

impl<'a> HistoryPager<'a> {
    /// Starts the walk: one request for the newest message. A group that does not exist reads
    /// as empty.
    pub(crate) async fn start(client: &'a Client, group_id: &str) -> Result<Self, ClientError> {
        let page = client.limits().history_page_max.max(1) as u64;
        let req = GroupMsgGetSimpleRequest {
            group_id: group_id.to_owned(),
            req_msg_number: 1,
            req_msg_seq: None,
            with_recalled_msg: None,
        };
        let top = match client.group_msg_get_simple(&req).await {
            Ok(r) => r.rsp_msg_list.iter().map(|m| m.msg_seq).max().unwrap_or(0),
            Err(e) if e.code() == Some(ErrorCode::GROUP_NOT_FOUND) => 0,
            Err(e) => return Err(e),
        };
        Ok(HistoryPager {
            client,
            group_id: group_id.to_owned(),
            page,
            next: 1,
            top,
            buf: VecDeque::new(),
            requests: 1,
        })
    }

    /// Reads the window `[self.next, end]`: one request, and more only when the server
    /// returned fewer messages than asked while older ones in the window may remain.
    async fn fill(&mut self) -> Result<(), ClientError> {
        let start = self.next;
        let end = (start + self.page - 1).min(self.top);
        self.next = end + 1;
        let mut asked = end;
        let mut got: Vec<HistoryMsg> = Vec::new();
        loop {
            let number = asked - start + 1;
            let req = GroupMsgGetSimpleRequest {
                group_id: self.group_id.clone(),
                req_msg_number: number as i64,
                req_msg_seq: Some(asked),
                with_recalled_msg: None,
            };
            self.requests += 1;
            let resp = match self.client.group_msg_get_simple(&req).await {
                Ok(r) => r,
                Err(e) if e.code() == Some(ErrorCode::GROUP_NOT_FOUND) => break,
                Err(e) => return Err(e),
            };
            let returned = resp.rsp_msg_list.len() as u64;
            let Some(lowest) = resp.rsp_msg_list.iter().map(|m| m.msg_seq).min() else {
                break;
            };
            if let Some(high) = resp.rsp_msg_list.iter().map(|m| m.msg_seq).max() {
                if high > asked {
                    return Err(ignores_req_msg_seq(&self.group_id, asked, high));
                }
            }
            got.extend(resp.rsp_msg_list.into_iter().filter(|m| m.msg_seq >= start));
            // A short page whose oldest message is above the window's start: the server may
            // cap its pages below what was asked; read the rest of the window.
            if returned >= number || lowest <= start {
                break;
            }
            asked = lowest - 1;
        }
        got.sort_by_key(|m| m.msg_seq);
        got.dedup_by_key(|m| m.msg_seq);
        self.buf.extend(got);
        Ok(())
    }

    /// The next message, oldest first; `None` past the newest message at the start.
    pub(crate) async fn next(&mut self) -> Result<Option<HistoryMsg>, ClientError> {
        while self.buf.is_empty() {
            if self.next > self.top {
                return Ok(None);
            }
            self.fill().await?;
        }
        Ok(self.buf.pop_front())
    }
}

/// Compares one group as it streams: the expected messages (input order, rejects left out)
/// beside the history (`MsgSeq` order). Messages are matched by `Random` within a look-ahead of
/// [`LOOKAHEAD`] stored messages; memory stays bounded by the look-ahead, whatever the group's
/// size.
struct GroupCompare<'r> {
    group_id: String,
    report: &'r mut VerifyReport,
    /// Stored messages read but not matched yet, in `MsgSeq` order.
    ahead: BTreeMap<u64, HistoryMsg>,
    /// `Random` → `MsgSeq`s in `ahead`.
    by_random: HashMap<u32, BTreeSet<u64>>,
    /// Highest `MsgSeq` matched so far (input order).
    last_seq: Option<u64>,
    /// Input messages compared.
    expected: u64,
    /// Stored messages read.
    found: u64,
}

impl GroupCompare<'_> {
    fn push_ahead(&mut self, h: HistoryMsg) {
        self.found += 1;
        self.by_random
            .entry(h.msg_random)
            .or_default()
            .insert(h.msg_seq);
        self.ahead.insert(h.msg_seq, h);
    }

    fn take(&mut self, random: u32) -> Option<HistoryMsg> {
        let seqs = self.by_random.get_mut(&random)?;
        let seq = seqs.pop_first()?;
        if seqs.is_empty() {
            self.by_random.remove(&random);
        }
        self.ahead.remove(&seq)
    }

    fn unexpected(&mut self, h: &HistoryMsg) {
        self.report.add(Difference {
            group_id: self.group_id.clone(),
            kind: DiffKind::Unexpected,
            line: None,
            msg_seq: Some(h.msg_seq),
            detail: format!(
                "from {} at {}, Random {}, not in the input",
                h.from_account, h.msg_time_stamp, h.msg_random
            ),
        });
    }

    /// Drops the oldest unmatched stored messages while the look-ahead is full, as unexpected.
    fn evict_over(&mut self, keep: usize) {
        while self.ahead.len() > keep {
            let Some((_, h)) = self.ahead.pop_first() else {
                break;
            };
            if let Some(seqs) = self.by_random.get_mut(&h.msg_random) {
                seqs.remove(&h.msg_seq);
                if seqs.is_empty() {
                    self.by_random.remove(&h.msg_random);
                }
            }
            self.unexpected(&h);
        }
    }

    async fn expect(
        &mut self,
        p: &PreparedMsg,
        history: &mut HistoryPager<'_>,
    ) -> Result<(), ClientError> {
        self.expected += 1;
        let random = p.msg.random.unwrap_or_default() as u32;
        let mut hit = self.take(random);
        while hit.is_none() && self.ahead.len() < LOOKAHEAD {
            let Some(h) = history.next().await? else {
                break;
            };
            if h.msg_random == random {
                self.found += 1;
                hit = Some(h);
            } else {
                self.push_ahead(h);
            }
        }
        let Some(h) = hit else {
            self.report.add(Difference {
                group_id: self.group_id.clone(),
                kind: DiffKind::Missing,
                line: Some(p.line),
                msg_seq: None,
                detail: format!(
                    "no message with Random {random} (SendTime {})",
                    p.msg.send_time
                ),
            });
            return Ok(());
        };
        self.compare_one(p, &h);
        Ok(())
    }

    fn compare_one(&mut self, p: &PreparedMsg, h: &HistoryMsg) {
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
        let previous = self.last_seq;
        let in_order = previous.is_none_or(|l| h.msg_seq > l);
        if !changed.is_empty() {
            self.report.add(Difference {
                group_id: self.group_id.clone(),
                kind: DiffKind::Changed,
                line: Some(p.line),
                msg_seq: Some(h.msg_seq),
                detail: changed.join("; "),
            });
        } else if !in_order {
            self.report.add(Difference {
                group_id: self.group_id.clone(),
                kind: DiffKind::OutOfOrder,
                line: Some(p.line),
                msg_seq: Some(h.msg_seq),
                detail: format!(
                    "stored before the previous input message (MsgSeq {})",
                    previous.unwrap_or(0)
                ),
            });
        } else {
            self.report.matching += 1;
        }
        self.last_seq = Some(previous.map_or(h.msg_seq, |l| l.max(h.msg_seq)));
    }

    /// After the last input message: every stored message left is unexpected.
    async fn finish(&mut self, history: &mut HistoryPager<'_>) -> Result<(), ClientError> {
        self.evict_over(0);
        while let Some(h) = history.next().await? {
            self.found += 1;
            self.unexpected(&h);
        }
        Ok(())
    }
}

/// Why one group's comparison stopped.
enum GroupError {
    Prepare(PrepareError),
    Target(ClientError),
}

/// Compares one group: its expected messages from `expected` with its history read page by
/// page. Returns the group's report (`groups`, `expected`, `found` filled in).
async fn verify_group(
    client: &Client,
    group_id: &str,
    expected: impl Iterator<Item = Result<PreparedMsg, PrepareError>>,
) -> Result<VerifyReport, GroupError> {
    let mut report = VerifyReport {
        groups: 1,
        ..VerifyReport::default()
    };
    let mut history = HistoryPager::start(client, group_id)
        .await
        .map_err(GroupError::Target)?;
    let mut cmp = GroupCompare {
        group_id: group_id.to_owned(),
        report: &mut report,
        ahead: BTreeMap::new(),
        by_random: HashMap::new(),
        last_seq: None,
        expected: 0,
        found: 0,
    };
    for p in expected {
        let p = p.map_err(GroupError::Prepare)?;
        cmp.expect(&p, &mut history)
            .await
            .map_err(GroupError::Target)?;
    }
    cmp.finish(&mut history).await.map_err(GroupError::Target)?;
    let (expected, found) = (cmp.expected, cmp.found);
    report.expected = expected;
    report.found = found;
    Ok(report)
}

/// Compares one group's expected messages (input order) with its history (seq order), both in
/// memory (tests).
#[cfg(test)]
fn compare(
    group_id: &str,
    expected: &[PreparedMsg],
    history: &[HistoryMsg],
    report: &mut VerifyReport,
) {
    let mut cmp = GroupCompare {
        group_id: group_id.to_owned(),
        report,
        ahead: BTreeMap::new(),
        by_random: HashMap::new(),
        last_seq: None,
        expected: 0,
        found: 0,
    };
    let mut rest = history.iter().cloned();
    for p in expected {
        cmp.expected += 1;
        let random = p.msg.random.unwrap_or_default() as u32;
        let mut hit = cmp.take(random);
        while hit.is_none() && cmp.ahead.len() < LOOKAHEAD {
            let Some(h) = rest.next() else { break };
            if h.msg_random == random {
                hit = Some(h);
            } else {
                cmp.push_ahead(h);
            }
        }
        match hit {
            Some(h) => cmp.compare_one(p, &h),
            None => cmp.report.add(Difference {
                group_id: group_id.to_owned(),
                kind: DiffKind::Missing,
                line: Some(p.line),
                msg_seq: None,
                detail: String::new(),
            }),
        }
    }
    cmp.evict_over(0);
    for h in rest {
        cmp.unexpected(&h);
    }
}

/// Compares each group of the groups file with `get_group_info`: the group exists, and every
/// profile field the file gives (`Type`, `Name`, `CreateTime`, `Owner_Account`, `Introduction`,
/// `Notification`, `FaceUrl`, `MaxMemberCount`) is what the server holds.
async fn verify_profiles(
    client: &Client,
    groups: &[(u64, GroupLine)],
) -> Result<VerifyReport, ClientError> {
    let mut report = VerifyReport::default();
    for (line, g) in groups {
        report.profiles_expected += 1;
        let req = GetGroupInfoRequest {
            group_id_list: vec![g.group_id.clone()],
            response_filter: None,
        };
        let resp = client.get_group_info(&req).await?;
        let info = resp
            .group_info
            .into_iter()
            .find(|i| i.group_id == g.group_id);
        let info = match info {
            Some(i) if i.error_code == ErrorCode::OK => i,
            other => {
                report.add(Difference {
                    group_id: g.group_id.clone(),
                    kind: DiffKind::GroupMissing,
                    line: Some(*line),
                    msg_seq: None,
                    detail: match other {
                        Some(i) => format!("error {}: {}", i.error_code, i.error_info),
                        None => "not in the answer".to_owned(),
                    },
                });
                continue;
            }
        };
        let (want, got) = (&g.request, &info.base);
        let mut changed = Vec::new();
        let mut field = |name: &str, want: Option<String>, got: Option<String>| {
            if let Some(w) = want {
                if got.as_deref() != Some(w.as_str()) {
                    let got = got.map_or_else(|| "absent".to_owned(), |g| format!("{g:?}"));
                    changed.push(format!("{name} {got} ≠ {w:?}"));
                }
            }
        };
        let p = &want.profile;
        field(
            "Type",
            Some(p.group_type.to_string()),
            got.group_type.as_ref().map(ToString::to_string),
        );
        field("Name", Some(p.name.clone()), got.name.clone());
        field(
            "CreateTime",
            want.create_time.map(|t| t.to_string()),
            got.create_time.map(|t| t.to_string()),
        );
        field(
            "Owner_Account",
            p.owner_account.clone(),
            got.owner_account.clone(),
        );
        field(
            "Introduction",
            p.introduction.clone(),
            got.introduction.clone(),
        );
        field(
            "Notification",
            p.notification.clone(),
            got.notification.clone(),
        );
        field("FaceUrl", p.face_url.clone(), got.face_url.clone());
        field(
            "MaxMemberCount",
            p.max_member_count.map(|n| n.to_string()),
            got.max_member_num.map(|n| n.to_string()),
        );
        if changed.is_empty() {
            report.profiles_matching += 1;
        } else {
            report.add(Difference {
                group_id: g.group_id.clone(),
                kind: DiffKind::GroupChanged,
                line: Some(*line),
                msg_seq: None,
                detail: changed.join("; "),
            });
        }
    }
    Ok(report)
}

/// The members file's members by group: (line, member), rejected lines left out.
fn read_members(
    path: &Path,
    rejected: &BTreeSet<u64>,
) -> Result<BTreeMap<String, Vec<(u64, ImportMember)>>, VerifyError> {
    let mut out: BTreeMap<String, Vec<(u64, ImportMember)>> = BTreeMap::new();
    for r in input::MemberReader::open(path)? {
        let rec = r?;
        if !rejected.contains(&rec.line) {
            out.entry(rec.value.group_id)
                .or_default()
                .push((rec.line, rec.value.member));
        }
    }
    Ok(out)
}

/// Compares the members of each group with `get_group_info`'s member list: each member of the
/// file is there, with the `Role` and `JoinTime` the file gives, and its `UnreadMsgNum` (on group
/// types that keep unread counts; the count read back is `NextMsgSeq - 1 - MsgSeq`, the member's
/// last read message, or the `UnreadMsgNum` field when those are not given). Members the file
/// does not name (the owner, members added since) are not differences.
async fn verify_members(
    client: &Client,
    limits: &tim_model::Limits,
    members: &BTreeMap<String, Vec<(u64, ImportMember)>>,
) -> Result<VerifyReport, ClientError> {
    let mut report = VerifyReport::default();
    for (group_id, list) in members {
        report.members_expected += list.len() as u64;
        let req = GetGroupInfoRequest {
            group_id_list: vec![group_id.clone()],
            response_filter: None,
        };
        let resp = client.get_group_info(&req).await?;
        let info = resp
            .group_info
            .into_iter()
            .find(|g| &g.group_id == group_id);
        let refused = match &info {
            None => Some("the group is not in the answer".to_owned()),
            Some(g) if g.error_code != ErrorCode::OK => {
                Some(format!("group error {}: {}", g.error_code, g.error_info))
            }
            Some(_) => None,
        };
        let info = info.filter(|_| refused.is_none());
        let keeps_unread = info
            .as_ref()
            .and_then(|g| g.base.group_type.as_ref())
            .is_some_and(|t| limits.keeps_unread_counts(t));
        let next_seq = info.as_ref().and_then(|g| g.base.next_msg_seq);
        let stored: HashMap<&str, &tim_model::api::get_group_info::MemberInfo> = info
            .as_ref()
            .and_then(|g| g.member_list.as_ref())
            .map(|l| l.iter().map(|m| (m.member_account.as_str(), m)).collect())
            .unwrap_or_default();
        for (line, m) in list {
            let Some(s) = stored.get(m.member_account.as_str()) else {
                report.add(Difference {
                    group_id: group_id.clone(),
                    kind: DiffKind::MemberMissing,
                    line: Some(*line),
                    msg_seq: None,
                    detail: match &refused {
                        Some(why) => format!("{} is not a member: {why}", m.member_account),
                        None => format!("{} is not a member", m.member_account),
                    },
                });
                continue;
            };
            let mut changed = Vec::new();
            if let Some(role) = &m.role {
                let got = s.base.role.as_deref().unwrap_or_default();
                if !got.eq_ignore_ascii_case(role) {
                    changed.push(format!("Role {got:?} ≠ {role:?}"));
                }
            }
            if let (Some(want), Some(got)) = (m.join_time, s.base.join_time) {
                if want != got {
                    changed.push(format!("JoinTime {got} ≠ {want}"));
                }
            }
            if let Some(want) = m.unread_msg_num.filter(|_| keeps_unread) {
                let got = match (next_seq, s.base.msg_seq) {
                    (Some(next), Some(read)) => {
                        Some(next.saturating_sub(1).saturating_sub(read) as i64)
                    }
                    _ => s.base.unread_msg_num.map(|u| u as i64),
                };
                if let Some(got) = got.filter(|g| *g != want) {
                    changed.push(format!("unread count {got} ≠ UnreadMsgNum {want}"));
                }
            }
            if changed.is_empty() {
                report.members_matching += 1;
            } else {
                report.add(Difference {
                    group_id: group_id.clone(),
                    kind: DiffKind::MemberChanged,
                    line: Some(*line),
                    msg_seq: None,
                    detail: format!("{}: {}", m.member_account, changed.join("; ")),
                });
            }
        }
    }
    Ok(report)
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
                let expected =
                    reader.filter(|m| m.as_ref().map_or(true, |m| !rejected.contains(&m.line)));
                let part = verify_group(&client, &group_id, expected).await;
                (group_id, part)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let Ok((group_id, part)) = joined else {
            continue;
        };
        let part = match part {
            Ok(p) => p,
            Err(GroupError::Prepare(e)) => return Err(e.into()),
            Err(GroupError::Target(e)) => return Err(VerifyError::Target(e)),
        };
        results.push((group_id, part));
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, part) in results {
        report.merge(part);
    }
    if let Some(path) = &args.input.groups {
        let rejected = match &args.rejects {
            Some(p) => rejected_lines(p, path)?,
            None => BTreeSet::new(),
        };
        let (records, _undecodable) = input::read_all::<input::Groups>(path)?;
        let groups: Vec<(u64, GroupLine)> = records
            .into_iter()
            .filter(|r| !rejected.contains(&r.line))
            .map(|r| (r.line, r.value))
            .collect();
        let part = verify_profiles(&client, &groups)
            .await
            .map_err(VerifyError::Target)?;
        report.merge(part);
    }
    if let Some(path) = &args.input.members {
        let rejected = match &args.rejects {
            Some(p) => rejected_lines(p, path)?,
            None => BTreeSet::new(),
        };
        let members = read_members(path, &rejected)?;
        let part = verify_members(&client, &limits, &members)
            .await
            .map_err(VerifyError::Target)?;
        report.merge(part);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tim_model::api::import_group_msg::ImportMsg;

    fn input(line: u64, random: u32) -> PreparedMsg {
        let raw = format!(
            r#"{{"From_Account":"a","SendTime":{},"Random":{random},"MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"m{line}"}}}}]}}"#,
            1_700_000_000 + line
        );
        let msg: ImportMsg = serde_json::from_str(&raw).expect("message");
        PreparedMsg {
            line,
            msg,
            source_id: None,
            raw,
        }
    }

    fn stored(seq: u64, p: &PreparedMsg) -> HistoryMsg {
        serde_json::from_value(serde_json::json!({
            "From_Account": p.msg.from_account,
            "IsPlaceMsg": 0,
            "MsgBody": p.msg.msg_body,
            "MsgRandom": p.msg.random.unwrap_or_default(),
            "MsgSeq": seq,
            "MsgTimeStamp": p.msg.send_time,
        }))
        .expect("history message")
    }

    fn run(expected: &[PreparedMsg], history: &[HistoryMsg]) -> VerifyReport {
        let mut r = VerifyReport::default();
        compare("g", expected, history, &mut r);
        r
    }

    fn count(r: &VerifyReport, kind: &str) -> u64 {
        r.counts.get(kind).copied().unwrap_or(0)
    }

    #[test]
    fn identical_is_clean() {
        let e: Vec<_> = (1..=50).map(|i| input(i, i as u32 * 7)).collect();
        let h: Vec<_> = e.iter().zip(1..).map(|(p, s)| stored(s, p)).collect();
        let r = run(&e, &h);
        assert!(r.is_clean(), "{r:?}");
        assert_eq!(r.matching, 50);
    }

    #[test]
    fn missing_extra_swap_and_doubles_are_each_counted() {
        let e: Vec<_> = (1..=10).map(|i| input(i, i as u32)).collect();
        // 3 missing; 5 and 6 swapped; 8 stored twice; one foreign message at the end.
        let order = [1usize, 2, 4, 6, 5, 7, 8, 8, 9, 10];
        let mut h: Vec<_> = order
            .iter()
            .zip(1..)
            .map(|(i, s)| stored(s, &e[i - 1]))
            .collect();
        h.push(stored(11, &input(99, 999)));
        let r = run(&e, &h);
        assert_eq!(count(&r, "missing"), 1);
        assert_eq!(count(&r, "out_of_order"), 1);
        assert_eq!(count(&r, "unexpected"), 2);
        assert_eq!(r.matching, 8);
    }

    #[test]
    fn every_difference_is_counted_past_the_list() {
        let n = MAX_LISTED as u64 + 500;
        let e: Vec<_> = (1..=n).map(|i| input(i, i as u32)).collect();
        let r = run(&e, &[]);
        assert_eq!(count(&r, "missing"), n);
        assert_eq!(r.differences.len(), MAX_LISTED);
        let mut total = VerifyReport::default();
        total.merge(r.clone());
        total.merge(r);
        assert_eq!(count(&total, "missing"), 2 * n);
        assert_eq!(total.differences.len(), MAX_LISTED);
    }

    #[test]
    fn a_message_displaced_beyond_the_lookahead_is_missing_and_unexpected() {
        let n = LOOKAHEAD as u64 + 10;
        let e: Vec<_> = (1..=n).map(|i| input(i, i as u32)).collect();
        // The first input message is stored last.
        let mut h: Vec<_> = e[1..].iter().zip(1..).map(|(p, s)| stored(s, p)).collect();
        h.push(stored(n, &e[0]));
        let r = run(&e, &h);
        assert_eq!(count(&r, "missing"), 1);
        assert_eq!(count(&r, "unexpected"), 1);
        assert_eq!(r.matching, n - 1);
    }
}
