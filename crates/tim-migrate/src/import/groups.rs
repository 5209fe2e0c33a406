//! Phase 1: `import_group` for every group the checkpoint does not record as created.
//!
//! 10021 (group ID in use) and 10025 (in use, and the operator owns it) both mean that the group
//! exists: its messages go into it. The group is read back (`Name`, `CreateTime`, as the client
//! confirms a re-sent `import_group`): a profile that differs from the input is logged as a
//! warning (the ID may belong to another group), one that matches as made by an earlier run.

use std::sync::Arc;

use tim_client::Error as ClientError;
use tim_model::api::get_group_info::{GetGroupInfoRequest, ResponseFilter};
use tim_model::api::import_group::ImportGroupRequest;
use tim_model::ErrorCode;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::state::{group_scoped, Run};
use super::ImportError;

pub(super) async fn import_groups(
    run: &Arc<Run>,
    groups: &[(String, ImportGroupRequest)],
    concurrency: usize,
) -> Result<(), ImportError> {
    let mut tasks = JoinSet::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    for (group_id, req) in groups {
        if run
            .lock()
            .checkpoint
            .groups
            .get(group_id)
            .is_some_and(|g| g.created)
        {
            continue;
        }
        let (run, permits, group_id, req) = (
            Arc::clone(run),
            Arc::clone(&permits),
            group_id.clone(),
            req.clone(),
        );
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            if run.stopping() {
                return;
            }
            let res = match run.client.import_group(&req).await {
                Ok(_) => Ok(()),
                // Created by an earlier run whose checkpoint missed it, or by the user: import into it.
                Err(e) if id_in_use(&e) => match differs(&run, &group_id, &req).await {
                    Ok(None) => {
                        info!(group_id, code = e.code().map_or(0, |c| c.0), "the group exists already with the input's profile: importing into it");
                        Ok(())
                    }
                    Ok(Some(what)) => {
                        warn!(group_id, code = e.code().map_or(0, |c| c.0), "the group ID is in use by a group whose {what}: importing into it anyway");
                        Ok(())
                    }
                    Err(read) => Err(read),
                },
                Err(e) => Err(e),
            };
            match res {
                Ok(()) => {
                    let mut s = run.lock();
                    s.checkpoint.group_mut(&group_id).created = true;
                    s.report.groups.done += 1;
                    s.dirty = true;
                }
                Err(e) if group_scoped(&e) => {
                    warn!(group_id, error = %e, "import_group failed; the group's messages will be tried anyway");
                    run.lock().report.groups.failed += 1;
                }
                Err(e) => run.fail(e),
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// 10021 or 10025: the group ID is in use, so the group exists.
pub(super) fn id_in_use(err: &ClientError) -> bool {
    matches!(
        err.code(),
        Some(ErrorCode::GROUP_ID_IN_USE) | Some(ErrorCode::GROUP_ID_OWNED)
    )
}

/// Reads the existing group back: `None` when its `Name` (and `CreateTime`, if the input gives
/// one) match the input, else what differs.
async fn differs(
    run: &Run,
    group_id: &str,
    want: &ImportGroupRequest,
) -> Result<Option<String>, ClientError> {
    let req = GetGroupInfoRequest {
        group_id_list: vec![group_id.to_owned()],
        response_filter: Some(ResponseFilter {
            group_base_info_filter: Some(vec!["Name".into(), "CreateTime".into()]),
            member_info_filter: Some(Vec::new()),
            app_defined_data_filter_group: Some(Vec::new()),
            app_defined_data_filter_group_member: Some(Vec::new()),
            ..ResponseFilter::default()
        }),
    };
    let resp = run.client.get_group_info(&req).await?;
    let Some(g) = resp.group_info.iter().find(|g| g.group_id == group_id) else {
        return Ok(Some("profile was not in the read-back".to_owned()));
    };
    if !g.error_code.is_ok() {
        return Ok(Some(format!(
            "profile cannot be read back (error {})",
            g.error_code.0
        )));
    }
    let mut diff = Vec::new();
    if g.base.name.as_deref() != Some(want.profile.name.as_str()) {
        diff.push(format!(
            "Name is {:?} (the input has {:?})",
            g.base.name.as_deref().unwrap_or_default(),
            want.profile.name
        ));
    }
    if let (Some(w), Some(c)) = (want.create_time, g.base.create_time) {
        if w != c {
            diff.push(format!("CreateTime is {c} (the input has {w})"));
        }
    }
    Ok((!diff.is_empty()).then(|| diff.join(" and ")))
}
