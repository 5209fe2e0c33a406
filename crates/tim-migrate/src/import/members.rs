//! Phase 3: members with `UnreadMsgNum`, after every message (importing messages resets unread
//! counts, digest Q17).
//!
//! A refused member goes to the rejects file with the server's own code: the envelope's
//! `ErrorCode` when it is not 0, else the member's `Result` (0, failed); never one the importer
//! makes up.

use std::sync::Arc;

use tim_client::Error as ClientError;
use tim_model::api::import_group_member::{member_result, ImportGroupMemberRequest};
use tim_model::ErrorCode;
use tokio::task::JoinSet;

use super::state::{group_scoped, Run};
use super::{ImportError, MembersByGroup};

pub(super) async fn import_members(
    run: &Arc<Run>,
    members: &MembersByGroup,
    concurrency: usize,
) -> Result<(), ImportError> {
    let per_request = run.client.limits().members_per_request.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for (group_id, list) in members {
        let done = run
            .lock()
            .checkpoint
            .groups
            .get(group_id)
            .map_or(0, |g| g.members_done) as usize;
        if done >= list.len() {
            continue;
        }
        let (run, permits, group_id, list) = (
            Arc::clone(run),
            Arc::clone(&permits),
            group_id.clone(),
            list[done..].to_vec(),
        );
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            for chunk in list.chunks(per_request) {
                if run.stopping() {
                    return Ok(());
                }
                let req = ImportGroupMemberRequest {
                    group_id: group_id.clone(),
                    member_list: chunk.iter().map(|(_, _, m)| m.clone()).collect(),
                };
                // The whole answer: per-member results count even beside a non-zero ErrorCode.
                let res = run.client.call_envelope(&req).await.and_then(|resp| {
                    if resp.envelope.is_ok() || !resp.body.member_list.is_empty() {
                        Ok(resp)
                    } else {
                        let code = resp.envelope.error_code;
                        Err(ClientError::Api {
                            command: tim_model::Command::ImportGroupMember,
                            code,
                            info: resp.envelope.error_info,
                            class: code.class(),
                            request_id: resp.envelope.request_id,
                        })
                    }
                });
                let mut s = run.lock();
                match res {
                    Ok(resp) => {
                        let envelope = &resp.envelope;
                        for (line, raw, m) in chunk {
                            let result = resp
                                .body
                                .member_list
                                .iter()
                                .find(|r| r.member_account == m.member_account)
                                .map(|r| r.result);
                            match result {
                                Some(member_result::ADDED) | Some(member_result::ALREADY_MEMBER) => s.report.members.done += 1,
                                other => {
                                    s.report.members.failed += 1;
                                    let (code, reason) = if !envelope.is_ok() {
                                        (envelope.error_code, format!("the server refused this member ({}: {}; Result {})", envelope.error_code.0, envelope.error_info, other.map_or("absent".to_owned(), |r| r.to_string())))
                                    } else {
                                        match other {
                                            Some(r) => (ErrorCode(r), format!("the server refused this member (Result {r}: JoinTime not after the group's CreateTime or in the future, a negative UnreadMsgNum, or an invalid account)")),
                                            None => (envelope.error_code, "the server's answer has no result for this member".to_owned()),
                                        }
                                    };
                                    s.reject(&run.members_file, *line, &group_id, code, &reason, raw)?;
                                }
                            }
                        }
                    }
                    Err(e) if group_scoped(&e) => {
                        let code = e.code().unwrap_or(ErrorCode::INVALID_PARAMETER);
                        for (line, raw, _) in chunk {
                            s.report.members.failed += 1;
                            s.reject(&run.members_file, *line, &group_id, code, &e.to_string(), raw)?;
                        }
                    }
                    Err(e) => {
                        drop(s);
                        run.fail(e);
                        return Ok(());
                    }
                }
                s.checkpoint.group_mut(&group_id).members_done += chunk.len() as u64;
                s.dirty = true;
            }
            Ok::<(), ImportError>(())
        });
    }
    let mut first_error = None;
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
