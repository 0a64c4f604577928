//! Tests' room logs on a real embedded store: messages, edits and deletes appended as the
//! room actor appends them (the entry, and its target rewritten).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chat_store::{
    AppendBatch, AttachmentRecord, DeletionRecord, EmbeddedConfig, EmbeddedStore, EntryKind,
    MessageRecord, RoomId, Seq, SharedStore,
};

/// Bucket width of the tests' stores (small, so logs span several buckets).
pub const WIDTH: i64 = 1_000;

/// A room's log being written.
pub struct Log {
    pub store: SharedStore,
    pub room: RoomId,
    epoch: u64,
    pub last: Seq,
    /// Sequencing time of the next entry; each entry advances it by `step_ms`.
    pub now: i64,
    pub step_ms: i64,
    _dir: Arc<tempfile::TempDir>,
}

impl Log {
    pub async fn new(room: RoomId) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(
            EmbeddedStore::open(EmbeddedConfig {
                path: dir.path().to_path_buf(),
                bucket_width_ms: WIDTH,
                fsync: false,
                max_batch: 64,
            })
            .unwrap(),
        );
        Self::on(store, room, Arc::new(dir)).await
    }

    /// Another room's log in the same store.
    pub async fn beside(&self, room: RoomId) -> Self {
        Self::on(self.store.clone(), room, self._dir.clone()).await
    }

    async fn on(store: SharedStore, room: RoomId, dir: Arc<tempfile::TempDir>) -> Self {
        let epoch = store.claim_room(room).await.unwrap();
        Self {
            store,
            room,
            epoch,
            last: 0,
            now: 1,
            step_ms: 100,
            _dir: dir,
        }
    }

    fn entry(&mut self, sender: u64, kind: EntryKind, body: &str, target: Seq) -> MessageRecord {
        self.now += self.step_ms;
        MessageRecord {
            room_id: self.room,
            seq: self.last + 1,
            id: self.last + 1,
            sender_id: sender,
            client_msg_id: format!("c{}", self.last + 1),
            body: body.into(),
            sent_at_ms: self.now,
            kind,
            target_seq: target,
            ..MessageRecord::default()
        }
    }

    async fn append(&mut self, entry: MessageRecord, rewrite: Option<MessageRecord>) -> Seq {
        let batch = AppendBatch {
            messages: vec![entry],
            rewrites: rewrite.into_iter().collect(),
            ..AppendBatch::default()
        };
        self.store
            .append(self.room, self.epoch, self.last, batch)
            .await
            .unwrap();
        self.last += 1;
        self.last
    }

    pub async fn send(&mut self, sender: u64, body: &str) -> Seq {
        let e = self.entry(sender, EntryKind::Message, body, 0);
        self.append(e, None).await
    }

    pub async fn send_file(
        &mut self,
        sender: u64,
        body: &str,
        name: &str,
        content_type: &str,
    ) -> Seq {
        let mut e = self.entry(sender, EntryKind::Message, body, 0);
        e.attachments.push(AttachmentRecord {
            file_id: 1,
            name: name.into(),
            size: 1,
            content_type: content_type.into(),
            width: 0,
            height: 0,
        });
        self.append(e, None).await
    }

    pub async fn edit(&mut self, target: Seq, body: &str) -> Seq {
        let mut m = self
            .store
            .message(self.room, target)
            .await
            .unwrap()
            .unwrap();
        let e = self.entry(m.sender_id, EntryKind::Edit, body, target);
        m.body = body.into();
        m.state.changed_seq = e.seq;
        m.state.edited_at_ms = e.sent_at_ms;
        self.append(e, Some(m)).await
    }

    pub async fn delete(&mut self, target: Seq) -> Seq {
        let mut m = self
            .store
            .message(self.room, target)
            .await
            .unwrap()
            .unwrap();
        let e = self.entry(m.sender_id, EntryKind::Delete, "", target);
        m.body.clear();
        m.attachments.clear();
        m.state.changed_seq = e.seq;
        m.state.deleted = Some(DeletionRecord {
            by: m.sender_id,
            at_ms: e.sent_at_ms,
        });
        self.append(e, Some(m)).await
    }

    pub async fn react(&mut self, sender: u64, target: Seq) -> Seq {
        let e = self.entry(sender, EntryKind::ReactionAdd, "👍", target);
        self.append(e, None).await
    }

    /// Indexes everything appended so far.
    pub async fn index(&self) {
        crate::indexer::catch_up(&self.store, self.room, self.last)
            .await
            .unwrap();
    }
}

/// Polls `done` until it holds, failing after 10 s (the work runs in the background).
pub async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
