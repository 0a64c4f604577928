//! The message search index: postings `(room, bucket, term, seq)`, each message's terms
//! `(room, bucket, seq)`, and the watermark per room. Index writes skip the fsync: a crash
//! may lose the newest ones, but postings, terms and watermark commit in one batch, so
//! what is lost is re-indexed from the older watermark.

use super::{store::EmbeddedStore, tables::Tables};
use crate::{
    backend::SearchIndex,
    error::{StoreError, StoreResult},
    keys,
    records::{RoomId, Seq},
    search::{IndexedMessage, LogBucket, MAX_TERM_BYTES},
};

/// `(room, bucket, term length, term)`: the prefix of one term's postings in a bucket.
fn term_prefix(room: RoomId, bucket: u64, term: &str) -> StoreResult<Vec<u8>> {
    let len = u8::try_from(term.len())
        .ok()
        .filter(|l| usize::from(*l) <= MAX_TERM_BYTES && *l > 0)
        .ok_or_else(|| StoreError::Invalid(format!("index term of {} bytes", term.len())))?;
    let mut key = keys::key_u64s([room, bucket]);
    key.push(len);
    key.extend_from_slice(term.as_bytes());
    Ok(key)
}

fn posting(room: RoomId, bucket: u64, term: &str, seq: Seq) -> StoreResult<Vec<u8>> {
    let mut key = term_prefix(room, bucket, term)?;
    key.extend_from_slice(&seq.to_be_bytes());
    Ok(key)
}

impl Tables {
    fn indexed(&self, room: RoomId, bucket: u64, seq: Seq) -> StoreResult<Vec<String>> {
        Ok(self
            .get_json(&self.search_docs, &keys::message(room, bucket, seq))?
            .unwrap_or_default())
    }

    fn index(&self, room: RoomId, docs: Vec<IndexedMessage>, watermark: Seq) -> StoreResult<()> {
        let _guard = self.search_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = self.db.batch();
        for doc in docs {
            let bucket = self.bucket_of(doc.sent_at_ms);
            let before = self.indexed(room, bucket, doc.seq)?;
            for gone in before.iter().filter(|t| !doc.terms.contains(t)) {
                batch.remove(&self.search_postings, posting(room, bucket, gone, doc.seq)?);
            }
            for added in doc.terms.iter().filter(|t| !before.contains(t)) {
                batch.insert(
                    &self.search_postings,
                    posting(room, bucket, added, doc.seq)?,
                    [],
                );
            }
            let key = keys::message(room, bucket, doc.seq);
            if doc.terms.is_empty() {
                batch.remove(&self.search_docs, key);
            } else {
                let mut terms = doc.terms;
                terms.sort_unstable();
                batch.insert(&self.search_docs, key, serde_json::to_vec(&terms)?);
            }
        }
        if watermark > self.watermark(room)? {
            batch.insert(
                &self.search_marks,
                room.to_be_bytes(),
                watermark.to_be_bytes(),
            );
        }
        batch.durability(None).commit()?;
        Ok(())
    }

    fn watermark(&self, room: RoomId) -> StoreResult<Seq> {
        Ok(self
            .search_marks
            .get(room.to_be_bytes())?
            .and_then(|v| keys::read_u64(&v, 0))
            .unwrap_or(0))
    }

    fn postings(
        &self,
        room: RoomId,
        bucket: u64,
        term: &str,
        at_most: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Seq>> {
        let prefix = term_prefix(room, bucket, term)?;
        let start = prefix.clone();
        let mut end = prefix.clone();
        end.extend_from_slice(&at_most.to_be_bytes());
        let mut out = Vec::with_capacity(limit.min(256));
        for kv in self.search_postings.range(start..=end).rev().take(limit) {
            let key = kv.key()?;
            let seq = key
                .get(prefix.len()..)
                .and_then(|s| keys::read_u64(s, 0))
                .ok_or_else(|| StoreError::Corrupt("short posting key".into()))?;
            out.push(seq);
        }
        Ok(out)
    }

    fn log_buckets(&self, room: RoomId) -> StoreResult<Vec<LogBucket>> {
        let mut out = Vec::new();
        for kv in self.buckets.prefix(room.to_be_bytes()).rev() {
            let (key, value) = kv.into_inner()?;
            let (Some(bucket), Some(first_seq)) =
                (keys::read_u64(&key, 1), keys::read_u64(&value, 0))
            else {
                return Err(StoreError::Corrupt("short bucket entry".into()));
            };
            out.push(LogBucket { bucket, first_seq });
        }
        Ok(out)
    }

    fn rooms_after(&self, after: Option<RoomId>, limit: usize) -> StoreResult<Vec<RoomId>> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut out = Vec::with_capacity(limit.min(1024));
        if after == Some(RoomId::MAX) {
            return Ok(out);
        }
        for kv in self.rooms.range(start.to_be_bytes()..).take(limit) {
            let key = kv.key()?;
            out.push(
                keys::read_u64(&key, 0)
                    .ok_or_else(|| StoreError::Corrupt("short room key".into()))?,
            );
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl SearchIndex for EmbeddedStore {
    fn bucket_of(&self, sent_at_ms: i64) -> u64 {
        self.tables.bucket_of(sent_at_ms)
    }

    async fn log_buckets(&self, room: RoomId) -> StoreResult<Vec<LogBucket>> {
        self.point(|t| t.log_buckets(room))
    }

    async fn index_messages(
        &self,
        room: RoomId,
        messages: Vec<IndexedMessage>,
        watermark: Seq,
    ) -> StoreResult<()> {
        self.blocking(move |t| t.index(room, messages, watermark))
            .await
    }

    async fn postings(
        &self,
        room: RoomId,
        bucket: u64,
        term: &str,
        at_most: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Seq>> {
        self.point(|t| t.postings(room, bucket, term, at_most, limit))
    }

    async fn index_watermark(&self, room: RoomId) -> StoreResult<Seq> {
        self.point(|t| t.watermark(room))
    }

    async fn indexed_terms(&self, room: RoomId, bucket: u64, seq: Seq) -> StoreResult<Vec<String>> {
        self.point(|t| t.indexed(room, bucket, seq))
    }

    async fn rooms_after(&self, after: Option<RoomId>, limit: usize) -> StoreResult<Vec<RoomId>> {
        self.blocking(move |t| t.rooms_after(after, limit)).await
    }
}
