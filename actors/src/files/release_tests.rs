//! Who reads a file and when a released one is erased, on the embedded store.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chat_store::{
    AppendBatch, AttachmentRecord, EmbeddedConfig, EmbeddedStore, EntryKind, FileRecord, FileRef,
    FileUse, MessageRecord, RoomKind, RoomRecord, SharedStore,
};

use super::{access, release};

const ROOM: u64 = 5;

fn open(dir: &std::path::Path) -> SharedStore {
    Arc::new(
        EmbeddedStore::open(EmbeddedConfig {
            path: dir.to_path_buf(),
            bucket_width_ms: 1_000,
            fsync: false,
            max_batch: 8,
        })
        .unwrap(),
    )
}

fn file(id: u64) -> FileRecord {
    FileRecord {
        id,
        owner_id: 1,
        name: "a.txt".into(),
        size: 1,
        content_type: "text/plain".into(),
        sha256: [0; 32],
        created_at_ms: 1,
        width: 0,
        height: 0,
        thumbnail: None,
        attached: false,
        public: false,
    }
}

fn holding(seq: u64, files: &[u64]) -> MessageRecord {
    MessageRecord {
        room_id: ROOM,
        seq,
        id: 100 + seq,
        sender_id: 1,
        client_msg_id: format!("c{seq}"),
        sent_at_ms: 10 + i64::try_from(seq).unwrap(),
        ordinal: seq,
        attachments: files
            .iter()
            .map(|&file_id| AttachmentRecord {
                file_id,
                name: "a.txt".into(),
                size: 1,
                content_type: "text/plain".into(),
                width: 0,
                height: 0,
            })
            .collect(),
        ..MessageRecord::default()
    }
}

/// A room of users 1 and 2 (user 3 joins at seq 1) whose seq 1 holds files 7 and 8, and
/// seq 2 file 7 again; seq 3 deletes seq 1, releasing both.
async fn setup(store: &SharedStore) {
    for id in [7, 8, 9] {
        store.put_file(file(id)).await.unwrap();
        store.attach_file(id, FileUse::Message).await.unwrap();
    }
    let room = RoomRecord {
        id: ROOM,
        kind: RoomKind::Group,
        name: "r".into(),
        created_by: 1,
        created_at_ms: 1,
        shared_history: false,
    };
    store.create_room(room, vec![1, 2]).await.unwrap();
    let epoch = store.claim_room(ROOM).await.unwrap();
    let (first, second) = (holding(1, &[7, 8]), holding(2, &[7]));
    let batch = AppendBatch::messages(vec![first.clone()]);
    store.append(ROOM, epoch, 0, batch).await.unwrap();
    let at = chat_store::ReadCursor { seq: 1, ordinal: 1 };
    store.add_members(ROOM, vec![3], at).await.unwrap();
    let batch = AppendBatch::messages(vec![second]);
    store.append(ROOM, epoch, 1, batch).await.unwrap();
    let delete = MessageRecord {
        kind: EntryKind::Delete,
        target_seq: 1,
        attachments: Vec::new(),
        ordinal: 2,
        ..holding(3, &[])
    };
    let mut deleted = first;
    assert!(deleted.apply(&delete, 10));
    let batch = AppendBatch {
        messages: vec![delete],
        rewrites: vec![deleted],
        released: vec![7, 8],
        ..AppendBatch::default()
    };
    store.append(ROOM, epoch, 2, batch).await.unwrap();
}

#[tokio::test]
async fn access_follows_the_messages_a_member_sees() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    setup(&store).await;
    let reads = |user, id| {
        let store = store.clone();
        async move { access::readable(&store, user, id).await.is_ok() }
    };
    // The uploader always; a member through seq 2; nobody through the deleted seq 1.
    assert!(reads(1, 8).await);
    assert!(reads(2, 7).await);
    assert!(!reads(2, 8).await, "only the deleted message held it");
    // User 3 joined at seq 1: seq 2 is theirs, and no message holds file 9.
    assert!(reads(3, 7).await);
    assert!(!reads(3, 9).await);
    assert!(!reads(4, 7).await, "not a member");
}

#[tokio::test]
async fn a_released_file_is_erased_only_when_no_message_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    setup(&store).await;
    let (erase, full) = release::to_erase(&store).await.unwrap();
    assert_eq!((erase, full), (vec![8], false));
    // File 7 is still held by seq 2: off the queue, its stale ref to seq 1 forgotten.
    assert_eq!(store.released_files(10).await.unwrap(), [8]);
    let refs = store.file_refs(7).await.unwrap();
    assert_eq!(
        refs,
        [FileRef {
            room_id: ROOM,
            seq: 2
        }]
    );
    assert!(store.file_refs(8).await.unwrap().is_empty(), "ref dropped");
    // An avatar stays whatever its messages do.
    store.attach_file(8, FileUse::Avatar).await.unwrap();
    let (erase, _) = release::to_erase(&store).await.unwrap();
    assert!(erase.is_empty());
    assert!(store.released_files(10).await.unwrap().is_empty());
}
