//! Phase 3: members with `UnreadMsgNum`, after every message (importing messages resets unread
//! counts, digest Q17).

use std::sync::Arc;

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
                let res = run.client.import_group_member(&req).await;
                let mut s = run.lock();
                match res {
                    Ok(resp) => {
                        for (line, raw, m) in chunk {
                            let result = resp.member_list.iter().find(|r| r.member_account == m.member_account);
                            match result.map(|r| r.result) {
                                Some(member_result::ADDED) | Some(member_result::ALREADY_MEMBER) => s.report.members.done += 1,
                                other => {
                                    s.report.members.failed += 1;
                                    let reason = match other {
                                        Some(_) => "the server refused this member (JoinTime before the group's CreateTime or in the future, or an invalid account)",
                                        None => "the server's answer has no result for this member",
                                    };
                                    s.reject(&run.members_file, *line, &group_id, ErrorCode::INVALID_PARAMETER, reason, raw)?;
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
