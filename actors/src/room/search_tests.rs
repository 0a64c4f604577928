//! The search index follows rooms at the actor level: every durable batch is indexed in the
//! background (sends, edits, deletes), and what a log held before its index existed is
//! indexed when the node starts.

#![allow(clippy::unwrap_used)]

use chat_search::{Filters, Query, RoomView};
use chat_store::{EntryKind, MessageLog, RoomStore, Seq};

use super::{
    RoomOp,
    tests::{ack, group},
    timeline_tests::{change, users},
};
use crate::{ChatSystem, testing::system};

fn say(sender: u64, id: &str, body: &str) -> RoomOp {
    change(sender, id, EntryKind::Message, 0, body)
}

async fn indexed_to(sys: &ChatSystem, room: u64, seq: Seq) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while sys.services.core.store.index_watermark(room).await.unwrap() < seq {
        assert!(tokio::time::Instant::now() < deadline, "index stuck");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn hits(sys: &ChatSystem, room: u64, q: &str) -> Vec<Seq> {
    let view = RoomView {
        room,
        visible_after: 0,
        hidden: vec![],
    };
    let page = chat_search::search(
        &sys.services.core.store,
        &[view],
        &Query::parse(q).unwrap(),
        &Filters::default(),
        None,
        20,
    )
    .await
    .unwrap();
    page.hits.iter().map(|h| h.message.seq).collect()
}

#[tokio::test]
async fn sends_edits_and_deletes_reach_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let u = users(&sys, &["alice", "bob"]).await;
    let room = group(&sys, &u).await;
    let a = ack(&sys, room, say(u[0], "a", "주소는 역삼동이야"))
        .await
        .seq;
    let b = ack(&sys, room, say(u[1], "b", "역삼동 어디?")).await.seq;
    indexed_to(&sys, room, b).await;
    assert_eq!(hits(&sys, room, "역삼동").await, [b, a]);
    let e = ack(
        &sys,
        room,
        change(u[1], "e", EntryKind::Edit, b, "강남역 어디?"),
    )
    .await
    .seq;
    let d = ack(&sys, room, change(u[0], "d", EntryKind::Delete, a, ""))
        .await
        .seq;
    indexed_to(&sys, room, d.max(e)).await;
    assert!(hits(&sys, room, "역삼동").await.is_empty());
    assert_eq!(hits(&sys, room, "강남역").await, [b]);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// Messages from before the index existed, written as an older build wrote them.
async fn unindexed_log(dir: &std::path::Path, room: u64, sender: u64, count: u64) {
    let store = chat_store::EmbeddedStore::open(chat_store::EmbeddedConfig {
        path: dir.to_path_buf(),
        bucket_width_ms: 1000,
        fsync: false,
        max_batch: 16,
    })
    .unwrap();
    let record = chat_store::RoomRecord {
        id: room,
        kind: chat_store::RoomKind::Group,
        name: "old".into(),
        created_by: sender,
        created_at_ms: 1,
        shared_history: false,
    };
    store.create_room(record, vec![sender]).await.unwrap();
    let epoch = store.claim_room(room).await.unwrap();
    let messages = (1..=count)
        .map(|seq| chat_store::MessageRecord {
            room_id: room,
            seq,
            id: seq,
            sender_id: sender,
            client_msg_id: format!("old{seq}"),
            body: format!("needle {seq}"),
            sent_at_ms: i64::try_from(seq).unwrap(),
            ordinal: seq,
            ..Default::default()
        })
        .collect();
    let batch = chat_store::AppendBatch::messages(messages);
    store.append(room, epoch, 0, batch).await.unwrap();
}

#[tokio::test]
async fn a_room_starting_builds_the_index_of_what_its_log_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (room, alice) = (77, 5);
    unindexed_log(dir.path(), room, alice, 300).await;
    let sys = system(dir.path()).await;
    // The backfill finds the room behind its log, and so does the room's actor when a
    // request starts it: either indexes it, and both together do no harm.
    let op = RoomOp::History {
        user: alice,
        before: 0,
        limit: 1,
    };
    sys.services.rooms.request(room, op).await.unwrap();
    indexed_to(&sys, room, 300).await;
    assert_eq!(hits(&sys, room, "needle").await.len(), 20);
    assert_eq!(hits(&sys, room, "needle 299").await, [299]);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}
