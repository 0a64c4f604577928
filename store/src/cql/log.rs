//! Each room's message log: its head (the commit point and the fencing epoch), appends,
//! history and idempotency keys. See the module doc of `cql` for the fencing protocol.

use scylla::statement::batch::{Batch, BatchType};

use super::{
    store::{CqlStore, Inner},
    tails::Tail,
    values::{HeadRow, MAX_BATCH_BYTES, bigint, cql_error, first, from_cql, lwt, rows, to_cql},
};
use crate::{
    backend::MessageLog,
    codec,
    error::{StoreError, StoreResult},
    records::{AppendBatch, MessageRecord, ReadCursor, RoomHead, RoomId, Seq, UserId},
};

/// One room's messages of an append, grouped by time bucket, in seq order.
type PerBucket<'a> = Vec<(i64, Vec<&'a MessageRecord>)>;

impl Inner {
    async fn head(&self, room: RoomId) -> StoreResult<Option<RoomHead>> {
        let row: Option<HeadRow> = first(self.exec(&self.st.head_get, (to_cql(room),)).await?)?;
        let Some((epoch, last_seq, last_message, timeline)) = row else {
            return Ok(None);
        };
        let last_message = match last_message {
            Some(bytes) if !bytes.is_empty() => Some(codec::decode_message(&bytes)?),
            _ => None,
        };
        let mut head = RoomHead {
            epoch: from_cql(epoch.unwrap_or(0)),
            last_seq: from_cql(last_seq.unwrap_or(0)),
            last_message,
            ..RoomHead::default()
        };
        codec::decode_head_timeline(&timeline.unwrap_or_default(), &mut head)?;
        Ok(Some(head))
    }

    /// [`MessageLog::append`] after validation: messages first, then the head, then cursors.
    async fn append(
        &self,
        room: RoomId,
        epoch: u64,
        expected_last_seq: Seq,
        batch: &AppendBatch,
    ) -> StoreResult<()> {
        let (exists, last_bucket) = self.log_end(room, epoch, expected_last_seq).await?;
        // The rows are written under the owner's epoch as their timestamp (see the module doc).
        let ts = to_cql(epoch);
        let per_bucket = by_bucket(self, &batch.messages);
        let last_bucket = self
            .write_buckets(room, &per_bucket, last_bucket, ts)
            .await?;
        self.write_messages(room, &per_bucket, ts).await?;
        self.write_idempotency_keys(room, &batch.messages, ts)
            .await?;
        self.write_file_refs(room, batch).await?;
        let new_last_seq = self
            .commit_head(room, epoch, exists, expected_last_seq, batch)
            .await?;
        self.write_rewrites(room, epoch, &batch.rewrites).await?;
        self.write_cursors(room, &batch.cursors).await?;
        let tail = Tail {
            epoch,
            last_seq: new_last_seq,
            last_bucket,
        };
        self.tails.remember(room, tail);
        Ok(())
    }

    /// Whether the room has a head row, and the bucket of its newest message: from the
    /// remembered tail when it is still `(epoch, expected_last_seq)`, else from the head. A
    /// head that says otherwise is an early `Conflict` (the transaction would refuse anyway).
    async fn log_end(
        &self,
        room: RoomId,
        epoch: u64,
        expected_last_seq: Seq,
    ) -> StoreResult<(bool, Option<i64>)> {
        if let Some(tail) = self.tails.get(room, epoch, expected_last_seq) {
            return Ok((true, tail.last_bucket));
        }
        let head = self.head(room).await?;
        let current = head.clone().unwrap_or_default();
        if current.epoch != epoch {
            return Err(StoreError::Conflict {
                expected: epoch,
                found: current.epoch,
            });
        }
        if current.last_seq != expected_last_seq {
            return Err(StoreError::Conflict {
                expected: expected_last_seq,
                found: current.last_seq,
            });
        }
        let bucket = current.last_message.map(|m| self.bucket_of(m.sent_at_ms));
        Ok((head.is_some(), bucket))
    }

