//! The tables (one fjall keyspace each), shared by the async front and the committer
//! thread, and the reads and staging helpers every concern uses.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use fjall::{Database, Keyspace, PersistMode};
use serde::Deserialize;

use crate::{
    codec,
    error::{StoreError, StoreResult},
    keys,
    records::{MessageRecord, ReadCursor, RoomHead, RoomId, RoomRecord, Seq, UserId},
};

/// The tables, shared by the async front and the committer thread.
pub(crate) struct Tables {
    pub(super) db: Database,
    pub(super) users: Keyspace,
    pub(super) usernames: Keyspace,
    pub(super) refresh: Keyspace,
    pub(super) revoked_families: Keyspace,
    /// `(user, family id)` -> `SessionRecord`: each user's log-ins.
    pub(super) sessions: Keyspace,
    /// `(until_ms, family id)` -> user id: revocations in force until `until_ms`.
    pub(super) revocations: Keyspace,
    pub(super) rooms: Keyspace,
    pub(super) direct: Keyspace,
    pub(super) members: Keyspace,
    pub(super) user_rooms: Keyspace,
    pub(super) cursors: Keyspace,
    /// `(low user, high user)` -> the pair's `SocialEdge`.
    pub(super) social: Keyspace,
    /// `(user, other)` -> nothing: the index of a user's relationships.
    pub(super) social_index: Keyspace,
    pub(super) heads: Keyspace,
    pub(super) buckets: Keyspace,
    pub(super) messages: Keyspace,
    pub(super) idempotency: Keyspace,
    /// `file id` -> `FileRecord`.
    pub(super) files: Keyspace,
    /// `(created_at_ms, file id)` -> nothing: files not attached yet (orphan candidates).
    pub(super) file_pending: Keyspace,
    /// `(file id, room id)` -> nothing: rooms a file was shared in before refs named
    /// their message (read only; see `FileRef::seq`).
    pub(super) file_shares: Keyspace,
    /// `(file id, room id, seq)` -> nothing: the messages that hold a file.
    pub(super) file_refs: Keyspace,
    /// `file id` -> nothing: files released by deletes for everyone, to look at.
    pub(super) file_release: Keyspace,
    /// `(room, bucket, term length, term, seq)` -> nothing: the search index's postings.
    pub(super) search_postings: Keyspace,
    /// `(room, bucket, seq)` -> JSON list of the terms a message is indexed under.
    pub(super) search_docs: Keyspace,
    /// `room` -> the seq its log is indexed up to.
    pub(super) search_marks: Keyspace,
    /// Serializes index writes: each reads a message's terms before replacing them.
    pub(super) search_lock: Mutex<()>,
    pub(super) bucket_width_ms: i64,
    pub(super) persist: Option<PersistMode>,
    /// Serializes the rare read-modify-write operations (unique usernames, direct pairs,
    /// refresh-token consumption, file attachment versus orphan deletion) so each is atomic.
    pub(super) rmw: Mutex<()>,
    /// Group commits written (one journal write + fsync each).
    pub(super) group_commits: AtomicU64,
    /// Room appends made durable.
    pub(super) appends: AtomicU64,
}

impl Tables {
    pub(super) fn bucket_of(&self, sent_at_ms: i64) -> u64 {
        u64::try_from(sent_at_ms.max(0) / self.bucket_width_ms).unwrap_or(0)
    }

    pub(super) fn commit(&self, batch: fjall::OwnedWriteBatch) -> StoreResult<()> {
        batch.durability(self.persist).commit()?;
        Ok(())
    }

