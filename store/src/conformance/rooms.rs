//! The conformance suite: rooms, the message log and read cursors.
#![allow(clippy::unwrap_used, missing_docs)]

use crate::{
    AppendBatch, EntryKind, HeadChange, MentionRecord, MessageRecord, ReadCursor, RoomKind, Store,
    StoreError,
};

use super::fixtures::*;

pub async fn rooms_and_members(store: &dyn Store) {
    store
        .create_room(room(10, RoomKind::Group), vec![1, 2, 3])
        .await
        .unwrap();
    assert_eq!(
        store.room(10).await.unwrap(),
        Some(room(10, RoomKind::Group))
    );
    assert_eq!(store.members(10).await.unwrap(), vec![1, 2, 3]);
    store
        .add_members(10, vec![4, 2], ReadCursor::default())
        .await
        .unwrap();
    store.remove_member(10, 1).await.unwrap();
    store.remove_member(10, 1).await.unwrap();
    assert_eq!(store.members(10).await.unwrap(), vec![2, 3, 4]);
    assert_eq!(store.user_rooms(2).await.unwrap(), vec![10]);
    assert!(store.user_rooms(1).await.unwrap().is_empty());
    assert_eq!(store.room(11).await.unwrap(), None);
}

/// A member mutes and unmutes a room; a non-member cannot; leaving ends the mute, and coming
/// back starts unmuted.
pub async fn muted_rooms(store: &dyn Store) {
    store
        .create_room(room(20, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    store
        .create_room(room(21, RoomKind::Group), vec![1])
        .await
        .unwrap();
    assert!(store.muted_rooms(1).await.unwrap().is_empty());
    assert!(store.set_room_muted(21, 1, true).await.unwrap());
    assert!(store.set_room_muted(20, 1, true).await.unwrap());
    assert!(store.set_room_muted(20, 1, true).await.unwrap());
    assert_eq!(store.muted_rooms(1).await.unwrap(), vec![20, 21]);
    assert!(store.muted_rooms(2).await.unwrap().is_empty());
    assert!(!store.set_room_muted(21, 2, true).await.unwrap());
    assert!(store.muted_rooms(2).await.unwrap().is_empty());
    assert!(store.set_room_muted(21, 1, false).await.unwrap());
    assert_eq!(store.muted_rooms(1).await.unwrap(), vec![20]);
    // Muting changes no membership.
    assert_eq!(store.user_rooms(1).await.unwrap(), vec![20, 21]);
    store.remove_member(20, 1).await.unwrap();
    assert!(store.muted_rooms(1).await.unwrap().is_empty());
    assert!(!store.set_room_muted(20, 1, true).await.unwrap());
    assert_eq!(store.user_rooms(1).await.unwrap(), vec![21]);
    store
        .add_members(20, vec![1], ReadCursor::default())
        .await
        .unwrap();
    assert!(store.muted_rooms(1).await.unwrap().is_empty());
}

pub async fn direct_rooms(store: &dyn Store) {
    assert_eq!(store.direct_room(1, 2).await.unwrap(), None);
    assert_eq!(
        store
            .create_direct_room(room(20, RoomKind::Direct), 2, 1)
            .await
            .unwrap(),
        20
    );
    // A racing second creation returns the first room and creates nothing.
    assert_eq!(
        store
            .create_direct_room(room(21, RoomKind::Direct), 1, 2)
            .await
            .unwrap(),
        20
    );
    assert_eq!(store.direct_room(1, 2).await.unwrap(), Some(20));
    assert_eq!(store.room(21).await.unwrap(), None);
    assert_eq!(store.members(20).await.unwrap(), vec![1, 2]);
}

pub async fn conditional_append(store: &dyn Store) {
    assert_eq!(store.room_head(5).await.unwrap().last_seq, 0);
    let e = store.claim_room(5).await.unwrap();
    store
        .append(
            5,
            e,
            0,
            AppendBatch::messages(vec![msg(5, 1, 10), msg(5, 2, 11)]),
        )
        .await
        .unwrap();
    // A stale writer that also thinks the log ends at 0 loses, and writes nothing.
    let stale = store
        .append(5, e, 0, AppendBatch::messages(vec![msg(5, 1, 12)]))
        .await;
    assert_eq!(
        stale,
        Err(StoreError::Conflict {
            expected: 0,
            found: 2
        })
    );
    // Gaps and foreign rooms are refused.
    assert!(matches!(
        store
            .append(5, e, 2, AppendBatch::messages(vec![msg(5, 4, 12)]))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .append(5, e, 2, AppendBatch::messages(vec![msg(6, 3, 12)]))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let head = store.room_head(5).await.unwrap();
    assert_eq!(head.last_seq, 2);
    assert_eq!(head.last_message, Some(msg(5, 2, 11)));
    let found = store.find_client_message(5, 1, "c2").await.unwrap();
    assert_eq!(found, Some(msg(5, 2, 11)));
    assert_eq!(store.find_client_message(5, 1, "nope").await.unwrap(), None);
    assert_eq!(store.find_client_message(5, 2, "c2").await.unwrap(), None);

    // A new owner claims the room: the old one is fenced off, even with the right seq.
    let e2 = store.claim_room(5).await.unwrap();
    assert!(e2 > e);
    assert!(matches!(
        store
            .append(5, e, 2, AppendBatch::messages(vec![msg(5, 3, 13)]))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    store
        .append(5, e2, 2, AppendBatch::messages(vec![msg(5, 3, 14)]))
        .await
        .unwrap();
    let head = store.room_head(5).await.unwrap();
    assert_eq!((head.last_seq, head.epoch), (3, e2));
    assert_eq!(store.history(5, 0, 10).await.unwrap()[0], msg(5, 3, 14));
}

/// Two owners of one room (a failover race) append as fast as they can, each re-claiming
/// the room whenever it finds itself fenced off: every append that succeeded is in the log
/// exactly once, the log is dense, and no seq was written twice.
pub async fn racing_owners(store: std::sync::Arc<dyn Store>) {
    let room = 77;
    let mut tasks = Vec::new();
    for owner in 0..2u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut epoch = store.claim_room(room).await.unwrap();
            let mut n = 0;
            while acked.len() < 15 {
                n += 1;
                assert!(n < 10_000, "no progress");
                let head = store.room_head(room).await.unwrap();
                let mut m = msg(room, head.last_seq + 1, 1);
                m.id = owner * 1_000_000 + n;
                m.client_msg_id = format!("o{owner}-{n}");
                match store
                    .append(
                        room,
                        epoch,
                        head.last_seq,
                        AppendBatch::messages(vec![m.clone()]),
                    )
                    .await
                {
                    Ok(()) => acked.push(m),
                    Err(StoreError::Conflict { .. }) => {
                        // Fenced off or raced: become the owner again.
                        epoch = store.claim_room(room).await.unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
                tokio::task::yield_now().await;
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let log = store.history(room, 0, 1000).await.unwrap();
    assert_eq!(log.len(), 30);
    assert_eq!(
        log.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=30).rev().collect::<Vec<_>>()
    );
    acked.sort_by_key(|m| m.seq);
    let mut log = log;
    log.reverse();
    assert_eq!(log, acked, "the log is exactly the acked appends");
}

/// Appends 30 messages spread over at least 4 buckets, then pages backwards.
pub async fn history_across_buckets(store: &dyn Store, bucket_width_ms: i64) {
    let room = 9;
    let e = store.claim_room(room).await.unwrap();
    let mut last = 0;
    for chunk in 0..6u64 {
        let batch: Vec<_> = (1..=5u64)
            .map(|i| {
                let seq = chunk * 5 + i;
                // Every chunk lands in its own bucket, and skips one bucket in between.
                let at =
                    i64::try_from(chunk).unwrap() * 2 * bucket_width_ms + i64::try_from(i).unwrap();
                msg(room, seq, at)
            })
            .collect();
        store
            .append(room, e, last, AppendBatch::messages(batch))
            .await
            .unwrap();
        last += 5;
    }
    let newest = store.history(room, 0, 7).await.unwrap();
    assert_eq!(
        newest.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (24..=30).rev().collect::<Vec<_>>()
    );
    let mut seen = Vec::new();
    let mut before = 0;
    loop {
        let page = store.history(room, before, 4).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().unwrap().seq;
        seen.extend(page.into_iter().map(|m| m.seq));
    }
    assert_eq!(seen, (1..=30).rev().collect::<Vec<_>>());
    assert_eq!(store.history(room, 12, 100).await.unwrap().len(), 11);
    assert!(store.history(room, 1, 100).await.unwrap().is_empty());
    assert!(store.history(404, 0, 100).await.unwrap().is_empty());
}

/// Many rooms appending at once all succeed and each log stays dense.
pub async fn concurrent_appends(store: std::sync::Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for room in 100..120u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let e = store.claim_room(room).await.unwrap();
            for seq in 1..=20u64 {
                store
                    .append(
                        room,
                        e,
                        seq - 1,
                        AppendBatch::messages(vec![msg(room, seq, i64::try_from(seq).unwrap())]),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for room in 100..120u64 {
        let all = store.history(room, 0, 100).await.unwrap();
        assert_eq!(
            all.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=20).rev().collect::<Vec<_>>()
        );
    }
}

pub async fn read_cursors(store: &dyn Store) {
    store
        .create_room(room(30, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    assert!(store.read_cursors(30).await.unwrap().is_empty());
    let e = store.claim_room(30).await.unwrap();
    assert_eq!(
        store.read_cursor(30, 1).await.unwrap(),
        ReadCursor::default()
    );
    let at = |seq, ordinal| ReadCursor { seq, ordinal };
    let cursors = |c: Vec<(u64, (u64, u64))>| AppendBatch {
        cursors: c.into_iter().map(|(u, (s, o))| (u, at(s, o))).collect(),
        ..AppendBatch::default()
    };
    store
        .append(30, e, 0, cursors(vec![(1, (5, 5)), (2, (3, 2))]))
        .await
        .unwrap();
    store
        .append(30, e, 0, cursors(vec![(1, (7, 6))]))
        .await
        .unwrap();
    // Cursor moves are conditional like messages.
    assert!(matches!(
        store.append(30, e, 4, cursors(vec![(1, (9, 9))])).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.read_cursors(30).await.unwrap(),
        vec![(1, at(7, 6)), (2, at(3, 2))]
    );
    assert_eq!(store.read_cursor(30, 1).await.unwrap(), at(7, 6));
    // Messages and cursors commit together; newcomers start at the given cursor.
    store
        .append(
            30,
            e,
            0,
            AppendBatch {
                messages: vec![msg(30, 1, 5)],
                cursors: vec![(1, at(1, 1))],
                ..AppendBatch::default()
            },
        )
        .await
        .unwrap();
    store.add_members(30, vec![3], at(1, 1)).await.unwrap();
    assert_eq!(store.read_cursor(30, 3).await.unwrap(), at(1, 1));
    assert!(matches!(
        store.append(30, e, 1, AppendBatch::default()).await,
        Err(StoreError::Invalid(_))
    ));
    // Leaving forgets the cursor.
    store.remove_member(30, 2).await.unwrap();
    assert_eq!(
        store.read_cursors(30).await.unwrap(),
        vec![(1, at(1, 1)), (3, at(1, 1))]
    );
}

/// Changes (an edit, a delete) are entries of their own, rewrite their target in the same
/// append, and move the head's preview and deleted list; ordinals count real messages only.
pub async fn timeline_changes(store: &dyn Store, bucket_width_ms: i64) {
    store
        .create_room(room(40, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    let e = store.claim_room(40).await.unwrap();
    // Two messages in different buckets, so finding an entry by seq crosses buckets.
    let first = msg(40, 1, 5);
    let second = msg(40, 2, 5 + bucket_width_ms);
    store
        .append(
            40,
            e,
            0,
            AppendBatch::messages(vec![first.clone(), second.clone()]),
        )
        .await
        .unwrap();
    assert_eq!(store.message(40, 1).await.unwrap(), Some(first.clone()));
    assert_eq!(store.message(40, 2).await.unwrap(), Some(second.clone()));
    assert_eq!(store.message(40, 3).await.unwrap(), None);
    let change = |seq, kind, target, body: &str| MessageRecord {
        kind,
        target_seq: target,
        ordinal: 2,
        body: body.into(),
        ..msg(40, seq, 10 + bucket_width_ms)
    };
    let mut edit = change(3, EntryKind::Edit, 1, "@bob fixed");
    edit.mentions = vec![MentionRecord {
        user_id: 2,
        offset: 0,
        length: 4,
    }];
    let mut edited = first.clone();
    assert!(edited.apply(&edit, 10));
    assert_eq!(edited.mentions, edit.mentions);
    let mut deleted = second.clone();
    let delete = change(4, EntryKind::Delete, 2, "");
    assert!(deleted.apply(&delete, 10));
    let batch = AppendBatch {
        messages: vec![edit.clone(), delete.clone()],
        rewrites: vec![edited.clone(), deleted.clone()],
        cursors: vec![(1, ReadCursor::at(&delete))],
        head: Some(HeadChange {
            preview: Some(deleted.clone()),
            deleted: vec![2],
            mentions: edited.mention_mark().into_iter().collect(),
            ..HeadChange::default()
        }),
        ..AppendBatch::default()
    };
    store.append(40, e, 2, batch).await.unwrap();
    assert_eq!(store.message(40, 1).await.unwrap(), Some(edited.clone()));
    let page = store.history(40, 0, 10).await.unwrap();
    assert_eq!(page, vec![delete.clone(), edit, deleted.clone(), edited]);
    let head = store.room_head(40).await.unwrap();
    assert_eq!(head.last_seq, 4);
    assert_eq!(head.newest_message(), Some(&deleted));
    assert_eq!(head.deleted, vec![2]);
    assert_eq!(head.ordinal(), 2);
    // Member 2 read through seq 1: one real message after it, deleted: nothing unread.
    assert_eq!(head.unread(ReadCursor { seq: 1, ordinal: 1 }), 0);
    assert_eq!(head.unread(ReadCursor::default()), 1);
    assert_eq!(head.unread(store.read_cursor(40, 1).await.unwrap()), 0);
    // The edit mentions member 2 in message 1: counted until they read it.
    assert_eq!(head.mentions_of(2, ReadCursor::default()), 1);
    assert_eq!(head.mentions_of(2, ReadCursor { seq: 1, ordinal: 1 }), 0);
    assert_eq!(head.mentions_of(1, ReadCursor::default()), 0);
    refuses_and_keeps(store, e, &change, &deleted).await;
}

/// A rewrite of an entry not in the log is refused; a batch without a head change keeps the
/// preview and the deleted list.
async fn refuses_and_keeps(
    store: &dyn Store,
    e: u64,
    change: &dyn Fn(u64, EntryKind, u64, &str) -> MessageRecord,
    deleted: &MessageRecord,
) {
    let bad = AppendBatch {
        messages: vec![change(5, EntryKind::Edit, 1, "x")],
        rewrites: vec![msg(40, 6, 5)],
        ..AppendBatch::default()
    };
    assert!(matches!(
        store.append(40, e, 4, bad).await,
        Err(StoreError::Invalid(_))
    ));
    // A batch without a head change keeps the preview and deleted list.
    store
        .append(
            40,
            e,
            4,
            AppendBatch::messages(vec![change(5, EntryKind::Edit, 1, "y")]),
        )
        .await
        .unwrap();
    let head = store.room_head(40).await.unwrap();
    assert_eq!(
        (head.newest_message(), head.deleted.clone()),
        (Some(deleted), vec![2])
    );
    assert_eq!(head.mentions.len(), 1);
}
