//! Each room's message log: its head, claims of its epoch and appends (both through the
//! committer thread), history and idempotency keys.

use std::sync::{Arc, atomic::AtomicBool};

use tokio::sync::oneshot;

use super::{
    committer,
    store::{CancelOnDrop, EmbeddedStore},
};
use crate::{
    backend::MessageLog,
    codec,
    error::{StoreError, StoreResult},
    keys,
    records::{AppendBatch, MessageRecord, RoomHead, RoomId, Seq, UserId},
};

#[async_trait::async_trait]
impl MessageLog for EmbeddedStore {
    async fn room_head(&self, room: RoomId) -> StoreResult<RoomHead> {
        self.point(|t| t.head(room))
    }

    async fn claim_room(&self, room: RoomId) -> StoreResult<u64> {
        let (reply, done) = oneshot::channel();
        self.appends
            .send(committer::Request::Claim { room, reply })
            .map_err(|_| StoreError::Unavailable("store committer stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store committer stopped".into()))?
    }

    async fn append(
        &self,
        room: RoomId,
        epoch: u64,
        expected_last_seq: Seq,
        batch: AppendBatch,
    ) -> StoreResult<()> {
        let (reply, done) = oneshot::channel();
        self.appends
            .send(committer::Request::Append(Box::new(
                committer::AppendRequest {
                    room,
                    epoch,
                    expected_last_seq,
                    batch,
                    reply,
                },
            )))
            .map_err(|_| StoreError::Unavailable("store committer stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store committer stopped".into()))?
    }

    async fn history(
        &self,
        room: RoomId,
        before_seq: Seq,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        // Dropping this future (a deadline, a cancelled call) stops the read between rows
        // instead of letting it run on in the blocking pool.
        let cancelled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancelled.clone());
        self.blocking(move |t| t.history(room, before_seq, limit, &cancelled))
            .await
    }

    async fn message(&self, room: RoomId, seq: Seq) -> StoreResult<Option<MessageRecord>> {
        self.point(|t| t.message(room, seq))
    }

    async fn find_client_message(
        &self,
        room: RoomId,
        sender: UserId,
        client_msg_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let key = keys::idempotency(room, sender, client_msg_id);
        self.point(|t| {
            let Some(v) = t.idempotency.get(&key)? else {
                return Ok(None);
            };
            let (Some(bucket), Some(seq)) = (keys::read_u64(&v, 0), keys::read_u64(&v, 1)) else {
                return Err(StoreError::Corrupt("short idempotency value".into()));
            };
            match t.messages.get(keys::message(room, bucket, seq))? {
                Some(v) => codec::decode_message(&v).map(Some),
                None => Ok(None),
            }
        })
    }
}
