//! Phase 1: `import_group` for every group the checkpoint does not record as created.

use std::sync::Arc;

use tim_model::api::import_group::ImportGroupRequest;
use tim_model::ErrorCode;
use tokio::task::JoinSet;
use tracing::warn;

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
                Err(e) if e.code() == Some(ErrorCode::GROUP_ID_IN_USE) => Ok(()),
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
