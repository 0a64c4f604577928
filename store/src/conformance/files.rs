//! The conformance suite: files, the messages that hold them, and the clean-up queues.
#![allow(clippy::unwrap_used, missing_docs)]

use crate::{
    AppendBatch, AttachmentRecord, EntryKind, FileRecord, FileRef, FileUse, RoomKind, Store,
    StoreError, ThumbnailRecord,
};

use super::fixtures::*;

pub async fn files(store: &dyn Store) {
    for (id, at) in [(1, 100), (2, 200), (3, 300)] {
        store.put_file(file(id, at)).await.unwrap();
    }
    assert_eq!(store.file(1).await.unwrap(), Some(file(1, 100)));
    assert_eq!(store.file(9).await.unwrap(), None);
    // Orphan candidates: unattached, older than the cut-off, oldest first.
    let ids = |v: Vec<FileRecord>| v.into_iter().map(|f| f.id).collect::<Vec<_>>();
    assert_eq!(ids(store.unattached_files(250, 10).await.unwrap()), [1, 2]);
    assert_eq!(ids(store.unattached_files(1000, 1).await.unwrap()), [1]);
    // Attaching (idempotent) takes a file off the orphan list.
    store.attach_file(1, FileUse::Message).await.unwrap();
    store.attach_file(1, FileUse::Message).await.unwrap();
    assert!(store.file(1).await.unwrap().unwrap().attached);
    assert_eq!(ids(store.unattached_files(1000, 10).await.unwrap()), [2, 3]);
    assert!(!store.delete_unattached_file(1).await.unwrap(), "attached");
    // An avatar is public.
    store.attach_file(2, FileUse::Avatar).await.unwrap();
    let avatar = store.file(2).await.unwrap().unwrap();
    assert!(avatar.attached && avatar.public);
    assert!(store.file_refs(2).await.unwrap().is_empty());
    // Orphan deletion, then attaching the deleted file fails.
    assert!(store.delete_unattached_file(3).await.unwrap());
    assert!(
        !store.delete_unattached_file(3).await.unwrap(),
        "already gone"
    );
    assert_eq!(store.file(3).await.unwrap(), None);
    assert_eq!(
        store.attach_file(3, FileUse::Message).await,
        Err(StoreError::NotFound)
    );
    assert!(store.unattached_files(1000, 10).await.unwrap().is_empty());
    // Image metadata arrives later.
    let thumb = ThumbnailRecord {
        size: 5,
        content_type: "image/jpeg".into(),
        width: 32,
        height: 24,
    };
    store
        .set_file_image(1, 640, 480, thumb.clone())
        .await
        .unwrap();
    let f = store.file(1).await.unwrap().unwrap();
    assert_eq!(
        (f.width, f.height, f.thumbnail),
        (640, 480, Some(thumb.clone()))
    );
    assert_eq!(
        store.set_file_image(3, 1, 1, thumb).await,
        Err(StoreError::NotFound)
    );
}

pub async fn membership_and_attachments(store: &dyn Store) {
    store
        .create_room(room(5, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    let e = store.claim_room(5).await.unwrap();
    assert!(store.is_member(5, 1).await.unwrap());
    assert!(!store.is_member(5, 3).await.unwrap());
    store.remove_member(5, 2).await.unwrap();
    assert!(!store.is_member(5, 2).await.unwrap());
    let mut m = msg(5, 1, 10);
    m.attachments = vec![AttachmentRecord {
        file_id: 8,
        name: "a.png".into(),
        size: 3,
        content_type: "image/png".into(),
        width: 2,
        height: 1,
    }];
    store
        .append(5, e, 0, AppendBatch::messages(vec![m.clone()]))
        .await
        .unwrap();
    assert_eq!(store.history(5, 0, 10).await.unwrap(), vec![m.clone()]);
    assert_eq!(
        store.room_head(5).await.unwrap().last_message,
        Some(m.clone())
    );
    assert_eq!(
        store.find_client_message(5, 1, "c1").await.unwrap(),
        Some(m)
    );
}

fn attachment(file_id: u64) -> AttachmentRecord {
    AttachmentRecord {
        file_id,
        name: "a.png".into(),
        size: 3,
        content_type: "image/png".into(),
        width: 2,
        height: 1,
    }
}

/// An append writes a ref per attachment of its messages and queues the files it
/// released; the queue and the refs are cleaned up one by one, and erasing a file takes
/// its metadata and every ref.
pub async fn file_refs_and_release(store: &dyn Store) {
    store.put_file(file(7, 100)).await.unwrap();
    store.put_file(file(8, 100)).await.unwrap();
    store
        .create_room(room(5, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    let e = store.claim_room(5).await.unwrap();
    let mut first = msg(5, 1, 10);
    first.attachments = vec![attachment(7), attachment(8)];
    let mut second = msg(5, 2, 11);
    second.attachments = vec![attachment(7)];
    store
        .append(5, e, 0, AppendBatch::messages(vec![first, second]))
        .await
        .unwrap();
    let at = |room_id, seq| FileRef { room_id, seq };
    assert_eq!(store.file_refs(7).await.unwrap(), [at(5, 1), at(5, 2)]);
    assert_eq!(store.file_refs(8).await.unwrap(), [at(5, 1)]);
    assert!(store.released_files(10).await.unwrap().is_empty());
    // A delete for everyone of seq 1 releases both of its files.
    let delete = deletion(5, 3, 12, 1);
    let batch = AppendBatch {
        messages: vec![delete],
        released: vec![7, 8],
        ..AppendBatch::default()
    };
    store.append(5, e, 2, batch).await.unwrap();
    assert_eq!(store.released_files(10).await.unwrap(), [7, 8]);
    assert_eq!(store.released_files(1).await.unwrap(), [7]);
    store.remove_file_ref(7, at(5, 1)).await.unwrap();
    assert_eq!(store.file_refs(7).await.unwrap(), [at(5, 2)]);
    store.forget_released(7).await.unwrap();
    assert_eq!(store.released_files(10).await.unwrap(), [8]);
    // Nothing else holds file 8: erased, it is gone with its refs, and cannot be attached.
    store.erase_file(8).await.unwrap();
    store.erase_file(8).await.unwrap();
    store.forget_released(8).await.unwrap();
    assert_eq!(store.file(8).await.unwrap(), None);
    assert!(store.file_refs(8).await.unwrap().is_empty());
    assert!(store.released_files(10).await.unwrap().is_empty());
    assert_eq!(
        store.attach_file(8, FileUse::Message).await,
        Err(StoreError::NotFound)
    );
    assert!(store.file(7).await.unwrap().is_some());
}

/// A delete for everyone of `target`.
fn deletion(room: u64, seq: u64, at: i64, target: u64) -> crate::MessageRecord {
    crate::MessageRecord {
        kind: EntryKind::Delete,
        target_seq: target,
        ordinal: 2,
        ..msg(room, seq, at)
    }
}
