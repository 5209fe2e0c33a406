//! The API logic: one method per command, no HTTP. Handlers decode, call, and encode.
//!
//! One module per command, as in `tim_model::api`; this module holds the [`Service`] itself,
//! the dispatch by command and the helpers the commands share.
//!
//! The service is synchronous (the store is); the HTTP layer runs it on the blocking pool.
//! Writes to one group are serialized by a striped lock held across validation and the store
//! call, so that the ordering rules hold under concurrent imports.

mod create_group;
mod destroy_group;
mod get_group_info;
mod group_msg_get_simple;
mod import_group;
mod import_group_member;
mod import_group_msg;
mod set_unread_msg_num;

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tim_model::api::get_group_info::GetGroupInfoResponse;
use tim_model::api::group_msg_get_simple::GroupMsgGetSimpleResponse;
use tim_model::api::import_group::GroupIdResponse;
use tim_model::api::import_group_member::ImportGroupMemberResponse;
use tim_model::api::import_group_msg::ImportGroupMsgResponse;
use tim_model::control::MessageFault;
use tim_model::envelope::Empty;
use tim_model::{decode_json, ids, Command, GroupType, Limits};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::store::{GroupRecord, Store};

/// Number of lock stripes for per-group serialization.
const LOCK_STRIPES: usize = 1024;

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The SDKAppID this server serves (`get_group_info`'s `Appid`).
    pub sdkappid: u64,
    /// Limits in force at start (changed at run time with [`Service::set_limits`]).
    pub limits: Limits,
    /// Restricted words (80001).
    pub restricted_words: Vec<String>,
    /// Seed of the random generator (group IDs, generated `Random`s); `None` seeds from the OS.
    pub rng_seed: Option<u64>,
}

impl ServiceConfig {
    /// The reference service for `sdkappid` under `limits`: no restricted words, seeded from the
    /// OS (adjust the public fields as needed), for code outside this crate (the fuzz targets).
    pub fn new(sdkappid: u64, limits: Limits) -> ServiceConfig {
        ServiceConfig {
            sdkappid,
            limits,
            restricted_words: Vec::new(),
            rng_seed: None,
        }
    }
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
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    config: ServiceConfig,
    limits: RwLock<Arc<Limits>>,
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
            limits: RwLock::new(Arc::new(config.limits.clone())),
            config,
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            rng: Mutex::new(rng),
        }
    }

    /// The limits in force (a snapshot: a call keeps the limits it started with).
    pub fn limits(&self) -> Arc<Limits> {
        Arc::clone(
            &self
                .limits
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Changes the limits and readings for the calls that start from now on.
    pub fn set_limits(&self, limits: Limits) {
        *self
            .limits
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(limits);
    }

    /// Starts the generator of group IDs and generated `Random`s again from `seed`.
    pub fn reseed(&self, seed: u64) {
        *self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = StdRng::seed_from_u64(seed);
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Decodes `body` for `command` and runs it.
    pub fn call(&self, command: Command, body: &[u8]) -> Result<ApiBody, ApiError> {
        self.call_with(command, body, None)
    }

    /// [`Service::call`], with one message of an `import_group_msg` batch failing alone with a
    /// given `Result` (the control plane's `message_result` fault; ignored for other commands).
    pub fn call_with(
        &self,
        command: Command,
        body: &[u8],
        message_fault: Option<&MessageFault>,
    ) -> Result<ApiBody, ApiError> {
        self.call_rules(command, body, message_fault)
    }

    /// Decodes `body` for `command` and runs the reference rules.
    pub(crate) fn call_rules(
        &self,
        command: Command,
        body: &[u8],
        message_fault: Option<&MessageFault>,
    ) -> Result<ApiBody, ApiError> {
        Ok(match command {
            Command::ImportGroupMsg => ApiBody::ImportGroupMsg(
                self.import_group_msg_with(decode_json(body)?, message_fault)?,
            ),
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
