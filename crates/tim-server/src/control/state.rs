//! `GET /_tim/state` (dump) and `POST /_tim/state` (load): the store as JSON Lines in
//! `tim-migrate`'s input format, so that a dump is a corpus and a corpus is a fixture.
//!
//! Lines (each tells its kind by its fields):
//! - group: an `import_group` body with `GroupId` and `CreateTime` (`"Type"`, `"Name"`);
//! - member: `{"GroupId","Member_Account","Role"?,"JoinTime","UnreadMsgNum"}` (the owner is the
//!   group line's `Owner_Account`, not a member line);
//! - message: `{"GroupId","From_Account","SendTime","Random","MsgBody",…}`.
//!
//! The dump walks groups and histories page by page on a blocking thread that feeds the HTTP
//! body through a small channel: memory stays flat whatever the store's size. The load reads
//! the body line by line and stores messages in batches; only member lines are held until the
//! end (they are applied after every message, since importing messages resets unread counts).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use tim_model::api::import_group::ImportGroupRequest;
use tim_model::api::import_group_member::ImportMember;
use tim_model::api::import_group_msg::ImportMsg;
use tim_model::control::{LoadReport, StateKind};

use crate::error::ApiError;
use crate::service::Service;
use crate::store::{DedupRule, NewMember, NewMessage, Role, Store, StoreError};

/// Groups read per page of the dump.
const GROUP_PAGE: usize = 100;
/// Messages read per page of the dump.
const MESSAGE_PAGE: usize = 500;
/// Bytes gathered before a chunk of the dump is sent.
const CHUNK: usize = 64 << 10;
/// Messages of one group stored per store call by the load.
const LOAD_BATCH: usize = 500;
/// Most messages the load holds before storing (over all groups).
const LOAD_PENDING_MAX: usize = 10_000;

/// Why a dump stopped.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The reader went away.
    #[error("the client closed the connection")]
    Closed,
}

/// Writes the dump of `groups` (every group when empty) to `send`, chunk by chunk.
pub fn dump(
    store: &dyn Store,
    kind: StateKind,
    groups: &[String],
    send: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), DumpError> {
    let mut out = Vec::with_capacity(CHUNK + 1024);
    let mut flush = |out: &mut Vec<u8>, force: bool| -> Result<(), DumpError> {
        let due = (force && !out.is_empty()) || out.len() >= CHUNK;
        if due && !send(std::mem::replace(out, Vec::with_capacity(CHUNK + 1024))) {
            return Err(DumpError::Closed);
        }
        Ok(())
    };
    let mut one_group = |id: &str, out: &mut Vec<u8>| -> Result<(), DumpError> {
        let Some(record) = store.group(id)? else {
            return Ok(());
        };
        if matches!(kind, StateKind::All | StateKind::Groups) {
            let mut profile = record.profile.clone();
            profile.group_id = Some(id.to_owned());
            let line = ImportGroupRequest {
                create_time: Some(record.create_time),
                profile,
            };
            push_json(out, &line);
        }
        if matches!(kind, StateKind::All | StateKind::Messages) {
            let mut after = 0;
            loop {
                let page = store.messages_after(id, after, MESSAGE_PAGE)?;
                for m in &page {
                    push_message(out, id, m);
                    after = m.msg_seq;
                }
                flush(out, false)?;
                if page.len() < MESSAGE_PAGE {
                    break;
                }
            }
        }
        if matches!(kind, StateKind::All | StateKind::Members) {
            for m in store.members(id)? {
                if m.role == Role::Owner {
                    continue;
                }
                let line = MemberLine {
                    group_id: id,
                    member: ImportMember {
                        member_account: m.account,
                        role: (m.role == Role::Admin).then(|| Role::Admin.as_str().to_owned()),
                        join_time: Some(m.join_time),
                        unread_msg_num: Some(m.unread_msg_num as i64),
                    },
                };
                push_json(out, &line);
            }
        }
        flush(out, false)
    };
    if groups.is_empty() {
        let mut after: Option<String> = None;
        loop {
            let page = store.group_ids(after.as_deref(), GROUP_PAGE)?;
            for id in &page {
                one_group(id, &mut out)?;
            }
            if page.len() < GROUP_PAGE {
                break;
            }
            after = page.last().cloned();
        }
    } else {
        for id in groups {
            one_group(id, &mut out)?;
        }
    }
    flush(&mut out, true)
}

