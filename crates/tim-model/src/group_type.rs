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

    /// Whether members of this type keep unread counts (seed era: only Private and Public, digest §4.4).
    pub fn keeps_unread_counts(&self) -> bool {
        !matches!(
            self,
            GroupType::ChatRoom | GroupType::Meeting | GroupType::AVChatRoom | GroupType::BChatRoom
        )
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