    /// Indexes the buckets this append opens (history walks them backwards); returns the
    /// newest bucket of the log after it.
    async fn write_buckets(
        &self,
        room: RoomId,
        per_bucket: &PerBucket<'_>,
        mut newest: Option<i64>,
        ts: i64,
    ) -> StoreResult<Option<i64>> {
        let mut writes = Vec::new();
        for (bucket, list) in per_bucket {
            if newest != Some(*bucket)
                && let Some(first) = list.first()
            {
                writes.push(self.exec(
                    &self.st.bucket_insert,
                    (to_cql(room), *bucket, to_cql(first.seq), ts),
                ));
                newest = Some(*bucket);
            }
        }
        for r in futures::future::join_all(writes).await {
            r?;
        }
        Ok(newest)
    }

    /// The message rows: one unlogged batch per partition, cut below the server's batch size
    /// limit (Cassandra refuses batches over 50 KiB by default).
    async fn write_messages(
        &self,
        room: RoomId,
        per_bucket: &PerBucket<'_>,
        ts: i64,
    ) -> StoreResult<()> {
        let mut batches = Vec::new();
        for (bucket, list) in per_bucket {
            let mut chunk = Vec::new();
            let mut bytes = 0;
            for m in list {
                let record = codec::encode_message(m)?;
                if !chunk.is_empty() && bytes + record.len() > MAX_BATCH_BYTES {
                    batches.push(std::mem::take(&mut chunk));
                    bytes = 0;
                }
                bytes += record.len();
                chunk.push((to_cql(room), *bucket, to_cql(m.seq), record, ts));
            }
            batches.push(chunk);
        }
        let writes = batches.into_iter().map(|values| {
            let mut unlogged = Batch::new(BatchType::Unlogged);
            for _ in &values {
                unlogged.append_statement(self.st.message_insert.clone());
            }
            unlogged.set_is_idempotent(true);
            async move {
                self.session
                    .batch(&unlogged, values)
                    .await
                    .map_err(cql_error)
            }
        });
        for r in futures::future::join_all(writes).await {
            r?;
        }
        Ok(())
    }

    /// Earlier entries as the committed changes left them. Written only after the head
    /// committed (a fenced-off owner never gets here), with a write timestamp above the
    /// original row's and every earlier rewrite's: `epoch << 40 | the change's seq`. If this
    /// fails after the commit, the append fails and the room's next owner re-applies the
    /// changes at the end of the log (the room actor's start-up repair).
    async fn write_rewrites(
        &self,
        room: RoomId,
        epoch: u64,
        rewrites: &[MessageRecord],
    ) -> StoreResult<()> {
        let writes = rewrites.iter().map(|m| async move {
            let ts = to_cql((epoch << 40) | (m.state.changed_seq & ((1 << 40) - 1)));
            let values = (
                to_cql(room),
                self.bucket_of(m.sent_at_ms),
                to_cql(m.seq),
                codec::encode_message(m)?,
                ts,
            );
            self.exec(&self.st.message_insert, values).await
        });
        for r in futures::future::join_all(writes).await {
            r?;
        }
        Ok(())
    }

    /// `(room, sender, client message id) -> (bucket, seq)`, expiring after the configured TTL.
    async fn write_idempotency_keys(
        &self,
        room: RoomId,
        messages: &[MessageRecord],
        ts: i64,
    ) -> StoreResult<()> {
        let ttl = self.idempotency_ttl_secs;
        let keys = messages.iter().map(|m| {
            let key = (
                to_cql(room),
                to_cql(m.sender_id),
                &m.client_msg_id,
                self.bucket_of(m.sent_at_ms),
                to_cql(m.seq),
                ttl,
                ts,
            );
            self.exec(&self.st.idem_insert, key)
        });
        for r in futures::future::join_all(keys).await {
            r?;
        }
        Ok(())
    }

    /// The messages' file refs and the files the batch released. Before the commit: a ref
    /// a fenced-off owner leaves names a seq that will hold another message (which does not
    /// hold the file, so the ref grants nothing), and a released file is only looked at.
    async fn write_file_refs(&self, room: RoomId, batch: &AppendBatch) -> StoreResult<()> {
        let refs = batch.messages.iter().flat_map(|m| {
            m.attachments.iter().map(move |a| {
                let key = (to_cql(a.file_id), to_cql(room), to_cql(m.seq));
                self.exec(&self.st.ref_insert, key)
            })
        });
        for r in futures::future::join_all(refs).await {
            r?;
        }
        let released = batch
            .released
            .iter()
            .map(|&id| self.exec(&self.st.release_insert, (to_cql(id),)));
        for r in futures::future::join_all(released).await {
            r?;
        }
        Ok(())
    }

