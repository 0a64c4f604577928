//! The conformance suite: the message search index.
#![allow(clippy::unwrap_used, missing_docs)]

use super::fixtures::{msg, room};
use crate::{AppendBatch, IndexedMessage, LogBucket, RoomKind, Store};

/// Far enough from 0 to be in another bucket at any bucket width up to 30 days.
const SECOND_BUCKET_MS: i64 = 30 * 86_400_000;

fn doc(seq: u64, at: i64, terms: &[&str]) -> IndexedMessage {
    IndexedMessage {
        seq,
        sent_at_ms: at,
        terms: terms.iter().map(|t| t.to_string()).collect(),
    }
}

/// Postings per bucket newest first, a change replacing exactly what was indexed, removal,
/// the watermark only rising, the log's buckets, and the walk over every room.
pub async fn search_index(store: &dyn Store) {
    let (k0, k1) = postings(store).await;
    assert!(k1 > k0);
    changes(store, k0).await;
    every_room(store).await;
}

/// Indexes three messages in two buckets; returns the buckets.
async fn postings(store: &dyn Store) -> (u64, u64) {
    let r = 31;
    store
        .create_room(room(r, RoomKind::Group), vec![1])
        .await
        .unwrap();
    let e = store.claim_room(r).await.unwrap();
    let (b0, b1) = (0, SECOND_BUCKET_MS);
    let batch = vec![msg(r, 1, b0 + 1), msg(r, 2, b0 + 2), msg(r, 3, b1 + 1)];
    store
        .append(r, e, 0, AppendBatch::messages(batch))
        .await
        .unwrap();
    let (k0, k1) = (store.bucket_of(b0 + 1), store.bucket_of(b1 + 1));
    assert_eq!(
        store.log_buckets(r).await.unwrap(),
        [
            LogBucket {
                bucket: k1,
                first_seq: 3
            },
            LogBucket {
                bucket: k0,
                first_seq: 1
            }
        ]
    );

    assert_eq!(store.index_watermark(r).await.unwrap(), 0);
    let docs = vec![
        doc(1, b0 + 1, &["친구", "hello"]),
        doc(2, b0 + 2, &["hello", "world"]),
        doc(3, b1 + 1, &["hello"]),
    ];
    store.index_messages(r, docs.clone(), 3).await.unwrap();
    // Idempotent: the same writes again change nothing.
    store.index_messages(r, docs, 3).await.unwrap();
    assert_eq!(store.index_watermark(r).await.unwrap(), 3);
    assert_eq!(
        store.postings(r, k0, "hello", u64::MAX, 10).await.unwrap(),
        [2, 1]
    );
    assert_eq!(store.postings(r, k0, "hello", 1, 10).await.unwrap(), [1]);
    assert_eq!(
        store.postings(r, k0, "hello", u64::MAX, 1).await.unwrap(),
        [2]
    );
    assert_eq!(
        store.postings(r, k1, "hello", u64::MAX, 10).await.unwrap(),
        [3]
    );
    assert_eq!(
        store.postings(r, k0, "친구", u64::MAX, 10).await.unwrap(),
        [1]
    );
    // A term is matched whole, never as a prefix of a longer one.
    assert!(
        store
            .postings(r, k0, "hell", u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .postings(r, k0, "친", u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .postings(404, k0, "hello", u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    (k0, k1)
}

async fn changes(store: &dyn Store, k0: u64) {
    let (r, b0) = (31, 0);

    // An edit re-indexes: the old terms go, the new come; a delete takes it all out.
    store
        .index_messages(r, vec![doc(2, b0 + 2, &["world", "again"])], 2)
        .await
        .unwrap();
    assert_eq!(
        store.postings(r, k0, "hello", u64::MAX, 10).await.unwrap(),
        [1]
    );
    assert_eq!(
        store.postings(r, k0, "again", u64::MAX, 10).await.unwrap(),
        [2]
    );
    assert_eq!(
        store.indexed_terms(r, k0, 2).await.unwrap(),
        ["again", "world"]
    );
    store
        .index_messages(r, vec![doc(1, b0 + 1, &[])], 4)
        .await
        .unwrap();
    assert!(
        store
            .postings(r, k0, "친구", u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.indexed_terms(r, k0, 1).await.unwrap().is_empty());
    // The watermark never goes back (a second indexer behind the first is harmless).
    assert_eq!(store.index_watermark(r).await.unwrap(), 4);
}

async fn every_room(store: &dyn Store) {
    // Every room is walked once, in pages.
    for id in [40, 41, 42] {
        store
            .create_room(room(id, RoomKind::Group), vec![1])
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.rooms_after(after, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().copied();
        seen.extend(page);
    }
    seen.sort_unstable();
    assert_eq!(seen, [31, 40, 41, 42]);
}
