//! `import_group` (digest §4.2), and group creation shared with `create_group`.

use std::collections::BTreeSet;

use rand::Rng;
use tim_model::api::import_group::{
    GroupIdResponse, GroupProfile, ImportGroupRequest, APPLY_JOIN_OPTIONS, FACE_URL_MAX_BYTES,
    INTRODUCTION_MAX_BYTES, NAME_MAX_BYTES, NOTIFICATION_MAX_BYTES,
};
use tim_model::{ids, GroupType};

use super::{check_account, type_refused, Service};
use crate::error::ApiError;
use crate::store::{NewGroup, NewMember, Role, StoreError};

impl Service {
    /// `import_group` (digest §4.2).
    pub fn import_group(&self, req: ImportGroupRequest) -> Result<GroupIdResponse, ApiError> {
        let now = self.clock.now();
        let t = &req.profile.group_type;
        if !self.limits().can_import_into(t) {
            return Err(type_refused("import_group", t));
        }
        let create_time = match req.create_time {
            None => now,
            Some(ct) if ct < 0 => {
                return Err(ApiError::InvalidParameter(format!(
                    "CreateTime {ct} is negative"
                )))
            }
            Some(ct) if ct > now => {
                return Err(ApiError::InvalidParameter(format!(
                    "CreateTime {ct} is in the future (now is {now})"
                )))
            }
            Some(ct) => ct,
        };
        self.create(req.profile, create_time, Vec::new())
    }

    /// Creates a group from a state dump's line (`POST /_tim/state`): the profile rules apply,
    /// not the edition's list of types `import_group` accepts (a dump also holds groups made by
    /// `create_group`).
    pub fn load_group(&self, req: ImportGroupRequest) -> Result<GroupIdResponse, ApiError> {
        let create_time = req.create_time.unwrap_or_else(|| self.clock.now());
        self.create(req.profile, create_time, Vec::new())
    }

    pub(super) fn create(
        &self,
        mut profile: GroupProfile,
        create_time: i64,
        mut members: Vec<NewMember>,
    ) -> Result<GroupIdResponse, ApiError> {
        check_profile(&profile)?;
        if let Some(owner) = &profile.owner_account {
            check_account("Owner_Account", owner)?;
            members.retain(|m| &m.account != owner);
            members.insert(
                0,
                NewMember {
                    account: owner.clone(),
                    role: Role::Owner,
                    join_time: create_time,
                    unread_msg_num: None,
                },
            );
        }
        let mut seen = BTreeSet::new();
        members.retain(|m| seen.insert(m.account.clone()));
        let custom = profile.group_id.take();
        if let Some(id) = &custom {
            ids::check_custom_group_id(id, &profile.group_type).map_err(|e| {
                ApiError::InvalidGroupId {
                    id: id.clone(),
                    reason: e.to_string(),
                }
            })?;
        }
        for _ in 0..16 {
            let group_id = custom
                .clone()
                .unwrap_or_else(|| self.new_group_id(&profile.group_type));
            let _guard = self.lock(&group_id);
            let mut p = profile.clone();
            p.group_id = Some(group_id.clone());
            match self.store.create_group(NewGroup {
                group_id: group_id.clone(),
                create_time,
                profile: p,
                members: members.clone(),
            }) {
                Ok(_) => {
                    tracing::debug!(group_id = %group_id, "group created");
                    return Ok(GroupIdResponse { group_id });
                }
                Err(StoreError::GroupIdTaken) if custom.is_none() => continue,
                Err(StoreError::GroupIdTaken) => return Err(ApiError::GroupIdTaken(group_id)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Internal(
            "could not allocate a free group ID".into(),
        ))
    }

    /// A server-assigned ID: `@TGS#` + 10 upper-case letters and digits (`@TGS#_@TGS#…` for communities).
    fn new_group_id(&self, t: &GroupType) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (alphabet, len) = (ALPHABET, 10);
        let tail: String = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
            .collect();
        match t {
            GroupType::Community => {
                format!("{}{}{tail}", ids::COMMUNITY_PREFIX, ids::AUTO_GROUP_PREFIX)
            }
            _ => format!("{}{tail}", ids::AUTO_GROUP_PREFIX),
        }
    }
}

fn check_profile(p: &GroupProfile) -> Result<(), ApiError> {
    let check_len = |field: &str, v: Option<&str>, max: usize| match v {
        Some(v) if v.len() > max => Err(ApiError::InvalidParameter(format!(
            "{field} is {} bytes; at most {max} are allowed",
            v.len()
        ))),
        _ => Ok(()),
    };
    if p.name.is_empty() {
        return Err(ApiError::InvalidParameter("Name is empty".into()));
    }
    check_len("Name", Some(&p.name), NAME_MAX_BYTES)?;
    check_len(
        "Introduction",
        p.introduction.as_deref(),
        INTRODUCTION_MAX_BYTES,
    )?;
    check_len(
        "Notification",
        p.notification.as_deref(),
        NOTIFICATION_MAX_BYTES,
    )?;
    check_len("FaceUrl", p.face_url.as_deref(), FACE_URL_MAX_BYTES)?;
    if let Some(opt) = p.apply_join_option.as_deref() {
        if !APPLY_JOIN_OPTIONS.contains(&opt) {
            return Err(ApiError::InvalidParameter(format!(
                "ApplyJoinOption {opt:?} is not one of FreeAccess, NeedPermission, DisableApply"
            )));
        }
    }
    Ok(())
}