    /// The commit point: the head moves only if this owner still owns the room and the log
    /// still ends where it thought. Returns the log's new end.
    async fn commit_head(
        &self,
        room: RoomId,
        epoch: u64,
        exists: bool,
        expected_last_seq: Seq,
        batch: &AppendBatch,
    ) -> StoreResult<Seq> {
        let new_last_seq = batch.messages.last().map_or(expected_last_seq, |m| m.seq);
        let (room_key, ts, expected) = (to_cql(room), to_cql(epoch), to_cql(expected_last_seq));
        let timeline = match &batch.head {
            Some(change) => Some(codec::encode_head_timeline(&RoomHead {
                preview: change.preview.clone(),
                deleted: change.deleted.clone(),
                mentions: change.mentions.clone(),
                meta: change.meta.clone(),
                ..RoomHead::default()
            })?),
            None => None,
        };
        let result = match (exists, batch.messages.last()) {
            (false, last) => {
                let last_bytes = match last {
                    Some(m) => codec::encode_message(m)?,
                    None => Vec::new(),
                };
                let values = (
                    room_key,
                    to_cql(new_last_seq),
                    last_bytes,
                    timeline.unwrap_or_default(),
                );
                self.exec(&self.st.head_first_append, values).await?
            }
            (true, Some(last)) if timeline.is_some() => {
                let values = (
                    to_cql(new_last_seq),
                    codec::encode_message(last)?,
                    timeline.unwrap_or_default(),
                    room_key,
                    ts,
                    expected,
                );
                self.exec(&self.st.head_append_timeline, values).await?
            }
            (true, Some(last)) => {
                let values = (
                    to_cql(new_last_seq),
                    codec::encode_message(last)?,
                    room_key,
                    ts,
                    expected,
                );
                self.exec(&self.st.head_append, values).await?
            }
            // Read-cursor moves alone: still fenced, the head itself unchanged.
            (true, None) => {
                let values = (expected, room_key, ts, expected);
                self.exec(&self.st.head_touch, values).await?
            }
        };
        let (applied, found) = lwt(result)?;
        // The driver retries a transaction whose answer was lost; the retry then finds the
        // head already where this append put it. Under this owner's epoch no one else can
        // have moved it there, so that is success, not a conflict.
        let found_epoch = bigint(&found, "epoch").map(from_cql);
        let found_last = bigint(&found, "last_seq").map(from_cql);
        let ours = found_epoch == Some(epoch) && found_last == Some(new_last_seq);
        if !applied && !ours {
            return Err(StoreError::Conflict {
                expected: expected_last_seq,
                found: found_last.unwrap_or(0),
            });
        }
        Ok(new_last_seq)
    }

    /// Read cursors, once the append has committed (a lost cursor move only leaves a message
    /// counted unread; the next move repairs it).
    async fn write_cursors(
        &self,
        room: RoomId,
        cursors: &[(UserId, ReadCursor)],
    ) -> StoreResult<()> {
        let writes = cursors
            .iter()
            .map(|(user, cursor)| self.write_cursor(room, *user, *cursor));
        for r in futures::future::join_all(writes).await {
            r?;
        }
        Ok(())
    }
}

fn by_bucket<'a>(i: &Inner, messages: &'a [MessageRecord]) -> PerBucket<'a> {
    let mut per_bucket: PerBucket<'a> = Vec::new();
    for m in messages {
        let bucket = i.bucket_of(m.sent_at_ms);
        match per_bucket.last_mut() {
            Some((b, list)) if *b == bucket => list.push(m),
            _ => per_bucket.push((bucket, vec![m])),
        }
    }
    per_bucket
}

#[async_trait::async_trait]
impl MessageLog for CqlStore {
    async fn room_head(&self, room: RoomId) -> StoreResult<RoomHead> {
        Ok(self.inner.head(room).await?.unwrap_or_default())
    }