    pub(super) fn lock_rmw(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding this lock cannot leave tables half-written (batches are
        // atomic), so a poisoned lock is safe to keep using.
        self.rmw.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        ks: &Keyspace,
        key: &[u8],
    ) -> StoreResult<Option<T>> {
        match ks.get(key)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    pub(super) fn head(&self, room: RoomId) -> StoreResult<RoomHead> {
        match self.heads.get(room.to_be_bytes())? {
            Some(v) => codec::decode_head(&v),
            None => Ok(RoomHead::default()),
        }
    }

    pub(super) fn insert_room(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        room: &RoomRecord,
        members: &[UserId],
    ) -> StoreResult<()> {
        batch.insert(
            &self.rooms,
            room.id.to_be_bytes(),
            serde_json::to_vec(room)?,
        );
        for &user in members {
            batch.insert(&self.members, keys::key_u64s([room.id, user]), []);
            batch.insert(&self.user_rooms, keys::key_u64s([user, room.id]), []);
        }
        Ok(())
    }

    pub(super) fn second_ids(&self, ks: &Keyspace, first: u64) -> StoreResult<Vec<u64>> {
        let mut out = Vec::new();
        for kv in ks.prefix(first.to_be_bytes()) {
            let key = kv.key()?;
            let id = keys::read_u64(&key, 1)
                .ok_or_else(|| StoreError::Corrupt("short membership key".into()))?;
            out.push(id);
        }
        Ok(out)
    }

    /// A history page, abandoned (with `Unavailable`) once `cancelled` is set: the caller
    /// stopped waiting, e.g. its deadline passed.
    pub(super) fn history(
        &self,
        room: RoomId,
        before: Seq,
        limit: usize,
        cancelled: &AtomicBool,
    ) -> StoreResult<Vec<MessageRecord>> {
        let abandoned = || StoreError::Unavailable("history read cancelled".into());
        let before = if before == 0 { Seq::MAX } else { before };
        let mut out = Vec::with_capacity(limit.min(128));
        if limit == 0 {
            return Ok(out);
        }
        // Buckets newest first; skip those that start at or after `before`.
        for kv in self.buckets.prefix(room.to_be_bytes()).rev() {
            if cancelled.load(Ordering::Relaxed) {
                return Err(abandoned());
            }
            let (key, value) = kv.into_inner()?;
            let bucket = keys::read_u64(&key, 1)
                .ok_or_else(|| StoreError::Corrupt("short bucket key".into()))?;
            let first_seq = keys::read_u64(&value, 0)
                .ok_or_else(|| StoreError::Corrupt("short bucket value".into()))?;
            if first_seq >= before {
                continue;
            }
            let start = keys::message(room, bucket, 0);
            let end = keys::message(room, bucket, before);
            for kv in self.messages.range(start..end).rev() {
                if cancelled.load(Ordering::Relaxed) {
                    return Err(abandoned());
                }
                let value = kv.value()?;
                out.push(codec::decode_message(&value)?);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// The entry at `seq` as it is now: its bucket is the newest one starting at or below it.
    pub(super) fn message(&self, room: RoomId, seq: Seq) -> StoreResult<Option<MessageRecord>> {
        if seq == 0 {
            return Ok(None);
        }
        for kv in self.buckets.prefix(room.to_be_bytes()).rev() {
            let (key, value) = kv.into_inner()?;
            let bucket = keys::read_u64(&key, 1)
                .ok_or_else(|| StoreError::Corrupt("short bucket key".into()))?;
            let first_seq = keys::read_u64(&value, 0)
                .ok_or_else(|| StoreError::Corrupt("short bucket value".into()))?;
            if first_seq <= seq {
                return match self.messages.get(keys::message(room, bucket, seq))? {
                    Some(v) => codec::decode_message(&v).map(Some),
                    None => Ok(None),
                };
            }
        }
        Ok(None)
    }

    /// A stored read cursor (8 bytes before ordinals existed, 16 since).
    pub(super) fn decode_cursor(value: &[u8]) -> StoreResult<ReadCursor> {
        match (keys::read_u64(value, 0), keys::read_u64(value, 1)) {
            (Some(seq), Some(ordinal)) => Ok(ReadCursor { seq, ordinal }),
            (Some(seq), None) => Ok(ReadCursor::legacy(seq)),
            _ => Err(StoreError::Corrupt("short cursor entry".into())),
        }
    }
}
