//! Records as the store keeps them (independent of the wire protocol).

use serde::{Deserialize, Serialize};

use crate::system::{RoomMeta, SystemRecord};

/// A user id (snowflake).
pub type UserId = u64;
/// A room id (snowflake).
pub type RoomId = u64;
/// A file id (snowflake).
pub type FileId = u64;
/// A per-room message sequence number: 1, 2, 3, ... with no gaps.
pub type Seq = u64;

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
    /// The profile picture's file id (0 when none).
    #[serde(default)]
    pub avatar_file_id: FileId,
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
    /// When the family's log-in happened, ms since the Unix epoch (0 in tokens stored
    /// before this was recorded).
    #[serde(default)]
    pub logged_in_at_ms: i64,
}

/// One log-in: a refresh-token family, listed under its user so that "log out everywhere"
/// and a password change find every one of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Whose log-in it is.
    pub user_id: UserId,
    /// The refresh-token family (and the `sid` of its access tokens).
    pub family_id: u64,
    /// When the user logged in, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// When its newest refresh token expires, ms since the Unix epoch.
    pub expires_at_ms: i64,
}

/// A revoked log-in whose access tokens may not have expired yet: every node refuses them
/// until `until_ms` (by then every access token of the log-in has expired on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Whose log-in it was.
    pub user_id: UserId,
    /// The revoked refresh-token family (the `sid` of its access tokens).
    pub family_id: u64,
    /// Until when the revocation must be remembered, ms since the Unix epoch.
    pub until_ms: i64,
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
    /// Members see what was said before they joined (history visibility `shared`); by
    /// default they see from their joining on (`joined`). As created: see `RoomMeta`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_history: bool,
}

impl RoomRecord {
    /// The record with the settings its log changed applied (name, visibility; the owner is
    /// not a record field).
    pub fn apply(&mut self, meta: &RoomMeta) {
        if let Some(name) = &meta.name {
            self.name.clone_from(name);
        }
        if let Some(shared) = meta.shared_history {
            self.shared_history = shared;
        }
    }

    /// The seq after which a member who joined at `joined` sees the log: 0 in a group that
    /// shares its history, else where they joined. (Apply the room's meta first.)
    pub fn visible_from(&self, joined: Seq) -> Seq {
        if self.shared_history && self.kind == RoomKind::Group {
            0
        } else {
            joined
        }
    }
}

/// One entry in a room's log: a message, or a change to an earlier one (see `timeline`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Files the message carries (metadata copied when it was sent).
    #[serde(default)]
    pub attachments: Vec<AttachmentRecord>,
    /// A message, or a change to the entry at `target_seq`.
    #[serde(default)]
    pub kind: EntryKind,
    /// The entry a change applies to (0 for messages).
    #[serde(default)]
    pub target_seq: Seq,
    /// Real messages (kind `Message`) in the log up to and including this entry: unread
    /// counts are differences of ordinals, so changes never count.
    #[serde(default)]
    pub ordinal: u64,
    /// The message this one replies to, as it was when quoted.
    #[serde(default)]
    pub reply: Option<ReplyRecord>,
    /// What later entries did to this one (edits, a delete).
    #[serde(default)]
    pub state: MessageState,
    /// The people it mentions, by ranges of `body` (an edit replaces them).
    #[serde(default)]
    pub mentions: Vec<MentionRecord>,
    /// A system entry's event (kind `System` only).
    #[serde(default)]
    pub system: Option<SystemRecord>,
    /// Forwarded from another message (which is not named: see `forward_message`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forwarded: bool,
}

/// One mention in a message's body: a member, or everyone (`user_id` 0, `@all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MentionRecord {
    /// The member mentioned; 0 for everyone in the room.
    pub user_id: UserId,
    /// Where the mention starts in the body, in UTF-16 code units.
    pub offset: u32,
    /// Its length, in UTF-16 code units.
    pub length: u32,
}

/// A message that mentions someone, as the room head keeps it for mention counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MentionMark {
    /// The message.
    pub seq: Seq,
    /// Its sender (never counted as mentioned by their own `@all`).
    pub sender_id: UserId,
    /// The members it mentions by name, ascending, without the sender.
    pub users: Vec<UserId>,
    /// It mentions everyone (`@all`).
    pub all: bool,
}

impl MentionMark {
    /// Whether the message counts as mentioning `user`.
    pub fn mentions(&self, user: UserId) -> bool {
        (self.all && user != self.sender_id) || self.users.binary_search(&user).is_ok()
    }
}

/// Messages after a cursor that mention `user` (`marks` ascending by seq).
pub fn mention_count(marks: &[MentionMark], user: UserId, cursor: ReadCursor) -> u64 {
    let after = marks.partition_point(|m| m.seq <= cursor.seq);
    marks[after..].iter().filter(|m| m.mentions(user)).count() as u64
}