#[derive(serde::Serialize)]
struct MemberLine<'a> {
    #[serde(rename = "GroupId")]
    group_id: &'a str,
    #[serde(flatten)]
    member: ImportMember,
}

fn push_json<T: serde::Serialize>(out: &mut Vec<u8>, value: &T) {
    // Our own types of strings and numbers always encode.
    if serde_json::to_writer(&mut *out, value).is_ok() {
        out.push(b'\n');
    }
}

/// A message line, written around the stored `MsgBody` JSON text (never re-parsed).
fn push_message(out: &mut Vec<u8>, group_id: &str, m: &crate::store::StoredMessage) {
    let string = |out: &mut Vec<u8>, s: &str| {
        let _ = serde_json::to_writer(&mut *out, s);
    };
    out.extend_from_slice(b"{\"GroupId\":");
    string(out, group_id);
    out.extend_from_slice(b",\"From_Account\":");
    string(out, &m.from_account);
    out.extend_from_slice(
        format!(",\"SendTime\":{},\"Random\":{}", m.send_time, m.random).as_bytes(),
    );
    if let Some(c) = &m.cloud_custom_data {
        out.extend_from_slice(b",\"CloudCustomData\":");
        string(out, c);
    }
    out.extend_from_slice(b",\"MsgBody\":");
    out.extend_from_slice(m.body_json.as_bytes());
    out.extend_from_slice(b"}\n");
}

/// What a line of a state file is.
enum Line {
    Group(ImportGroupRequest),
    Member(String, ImportMember),
    Message(String, ImportMsg),
}

#[derive(Deserialize)]
struct WithGroup<T> {
    #[serde(rename = "GroupId")]
    group_id: String,
    #[serde(flatten)]
    rest: T,
}

fn parse_line(text: &str) -> Result<Line, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or("a line must be a JSON object".to_owned())?;
    let shape = |e: serde_json::Error| e.to_string();
    if obj.contains_key("MsgBody") {
        let mut v = value;
        if let Some(o) = v.as_object_mut() {
            o.remove("SourceId");
        }
        let line: WithGroup<ImportMsg> = serde_json::from_value(v).map_err(shape)?;
        Ok(Line::Message(line.group_id, line.rest))
    } else if obj.contains_key("Member_Account") {
        let line: WithGroup<ImportMember> = serde_json::from_value(value).map_err(shape)?;
        Ok(Line::Member(line.group_id, line.rest))
    } else if obj.contains_key("Type") {
        let req: ImportGroupRequest = serde_json::from_value(value).map_err(shape)?;
        if req.profile.group_id.is_none() {
            return Err(
                "a group line needs its GroupId (member and message lines refer to it)".into(),
            );
        }
        Ok(Line::Group(req))
    } else {
        Err("not a group (Type, Name), member (Member_Account) or message (MsgBody) line".into())
    }
}

/// Loads state lines into the store through `service` (groups with their profile rules;
/// messages and members stored as given, in order, without the API's rate limit or duplicate
/// rule). Not atomic: on an error, what came before it stays loaded.
pub struct Loader {
    service: Arc<Service>,
    report: LoadReport,
    /// Per group: the first line number of the pending messages, and the messages.
    pending: BTreeMap<String, (usize, Vec<NewMessage>)>,
    pending_count: usize,
    /// Member lines, applied at the end.
    members: Vec<(usize, String, ImportMember)>,
    /// Per group: the newest `SendTime` stored by this load or before.
    newest: BTreeMap<String, Option<i64>>,
}

/// A line that cannot be loaded.
#[derive(Debug)]
pub struct LoadError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        ApiError::InvalidParameter(format!(
            "state line {}: {}; lines before it are loaded (POST /_tim/reset to start again)",
            e.line, e.problem
        ))
    }
}

impl Loader {
    /// A loader over `service`'s store.
    pub fn new(service: Arc<Service>) -> Loader {
        Loader {
            service,
            report: LoadReport::default(),
            pending: BTreeMap::new(),
            pending_count: 0,
            members: Vec::new(),
            newest: BTreeMap::new(),
        }
    }

