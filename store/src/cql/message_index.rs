//! The message search index (migration 9): postings partitioned by `(room, bucket, term)`,
//! each message's terms by `(room, bucket)` (the partitions messages have), the watermark
//! per room. A message's postings are written before its terms row and its terms row before
//! the watermark, so a crash anywhere re-indexes from the older watermark; the watermark's
//! write timestamp is its own value, so the highest one wins whatever order writers land.

use super::{
    store::{CqlStore, Inner},
    values::{first, from_cql, rows, to_cql},
};
use crate::{
    backend::SearchIndex,
    error::StoreResult,
    records::{RoomId, Seq},
    search::{IndexedMessage, LogBucket},
};

impl Inner {
    async fn indexed(&self, room: RoomId, bucket: i64, seq: Seq) -> StoreResult<Vec<String>> {
        let ix = &self.st;
        let row: Option<(Option<Vec<String>>,)> = first(
            self.exec(&ix.search_terms_get, (to_cql(room), bucket, to_cql(seq)))
                .await?,
        )?;
        Ok(row.and_then(|(t,)| t).unwrap_or_default())
    }

    /// Replaces one message's postings and terms row.
    async fn index_one(&self, room: RoomId, doc: IndexedMessage) -> StoreResult<()> {
        let ix = &self.st;
        let (r, bucket, seq) = (
            to_cql(room),
            self.bucket_of(doc.sent_at_ms),
            to_cql(doc.seq),
        );
        let before = self.indexed(room, bucket, doc.seq).await?;
        let added = doc.terms.iter().filter(|t| !before.contains(t));
        let writes =
            added.map(|t| self.exec(&ix.search_posting_insert, (r, bucket, t.as_str(), seq)));
        for w in futures::future::join_all(writes).await {
            w?;
        }
        if doc.terms.is_empty() {
            self.exec(&ix.search_terms_delete, (r, bucket, seq)).await?;
        } else {
            let mut terms = doc.terms.clone();
            terms.sort_unstable();
            self.exec(&ix.search_terms_insert, (r, bucket, seq, terms))
                .await?;
        }
        let gone = before.iter().filter(|t| !doc.terms.contains(t));
        let deletes =
            gone.map(|t| self.exec(&ix.search_posting_delete, (r, bucket, t.as_str(), seq)));
        for d in futures::future::join_all(deletes).await {
            d?;
        }
        Ok(())
    }
}

/// Seqs are stored as CQL bigints: a bound above the largest one is the largest one.
const MAX_SEQ: Seq = i64::MAX as Seq;

/// Messages indexed at once (each is a handful of concurrent writes).
const CONCURRENT_MESSAGES: usize = 16;

#[async_trait::async_trait]
impl SearchIndex for CqlStore {
    fn bucket_of(&self, sent_at_ms: i64) -> u64 {
        from_cql(self.inner.bucket_of(sent_at_ms))
    }

    async fn log_buckets(&self, room: RoomId) -> StoreResult<Vec<LogBucket>> {
        let i = &self.inner;
        let found: Vec<(i64, i64)> = rows(i.exec(&i.st.buckets_of, (to_cql(room),)).await?)?;
        let mut out: Vec<LogBucket> = found
            .into_iter()
            .map(|(b, first)| LogBucket {
                bucket: from_cql(b),
                first_seq: from_cql(first),
            })
            .collect();
        out.sort_unstable_by_key(|b| std::cmp::Reverse(b.bucket));
        Ok(out)
    }

    async fn index_messages(
        &self,
        room: RoomId,
        messages: Vec<IndexedMessage>,
        watermark: Seq,
    ) -> StoreResult<()> {
        let i = &self.inner;
        let mut docs = messages.into_iter().peekable();
        while docs.peek().is_some() {
            let chunk: Vec<_> = docs.by_ref().take(CONCURRENT_MESSAGES).collect();
            let writes = chunk.into_iter().map(|d| i.index_one(room, d));
            for w in futures::future::join_all(writes).await {
                w?;
            }
        }
        if watermark > 0 {
            let w = to_cql(watermark);
            i.exec(&i.st.search_mark_set, (to_cql(room), w, w)).await?;
        }
        Ok(())
    }

    async fn postings(
        &self,
        room: RoomId,
        bucket: u64,
        term: &str,
        at_most: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Seq>> {
        let i = &self.inner;
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        let found: Vec<(i64,)> = rows(
            i.exec(
                &i.st.search_postings_upto,
                (
                    to_cql(room),
                    to_cql(bucket),
                    term,
                    to_cql(at_most.min(MAX_SEQ)),
                    limit,
                ),
            )
            .await?,
        )?;
        Ok(found.into_iter().map(|(s,)| from_cql(s)).collect())
    }

    async fn index_watermark(&self, room: RoomId) -> StoreResult<Seq> {
        let i = &self.inner;
        let row: Option<(Option<i64>,)> =
            first(i.exec(&i.st.search_mark_get, (to_cql(room),)).await?)?;
        Ok(row.and_then(|(s,)| s).map_or(0, from_cql))
    }

    async fn indexed_terms(&self, room: RoomId, bucket: u64, seq: Seq) -> StoreResult<Vec<String>> {
        self.inner.indexed(room, to_cql(bucket), seq).await
    }

    async fn rooms_after(&self, after: Option<RoomId>, limit: usize) -> StoreResult<Vec<RoomId>> {
        let i = &self.inner;
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        let found: Vec<(i64,)> = match after {
            None => rows(i.exec(&i.st.search_rooms_first, (limit,)).await?)?,
            Some(a) => rows(i.exec(&i.st.search_rooms_next, (to_cql(a), limit)).await?)?,
        };
        Ok(found.into_iter().map(|(id,)| from_cql(id)).collect())
    }
}