/// What a log entry is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// A message someone sent: the only kind counted as unread.
    #[default]
    Message,
    /// The sender replaced the body of the entry at `target_seq`; `body` is the new text.
    Edit,
    /// The entry at `target_seq` was deleted for everyone (its body and files erased).
    Delete,
    /// The sender reacted to the entry at `target_seq` with the emoji in `body`.
    ReactionAdd,
    /// The sender took back their reaction `body` to the entry at `target_seq`.
    ReactionRemove,
    /// The room recorded a change to its members or settings (see `system`).
    System,
}

impl EntryKind {
    /// The kind's code in the binary record and on the cluster wire (stable: stored).
    pub fn code(self) -> u8 {
        match self {
            Self::Message => 0,
            Self::Edit => 1,
            Self::Delete => 2,
            Self::ReactionAdd => 3,
            Self::ReactionRemove => 4,
            Self::System => 5,
        }
    }

    /// The kind of a stored code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Message,
            1 => Self::Edit,
            2 => Self::Delete,
            3 => Self::ReactionAdd,
            4 => Self::ReactionRemove,
            5 => Self::System,
            _ => return None,
        })
    }
}

/// The quoted message of a reply, as of when the reply was sent. Readers refresh it from the
/// quoted message's current state (an edit or a delete shows through).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRecord {
    /// The quoted entry's seq in the same room.
    pub seq: Seq,
    /// Who wrote it.
    pub sender_id: UserId,
    /// Its first characters (at most [`REPLY_PREVIEW_CHARS`]).
    pub preview: String,
    /// The content type of its first attachment ("" when it has none).
    pub attachment_type: String,
    /// It was deleted for everyone.
    #[serde(default)]
    pub deleted: bool,
}

/// One earlier body of an edited message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// The text it had.
    pub body: String,
    /// Since when (its send or the edit that wrote it), ms since the Unix epoch.
    pub since_ms: i64,
}

/// Who deleted a message for everyone, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRecord {
    /// The sender (unsend) or the room's owner.
    pub by: UserId,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
}

/// What later entries did to a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    /// The seq of the last entry that changed it (0: never changed).
    pub changed_seq: Seq,
    /// When it was last edited (0: never).
    pub edited_at_ms: i64,
    /// Its earlier bodies, oldest first (bounded by the room's rules).
    pub versions: Vec<VersionRecord>,
    /// Deleted for everyone: body, files and versions are gone.
    pub deleted: Option<DeletionRecord>,
    /// Reactions, by emoji in the order each was first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionRecord>,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionRecord {
    /// One grapheme cluster.
    pub emoji: String,
    /// Who reacted with it, in the order they did.
    pub users: Vec<UserId>,
}

impl MessageState {
    /// Nothing changed it (every field at its default, so the codec may leave it out).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A member's read cursor: the seq read through, and the number of real messages up to it
/// (the `ordinal` of the entry at that seq), so unread counts skip edits and deletes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadCursor {
    /// Every entry with a seq up to this one is read.
    pub seq: Seq,
    /// Real messages with a seq up to `seq`.
    pub ordinal: u64,
}

/// Unread real messages for a cursor: those after it (`ordinal` is the log's count of real
/// messages), minus the ones deleted since (`deleted` ascending).
pub fn unread_count(ordinal: u64, deleted: &[Seq], cursor: ReadCursor) -> u64 {
    let deleted_after = deleted.len() - deleted.partition_point(|&d| d <= cursor.seq);
    ordinal
        .saturating_sub(cursor.ordinal)
        .saturating_sub(deleted_after as u64)
}

/// A file as a message carries it: enough to show it without another lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    /// The file's id.
    pub file_id: FileId,
    /// The file's name as uploaded.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Sniffed content type.
    pub content_type: String,
    /// Image width in pixels (0 when not an image or unknown).
    pub width: u32,
    /// Image height in pixels (0 when not an image or unknown).
    pub height: u32,
}

/// An uploaded file's metadata. The bytes live in the blob store under `files/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Snowflake id.
    pub id: FileId,
    /// Uploader.
    pub owner_id: UserId,
    /// Name as uploaded (validated: no path separators or control characters).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Content type sniffed from the bytes (the client's claim is not trusted).
    pub content_type: String,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// Upload time, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Image width in pixels (0 when not an image or not yet known).
    pub width: u32,
    /// Image height in pixels (0 when not an image or not yet known).
    pub height: u32,
    /// The server-made thumbnail, once generated (under `thumbnails/<id>`).
    pub thumbnail: Option<ThumbnailRecord>,
    /// Shared in a room or used as an avatar: never cleaned up as an orphan.
    pub attached: bool,
    /// An avatar: readable by every signed-in user.
    pub public: bool,
}

/// A generated thumbnail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailRecord {
    /// Size in bytes.
    pub size: u64,
    /// Its content type (`image/jpeg` or `image/png`).
    pub content_type: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// What a file is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileUse {
    /// Sent in a message: kept while a message holds it (its `FileRef`), readable by those
    /// who see that message.
    Message,
    /// A profile picture: readable by every signed-in user.
    Avatar,
}

