//! The write path: sequence sends, hand one batch at a time to the store (messages and
//! read-cursor moves together), and on durability ack, advance the senders' cursors and
//! publish.

use std::collections::BTreeMap;

use chat_store::{AppendBatch, MessageRecord, StoreResult, UserId};
use ractor::ActorRef;

use super::{
    events,
    idempotency::IdemState,
    ops::{Ack, Reply, RoomMessage, RoomOutcome, SendRequest},
    state::{Pending, RoomState},
};
use crate::{
    error::{ChatError, Reason},
    ids::now_ms,
};

pub(super) async fn on_send(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    req: SendRequest,
    reply: Reply,
) {
    if state.draining.is_some() {
        let e = ChatError::Unavailable(Reason::Draining, "node is shutting down, retry".into());
        let _ = reply.send(Err(e));
        return;
    }
    if let Err(e) = state.require_member(req.sender) {
        let _ = reply.send(Err(e));
        return;
    }
    match state.idem.get(req.sender, &req.client_msg_id) {
        Some(IdemState::Done(ack)) => {
            let _ = reply.send(Ok(RoomOutcome::Ack(ack)));
            return;
        }
        Some(IdemState::Pending(seq)) => {
            attach_to_pending(state, seq, reply);
            return;
        }
        None => {}
    }
    let room = state.record.id;
    match state
        .core
        .store
        .find_client_message(room, req.sender, &req.client_msg_id)
        .await
    {
        Ok(Some(m)) => {
            let ack = Ack::of(&m);
            state
                .idem
                .insert(req.sender, &req.client_msg_id, IdemState::Done(ack.clone()));
            let _ = reply.send(Ok(RoomOutcome::Ack(ack)));
            return;
        }
        Ok(None) => {}
        Err(e) => {
            let _ = reply.send(Err(e.into()));
            return;
        }
    }
    // Checked after the idempotency lookups: a retry of a send accepted before the block
    // still learns its ack.
    if let Err(e) = state.require_unblocked() {
        let _ = reply.send(Err(e));
        return;
    }
    let seq = state.last_seq + 1;
    let sent_at_ms = now_ms().max(state.last_ts);
    let record = MessageRecord {
        room_id: room,
        seq,
        id: state.core.ids.next_id(),
        sender_id: req.sender,
        client_msg_id: req.client_msg_id,
        body: req.body,
        sent_at_ms,
        attachments: req.attachments,
    };
    state.last_seq = seq;
    state.last_ts = sent_at_ms;
    state.idem.insert(
        record.sender_id,
        &record.client_msg_id,
        IdemState::Pending(seq),
    );
    state.pending.push(Pending {
        record,
        replies: vec![reply],
        at: std::time::Instant::now(),
    });
    submit_next(myself, state);
}

fn attach_to_pending(state: &mut RoomState, seq: u64, reply: Reply) {
    let slot = state
        .in_flight
        .messages
        .iter_mut()
        .chain(state.pending.iter_mut())
        .find(|p| p.record.seq == seq);
    match slot {
        Some(p) => p.replies.push(reply),
        None => {
            let _ = reply.send(Err(ChatError::room_unavailable()));
        }
    }
}

/// Hands the next batch (pending messages and cursor moves) to the store unless one is
/// already in flight.
pub(super) fn submit_next(myself: &ActorRef<RoomMessage>, state: &mut RoomState) {
    if state.in_flight.active || (state.pending.is_empty() && state.dirty_cursors.is_empty()) {
        return;
    }
    let n = state.pending.len().min(state.core.config.max_append_batch);
    let messages: Vec<Pending> = state.pending.drain(..n).collect();
    // Sending a message reads everything up to it.
    let mut cursors: BTreeMap<UserId, u64> = std::mem::take(&mut state.dirty_cursors);
    for p in &messages {
        let c = cursors.entry(p.record.sender_id).or_default();
        *c = (*c).max(p.record.seq);
    }
    let batch = AppendBatch {
        messages: messages.iter().map(|p| p.record.clone()).collect(),
        cursors: cursors.into_iter().collect(),
    };
    state.in_flight.active = true;
    state.in_flight.messages = messages;
    state.in_flight.read_waiters = std::mem::take(&mut state.read_waiters);
    let expected = state.durable_seq;
    let epoch = state.epoch;
    let store = state.core.store.clone();
    let room = state.record.id;
    let me = myself.clone();
    let metrics = state.core.metrics.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let result = store.append(room, epoch, expected, batch).await;
        metrics
            .append_seconds
            .observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics.append_failures.inc();
            metrics.store_ok.set(0);
        } else {
            metrics.store_ok.set(1);
        }
        // If the actor died meanwhile there is no one to tell; its successor reloads the
        // head from the store and re-publishes the tail.
        let _ = me.cast(RoomMessage::BatchDone(result));
    });
}

pub(super) fn on_batch_done(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    result: StoreResult<()>,
) {
    if let Err(e) = result {
        // Nothing of the batch was written (appends are atomic and conditional). The seqs
        // handed out after the durable end are void: fail every waiter with a retryable
        // error and restart from the store, which is the truth.
        tracing::warn!(room = state.record.id, error = %e, "append failed; room restarts");
        fail_all(state, &ChatError::room_unavailable());
        myself.stop(Some("append failed".into()));
        return;
    }
    let batch = std::mem::take(&mut state.in_flight);
    for w in batch.read_waiters {
        let _ = w.send(Ok(RoomOutcome::Done));
    }
    let newest = batch.messages.last().map(|p| p.record.clone());
    let metrics = state.core.metrics.clone();
    metrics
        .messages_sequenced
        .inc_by(batch.messages.len() as u64);
    for p in batch.messages {
        metrics.send_seconds.observe(p.at.elapsed().as_secs_f64());
        let ack = Ack::of(&p.record);
        state.durable_seq = p.record.seq;
        let sender = p.record.sender_id;
        // Sending reads everything before: say so only when there was something unread
        // (the message itself goes out already counting its sender as a reader).
        if let Some(from) = state.cursors.advance(sender, p.record.seq)
            && from + 1 < p.record.seq
        {
            events::publish_read(state, sender, from, p.record.seq - 1);
        }
        state.idem.insert(
            sender,
            &p.record.client_msg_id,
            IdemState::Done(ack.clone()),
        );
        events::publish_message(state, &p.record);
        for r in p.replies {
            let _ = r.send(Ok(RoomOutcome::Ack(ack.clone())));
        }
        state.recent.push_back(p.record);
        if state.recent.len() > state.core.config.recent_cache {
            state.recent.pop_front();
        }
    }
    if let Some(m) = newest {
        events::publish_room_updates(state, &m);
    }
    submit_next(myself, state);
    finish_drain_if_idle(myself, state);
}

/// Fails everything waiting on the store with `error`.
pub(super) fn fail_all(state: &mut RoomState, error: &ChatError) {
    let in_flight = std::mem::take(&mut state.in_flight);
    for p in in_flight
        .messages
        .into_iter()
        .chain(state.pending.drain(..))
    {
        for r in p.replies {
            let _ = r.send(Err(error.clone()));
        }
    }
    for w in in_flight
        .read_waiters
        .into_iter()
        .chain(state.read_waiters.drain(..))
    {
        let _ = w.send(Err(error.clone()));
    }
}

pub(super) fn finish_drain_if_idle(myself: &ActorRef<RoomMessage>, state: &mut RoomState) {
    if state.draining.is_some() && state.is_quiet() {
        myself.stop(Some("drained".into()));
    }
}
