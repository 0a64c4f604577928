//! Group commit: one thread folds the appends of many rooms into one atomic, synced write.
//!
//! Each request is validated against the log's durable end (including earlier requests of
//! the same batch) before anything of it is staged, so a rejected request writes nothing.

use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering, mpsc},
};

use tokio::sync::oneshot;

use super::tables::Tables;
use crate::{
    codec,
    error::{StoreError, StoreResult},
    keys,
    records::{AppendBatch, RoomHead, RoomId, Seq},
};

/// One room's conditional append, waiting for its batch.
pub(crate) struct AppendRequest {
    pub room: RoomId,
    pub epoch: u64,
    pub expected_last_seq: Seq,
    pub batch: AppendBatch,
    pub reply: oneshot::Sender<StoreResult<()>>,
}

/// What the committer thread serializes: appends, and claims of a room's epoch (claims go
/// through the same thread so a head is never written from a stale copy).
pub(crate) enum Request {
    Append(Box<AppendRequest>),
    Claim {
        room: RoomId,
        reply: oneshot::Sender<StoreResult<u64>>,
    },
}

/// Starts the committer thread; it ends when every sender is dropped.
pub(crate) fn spawn(tables: Arc<Tables>, max_batch: usize) -> StoreResult<mpsc::Sender<Request>> {
    let (tx, rx) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("store-committer".into())
        .spawn(move || run(&tables, &rx, max_batch))
        .map_err(|e| StoreError::Backend(format!("spawn committer: {e}")))?;
    Ok(tx)
}

fn run(tables: &Tables, rx: &mpsc::Receiver<Request>, max_batch: usize) {
    while let Ok(first) = rx.recv() {
        let mut requests = vec![first];
        while requests.len() < max_batch {
            match rx.try_recv() {
                Ok(r) => requests.push(r),
                Err(_) => break,
            }
        }
        commit_group(tables, requests);
    }
}

