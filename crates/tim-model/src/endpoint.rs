//! REST endpoint paths: `/v4/{service}/{command}` (digest §2.1).

use std::fmt;

/// The REST API version segment, always `v4`.
pub const API_VERSION: &str = "v4";
/// The group service that hosts every command this project implements.
pub const GROUP_SERVICE: &str = "group_open_http_svc";
/// Path of the liveness probe of the reference server (not a Tencent API).
pub const HEALTH_PATH: &str = "/healthz";

/// A command of `group_open_http_svc` known to this project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    /// `import_group_msg`: import historical group messages.
    ImportGroupMsg,
    /// `import_group`: import a group's base profile.
    ImportGroup,
    /// `create_group`: create a group.
    CreateGroup,
    /// `destroy_group`: dismiss a group.
    DestroyGroup,
    /// `get_group_info`: read group profiles.
    GetGroupInfo,
    /// `import_group_member`: import members.
    ImportGroupMember,
    /// `set_unread_msg_num`: set one member's unread count.
    SetUnreadMsgNum,
    /// `group_msg_get_simple`: read group history, newest first.
    GroupMsgGetSimple,
}

impl Command {
    /// Every command, in a stable order.
    pub const ALL: [Command; 8] = [
        Command::ImportGroupMsg,
        Command::ImportGroup,
        Command::CreateGroup,
        Command::DestroyGroup,
        Command::GetGroupInfo,
        Command::ImportGroupMember,
        Command::SetUnreadMsgNum,
        Command::GroupMsgGetSimple,
    ];

    /// The command's name as it appears in the URL.
    pub const fn name(self) -> &'static str {
        match self {
            Command::ImportGroupMsg => "import_group_msg",
            Command::ImportGroup => "import_group",
            Command::CreateGroup => "create_group",
            Command::DestroyGroup => "destroy_group",
            Command::GetGroupInfo => "get_group_info",
            Command::ImportGroupMember => "import_group_member",
            Command::SetUnreadMsgNum => "set_unread_msg_num",
            Command::GroupMsgGetSimple => "group_msg_get_simple",
        }
    }

    /// The service the command belongs to.
    pub const fn service(self) -> &'static str {
        GROUP_SERVICE
    }

    /// The full path, e.g. `/v4/group_open_http_svc/import_group_msg`.
    pub fn path(self) -> String {
        format!("/{API_VERSION}/{}/{}", self.service(), self.name())
    }

    /// Looks a command up by its URL name.
    pub fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a request path names, before any other check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathTarget {
    /// A known command.
    Command(Command),
    /// `v4/group_open_http_svc/<unknown>`: an unknown command of a known service (10003, digest §7 Q11).
    UnknownCommand(String),
    /// Anything else: an unknown service or resource (60009, digest §7 Q11).
    UnknownResource,
}

/// Classifies a request path (without the query string).
pub fn classify_path(path: &str) -> PathTarget {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(API_VERSION), Some(GROUP_SERVICE), Some(cmd), None) => {
            match Command::from_name(cmd) {
                Some(c) => PathTarget::Command(c),
                None => PathTarget::UnknownCommand(cmd.to_owned()),
            }
        }
        _ => PathTarget::UnknownResource,
    }
}

/// A Tencent IM data-center region and its REST host (digest §2.1, [REST-CUR]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    /// Chinese mainland: `console.tim.qq.com` (the only host of the seed era).
    China,
    /// Singapore: `adminapisgp.im.qcloud.com`.
    Singapore,
    /// Seoul: `adminapikr.im.qcloud.com`.
    Seoul,
    /// Tokyo: `adminapijpn.im.qcloud.com`.
    Tokyo,
    /// Frankfurt: `adminapiger.im.qcloud.com`.
    Frankfurt,
    /// Silicon Valley: `adminapiusa.im.qcloud.com`.
    SiliconValley,
    /// Jakarta: `adminapiidn.im.qcloud.com`.
    Jakarta,
}

impl Region {
    /// Every region, in a stable order.
    pub const ALL: [Region; 7] = [
        Region::China,
        Region::Singapore,
        Region::Seoul,
        Region::Tokyo,
        Region::Frankfurt,
        Region::SiliconValley,
        Region::Jakarta,
    ];

    /// The region's name on command lines (`china`, `silicon-valley`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Region::China => "china",
            Region::Singapore => "singapore",
            Region::Seoul => "seoul",
            Region::Tokyo => "tokyo",
            Region::Frankfurt => "frankfurt",
            Region::SiliconValley => "silicon-valley",
            Region::Jakarta => "jakarta",
        }
    }

    /// The REST API host of the region.
    pub const fn host(self) -> &'static str {
        match self {
            Region::China => "console.tim.qq.com",
            Region::Singapore => "adminapisgp.im.qcloud.com",
            Region::Seoul => "adminapikr.im.qcloud.com",
            Region::Tokyo => "adminapijpn.im.qcloud.com",
            Region::Frankfurt => "adminapiger.im.qcloud.com",
            Region::SiliconValley => "adminapiusa.im.qcloud.com",
            Region::Jakarta => "adminapiidn.im.qcloud.com",
        }
    }

    /// The base URL of the region (HTTPS only, digest §2.1).
    pub fn base_url(self) -> String {
        format!("https://{}", self.host())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A region name that is not one of [`Region::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown region {0:?}: expected one of china, singapore, seoul, tokyo, frankfurt, silicon-valley, jakarta")]
pub struct UnknownRegion(pub String);

impl std::str::FromStr for Region {
    type Err = UnknownRegion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownRegion(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_parse_by_name() {
        for r in Region::ALL {
            assert_eq!(r.name().parse::<Region>().unwrap(), r);
            assert!(r.base_url().starts_with("https://"));
        }
        assert_eq!(Region::China.host(), "console.tim.qq.com");
        assert_eq!(Region::Jakarta.host(), "adminapiidn.im.qcloud.com");
        assert!("mumbai".parse::<Region>().is_err());
    }

    #[test]
    fn paths_round_trip() {
        for c in Command::ALL {
            assert_eq!(classify_path(&c.path()), PathTarget::Command(c));
        }
        assert_eq!(
            Command::ImportGroupMsg.path(),
            "/v4/group_open_http_svc/import_group_msg"
        );
        assert_eq!(
            classify_path("/v4/group_open_http_svc/nope"),
            PathTarget::UnknownCommand("nope".into())
        );
        assert_eq!(
            classify_path("/v4/openim/sendmsg"),
            PathTarget::UnknownResource
        );
        assert_eq!(
            classify_path("/v4/group_open_http_svc/import_group_msg/x"),
            PathTarget::UnknownResource
        );
    }
}
