//! Which requests may be sent again after an attempt that may have reached the server.

use tim_model::api::create_group::CreateGroupRequest;
use tim_model::api::import_group::{GroupProfile, ImportGroupRequest};
use tim_model::api::import_group_msg::ImportGroupMsgRequest;
use tim_model::Command;

/// Whether a request may be sent again after an attempt that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// A second copy has no further effect (reads, idempotent writes, imports with fixed
    /// `Random`s, group imports with a `GroupId`).
    Safe,
    /// A second copy could be applied too: never re-sent after an attempt that may have been.
    Never,
}

/// What a re-sent request's failure may really mean.
#[derive(Debug)]
pub(crate) enum AfterResend {
    /// Take the answer as it is.
    AsIs,
    /// 10021/10025 (ID in use): the lost attempt may have made the group; confirm it.
    ConfirmGroup(WantedGroup),
    /// 10010 (no such group): the lost attempt dismissed it.
    GoneIsDone,
}

/// The group an `import_group`/`create_group` with a `GroupId` asked for.
#[derive(Debug)]
pub(crate) struct WantedGroup {
    pub(crate) group_id: String,
    pub(crate) name: String,
    pub(crate) create_time: Option<i64>,
}

/// How a request is retried, from its command and body (the typed request, decoded again).
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) resend: Resend,
    pub(crate) after_resend: AfterResend,
}

impl Plan {
    pub(crate) fn of(command: Command, body: &[u8]) -> Plan {
        let safe = |after_resend| Plan {
            resend: Resend::Safe,
            after_resend,
        };
        let never = Plan {
            resend: Resend::Never,
            after_resend: AfterResend::AsIs,
        };
        let group = |profile: GroupProfile, create_time| match profile.group_id {
            Some(group_id) => safe(AfterResend::ConfirmGroup(WantedGroup {
                group_id,
                name: profile.name,
                create_time,
            })),
            None => Plan {
                resend: Resend::Never,
                after_resend: AfterResend::AsIs,
            },
        };
        match command {
            Command::ImportGroupMsg => {
                match serde_json::from_slice::<ImportGroupMsgRequest>(body) {
                    Ok(req) if req.msg_list.iter().all(|m| m.random.is_some()) => {
                        safe(AfterResend::AsIs)
                    }
                    _ => never,
                }
            }
            Command::ImportGroup => match serde_json::from_slice::<ImportGroupRequest>(body) {
                Ok(req) => group(req.profile, req.create_time),
                Err(_) => never,
            },
            Command::CreateGroup => match serde_json::from_slice::<CreateGroupRequest>(body) {
                Ok(req) => group(req.profile, None),
                Err(_) => never,
            },
            Command::DestroyGroup => safe(AfterResend::GoneIsDone),
            _ => safe(AfterResend::AsIs),
        }
    }
}