pub(crate) fn commit_group(tables: &Tables, requests: Vec<Request>) {
    let mut batch = tables.db.batch();
    let mut heads: HashMap<RoomId, RoomHead> = HashMap::new();
    let mut accepted = Vec::with_capacity(requests.len());
    let mut claims = Vec::new();
    for req in requests {
        match req {
            Request::Append(req) => match stage(tables, &mut batch, &mut heads, &req) {
                Ok(()) => accepted.push(req.reply),
                Err(e) => {
                    let _ = req.reply.send(Err(e));
                }
            },
            Request::Claim { room, reply } => match claim(tables, &mut heads, room) {
                Ok(epoch) => claims.push((reply, epoch)),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
        }
    }
    if accepted.is_empty() && claims.is_empty() {
        return;
    }
    let result = stage_heads(tables, &mut batch, &heads).and_then(|()| tables.commit(batch));
    match &result {
        Ok(()) => {
            tables.group_commits.fetch_add(1, Ordering::Relaxed);
            tables
                .appends
                .fetch_add(accepted.len() as u64, Ordering::Relaxed);
        }
        Err(e) => tracing::error!(error = %e, "group commit failed"),
    }
    for reply in accepted {
        let _ = reply.send(result.clone());
    }
    for (reply, epoch) in claims {
        let _ = reply.send(result.clone().map(|()| epoch));
    }
}

/// Advances a room's epoch in the group's copy of its head.
fn claim(tables: &Tables, heads: &mut HashMap<RoomId, RoomHead>, room: RoomId) -> StoreResult<u64> {
    let mut head = match heads.get(&room) {
        Some(h) => h.clone(),
        None => tables.head(room)?,
    };
    head.epoch += 1;
    let epoch = head.epoch;
    heads.insert(room, head);
    Ok(epoch)
}

fn stage_heads(
    tables: &Tables,
    batch: &mut fjall::OwnedWriteBatch,
    heads: &HashMap<RoomId, RoomHead>,
) -> StoreResult<()> {
    for (room, head) in heads {
        batch.insert(&tables.heads, room.to_be_bytes(), codec::encode_head(head)?);
    }
    Ok(())
}

/// Earlier entries as changes left them (encoded in `rewrites`), the messages' file refs and
/// released files, and read cursors.
fn stage_rewrites_and_cursors(
    tables: &Tables,
    batch: &mut fjall::OwnedWriteBatch,
    req: &AppendRequest,
    rewrites: Vec<Vec<u8>>,
) {
    for (m, value) in req.batch.rewrites.iter().zip(rewrites) {
        let bucket = tables.bucket_of(m.sent_at_ms);
        batch.insert(
            &tables.messages,
            keys::message(req.room, bucket, m.seq),
            value,
        );
    }
    for m in &req.batch.messages {
        for a in &m.attachments {
            batch.insert(
                &tables.file_refs,
                keys::key_u64s([a.file_id, req.room, m.seq]),
                [],
            );
        }
    }
    for id in &req.batch.released {
        batch.insert(&tables.file_release, id.to_be_bytes(), []);
    }
    for (user, cursor) in &req.batch.cursors {
        batch.insert(
            &tables.cursors,
            keys::key_u64s([req.room, *user]),
            keys::key_u64s([cursor.seq, cursor.ordinal]),
        );
    }
}

fn stage(
    tables: &Tables,
    batch: &mut fjall::OwnedWriteBatch,
    heads: &mut HashMap<RoomId, RoomHead>,
    req: &AppendRequest,
) -> StoreResult<()> {
    req.batch.validate(req.room, req.expected_last_seq)?;
    let head = match heads.get(&req.room) {
        Some(h) => h.clone(),
        None => tables.head(req.room)?,
    };
    if head.epoch != req.epoch {
        return Err(StoreError::Conflict {
            expected: req.epoch,
            found: head.epoch,
        });
    }
    if head.last_seq != req.expected_last_seq {
        return Err(StoreError::Conflict {
            expected: req.expected_last_seq,
            found: head.last_seq,
        });
    }
    // Encode everything first so a bad record leaves the batch untouched.
    let messages = &req.batch.messages;
    let mut staged = Vec::with_capacity(messages.len());
    for m in messages {
        staged.push(codec::encode_message(m)?);
    }
    let mut rewrites = Vec::with_capacity(req.batch.rewrites.len());
    for m in &req.batch.rewrites {
        rewrites.push(codec::encode_message(m)?);
    }
    let mut prev_bucket = head
        .last_message
        .as_ref()
        .map(|m| tables.bucket_of(m.sent_at_ms));
    for (m, value) in messages.iter().zip(staged) {
        let bucket = tables.bucket_of(m.sent_at_ms);
        if prev_bucket != Some(bucket) {
            batch.insert(
                &tables.buckets,
                keys::key_u64s([req.room, bucket]),
                m.seq.to_be_bytes(),
            );
            prev_bucket = Some(bucket);
        }
        batch.insert(
            &tables.messages,
            keys::message(req.room, bucket, m.seq),
            value,
        );
        batch.insert(
            &tables.idempotency,
            keys::idempotency(req.room, m.sender_id, &m.client_msg_id),
            keys::key_u64s([bucket, m.seq]),
        );
    }
    stage_rewrites_and_cursors(tables, batch, req, rewrites);
    let last = messages.last().cloned();
    let mut next = RoomHead {
        epoch: head.epoch,
        last_seq: last.as_ref().map_or(head.last_seq, |m| m.seq),
        last_message: last.or(head.last_message),
        preview: head.preview,
        deleted: head.deleted,
        mentions: head.mentions,
        meta: head.meta,
    };
    if let Some(change) = &req.batch.head {
        next.preview = change.preview.clone();
        next.deleted = change.deleted.clone();
        next.mentions = change.mentions.clone();
        next.meta = change.meta.clone();
    }
    heads.insert(req.room, next);
    Ok(())
}