    /// Takes line `number` (1-based) of the file.
    pub fn line(&mut self, number: usize, text: &str) -> Result<(), LoadError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let err = |problem: String| LoadError {
            line: number,
            problem,
        };
        match parse_line(text).map_err(err)? {
            Line::Group(req) => {
                self.service
                    .load_group(req)
                    .map_err(|e| err(format!("group refused: {} {}", e.code(), e.info())))?;
                self.report.groups += 1;
            }
            Line::Member(group, member) => self.members.push((number, group, member)),
            Line::Message(group, msg) => {
                let newest = match self.newest.get(&group) {
                    Some(n) => *n,
                    None => {
                        let record = self
                            .service
                            .store()
                            .group(&group)
                            .map_err(|e| err(e.to_string()))?
                            .ok_or_else(|| {
                                err(format!(
                                    "group {group:?} does not exist: put its group line before its messages"
                                ))
                            })?;
                        record.last_msg_time
                    }
                };
                if newest.is_some_and(|n| msg.send_time < n) {
                    return Err(err(format!(
                        "SendTime {} is older than the group's newest message ({}): a group's messages must come in time order",
                        msg.send_time,
                        newest.unwrap_or_default()
                    )));
                }
                self.newest.insert(group.clone(), Some(msg.send_time));
                let body_json = serde_json::to_string(&msg.msg_body)
                    .map_err(|e| err(format!("MsgBody: {e}")))?;
                let random =
                    match msg.random {
                        Some(r) => Some(u32::try_from(r).map_err(|_| {
                            err(format!("Random {r} is not a 32-bit unsigned number"))
                        })?),
                        None => None,
                    };
                let entry = self
                    .pending
                    .entry(group.clone())
                    .or_insert_with(|| (number, Vec::new()));
                entry.1.push(NewMessage {
                    from_account: msg.from_account,
                    send_time: msg.send_time,
                    random: random.unwrap_or_else(rand::random),
                    random_supplied: random.is_some(),
                    body_json,
                    cloud_custom_data: msg.cloud_custom_data,
                });
                self.pending_count += 1;
                if entry.1.len() >= LOAD_BATCH {
                    self.flush_group(&group)?;
                } else if self.pending_count >= LOAD_PENDING_MAX {
                    self.flush_all()?;
                }
            }
        }
        Ok(())
    }

    fn flush_group(&mut self, group: &str) -> Result<(), LoadError> {
        let Some((line, messages)) = self.pending.remove(group) else {
            return Ok(());
        };
        self.pending_count -= messages.len();
        let dedup = DedupRule {
            now: self.service.clock.now(),
            ..DedupRule::OFF
        };
        self.service
            .store()
            .import_messages(group, &messages, dedup)
            .map_err(|e| LoadError {
                line,
                problem: format!("messages of group {group:?} could not be stored: {e}"),
            })?;
        self.report.messages += messages.len() as u64;
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), LoadError> {
        let groups: Vec<String> = self.pending.keys().cloned().collect();
        for g in groups {
            self.flush_group(&g)?;
        }
        Ok(())
    }

    /// Stores what is pending and applies the member lines; returns what was loaded.
    pub fn finish(mut self) -> Result<LoadReport, LoadError> {
        self.flush_all()?;
        let now = self.service.clock.now();
        for (line, group, m) in std::mem::take(&mut self.members) {
            let err = |problem: String| LoadError { line, problem };
            let role = match m.role.as_deref() {
                None | Some("Member") => Role::Member,
                Some("Admin") => Role::Admin,
                Some(other) => return Err(err(format!("Role {other:?} is not Admin or Member"))),
            };
            let member = NewMember {
                account: m.member_account,
                role,
                join_time: m.join_time.unwrap_or(now),
                unread_msg_num: m.unread_msg_num,
            };
            self.service
                .store()
                .import_members(&group, &[member])
                .map_err(|e| err(format!("member of group {group:?}: {e}")))?;
            self.report.members += 1;
        }
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_told_apart_by_their_fields() {
        assert!(matches!(
            parse_line(r#"{"GroupId":"g","Type":"Public","Name":"n","CreateTime":1}"#),
            Ok(Line::Group(_))
        ));
        assert!(matches!(
            parse_line(r#"{"GroupId":"g","Member_Account":"a","UnreadMsgNum":2}"#),
            Ok(Line::Member(..))
        ));
        assert!(matches!(
            parse_line(
                r#"{"GroupId":"g","From_Account":"a","SendTime":5,"SourceId":"s","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}"#
            ),
            Ok(Line::Message(..))
        ));
        for bad in [
            "[1]",
            "{",
            r#"{"GroupId":"g"}"#,
            r#"{"Type":"Public","Name":"n"}"#,
            r#"{"GroupId":"g","From_Account":"a","MsgBody":[]}"#,
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