/// A message that holds a file, written with the message by the append: the file is
/// readable by those who see that message, and erased once no message holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileRef {
    /// The message's room.
    pub room_id: RoomId,
    /// The message's seq; 0 for a share recorded before refs named their message (it
    /// grants every member, as it did then, and keeps the file).
    pub seq: Seq,
}

/// The durable end of a room's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomHead {
    /// The fencing epoch of the room's current owner (0 before anyone claimed it).
    pub epoch: u64,
    /// Seq of the newest durable message (0 when none).
    pub last_seq: Seq,
    /// The newest durable entry (a message or a change).
    pub last_message: Option<MessageRecord>,
    /// The newest real message as it is now (edited, deleted), for chat lists; `None` when
    /// the newest entry is that message (heads written before changes existed).
    pub preview: Option<MessageRecord>,
    /// Deleted real messages that some member may still count as unread, ascending.
    pub deleted: Vec<Seq>,
    /// Messages with mentions that some member may not have read yet, ascending (bounded:
    /// the newest [`MAX_MENTION_MARKS`]).
    pub mentions: Vec<MentionMark>,
    /// The room's settings as system entries left them (owner, name).
    pub meta: RoomMeta,
}

/// How many unread mentioning messages a room head keeps for mention counts: counts stop
/// growing there (a badge shows "99+" long before).
pub const MAX_MENTION_MARKS: usize = 256;

impl RoomHead {
    /// The newest real message as it is now, if the room has one.
    pub fn newest_message(&self) -> Option<&MessageRecord> {
        self.preview
            .as_ref()
            .or(self.last_message.as_ref().filter(|m| m.is_message()))
    }

    /// Real messages in the log (the newest entry's ordinal).
    pub fn ordinal(&self) -> u64 {
        self.last_message.as_ref().map_or(0, |m| m.ordinal)
    }

    /// A member's unread messages: real messages after their cursor, minus those deleted.
    pub fn unread(&self, cursor: ReadCursor) -> u64 {
        unread_count(self.ordinal(), &self.deleted, cursor)
    }

    /// Unread messages that mention a member.
    pub fn mentions_of(&self, user: UserId, cursor: ReadCursor) -> u64 {
        mention_count(&self.mentions, user, cursor)
    }
}

/// One conditional write to a room's log: new entries, the earlier ones they changed, and
/// read-cursor moves, together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendBatch {
    /// Entries continuing the log densely (may be empty when only cursors move).
    pub messages: Vec<MessageRecord>,
    /// Earlier entries as the new ones left them (edited, deleted: the old text is erased).
    pub rewrites: Vec<MessageRecord>,
    /// `(user, cursor)` to store; the room actor only ever moves them forward.
    pub cursors: Vec<(UserId, ReadCursor)>,
    /// The head's new preview and deleted list, when this batch changes them.
    pub head: Option<HeadChange>,
    /// Files the batch's deletions for everyone took off their messages: each is queued
    /// for erasure, which happens once no message holds it (see `FileStore`).
    pub released: Vec<FileId>,
}

/// What an append changes in the room head besides its end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadChange {
    /// See [`RoomHead::preview`].
    pub preview: Option<MessageRecord>,
    /// See [`RoomHead::deleted`].
    pub deleted: Vec<Seq>,
    /// See [`RoomHead::mentions`].
    pub mentions: Vec<MentionMark>,
    /// See [`RoomHead::meta`].
    pub meta: RoomMeta,
}

impl AppendBatch {
    /// Checks the batch's shape: not empty, every message in `room`, seqs continuing the log
    /// densely from `expected_last_seq`, in non-decreasing time.
    pub fn validate(
        &self,
        room: RoomId,
        expected_last_seq: Seq,
    ) -> Result<(), crate::error::StoreError> {
        if self.messages.is_empty() && self.rewrites.is_empty() && self.cursors.is_empty() {
            return Err(crate::error::StoreError::Invalid("empty append".into()));
        }
        if let Some(r) = self
            .rewrites
            .iter()
            .find(|r| r.room_id != room || r.seq > expected_last_seq)
        {
            return Err(crate::error::StoreError::Invalid(format!(
                "rewrite of seq {} in room {} is not an earlier entry of room {room}",
                r.seq, r.room_id
            )));
        }
        let mut expected = expected_last_seq;
        let mut last_time = i64::MIN;
        for m in &self.messages {
            expected += 1;
            if m.room_id != room || m.seq != expected || m.sent_at_ms < last_time {
                return Err(crate::error::StoreError::Invalid(format!(
                    "message seq {} of room {} does not continue the log at {expected}",
                    m.seq, m.room_id
                )));
            }
            last_time = m.sent_at_ms;
        }
        Ok(())
    }

    /// A batch of messages only.
    pub fn messages(messages: Vec<MessageRecord>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }
}

/// The wall clock in ms since the Unix epoch (expiry checks).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
