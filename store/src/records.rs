//! Records as the store keeps them (independent of the wire protocol).

use serde::{Deserialize, Serialize};

use crate::{RoomId, Seq, UserId};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Snowflake id.
    pub id: UserId,
    /// Normalized (lowercase) unique username.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// A short line the user shows to others.
    #[serde(default)]
    pub status_message: String,
}

/// The relationship between two users, stored once per unordered pair and changed only by
/// compare-and-set, so concurrent requests, accepts and blocks never interleave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialEdge {
    /// Friends since (ms since the epoch).
    pub friends_since_ms: Option<i64>,
    /// A pending friend request and who sent it.
    pub request_from: Option<UserId>,
    /// When the pending request was sent.
    pub request_at_ms: i64,
    /// Users of the pair who blocked the other (zero, one or both).
    pub blocked_by: Vec<UserId>,
}

impl SocialEdge {
    /// True when nothing links the pair (the edge can be deleted).
    pub fn is_empty(&self) -> bool {
        self.friends_since_ms.is_none() && self.request_from.is_none() && self.blocked_by.is_empty()
    }
}

/// A refresh token, stored under the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// Whose token it is.
    pub user_id: UserId,
    /// All tokens rotated from one log-in share a family; revoking it revokes them all.
    pub family_id: u64,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_ms: i64,
}

/// What consuming a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// First use: the token is now spent.
    Fresh(RefreshRecord),
    /// The token was already spent: a sign of theft, the caller should revoke the family.
    Reused(RefreshRecord),
    /// The token's family was revoked.
    Revoked,
    /// No such token.
    Unknown,
}

/// Direct (two members, one per pair) or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomKind {
    /// One room per pair of users.
    Direct,
    /// A named room with any number of members (up to the configured maximum).
    Group,
}

/// A room's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    /// Snowflake id.
    pub id: RoomId,
    /// Direct or group.
    pub kind: RoomKind,
    /// Group name; empty for direct rooms.
    pub name: String,
    /// Creator.
    pub created_by: UserId,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// One message in a room's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// The room.
    pub room_id: RoomId,
    /// Dense per-room sequence number.
    pub seq: Seq,
    /// Snowflake id.
    pub id: u64,
    /// Author.
    pub sender_id: UserId,
    /// The sender's idempotency key.
    pub client_msg_id: String,
    /// Text.
    pub body: String,
    /// Sequencing time, ms since the Unix epoch; non-decreasing along seq.
    pub sent_at_ms: i64,
}

/// The durable end of a room's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomHead {
    /// Seq of the newest durable message (0 when none).
    pub last_seq: Seq,
    /// The newest durable message.
    pub last_message: Option<MessageRecord>,
}

/// One conditional write to a room's log: new messages and read-cursor moves, together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendBatch {
    /// Messages continuing the log densely (may be empty when only cursors move).
    pub messages: Vec<MessageRecord>,
    /// `(user, last read seq)` to store; the room actor only ever moves them forward.
    pub cursors: Vec<(UserId, Seq)>,
}

impl AppendBatch {
    /// A batch of messages only.
    pub fn messages(messages: Vec<MessageRecord>) -> Self {
        Self {
            messages,
            cursors: Vec::new(),
        }
    }
}
