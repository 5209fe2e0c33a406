//! The API logic: one method per command, no HTTP. Handlers decode, call, and encode.
//!
//! The service is synchronous (the store is); the HTTP layer runs it on the blocking pool.
//! Writes to one group are serialized by a striped lock held across validation and the store
//! call, so that the ordering rules hold under concurrent imports.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::destroy_group::DestroyGroupRequest;
use tim_model::api::get_group_info::{
    GetGroupInfoRequest, GetGroupInfoResponse, GroupInfo, MemberInfo,
};
use tim_model::api::group_msg_get_simple::{
    GroupMsgGetSimpleRequest, GroupMsgGetSimpleResponse, HistoryMsg,
};
use tim_model::api::import_group::{
    GroupIdResponse, GroupProfile, ImportGroupRequest, APPLY_JOIN_OPTIONS,
    DEFAULT_APPLY_JOIN_OPTION, FACE_URL_MAX_BYTES, INTRODUCTION_MAX_BYTES, NAME_MAX_BYTES,
    NOTIFICATION_MAX_BYTES,
};
use tim_model::api::import_group_member::{
    member_result, ImportGroupMemberRequest, ImportGroupMemberResponse, MemberResult,
};
use tim_model::api::import_group_msg::{
    ImportGroupMsgRequest, ImportGroupMsgResponse, ImportMsgResult,
};
use tim_model::api::set_unread_msg_num::SetUnreadMsgNumRequest;
use tim_model::envelope::Empty;
use tim_model::validate::{self, Context, GroupSnapshot, Verdict};
use tim_model::{decode_json, ids, Command, ErrorCode, GroupType, Limits};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::store::{
    GroupRecord, MemberInsert, NewGroup, NewMember, NewMessage, Role, Store, StoreError,
};

/// Number of lock stripes for per-group serialization.
const LOCK_STRIPES: usize = 1024;

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Limits in force.
    pub limits: Limits,
    /// Restricted words (80001).
    pub restricted_words: Vec<String>,
    /// Seed of the random generator (group IDs, generated `Random`s); `None` seeds from the OS.
    pub rng_seed: Option<u64>,
}

/// The response body of any command.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ApiBody {
    /// `import_group_msg`.
    ImportGroupMsg(ImportGroupMsgResponse),
    /// `import_group`, `create_group`.
    GroupId(GroupIdResponse),
    /// `get_group_info`.
    GetGroupInfo(GetGroupInfoResponse),
    /// `import_group_member`.
    ImportGroupMember(ImportGroupMemberResponse),
    /// `group_msg_get_simple`.
    GroupMsgGetSimple(GroupMsgGetSimpleResponse),
    /// Envelope only.
    Empty(Empty),
}

/// The reference implementation of the group APIs.
pub struct Service {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
    stripes: Vec<Mutex<()>>,
    rng: Mutex<StdRng>,
}

