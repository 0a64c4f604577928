use std::sync::Arc;

use tokio::sync::oneshot;

use super::{EmbeddedConfig, EmbeddedStats, EmbeddedStore, committer};
use crate::{AppendBatch, MessageLog, MessageRecord, StoreError, conformance};

const WIDTH: i64 = 1_000;

fn open(dir: &std::path::Path) -> EmbeddedStore {
    EmbeddedStore::open(EmbeddedConfig {
        path: dir.to_path_buf(),
        bucket_width_ms: WIDTH,
        fsync: true,
        max_batch: 64,
    })
    .unwrap()
}

macro_rules! conformance_tests {
    ($($name:ident),*) => {$(
        #[tokio::test]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            conformance::$name(&open(dir.path())).await;
        }
    )*};
}

conformance_tests!(
    users,
    refresh_tokens,
    passwords,
    rooms_and_members,
    muted_rooms,
    member_joins,
    hidden_messages,
    direct_rooms,
    conditional_append,
    read_cursors,
    profiles_and_search,
    social_edges,
    files,
    file_refs_and_release,
    membership_and_attachments,
    search_index
);

#[tokio::test]
async fn room_settings() {
    let dir = tempfile::tempdir().unwrap();
    conformance::room_settings(&open(dir.path()), WIDTH).await;
}

#[tokio::test]
async fn timeline_changes() {
    let dir = tempfile::tempdir().unwrap();
    conformance::timeline_changes(&open(dir.path()), WIDTH).await;
}

#[tokio::test]
async fn history_across_buckets() {
    let dir = tempfile::tempdir().unwrap();
    conformance::history_across_buckets(&open(dir.path()), WIDTH).await;
}

#[tokio::test]
async fn concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    conformance::concurrent_appends(Arc::new(open(dir.path()))).await;
}

#[tokio::test]
async fn racing_owners() {
    let dir = tempfile::tempdir().unwrap();
    conformance::racing_owners(Arc::new(open(dir.path()))).await;
}

#[tokio::test]
async fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        conformance::conditional_append(&store).await;
    }
    let store = open(dir.path());
    let head = store.room_head(5).await.unwrap();
    assert_eq!((head.last_seq, head.epoch), (3, 2), "epochs survive too");
    assert_eq!(store.history(5, 0, 10).await.unwrap().len(), 3);
    assert_eq!(store.claim_room(5).await.unwrap(), 3);
}

#[tokio::test]
async fn a_cancelled_history_read_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    conformance::conditional_append(&store).await;
    let t = &store.tables;
    let go = std::sync::atomic::AtomicBool::new(false);
    assert_eq!(t.history(5, 0, 10, &go).unwrap().len(), 3);
    let stop = std::sync::atomic::AtomicBool::new(true);
    assert!(matches!(
        t.history(5, 0, 10, &stop),
        Err(StoreError::Unavailable(_))
    ));
}

#[test]
fn rejects_zero_bucket_width() {
    let dir = tempfile::tempdir().unwrap();
    let r = EmbeddedStore::open(EmbeddedConfig {
        path: dir.path().to_path_buf(),
        bucket_width_ms: 0,
        fsync: false,
        max_batch: 1,
    });
    assert!(matches!(r, Err(StoreError::Invalid(_))));
}

fn message(room: u64, seq: u64) -> MessageRecord {
    MessageRecord {
        room_id: room,
        seq,
        id: seq,
        sender_id: 1,
        client_msg_id: format!("c{seq}"),
        body: "b".into(),
        sent_at_ms: 10,
        attachments: Vec::new(),
        ordinal: seq,
        ..MessageRecord::default()
    }
}

#[tokio::test]
async fn one_group_commit_serves_many_rooms_and_judges_each_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut replies = Vec::new();
    let mut requests = Vec::new();
    let mut request = |room, expected, messages| {
        let (reply, rx) = oneshot::channel();
        requests.push(committer::Request::Append(Box::new(
            committer::AppendRequest {
                room,
                epoch: 0,
                expected_last_seq: expected,
                batch: AppendBatch::messages(messages),
                reply,
            },
        )));
        replies.push(rx);
    };
    request(1, 0, vec![message(1, 1), message(1, 2)]);
    request(2, 0, vec![message(2, 1)]);
    // Continues room 1 from the end staged just before it, in the same group.
    request(1, 2, vec![message(1, 3)]);
    // A stale writer of room 2.
    request(2, 0, vec![message(2, 1)]);
    // A gap.
    request(3, 0, vec![message(3, 2)]);
    committer::commit_group(&store.tables, requests);
    let mut results = Vec::new();
    for rx in replies {
        results.push(rx.await.unwrap());
    }
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[1], Ok(()));
    assert_eq!(results[2], Ok(()));
    assert_eq!(
        results[3],
        Err(StoreError::Conflict {
            expected: 0,
            found: 1
        })
    );
    assert!(matches!(results[4], Err(StoreError::Invalid(_))));
    assert_eq!(
        store.stats(),
        EmbeddedStats {
            group_commits: 1,
            appends: 3
        }
    );
    assert_eq!(store.room_head(1).await.unwrap().last_seq, 3);
    assert_eq!(store.room_head(2).await.unwrap().last_seq, 1);
    assert_eq!(store.room_head(3).await.unwrap().last_seq, 0);
    assert!(store.history(3, 0, 10).await.unwrap().is_empty());
}
