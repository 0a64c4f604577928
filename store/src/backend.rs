//! What a backend implements, by concern: accounts, relationships, rooms and members, the
//! message log, files. [`Store`] is all of them; callers hold a [`SharedStore`] and never
//! name the parts (their methods are the store's).

use std::sync::Arc;

use crate::{
    error::StoreResult,
    records::{
        AppendBatch, FileId, FileRecord, FileRef, FileUse, MessageRecord, ReadCursor,
        RefreshOutcome, RefreshRecord, Revocation, RoomHead, RoomId, RoomRecord, Seq,
        SessionRecord, SocialEdge, ThumbnailRecord, UserId, UserRecord,
    },
    search::{IndexedMessage, LogBucket},
};

/// A shared handle to a store backend.
pub type SharedStore = Arc<dyn Store>;

/// Everything the messenger persists. Every write is durable when its future resolves `Ok`.
#[async_trait::async_trait]
pub trait Store:
    AccountStore
    + SocialStore
    + RoomStore
    + MessageLog
    + FileStore
    + SearchIndex
    + Send
    + Sync
    + 'static
{
    /// Makes every write so far durable (used at shutdown).
    async fn flush(&self) -> StoreResult<()>;
}

/// Users, their profiles and search, and refresh tokens.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user. `AlreadyExists` when the username is taken.
    async fn create_user(&self, user: UserRecord) -> StoreResult<()>;
    /// Looks a user up by id.
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    /// Looks a user up by (normalized) username.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Replaces a user's display name, status message and avatar (0: none); the updated
    /// user, if it exists.
    async fn update_profile(
        &self,
        user: UserId,
        display_name: String,
        status_message: String,
        avatar_file_id: FileId,
    ) -> StoreResult<Option<UserRecord>>;
    /// Users whose username starts with `prefix` and sorts after `after`, ascending, at most
    /// `limit`.
    async fn search_users(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<UserRecord>>;
    /// Stores a new refresh token under the SHA-256 of its secret.
    async fn put_refresh_token(
        &self,
        token_hash: [u8; 32],
        record: RefreshRecord,
    ) -> StoreResult<()>;
    /// Atomically marks a refresh token used and says what it was.
    async fn consume_refresh_token(&self, token_hash: [u8; 32]) -> StoreResult<RefreshOutcome>;
    /// Records a log-in, or extends it (a refresh rotated its token).
    async fn put_session(&self, session: SessionRecord) -> StoreResult<()>;
    /// A user's unexpired log-ins.
    async fn user_sessions(&self, user: UserId) -> StoreResult<Vec<SessionRecord>>;
    /// Ends a log-in: its refresh tokens stop working at once, it leaves the user's list,
    /// and the revocation is kept until `revocation.until_ms` for [`Self::revocations`].
    async fn revoke_session(&self, revocation: Revocation) -> StoreResult<()>;
    /// Every revocation in force at `now_ms`, that is with `now_ms < until_ms <= latest_ms`
    /// (`latest_ms`: now plus the longest access-token lifetime). What a starting or
    /// reconnecting node loads.
    async fn revocations(&self, now_ms: i64, latest_ms: i64) -> StoreResult<Vec<Revocation>>;
    /// Replaces a user's password hash; false when the user does not exist.
    async fn set_password_hash(&self, user: UserId, password_hash: String) -> StoreResult<bool>;
}

/// Relationships between pairs of users.
#[async_trait::async_trait]
pub trait SocialStore: Send + Sync {
    /// The relationship of a pair of users (empty when none).
    async fn social_edge(&self, a: UserId, b: UserId) -> StoreResult<SocialEdge>;
    /// Replaces the pair's relationship if it still is `expected` (else `Conflict`).
    async fn set_social_edge(
        &self,
        a: UserId,
        b: UserId,
        expected: SocialEdge,
        new: SocialEdge,
    ) -> StoreResult<()>;
    /// Every non-empty relationship of a user: `(other user, edge)`.
    async fn social_edges(&self, user: UserId) -> StoreResult<Vec<(UserId, SocialEdge)>>;
}

