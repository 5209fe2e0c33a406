//! Group types (digest §4.1): names as on the wire, old aliases kept apart.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A group type as named on the wire. Unknown names are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupType {
    /// `Private`: private group (same as `Work`).
    Private,
    /// `Work`: the current name of a private group.
    Work,
    /// `Public`: public group.
    Public,
    /// `ChatRoom`: chat room (same as `Meeting`).
    ChatRoom,
    /// `Meeting`: the current name of a chat room.
    Meeting,
    /// `AVChatRoom`: live-broadcast chat room; history import is refused (10007).
    AVChatRoom,
    /// `BChatRoom`: seed-era online-member broadcast group; history import is refused (10007).
    BChatRoom,
    /// `Community`: community group (current edition).
    Community,
    /// Any other name, kept as read.
    Unknown(String),
}

impl GroupType {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            GroupType::Private => "Private",
            GroupType::Work => "Work",
            GroupType::Public => "Public",
            GroupType::ChatRoom => "ChatRoom",
            GroupType::Meeting => "Meeting",
            GroupType::AVChatRoom => "AVChatRoom",
            GroupType::BChatRoom => "BChatRoom",
            GroupType::Community => "Community",
            GroupType::Unknown(s) => s,
        }
    }

    /// Parses a wire name; never fails.
    pub fn parse(s: &str) -> GroupType {
        match s {
            "Private" => GroupType::Private,
            "Work" => GroupType::Work,
            "Public" => GroupType::Public,
            "ChatRoom" => GroupType::ChatRoom,
            "Meeting" => GroupType::Meeting,
            "AVChatRoom" => GroupType::AVChatRoom,
            "BChatRoom" => GroupType::BChatRoom,
            "Community" => GroupType::Community,
            other => GroupType::Unknown(other.to_owned()),
        }
    }

    /// The member capacity of a group of this type whose creator named none (`MaxMemberNum`);
    /// 0 means no limit (AVChatRoom, BChatRoom) or an unknown type.
    ///
    /// *emulator-defined*: the documents give the ceilings a paid plan can reach (Work, Public and
    /// Meeting up to 6000, Community 100000, AVChatRoom unlimited), not the defaults; the values
    /// for Private/Work (200) and Public (2000) are the classic plan's.
    pub fn default_max_member_num(&self) -> u64 {
        match self {
            GroupType::Private | GroupType::Work => 200,
            GroupType::Public => 2000,
            GroupType::ChatRoom | GroupType::Meeting => 6000,
            GroupType::Community => 100_000,
            GroupType::AVChatRoom | GroupType::BChatRoom | GroupType::Unknown(_) => 0,
        }
    }
}

impl fmt::Display for GroupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for GroupType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GroupType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(GroupType::parse(&s))
    }
}

/// A member's role in a group (`Owner`, `Admin`, `Member`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The group owner.
    Owner,
    /// An admin.
    Admin,
    /// An ordinary member.
    Member,
}

impl Role {
    /// The wire name (`Owner`, `Admin`, `Member`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }

    /// Parses a wire name; unknown names are `None`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "Owner" => Some(Role::Owner),
            "Admin" => Some(Role::Admin),
            "Member" => Some(Role::Member),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Old and new names of one type share a capacity; the broadcast types have none (0).
    #[test]
    fn default_max_member_num_by_type() {
        let n = |s: &str| GroupType::parse(s).default_max_member_num();
        assert_eq!((n("Private"), n("Work")), (200, 200));
        assert_eq!(n("Public"), 2000);
        assert_eq!((n("ChatRoom"), n("Meeting")), (6000, 6000));
        assert_eq!(n("Community"), 100_000);
        assert_eq!((n("AVChatRoom"), n("BChatRoom"), n("Other")), (0, 0, 0));
    }
}
