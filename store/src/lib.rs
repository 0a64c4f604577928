//! Storage for the chat cluster: the [`Store`] trait every backend implements (by concern:
//! accounts, relationships, rooms, the message log, files), the record types it stores, the
//! embedded backend (fjall on local disk, zero configuration) and the CQL backend (ScyllaDB
//! or Cassandra); both pass the one `conformance` suite. Messages are keyed `(room_id, bucket, seq)` in every backend, where
//! `bucket = sent_at_ms / bucket_width_ms`, so history pages walk buckets backwards.
//!
//! Depends on no other workspace crate: it knows records, not the wire protocol or actors.
//! Inside the crate no file imports one that imports it back: this file only declares and
//! re-exports.

mod backend;
mod blobs;
mod codec;
mod cql;
mod embedded;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod records;
mod search;
mod system;
mod timeline;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use backend::{
    AccountStore, FileStore, MessageLog, RoomStore, SearchIndex, SharedStore, SocialStore, Store,
};
pub use blobs::{BlobConfig, BlobKey, BlobWriter, Blobs, PART_BYTES, S3Config};
pub use cql::{CqlConfig, CqlStore, Replication, SCHEMA_VERSION};
pub use embedded::{EmbeddedConfig, EmbeddedStats, EmbeddedStore};
pub use error::{StoreError, StoreResult};
pub use records::{
    AppendBatch, AttachmentRecord, DeletionRecord, EntryKind, FileId, FileRecord, FileRef, FileUse,
    HeadChange, MAX_MENTION_MARKS, MentionMark, MentionRecord, MessageRecord, MessageState,
    ReactionRecord, ReadCursor, RefreshOutcome, RefreshRecord, ReplyRecord, Revocation, RoomHead,
    RoomId, RoomKind, RoomRecord, Seq, SessionRecord, SocialEdge, ThumbnailRecord, UserId,
    UserRecord, VersionRecord, mention_count, unread_count,
};
pub use search::{IndexedMessage, LogBucket, MAX_TERM_BYTES, MAX_TERMS_PER_MESSAGE};
pub use system::{NoticeRecord, RoomMeta, SystemEvent, SystemRecord};
pub use timeline::REPLY_PREVIEW_CHARS;
