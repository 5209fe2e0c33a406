//! Syntax of group IDs and account IDs (digest §4.1).

use crate::group_type::GroupType;

/// Prefix of server-assigned group IDs.
pub const AUTO_GROUP_PREFIX: &str = "@TGS#";
/// Prefix of community group IDs (custom or assigned).
pub const COMMUNITY_PREFIX: &str = "@TGS#_";
/// Longest custom group ID, in bytes.
pub const GROUP_ID_MAX_BYTES: usize = 48;
/// Longest account ID (UserID), in bytes.
pub const ACCOUNT_MAX_BYTES: usize = 32;

/// Why a group ID is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupIdError {
    /// Empty string.
    #[error("group ID is empty")]
    Empty,
    /// Longer than [`GROUP_ID_MAX_BYTES`].
    #[error("group ID is {0} bytes long; at most 48 are allowed")]
    TooLong(usize),
    /// A byte outside printable ASCII 0x20–0x7e.
    #[error("group ID contains a character outside printable ASCII (0x20-0x7e)")]
    NotPrintableAscii,
    /// `@TGS#` followed by something that is not a server-assigned ID.
    #[error("group ID starts with @TGS# but is not a server-assigned ID")]
    BadAssignedForm,
    /// A custom ID (create/import) that uses a reserved prefix.
    #[error("a custom group ID must not start with @TGS# (communities use @TGS#_)")]
    ReservedPrefix,
    /// A custom community ID that lacks the `@TGS#_` prefix.
    #[error("a custom community ID must start with @TGS#_")]
    CommunityPrefixMissing,
}

/// Checks a group ID as it appears in a request that names an existing group.
///
/// Accepts server-assigned IDs (`@TGS#` + ASCII letters and digits), community IDs (`@TGS#_` + printable
/// ASCII) and custom IDs (printable ASCII, at most 48 bytes, not starting with `@TGS#`).
pub fn check_group_id(id: &str) -> Result<(), GroupIdError> {
    if id.is_empty() {
        return Err(GroupIdError::Empty);
    }
    if id.len() > GROUP_ID_MAX_BYTES {
        return Err(GroupIdError::TooLong(id.len()));
    }
    if !id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(GroupIdError::NotPrintableAscii);
    }
    if let Some(rest) = id.strip_prefix(COMMUNITY_PREFIX) {
        if rest.is_empty() {
            return Err(GroupIdError::BadAssignedForm);
        }
    } else if let Some(rest) = id.strip_prefix(AUTO_GROUP_PREFIX) {
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(GroupIdError::BadAssignedForm);
        }
    }
    Ok(())
}

/// Checks a custom group ID chosen by the caller of `create_group` / `import_group`.
pub fn check_custom_group_id(id: &str, group_type: &GroupType) -> Result<(), GroupIdError> {
    check_group_id(id)?;
    let community = *group_type == GroupType::Community;
    match (community, id.starts_with(COMMUNITY_PREFIX)) {
        (true, true) => Ok(()),
        (true, false) => Err(GroupIdError::CommunityPrefixMissing),
        (false, _) if id.starts_with(AUTO_GROUP_PREFIX) => Err(GroupIdError::ReservedPrefix),
        (false, _) => Ok(()),
    }
}

/// Why an account ID is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// Empty string.
    #[error("account is empty")]
    Empty,
    /// Longer than [`ACCOUNT_MAX_BYTES`].
    #[error("account is {0} bytes long; at most 32 are allowed")]
    TooLong(usize),
    /// A byte outside printable ASCII.
    #[error("account contains a character outside printable ASCII (0x20-0x7e)")]
    NotPrintableAscii,
}

/// Checks an account ID (UserID): non-empty printable ASCII, at most 32 bytes (digest §4.1).
pub fn check_account(id: &str) -> Result<(), AccountError> {
    if id.is_empty() {
        return Err(AccountError::Empty);
    }
    if id.len() > ACCOUNT_MAX_BYTES {
        return Err(AccountError::TooLong(id.len()));
    }
    if !id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(AccountError::NotPrintableAscii);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids() {
        for ok in [
            "@TGS#2C5SZEAEF",
            "@TGS#cQVLVHIM62CJ",
            "@TGS#_@TGS#cQVLVHIM62CJ",
            "my group-1",
            &"x".repeat(48),
        ] {
            assert_eq!(check_group_id(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_group_id(""), Err(GroupIdError::Empty));
        assert_eq!(
            check_group_id(&"x".repeat(49)),
            Err(GroupIdError::TooLong(49))
        );
        assert_eq!(check_group_id("a\tb"), Err(GroupIdError::NotPrintableAscii));
        assert_eq!(check_group_id("群"), Err(GroupIdError::NotPrintableAscii));
        assert_eq!(check_group_id("@TGS#"), Err(GroupIdError::BadAssignedForm));
        assert_eq!(
            check_group_id("@TGS#a b"),
            Err(GroupIdError::BadAssignedForm)
        );
        assert_eq!(
            check_custom_group_id("@TGS#ABC", &GroupType::Public),
            Err(GroupIdError::ReservedPrefix)
        );
        assert_eq!(
            check_custom_group_id("@TGS#_c", &GroupType::Public),
            Err(GroupIdError::ReservedPrefix)
        );
        assert_eq!(
            check_custom_group_id("@TGS#_c", &GroupType::Community),
            Ok(())
        );
        assert_eq!(
            check_custom_group_id("c", &GroupType::Community),
            Err(GroupIdError::CommunityPrefixMissing)
        );
    }

    #[test]
    fn accounts() {
        assert_eq!(check_account("leckie"), Ok(()));
        assert_eq!(check_account(""), Err(AccountError::Empty));
        assert_eq!(
            check_account(&"a".repeat(33)),
            Err(AccountError::TooLong(33))
        );
        assert_eq!(
            check_account("a\u{1}"),
            Err(AccountError::NotPrintableAscii)
        );
    }
}