/// Rooms, their members and the members' read cursors.
#[async_trait::async_trait]
pub trait RoomStore: Send + Sync {
    /// Creates a group room with its initial members.
    async fn create_room(&self, room: RoomRecord, members: Vec<UserId>) -> StoreResult<()>;
    /// (the existing one when another request won the race).
    async fn create_direct_room(
        &self,
        room: RoomRecord,
        a: UserId,
        b: UserId,
    ) -> StoreResult<RoomId>;
    /// The direct room of a pair, if any.
    async fn direct_room(&self, a: UserId, b: UserId) -> StoreResult<Option<RoomId>>;
    /// A room's metadata.
    async fn room(&self, id: RoomId) -> StoreResult<Option<RoomRecord>>;
    /// A room's current members, ascending by id.
    async fn members(&self, room: RoomId) -> StoreResult<Vec<UserId>>;
    /// A room's current members with the seq each joined at (0: with the room, or before
    /// join seqs were kept), ascending by id.
    async fn member_joins(&self, room: RoomId) -> StoreResult<Vec<(UserId, Seq)>>;
    /// Adds members, each joining at `read_through.seq` with their cursor there (they have
    /// nothing unread from before they joined).
    async fn add_members(
        &self,
        room: RoomId,
        users: Vec<UserId>,
        read_through: ReadCursor,
    ) -> StoreResult<()>;
    /// Removes a member and their read cursor (idempotent).
    async fn remove_member(&self, room: RoomId, user: UserId) -> StoreResult<()>;
    /// The rooms a user belongs to.
    async fn user_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>>;
    /// Whether a user is a member of a room.
    async fn is_member(&self, room: RoomId, user: UserId) -> StoreResult<bool>;
    /// The seq a member joined at (see [`Self::member_joins`]); `None` unless they are one.
    async fn member_join(&self, room: RoomId, user: UserId) -> StoreResult<Option<Seq>>;
    /// Every stored read cursor of a room.
    async fn read_cursors(&self, room: RoomId) -> StoreResult<Vec<(UserId, ReadCursor)>>;
    /// One user's read cursor in a room (zero when none is stored).
    async fn read_cursor(&self, room: RoomId, user: UserId) -> StoreResult<ReadCursor>;
    /// Mutes or unmutes a room for one member; false, writing nothing, when they are not a
    /// member. Leaving a room ends its mute.
    async fn set_room_muted(&self, room: RoomId, user: UserId, muted: bool) -> StoreResult<bool>;
    /// Hides the entry at `seq` from `user`'s own view of the room ("delete for me");
    /// false (and nothing stored) unless they are a member. Leaving forgets what they hid.
    async fn hide_message(&self, room: RoomId, user: UserId, seq: Seq) -> StoreResult<bool>;
    /// The seqs `user` hid in a room, ascending.
    async fn hidden_messages(&self, room: RoomId, user: UserId) -> StoreResult<Vec<Seq>>;
    /// The rooms a user has muted, ascending.
    async fn muted_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>>;
}

