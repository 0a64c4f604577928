//! Answers a query over rooms: intersects the terms' postings bucket by bucket, newest
//! first, then checks each candidate against the message *as it is now* (so a deleted or
//! edited message, or an index that lags, never shows a wrong hit) and the caller's view of
//! the room, which the caller works out (the messenger's rules live with the rooms).

use chat_store::{MessageRecord, RoomId, Seq, SharedStore, StoreResult};

use crate::{
    cursor::Cursor,
    document::searchable_text,
    query::Query,
    snippet::{Snippet, snippet},
};

/// Postings read per term per store call.
const CHUNK: usize = 256;

/// Rooms searched at once in a search across rooms.
const CONCURRENT_ROOMS: usize = 8;

/// What one member may find in one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    /// The room.
    pub room: RoomId,
    /// Only entries after this seq are visible (history visibility).
    pub visible_after: Seq,
    /// Entries the member hid for themselves, ascending.
    pub hidden: Vec<Seq>,
}

/// Filters besides the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only messages from this sender.
    pub sender: Option<u64>,
    /// Only messages sent at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Only messages sent before this time (ms).
    pub until_ms: Option<i64>,
    /// Only messages with at least one attachment.
    pub has_attachment: bool,
    /// Only messages with at least one image.
    pub has_photo: bool,
}

impl Filters {
    fn keep(&self, m: &MessageRecord) -> bool {
        self.sender.is_none_or(|s| s == m.sender_id)
            && self.from_ms.is_none_or(|f| m.sent_at_ms >= f)
            && self.until_ms.is_none_or(|u| m.sent_at_ms < u)
            && (!self.has_attachment || !m.attachments.is_empty())
            && (!self.has_photo
                || m.attachments
                    .iter()
                    .any(|a| a.content_type.starts_with("image/")))
    }
}

/// One hit: the message as it is now and what to show of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The message.
    pub message: MessageRecord,
    /// Its text around what matched.
    pub snippet: Snippet,
}

/// A page of hits, newest first, and where the next one starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Hits.
    pub hits: Vec<Hit>,
    /// More may follow: pass it back for the next page.
    pub next: Option<Cursor>,
}

/// Searches `rooms` for `query`: up to `limit` hits older than `cursor`, newest first.
pub async fn search(
    store: &SharedStore,
    rooms: &[RoomView],
    query: &Query,
    filters: &Filters,
    cursor: Option<Cursor>,
    limit: usize,
) -> StoreResult<Page> {
    let limit = limit.max(1);
    let mut hits: Vec<Hit> = Vec::new();
    for chunk in rooms.chunks(CONCURRENT_ROOMS) {
        let searches = chunk
            .iter()
            .map(|view| search_room(store, view, query, filters, cursor, limit));
        for found in futures::future::try_join_all(searches).await? {
            hits.extend(found);
        }
    }
    hits.sort_unstable_by_key(|h| std::cmp::Reverse(Cursor::of(&h.message)));
    let more = hits.len() > limit;
    hits.truncate(limit);
    let next = if more {
        hits.last().map(|h| Cursor::of(&h.message))
    } else {
        None
    };
    Ok(Page { hits, next })
}

/// Up to `limit` hits of one room older than `cursor`, newest first.
async fn search_room(
    store: &SharedStore,
    view: &RoomView,
    query: &Query,
    filters: &Filters,
    cursor: Option<Cursor>,
    limit: usize,
) -> StoreResult<Vec<Hit>> {
    let room = view.room;
    let terms: Vec<&str> = query.terms.iter().map(String::as_str).collect();
    // One more than asked: the caller learns whether a next page exists.
    let want = limit + 1;
    let newest = cursor.map(|c| store.bucket_of(c.sent_at_ms));
    let oldest = filters.from_ms.map(|f| store.bucket_of(f));
    let until = filters.until_ms.map(|u| store.bucket_of(u));
    let mut hits = Vec::new();
    for b in store.log_buckets(room).await? {
        if newest.is_some_and(|n| b.bucket > n) || until.is_some_and(|u| b.bucket > u) {
            continue;
        }
        if oldest.is_some_and(|o| b.bucket < o) {
            break;
        }
        let mut lists: Vec<Postings> = terms.iter().map(|t| Postings::new(t)).collect();
        let mut x = Seq::MAX;
        while let Some(seq) = next_common(store, room, b.bucket, &mut lists, x).await? {
            if seq <= view.visible_after {
                return Ok(hits);
            }
            if let Some(hit) = check(store, view, query, filters, cursor, seq).await? {
                hits.push(hit);
                if hits.len() >= want {
                    return Ok(hits);
                }
            }
            let Some(below) = seq.checked_sub(1) else {
                break;
            };
            x = below;
        }
        if b.first_seq <= view.visible_after.saturating_add(1) {
            break;
        }
    }
    Ok(hits)
}

/// A candidate made a hit: still a visible, matching message passing the filters.
async fn check(
    store: &SharedStore,
    view: &RoomView,
    query: &Query,
    filters: &Filters,
    cursor: Option<Cursor>,
    seq: Seq,
) -> StoreResult<Option<Hit>> {
    if view.hidden.binary_search(&seq).is_ok() {
        return Ok(None);
    }
    let Some(m) = store.message(view.room, seq).await? else {
        return Ok(None);
    };
    if cursor.is_some_and(|c| Cursor::of(&m) >= c) || !filters.keep(&m) {
        return Ok(None);
    }
    let Some(text) = searchable_text(&m) else {
        return Ok(None);
    };
    if !query.matches(&text) {
        return Ok(None);
    }
    let snippet = snippet(&text, &query.highlights);
    Ok(Some(Hit {
        message: m,
        snippet,
    }))
}

/// One term's postings in a bucket, read in chunks as the intersection walks down.
struct Postings<'a> {
    term: &'a str,
    /// Fetched and not yet passed, descending.
    buf: std::collections::VecDeque<Seq>,
    /// Nothing is left below the buffer.
    exhausted: bool,
}

impl<'a> Postings<'a> {
    fn new(term: &'a str) -> Self {
        Self {
            term,
            buf: Default::default(),
            exhausted: false,
        }
    }

    /// The largest posting at most `x`.
    async fn seek(
        &mut self,
        store: &SharedStore,
        room: RoomId,
        bucket: u64,
        x: Seq,
    ) -> StoreResult<Option<Seq>> {
        while self.buf.front().is_some_and(|s| *s > x) {
            self.buf.pop_front();
        }
        if self.buf.is_empty() && !self.exhausted {
            let got = store.postings(room, bucket, self.term, x, CHUNK).await?;
            self.exhausted = got.len() < CHUNK;
            self.buf.extend(got);
        }
        Ok(self.buf.front().copied())
    }
}

/// The largest seq at most `x` that every list holds.
async fn next_common(
    store: &SharedStore,
    room: RoomId,
    bucket: u64,
    lists: &mut [Postings<'_>],
    mut x: Seq,
) -> StoreResult<Option<Seq>> {
    loop {
        let mut agreed = true;
        for list in lists.iter_mut() {
            match list.seek(store, room, bucket, x).await? {
                None => return Ok(None),
                Some(y) if y < x => {
                    x = y;
                    agreed = false;
                }
                Some(_) => {}
            }
        }
        if agreed {
            return Ok(Some(x));
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