    async fn claim_room(&self, room: RoomId) -> StoreResult<u64> {
        let i = &self.inner;
        // Retried only when another claimant moved the epoch between our read and write.
        for _ in 0..16 {
            match i.head(room).await? {
                None => {
                    let (applied, _) = lwt(i.exec(&i.st.head_create, (to_cql(room),)).await?)?;
                    if applied {
                        let tail = Tail {
                            epoch: 1,
                            last_seq: 0,
                            last_bucket: None,
                        };
                        i.tails.remember(room, tail);
                        return Ok(1);
                    }
                }
                Some(head) => {
                    let next = head.epoch + 1;
                    let (applied, _) = lwt(i
                        .exec(
                            &i.st.head_claim,
                            (to_cql(next), to_cql(room), to_cql(head.epoch)),
                        )
                        .await?)?;
                    if applied {
                        let tail = Tail {
                            epoch: next,
                            last_seq: head.last_seq,
                            last_bucket: head.last_message.map(|m| i.bucket_of(m.sent_at_ms)),
                        };
                        i.tails.remember(room, tail);
                        return Ok(next);
                    }
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "room {room}: too many concurrent claims"
        )))
    }

    async fn append(
        &self,
        room: RoomId,
        epoch: u64,
        expected_last_seq: Seq,
        batch: AppendBatch,
    ) -> StoreResult<()> {
        let i = &self.inner;
        batch.validate(room, expected_last_seq)?;
        let result = i.append(room, epoch, expected_last_seq, &batch).await;
        if result.is_err() {
            // The outcome may be unknown (a timeout): the next append reads the head.
            i.tails.forget(room);
        }
        result
    }
    async fn history(
        &self,
        room: RoomId,
        before_seq: Seq,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        let i = &self.inner;
        let mut out = Vec::new();
        let Some(head) = i.head(room).await? else {
            return Ok(out);
        };
        // Never past the head: rows beyond it belong to appends that did not commit.
        let end = head.last_seq + 1;
        let before = if before_seq == 0 || before_seq > end {
            end
        } else {
            before_seq
        };
        if limit == 0 || before <= 1 {
            return Ok(out);
        }
        let buckets: Vec<(i64, i64)> = rows(i.exec(&i.st.buckets_of, (to_cql(room),)).await?)?;
        for (bucket, first_seq) in buckets {
            if from_cql(first_seq) >= before {
                continue;
            }
            let want = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let page: Vec<(Vec<u8>,)> = rows(
                i.exec(
                    &i.st.messages_before,
                    (to_cql(room), bucket, to_cql(before), want),
                )
                .await?,
            )?;
            for (bytes,) in page {
                out.push(codec::decode_message(&bytes)?);
            }
            if out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn message(&self, room: RoomId, seq: Seq) -> StoreResult<Option<MessageRecord>> {
        let i = &self.inner;
        let head = i.head(room).await?.unwrap_or_default();
        // Rows beyond the head belong to appends that never committed.
        if seq == 0 || seq > head.last_seq {
            return Ok(None);
        }
        let buckets: Vec<(i64, i64)> = rows(i.exec(&i.st.buckets_of, (to_cql(room),)).await?)?;
        let Some((bucket, _)) = buckets
            .into_iter()
            .find(|(_, first)| from_cql(*first) <= seq)
        else {
            return Ok(None);
        };
        let row: Option<(Vec<u8>,)> = first(
            i.exec(&i.st.message_get, (to_cql(room), bucket, to_cql(seq)))
                .await?,
        )?;
        row.map(|(bytes,)| codec::decode_message(&bytes))
            .transpose()
    }

    async fn find_client_message(
        &self,
        room: RoomId,
        sender: UserId,
        client_msg_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let i = &self.inner;
        let key: Option<(i64, i64)> = first(
            i.exec(
                &i.st.idem_get,
                (to_cql(room), to_cql(sender), client_msg_id),
            )
            .await?,
        )?;
        let Some((bucket, seq)) = key else {
            return Ok(None);
        };
        // A key left by an append that never committed points past the head, or at a seq a
        // later owner reused for another message: only a committed, matching one counts.
        let head = i.head(room).await?.unwrap_or_default();
        if from_cql(seq) > head.last_seq {
            return Ok(None);
        }
        let row: Option<(Vec<u8>,)> = first(
            i.exec(&i.st.message_get, (to_cql(room), bucket, seq))
                .await?,
        )?;
        let Some((bytes,)) = row else {
            return Ok(None);
        };
        let m = codec::decode_message(&bytes)?;
        Ok((m.sender_id == sender && m.client_msg_id == client_msg_id).then_some(m))
    }
}
