//! Input rules for account fields.

use crate::error::{ChatError, Reason};

/// Lowercases and checks a username: 3-32 of `a-z 0-9 _ .`, starting with a letter.
pub fn username(raw: &str) -> Result<String, ChatError> {
    let name = raw.trim().to_ascii_lowercase();
    let ok_len = (3..=32).contains(&name.len());
    let ok_first = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    if ok_len && ok_first && ok_chars {
        Ok(name)
    } else {
        Err(ChatError::invalid(
            Reason::InvalidUsername,
            "username must be 3-32 characters of a-z, 0-9, '_' or '.', starting with a letter",
        ))
    }
}

/// Trims and checks a display name: 1-64 characters, no control characters.
pub fn display_name(raw: &str) -> Result<String, ChatError> {
    let name = raw.trim();
    let count = name.chars().count();
    if (1..=64).contains(&count) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(ChatError::invalid(
            Reason::InvalidDisplayName,
            "display name must be 1-64 characters without control characters",
        ))
    }
}

/// Checks a new password: 8-256 characters.
pub fn password(raw: &str) -> Result<(), ChatError> {
    if (8..=256).contains(&raw.chars().count()) {
        Ok(())
    } else {
        Err(ChatError::invalid(
            Reason::InvalidPassword,
            "password must be 8-256 characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username(" Alice_1 ").unwrap(), "alice_1");
        for bad in ["", "ab", "1abc", "a b c", "ålice", &"a".repeat(33), "_abc"] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_names_and_passwords() {
        assert_eq!(display_name("  Kim  ").unwrap(), "Kim");
        assert!(display_name("   ").is_err());
        assert!(display_name("a\nb").is_err());
        assert!(display_name(&"x".repeat(65)).is_err());
        assert!(password("short").is_err());
        assert!(password("long enough").is_ok());
    }
}
