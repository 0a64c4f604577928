//! The conformance suite: what a room records about itself (system entries, the settings
//! they leave in the head) and when each member joined.
#![allow(clippy::unwrap_used, missing_docs)]

use crate::{
    AppendBatch, EntryKind, HeadChange, MessageRecord, ReadCursor, RoomKind, RoomMeta, Store,
    SystemEvent, SystemRecord,
};

use super::fixtures::*;

/// Members keep the seq they joined at: 0 with the room, the cursor's seq when added; a
/// member who leaves and returns joins anew.
pub async fn member_joins(store: &dyn Store) {
    store
        .create_room(room(50, RoomKind::Group), vec![3, 1])
        .await
        .unwrap();
    let at = |seq| ReadCursor { seq, ordinal: seq };
    store.add_members(50, vec![2], at(7)).await.unwrap();
    assert_eq!(
        store.member_joins(50).await.unwrap(),
        vec![(1, 0), (2, 7), (3, 0)]
    );
    store.remove_member(50, 1).await.unwrap();
    store.add_members(50, vec![1], at(9)).await.unwrap();
    assert_eq!(
        store.member_joins(50).await.unwrap(),
        vec![(1, 9), (2, 7), (3, 0)]
    );
    assert_eq!(store.member_join(50, 1).await.unwrap(), Some(9));
    assert_eq!(store.member_join(50, 3).await.unwrap(), Some(0));
    assert_eq!(store.member_join(50, 4).await.unwrap(), None);
    assert!(store.member_joins(51).await.unwrap().is_empty());
}

/// A system entry and the settings it changes are written together; a later batch without
/// a head change keeps them.
pub async fn room_settings(store: &dyn Store, bucket_width_ms: i64) {
    store
        .create_room(room(52, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    let e = store.claim_room(52).await.unwrap();
    let first = msg(52, 1, 10);
    let renamed = MessageRecord {
        kind: EntryKind::System,
        body: "새 이름".into(),
        ordinal: 1,
        system: Some(SystemRecord {
            event: SystemEvent::Renamed,
            users: Vec::new(),
        }),
        ..msg(52, 2, 10 + bucket_width_ms)
    };
    let meta = RoomMeta {
        owner: 2,
        name: Some("새 이름".into()),
        shared_history: Some(true),
        away: 0,
        notice: Some(crate::NoticeRecord {
            text: "공지\n둘째 줄".into(),
            by: 2,
            at_ms: 10 + bucket_width_ms,
            seq: 2,
        }),
        pins: vec![1],
        invite_owner_only: true,
        pins_owner_only: true,
        changed_seq: 2,
    };
    let batch = AppendBatch {
        messages: vec![first.clone(), renamed.clone()],
        head: Some(HeadChange {
            preview: Some(first.clone()),
            meta: meta.clone(),
            ..HeadChange::default()
        }),
        ..AppendBatch::default()
    };
    store.append(52, e, 0, batch).await.unwrap();
    let head = store.room_head(52).await.unwrap();
    assert_eq!(head.meta, meta);
    assert_eq!(head.newest_message(), Some(&first));
    assert_eq!(head.ordinal(), 1);
    assert_eq!(store.message(52, 2).await.unwrap(), Some(renamed.clone()));
    let third = MessageRecord {
        ordinal: 2,
        ..msg(52, 3, 10 + bucket_width_ms)
    };
    store
        .append(52, e, 2, AppendBatch::messages(vec![third]))
        .await
        .unwrap();
    assert_eq!(store.room_head(52).await.unwrap().meta, meta);
    let page = store.history(52, 3, 10).await.unwrap();
    assert_eq!(page, vec![renamed, first]);
}

/// A member hides entries from their own view; a non-member cannot; a mute keeps them and
/// they keep a mute; leaving forgets them.
pub async fn hidden_messages(store: &dyn Store) {
    store
        .create_room(room(54, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    assert!(store.hidden_messages(54, 1).await.unwrap().is_empty());
    for seq in [9, 3, 9] {
        assert!(store.hide_message(54, 1, seq).await.unwrap());
    }
    assert!(!store.hide_message(54, 3, 1).await.unwrap());
    assert!(store.hidden_messages(54, 3).await.unwrap().is_empty());
    assert!(store.set_room_muted(54, 1, true).await.unwrap());
    assert!(store.hide_message(54, 1, 5).await.unwrap());
    assert_eq!(store.hidden_messages(54, 1).await.unwrap(), vec![3, 5, 9]);
    assert_eq!(store.muted_rooms(1).await.unwrap(), vec![54]);
    assert!(store.set_room_muted(54, 1, false).await.unwrap());
    assert_eq!(store.hidden_messages(54, 1).await.unwrap(), vec![3, 5, 9]);
    assert!(
        store.hidden_messages(54, 2).await.unwrap().is_empty(),
        "per user"
    );
    store.remove_member(54, 1).await.unwrap();
    store
        .add_members(54, vec![1], ReadCursor::default())
        .await
        .unwrap();
    assert!(store.hidden_messages(54, 1).await.unwrap().is_empty());
}