impl Service {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ServiceConfig) -> Self {
        let rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Service {
            store,
            clock,
            config,
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            rng: Mutex::new(rng),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Decodes `body` for `command` and runs it.
    pub fn call(&self, command: Command, body: &[u8]) -> Result<ApiBody, ApiError> {
        Ok(match command {
            Command::ImportGroupMsg => {
                ApiBody::ImportGroupMsg(self.import_group_msg(decode_json(body)?)?)
            }
            Command::ImportGroup => ApiBody::GroupId(self.import_group(decode_json(body)?)?),
            Command::CreateGroup => ApiBody::GroupId(self.create_group(decode_json(body)?)?),
            Command::DestroyGroup => ApiBody::Empty(self.destroy_group(decode_json(body)?)?),
            Command::GetGroupInfo => {
                ApiBody::GetGroupInfo(self.get_group_info(decode_json(body)?)?)
            }
            Command::ImportGroupMember => {
                ApiBody::ImportGroupMember(self.import_group_member(decode_json(body)?)?)
            }
            Command::SetUnreadMsgNum => {
                ApiBody::Empty(self.set_unread_msg_num(decode_json(body)?)?)
            }
            Command::GroupMsgGetSimple => {
                ApiBody::GroupMsgGetSimple(self.group_msg_get_simple(decode_json(body)?)?)
            }
        })
    }

    fn lock(&self, group_id: &str) -> std::sync::MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        group_id.hash(&mut h);
        let stripe = &self.stripes[(h.finish() as usize) % LOCK_STRIPES];
        stripe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn random_u32(&self) -> u32 {
        self.rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .random()
    }

    /// Reads an existing group, checking the ID's syntax first (10015, then 10010).
    fn existing_group(&self, group_id: &str) -> Result<GroupRecord, ApiError> {
        check_group_id(group_id)?;
        self.store
            .group(group_id)?
            .ok_or_else(|| ApiError::GroupNotFound(group_id.to_owned()))
    }

    /// `import_group_msg` (seed §2, digest §1).
    pub fn import_group_msg(
        &self,
        req: ImportGroupMsgRequest,
    ) -> Result<ImportGroupMsgResponse, ApiError> {
        let limits = &self.config.limits;
        let _guard = self.lock(&req.group_id);
        let record = if ids::check_group_id(&req.group_id).is_ok() {
            self.store.group(&req.group_id)?
        } else {
            None
        };
        let snapshot = record.as_ref().map(|g| GroupSnapshot {
            group_type: g.group_type.clone(),
            create_time: g.create_time,
            last_msg_time: g.last_msg_time,
        });
        // Messages the store already holds (a batch re-sent after a lost reply) are answered with
        // their original sequence numbers, whatever their times look like now.
        let candidates: Vec<Option<(u32, i64)>> = req
            .msg_list
            .iter()
            .map(|m| Some((u32::try_from(m.random?).ok()?, m.send_time)))
            .collect();
        let duplicates = match &record {
            Some(_) if candidates.iter().any(Option::is_some) => {
                self.store
                    .find_duplicates(&req.group_id, &candidates, limits.dedup_window_secs)?
            }
            _ => Vec::new(),
        };
        let problems = validate::validate_import(
            &req,
            Context {
                limits,
                group: snapshot.as_ref(),
                restricted_words: &self.config.restricted_words,
                now: self.clock.now(),
                duplicates: &duplicates,
            },
        );
        let outcomes = match validate::verdict(&problems, req.msg_list.len(), limits) {
            Verdict::Reject { code, info } => return Err(ApiError::Rejected { code, info }),
            Verdict::Accept { outcomes } => outcomes,
        };
        let mut to_store = Vec::with_capacity(req.msg_list.len());
        for ((msg, outcome), candidate) in req.msg_list.iter().zip(&outcomes).zip(&candidates) {
            if outcome.is_some() {
                continue;
            }
            let body_json = serde_json::to_string(&msg.msg_body)
                .map_err(|e| ApiError::Internal(format!("cannot encode MsgBody: {e}")))?;
            // `candidates` holds the supplied Random of every message (validation checked its range).
            let (random, random_supplied) = match candidate {
                Some((r, _)) => (*r, true),
                None => (self.random_u32(), false),
            };
            to_store.push(NewMessage {
                from_account: msg.from_account.clone(),
                send_time: msg.send_time,
                random,
                random_supplied,
                body_json,
                cloud_custom_data: msg.cloud_custom_data.clone(),
            });
        }
        let stored =
            self.store
                .import_messages(&req.group_id, &to_store, limits.dedup_window_secs)?;
        let mut stored = stored.into_iter();
        let mut results = Vec::with_capacity(req.msg_list.len());
        for (msg, outcome) in req.msg_list.iter().zip(outcomes) {
            results.push(match outcome {
                Some(code) => ImportMsgResult {
                    result: code,
                    msg_seq: 0,
                    msg_time: msg.send_time,
                },
                None => {
                    let s = stored.next().ok_or_else(|| {
                        ApiError::Internal("store returned too few outcomes".into())
                    })?;
                    ImportMsgResult {
                        result: ErrorCode::OK,
                        msg_seq: s.msg_seq,
                        msg_time: s.msg_time,
                    }
                }
            });
        }
        tracing::debug!(group_id = %req.group_id, batch = results.len(), "messages imported");
        Ok(ImportGroupMsgResponse {
            import_msg_result: results,
        })
    }

    /// `import_group` (digest §4.2).
    pub fn import_group(&self, req: ImportGroupRequest) -> Result<GroupIdResponse, ApiError> {
        let now = self.clock.now();
        let t = &req.profile.group_type;
        if !self.config.limits.can_import_into(t) {
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

    /// `create_group` (digest §4.5).
    pub fn create_group(&self, req: CreateGroupRequest) -> Result<GroupIdResponse, ApiError> {
        let now = self.clock.now();
        let t = &req.profile.group_type;
        if !self.config.limits.can_create(t) {
            return Err(type_refused("create_group", t));
        }
        let list = req.member_list.unwrap_or_default();
        if *t == GroupType::AVChatRoom && !list.is_empty() {
            return Err(ApiError::PermissionDenied(
                "an AVChatRoom cannot be created with members".into(),
            ));
        }
        let mut members = Vec::with_capacity(list.len());
        for (i, m) in list.into_iter().enumerate() {
            check_account(
                &format!("MemberList[{i}].Member_Account"),
                &m.member_account,
            )?;
            let role = match m.role.as_deref().map(|r| (r, Role::parse(r))) {
                None | Some((_, Some(Role::Member))) => Role::Member,
                Some((_, Some(Role::Admin))) => Role::Admin,
                Some((other, _)) => {
                    return Err(ApiError::InvalidParameter(format!(
                    "MemberList[{i}].Role: {other:?} is not allowed; use \"Admin\" or leave it out"
                )))
                }
            };
            let join_time = m.join_time.unwrap_or(now);
            if join_time > now {
                return Err(ApiError::InvalidParameter(format!(
                    "MemberList[{i}].JoinTime: {join_time} is in the future"
                )));
            }
            members.push(NewMember {
                account: m.member_account,
                role,
                join_time,
                unread_msg_num: None,
            });
        }
        self.create(req.profile, now, members)
    }

    fn create(
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
        let tail: String = (0..10)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        match t {
            GroupType::Community => {
                format!("{}{}{tail}", ids::COMMUNITY_PREFIX, ids::AUTO_GROUP_PREFIX)
            }
            _ => format!("{}{tail}", ids::AUTO_GROUP_PREFIX),
        }
    }

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

    /// `get_group_info` (digest §4.7): each group gets its own `ErrorCode`.
    pub fn get_group_info(
        &self,
        req: GetGroupInfoRequest,
    ) -> Result<GetGroupInfoResponse, ApiError> {
        let max = self.config.limits.group_info_max_ids;
        if req.group_id_list.is_empty() || req.group_id_list.len() > max {
            return Err(ApiError::InvalidParameter(format!(
                "GroupIdList has {} entries; send 1 to {max}",
                req.group_id_list.len()
            )));
        }
        let mut out = Vec::with_capacity(req.group_id_list.len());
        for id in req.group_id_list {
            let info = match self.existing_group(&id) {
                Ok(g) => self.group_info(g)?,
                Err(e) => GroupInfo::error(id, e.code(), e.info()),
            };
            out.push(info);
        }
        Ok(GetGroupInfoResponse { group_info: out })
    }

    fn group_info(&self, g: GroupRecord) -> Result<GroupInfo, ApiError> {
        let members = self.store.members(&g.group_id)?;
        let last_seq = g.next_msg_seq.saturating_sub(1);
        let p = g.profile;
        let mut info = GroupInfo::error(g.group_id, ErrorCode::OK, "");
        info.group_type = Some(g.group_type);
        info.name = Some(p.name);
        info.introduction = Some(p.introduction.unwrap_or_default());
        info.notification = Some(p.notification.unwrap_or_default());
        info.face_url = Some(p.face_url.unwrap_or_default());
        info.owner_account = Some(p.owner_account.unwrap_or_default());
        info.create_time = Some(g.create_time);
        info.last_msg_time = Some(g.last_msg_time.unwrap_or(0));
        info.next_msg_seq = Some(g.next_msg_seq);
        info.member_num = Some(g.member_num);
        info.max_member_num = p.max_member_count;
        info.apply_join_option = Some(
            p.apply_join_option
                .unwrap_or_else(|| DEFAULT_APPLY_JOIN_OPTION.into()),
        );
        info.app_defined_data = p.app_defined_data;
        info.member_list = Some(
            members
                .into_iter()
                .map(|m| MemberInfo {
                    member_account: m.account,
                    role: m.role.as_str().to_owned(),
                    join_time: Some(m.join_time),
                    msg_seq: Some(last_seq.saturating_sub(m.unread_msg_num)),
                    unread_msg_num: Some(m.unread_msg_num),
                    extra: Default::default(),
                })
                .collect(),
        );
        Ok(info)
    }

    /// `import_group_member` (digest §4.3).
    pub fn import_group_member(
        &self,
        req: ImportGroupMemberRequest,
    ) -> Result<ImportGroupMemberResponse, ApiError> {
        let limits = &self.config.limits;
        check_group_id(&req.group_id)?;
        let n = req.member_list.len();
        if n == 0 || n > limits.members_per_request {
            return Err(ApiError::InvalidParameter(format!(
                "MemberList has {n} members; send 1 to {} per request ({} edition)",
                limits.members_per_request, limits.edition
            )));
        }
        let _guard = self.lock(&req.group_id);
        let g = self.existing_group(&req.group_id)?;
        if !limits.can_import_into(&g.group_type) {
            return Err(type_refused("import_group_member", &g.group_type));
        }
        let now = self.clock.now();
        let mut results: Vec<Option<u32>> = vec![None; n];
        let mut valid = Vec::with_capacity(n);
        let mut valid_idx = Vec::with_capacity(n);
        for (i, m) in req.member_list.iter().enumerate() {
            let join_time = m.join_time.unwrap_or(now.max(g.create_time));
            let ok = ids::check_account(&m.member_account).is_ok()
                && (g.create_time..=now).contains(&join_time)
                && m.unread_msg_num.is_none_or(|u| u >= 0);
            if !ok {
                results[i] = Some(member_result::FAILED);
                continue;
            }
            valid.push(NewMember {
                account: m.member_account.clone(),
                role: match m.role.as_deref().and_then(Role::parse) {
                    Some(Role::Admin) => Role::Admin,
                    _ => Role::Member,
                },
                join_time,
                unread_msg_num: m.unread_msg_num,
            });
            valid_idx.push(i);
        }
        let inserted = self.store.import_members(&req.group_id, &valid)?;
        for (i, r) in valid_idx.into_iter().zip(inserted) {
            results[i] = Some(match r {
                MemberInsert::Added => member_result::ADDED,
                MemberInsert::AlreadyMember => member_result::ALREADY_MEMBER,
            });
        }
        Ok(ImportGroupMemberResponse {
            member_list: req
                .member_list
                .into_iter()
                .zip(results)
                .map(|(m, r)| MemberResult {
                    member_account: m.member_account,
                    result: r.unwrap_or(member_result::FAILED),
                })
                .collect(),
        })
    }

    /// `set_unread_msg_num` (digest §4.4).
    pub fn set_unread_msg_num(&self, req: SetUnreadMsgNumRequest) -> Result<Empty, ApiError> {
        check_account("Member_Account", &req.member_account)?;
        if req.unread_msg_num < 0 {
            return Err(ApiError::InvalidParameter(format!(
                "UnreadMsgNum {} is negative",
                req.unread_msg_num
            )));
        }
        let _guard = self.lock(&req.group_id);
        let g = self.existing_group(&req.group_id)?;
        if !g.group_type.keeps_unread_counts() {
            // Seed era: no effect on these types, and no error (digest §4.4).
            return Ok(Empty {});
        }
        match self
            .store
            .set_unread(&req.group_id, &req.member_account, req.unread_msg_num)?
        {
            Some(_) => Ok(Empty {}),
            None => Err(ApiError::InvalidParameter(format!(
                "Member_Account {:?} is not a member of group {:?}",
                req.member_account, req.group_id
            ))),
        }
    }

    /// `group_msg_get_simple` (digest §4.8): newest first, at most `history_page_max` per call.
    pub fn group_msg_get_simple(
        &self,
        req: GroupMsgGetSimpleRequest,
    ) -> Result<GroupMsgGetSimpleResponse, ApiError> {
        let g = self.existing_group(&req.group_id)?;
        if matches!(g.group_type, GroupType::AVChatRoom | GroupType::BChatRoom) {
            return Err(type_refused("group_msg_get_simple", &g.group_type));
        }
        if req.req_msg_number <= 0 {
            return Err(ApiError::InvalidParameter(format!(
                "ReqMsgNumber is {}; ask for 1 or more messages",
                req.req_msg_number
            )));
        }
        let page_max = self.config.limits.history_page_max;
        let wanted = usize::try_from(req.req_msg_number).unwrap_or(usize::MAX);
        let rows = self
            .store
            .history(&req.group_id, req.req_msg_seq, wanted.min(page_max))?;
        let mut list = Vec::with_capacity(rows.len());
        for m in rows {
            let msg_body = serde_json::from_str(&m.body_json).map_err(|e| {
                ApiError::Internal(format!(
                    "stored MsgBody of seq {} is unreadable: {e}",
                    m.msg_seq
                ))
            })?;
            list.push(HistoryMsg {
                from_account: m.from_account,
                is_place_msg: 0,
                msg_body,
                msg_random: m.random,
                msg_seq: m.msg_seq,
                msg_time_stamp: m.send_time,
                cloud_custom_data: m.cloud_custom_data,
                extra: Default::default(),
            });
        }
        Ok(GroupMsgGetSimpleResponse {
            group_id: g.group_id,
            is_finished: i64::from(wanted <= page_max),
            rsp_msg_list: list,
        })
    }
}

fn check_group_id(id: &str) -> Result<(), ApiError> {
    ids::check_group_id(id).map_err(|e| ApiError::InvalidGroupId {
        id: id.to_owned(),
        reason: e.to_string(),
    })
}

fn check_account(path: &str, account: &str) -> Result<(), ApiError> {
    ids::check_account(account).map_err(|e| ApiError::InvalidParameter(format!("{path}: {e}")))
}

fn type_refused(command: &str, t: &GroupType) -> ApiError {
    match t {
        GroupType::Unknown(name) => {
            ApiError::InvalidParameter(format!("Type {name:?} is not a group type"))
        }
        t => ApiError::PermissionDenied(format!("{command} does not support groups of type {t}")),
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
