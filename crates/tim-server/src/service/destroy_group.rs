//! `destroy_group` (digest §4.6).

use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::envelope::Empty;

use super::{check_group_id, Service};
use crate::error::ApiError;
use crate::store::StoreError;

impl Service {
    /// `destroy_group` (digest §4.6).
    pub fn destroy_group(&self, req: DestroyGroupRequest) -> Result<Empty, ApiError> {
        check_group_id(&req.group_id)?;
        let _guard = self.lock(&req.group_id);
        match self.store.destroy_group(&req.group_id) {
            Ok(()) => Ok(Empty {}),
            Err(StoreError::GroupNotFound) => Err(ApiError::GroupNotFound(req.group_id)),
            Err(e) => Err(e.into()),
        }
    }
}
