//! What a room records about itself: system entries in its log (who joined, left, was
//! removed; renames, hand-overs, the notice, pins), and the settings those entries leave in
//! the room head (owner, name, notice, pins, permissions), written in the same conditional
//! append as the entry that changes them.

use serde::{Deserialize, Serialize};

// The records' id types, repeated rather than imported: records.rs uses these types.
type UserId = u64;
type Seq = u64;

/// What a system entry says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemEvent {
    /// `users` joined: invited by the entry's sender, or returned to a direct room.
    Joined,
    /// The sender left.
    Left,
    /// The sender (the owner) removed `users`.
    Removed,
    /// The sender (the owner) renamed the room to the entry's body.
    Renamed,
    /// Ownership passed from the sender to `users[0]` (handed over, or its owner left).
    OwnerChanged,
    /// The sender (the owner) set the history visibility to the body (`shared`, `joined`).
    VisibilityChanged,
    /// The sender set the room's notice to the body (empty: took it down).
    NoticeChanged,
    /// The sender pinned the message at the entry's `target_seq`.
    Pinned,
    /// The sender unpinned the message at the entry's `target_seq`.
    Unpinned,
    /// The sender (the owner) changed what only the owner may do (the body lists it).
    PermissionsChanged,
}

/// The body of a system entry (kind `EntryKind::System`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemRecord {
    /// What happened.
    pub event: SystemEvent,
    /// Whom it happened to (ascending; empty for a rename).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserId>,
}

/// A group room's settings as its log left them; absent parts keep the room record's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMeta {
    /// The owner, when it is no longer the creator (0: the creator).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub owner: UserId,
    /// The name, when renamed since creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The history visibility, when changed since creation (true: `shared`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_history: Option<bool>,
    /// A direct room's member who left (0: none): the next message from the other one
    /// brings them back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub away: UserId,
    /// The room's notice, while one is up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<NoticeRecord>,
    /// The pinned messages, newest pin first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pins: Vec<Seq>,
    /// Only the owner may invite members (groups).
    #[serde(default, skip_serializing_if = "is_false")]
    pub invite_owner_only: bool,
    /// Only the owner may pin and unpin messages (groups).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pins_owner_only: bool,
    /// The seq of the entry that last changed these settings.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub changed_seq: Seq,
}

/// A room's notice (KakaoTalk's 공지): its text and the system entry that set it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeRecord {
    /// The text, as checked when set.
    pub text: String,
    /// Who set it.
    pub by: UserId,
    /// When.
    pub at_ms: i64,
    /// The seq of its system entry.
    pub seq: Seq,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl RoomMeta {
    /// Nothing was changed since the room was created.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The owner of a room created by `creator`.
    pub fn owner_or(&self, creator: UserId) -> UserId {
        if self.owner == 0 { creator } else { self.owner }
    }

    /// The settings as stored in the room head (JSON: they change rarely, and new ones are
    /// added without a new head version).
    pub fn encode(&self) -> Vec<u8> {
        // A map of plain fields always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The settings from [`RoomMeta::encode`]; `None` when malformed.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_defaults_to_the_creator() {
        let meta = RoomMeta {
            owner: 9,
            name: Some("팀 채팅 ✨".into()),
            shared_history: Some(true),
            away: 0,
            notice: Some(NoticeRecord {
                text: "내일 10시 회의".into(),
                by: 9,
                at_ms: 1_700_000_000_000,
                seq: 3,
            }),
            pins: vec![3, 1],
            invite_owner_only: true,
            pins_owner_only: false,
            changed_seq: 4,
        };
        assert_eq!(RoomMeta::decode(&meta.encode()), Some(meta.clone()));
        assert_eq!(meta.owner_or(1), 9);
        assert_eq!(RoomMeta::default().owner_or(1), 1);
        assert!(RoomMeta::decode(b"{\"owner\":-1}").is_none());
        assert_eq!(RoomMeta::decode(b"{}"), Some(RoomMeta::default()));
    }
}