/// Each room's log of messages: its head, its fencing epoch, appends and reads.
#[async_trait::async_trait]
pub trait MessageLog: Send + Sync {
    /// The newest durable state of a room's message log.
    async fn room_head(&self, room: RoomId) -> StoreResult<RoomHead>;
    /// Makes the caller the room's only writer: advances the room's fencing epoch and
    /// returns it. Appends made with an older epoch fail from now on, so two owners of a
    /// room (during a failover) can never both extend its log.
    async fn claim_room(&self, room: RoomId) -> StoreResult<u64>;
    /// Appends consecutive entries (and read-cursor moves) to a room's log if and only if
    /// `epoch` is still the room's epoch and the log currently ends at `expected_last_seq`
    /// (else `Conflict`: another writer got there first, and nothing is written). The
    /// messages' file refs and the batch's released files are written with it. Backends
    /// batch concurrent appends from many rooms into one durable write (group commit).
    async fn append(
        &self,
        room: RoomId,
        epoch: u64,
        expected_last_seq: Seq,
        batch: AppendBatch,
    ) -> StoreResult<()>;
    /// Up to `limit` entries with `seq < before_seq` (all when `before_seq` is 0),
    /// newest first.
    async fn history(
        &self,
        room: RoomId,
        before_seq: Seq,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>>;
    /// The entry at `seq` as it is now (edited, deleted), if the log has it.
    async fn message(&self, room: RoomId, seq: Seq) -> StoreResult<Option<MessageRecord>>;
    /// The message a sender already sent to a room with this client message id, if any.
    async fn find_client_message(
        &self,
        room: RoomId,
        sender: UserId,
        client_msg_id: &str,
    ) -> StoreResult<Option<MessageRecord>>;
}

/// Uploaded files' metadata, the messages that hold them, and the queues of files to clean
/// up (never attached; released by a delete for everyone).
#[async_trait::async_trait]
pub trait FileStore: Send + Sync {
    /// Records an uploaded file (its bytes are already in the blob store). An unattached
    /// file is listed by [`FileStore::unattached_files`] until it is attached.
    async fn put_file(&self, file: FileRecord) -> StoreResult<()>;
    /// A file's metadata.
    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>>;
    /// Marks a file as about to be sent in a message, or makes it an avatar (idempotent);
    /// `NotFound` when the file is gone (cleaned up as an orphan, or erased, a moment
    /// before).
    async fn attach_file(&self, id: FileId, to: FileUse) -> StoreResult<()>;
    /// The messages that hold a file (some may no longer: a ref outlives a delete until
    /// the release queue looks at it), ascending.
    async fn file_refs(&self, id: FileId) -> StoreResult<Vec<FileRef>>;
    /// Forgets one ref (a message that no longer holds the file).
    async fn remove_file_ref(&self, id: FileId, at: FileRef) -> StoreResult<()>;
    /// Up to `limit` files released by deletes for everyone and not looked at yet.
    async fn released_files(&self, limit: usize) -> StoreResult<Vec<FileId>>;
    /// Takes a file off the release queue.
    async fn forget_released(&self, id: FileId) -> StoreResult<()>;
    /// Deletes a file's metadata and refs (the caller deletes its bytes next, then takes
    /// it off the release queue); idempotent.
    async fn erase_file(&self, id: FileId) -> StoreResult<()>;
    /// Records a file's image size and generated thumbnail; `NotFound` when the file is gone.
    async fn set_file_image(
        &self,
        id: FileId,
        width: u32,
        height: u32,
        thumbnail: ThumbnailRecord,
    ) -> StoreResult<()>;
    /// Up to `limit` never-attached files uploaded before `before_ms`, oldest first.
    async fn unattached_files(&self, before_ms: i64, limit: usize) -> StoreResult<Vec<FileRecord>>;
    /// Deletes a file's metadata if it is still unattached; true when deleted.
    async fn delete_unattached_file(&self, id: FileId) -> StoreResult<bool>;
}

/// The message search index: per room and time bucket (the log's own buckets), each term's
/// postings (the seqs of the messages indexed under it), each indexed message's terms (so a
/// change removes exactly what it added), and how far the room's log is indexed.
#[async_trait::async_trait]
pub trait SearchIndex: Send + Sync {
    /// The bucket a message sent at `sent_at_ms` is kept in (the log's and the index's).
    fn bucket_of(&self, sent_at_ms: i64) -> u64;
    /// A room's log buckets, newest first.
    async fn log_buckets(&self, room: RoomId) -> StoreResult<Vec<LogBucket>>;
    /// Indexes each message under its terms instead of what it was indexed under before
    /// (no terms: takes it out of the index), then records the room's log as indexed up to
    /// `watermark` (never lowering it). Idempotent: a crash between the two re-indexes.
    async fn index_messages(
        &self,
        room: RoomId,
        messages: Vec<IndexedMessage>,
        watermark: Seq,
    ) -> StoreResult<()>;
    /// Up to `limit` seqs at most `at_most` indexed under `term` in a bucket, newest first.
    async fn postings(
        &self,
        room: RoomId,
        bucket: u64,
        term: &str,
        at_most: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Seq>>;
    /// How far a room's log is indexed (0: not at all).
    async fn index_watermark(&self, room: RoomId) -> StoreResult<Seq>;
    /// The terms a message is indexed under, ascending (empty when it is not).
    async fn indexed_terms(&self, room: RoomId, bucket: u64, seq: Seq) -> StoreResult<Vec<String>>;
    /// Up to `limit` room ids above `after`, ascending by the backend's own order (the
    /// backfill's walk over every room); the last one is the next call's `after`.
    async fn rooms_after(&self, after: Option<RoomId>, limit: usize) -> StoreResult<Vec<RoomId>>;
}
