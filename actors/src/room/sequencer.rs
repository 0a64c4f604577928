//! The write path: sequence sends, hand one batch at a time to the store (messages and
//! read-cursor moves together), and on durability ack, advance the senders' cursors and
//! publish.

use std::collections::BTreeMap;

use chat_store::{AppendBatch, EntryKind, MessageRecord, ReadCursor, StoreResult, UserId};
use ractor::ActorRef;

use super::{
    events,
    idempotency::IdemState,
    mentions,
    ops::{Ack, Reply, RoomMessage, RoomOutcome, SendRequest},
    state::{Answer, Pending, RoomState},
    timeline,
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
    let accepting = match state.draining {
        Some(_) => Err(ChatError::Unavailable(
            Reason::Draining,
            "node is shutting down, retry".into(),
        )),
        None => state.require_member(req.sender),
    };
    if let Err(e) = accepting {
        let _ = reply.send(Err(e));
        return;
    }
    let Some(reply) = answer_retry(state, &req, reply).await else {
        return;
    };
    // Checked after the idempotency lookups: a retry of a send accepted before the block
    // still learns its ack.
    if let Err(e) = state.require_unblocked() {
        let _ = reply.send(Err(e));
        return;
    }
    let sent_at_ms = now_ms().max(state.last_ts);
    let checked = match mentions::check(state, &req) {
        Ok(()) => timeline::check(state, &req, sent_at_ms).await,
        Err(e) => Err(e),
    };
    let checked = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let record = new_entry(state, req, checked.reply, sent_at_ms);
    let seq = record.seq;
    // Mention counts live in the head: from the first mention on, every append writes it.
    state.timeline |= !record.mentions.is_empty();
    let released = released_by(&record, checked.target.as_ref());
    let rewrite = checked.target.map(|mut target| {
        target.apply(&record, state.core.config.max_edit_versions);
        state.overlay.insert(target.seq, target.clone());
        state.timeline = true;
        target
    });
    state.last_seq = seq;
    state.ordinal = record.ordinal;
    state.last_ts = sent_at_ms;
    state.idem.insert(
        record.sender_id,
        &record.client_msg_id,
        IdemState::Pending(seq),
    );
    let meta = unpin_deleted(state, &record);
    state.pending.push(Pending {
        record,
        rewrite,
        carries: None,
        released,
        replies: vec![reply],
        answer: Answer::Ack,
        meta,
        at: std::time::Instant::now(),
    });
    submit_next(myself, state);
}

/// The files a delete for everyone takes off its target (to erase once nothing holds them).
fn released_by(record: &MessageRecord, target: Option<&MessageRecord>) -> Vec<chat_store::FileId> {
    match target {
        Some(t) if record.kind == EntryKind::Delete => {
            t.attachments.iter().map(|a| a.file_id).collect()
        }
        _ => Vec::new(),
    }
}

/// A message deleted for everyone leaves the pinned list: the settings as the delete
/// leaves them, when it was pinned.
fn unpin_deleted(state: &mut RoomState, record: &MessageRecord) -> Option<chat_store::RoomMeta> {
    if record.kind != EntryKind::Delete || !state.meta.pins.contains(&record.target_seq) {
        return None;
    }
    state.meta.pins.retain(|&s| s != record.target_seq);
    state.meta.changed_seq = record.seq;
    state.timeline = true;
    Some(state.meta.clone())
}

/// The next entry of the log, from a checked send.
fn new_entry(
    state: &RoomState,
    req: SendRequest,
    reply: Option<chat_store::ReplyRecord>,
    sent_at_ms: i64,
) -> MessageRecord {
    let is_message = req.kind == EntryKind::Message;
    MessageRecord {
        room_id: state.record.id,
        seq: state.last_seq + 1,
        id: state.core.ids.next_id(),
        sender_id: req.sender,
        client_msg_id: req.client_msg_id,
        body: req.body,
        sent_at_ms,
        attachments: req.attachments,
        kind: req.kind,
        target_seq: if is_message { 0 } else { req.target },
        ordinal: state.ordinal + u64::from(is_message),
        reply,
        state: Default::default(),
        mentions: req.mentions,
        system: None,
        forwarded: req.forwarded,
    }
}

/// Answers a retry (the same sender and client message id) with the first entry's ack,
/// from memory or the store; hands `reply` back when this is no retry.
async fn answer_retry(state: &mut RoomState, req: &SendRequest, reply: Reply) -> Option<Reply> {
    match state.idem.get(req.sender, &req.client_msg_id) {
        Some(IdemState::Done(ack)) => {
            let _ = reply.send(Ok(RoomOutcome::Ack(ack)));
            return None;
        }
        Some(IdemState::Pending(seq)) => {
            attach_to_pending(state, seq, reply);
            return None;
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
            None
        }
        Ok(None) => Some(reply),
        Err(e) => {
            let _ = reply.send(Err(e.into()));
            None
        }
    }
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
    let mut n = state.pending.len().min(state.core.config.max_append_batch);
    // A batch with changes stays within the recent cache, so the start-up repair (which
    // reads that many entries) sees every change a lost rewrite may have left unapplied.
    if state.pending.iter().take(n).any(|p| p.rewrite.is_some()) {
        n = n.min(state.core.config.recent_cache.max(1));
    }
    let messages: Vec<Pending> = state.pending.drain(..n).collect();
    // Sending reads everything up to it.
    let mut cursors: BTreeMap<UserId, ReadCursor> = std::mem::take(&mut state.dirty_cursors);
    for p in &messages {
        let c = cursors.entry(p.record.sender_id).or_default();
        if p.record.seq > c.seq {
            *c = ReadCursor::at(&p.record);
        }
    }
    let mut next = timeline::next_head(
        state,
        messages.iter().map(|p| (&p.record, p.rewrite.as_ref())),
    );
    next.meta = match messages.iter().rev().find_map(|p| p.meta.as_ref()) {
        Some(meta) => meta.clone(),
        None => state.durable_meta.clone(),
    };
    // One rewrite per entry: the last change of a batch includes the earlier ones.
    let mut rewrites: BTreeMap<u64, MessageRecord> = BTreeMap::new();
    for r in messages.iter().filter_map(|p| p.rewrite.clone()) {
        rewrites.insert(r.seq, r);
    }
    let batch = AppendBatch {
        messages: messages.iter().map(|p| p.record.clone()).collect(),
        rewrites: rewrites.into_values().collect(),
        cursors: cursors.into_iter().collect(),
        head: state.timeline.then(|| next.clone()),
        released: messages.iter().flat_map(|p| p.released.clone()).collect(),
    };
    state.in_flight.next = next;
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
    // The chat lists change when a message arrives or the newest one is edited or deleted.
    let lists_change = batch.messages.iter().any(|p| {
        let edits_newest = matches!(p.record.kind, EntryKind::Edit | EntryKind::Delete)
            && p.rewrite.as_ref().map(|r| r.seq) == state.durable_preview.as_ref().map(|m| m.seq);
        // Renames and hand-overs change what the lists show too.
        p.record.is_message() || edits_newest || p.meta.is_some()
    });
    state.durable_preview = batch.next.preview;
    state.durable_deleted = batch.next.deleted;
    let mentions_change = batch.next.mentions != state.durable_mentions;
    state.durable_mentions = batch.next.mentions;
    state.durable_meta = batch.next.meta;
    let durable_before = state.durable_seq;
    let metrics = state.core.metrics.clone();
    metrics
        .messages_sequenced
        .inc_by(batch.messages.len() as u64);
    for p in batch.messages {
        settle(state, p, &metrics);
    }
    if lists_change || mentions_change {
        events::publish_room_updates(state);
    }
    if state.durable_seq > durable_before {
        state
            .core
            .indexer
            .notify(state.record.id, state.durable_seq);
    }
    submit_next(myself, state);
    finish_drain_if_idle(myself, state);
}

/// A durable entry: acked, published, cached, and its sender's cursor moved.
fn settle(state: &mut RoomState, p: Pending, metrics: &crate::metrics::Metrics) {
    metrics.send_seconds.observe(p.at.elapsed().as_secs_f64());
    let ack = Ack::of(&p.record);
    state.durable_seq = p.record.seq;
    state.durable_ordinal = p.record.ordinal;
    let sender = p.record.sender_id;
    // Sending reads everything before: say so only when there was something unread
    // (the message itself goes out already counting its sender as a reader).
    if let Some(from) = state.cursors.advance(sender, ReadCursor::at(&p.record))
        && from + 1 < p.record.seq
    {
        events::publish_read(state, sender, from, p.record.seq - 1);
    }
    if let Some(r) = &p.rewrite {
        apply_durable_rewrite(state, r);
    }
    state.idem.insert(
        sender,
        &p.record.client_msg_id,
        IdemState::Done(ack.clone()),
    );
    events::publish_message(state, &p.record, p.rewrite.as_ref().or(p.carries.as_ref()));
    let answer = match p.answer {
        Answer::Ack => RoomOutcome::Ack(ack),
        Answer::Snapshot => RoomOutcome::Snapshot(state.snapshot()),
        Answer::Done => RoomOutcome::Done,
    };
    for r in p.replies {
        let _ = r.send(Ok(answer.clone()));
    }
    state.recent.push_back(p.record);
    if state.recent.len() > state.core.config.recent_cache {
        state.recent.pop_front();
    }
}

/// A durable rewrite replaces its entry in the recent cache and, if no later change waits,
/// in the overlay.
fn apply_durable_rewrite(state: &mut RoomState, r: &MessageRecord) {
    if let Ok(i) = state.recent.binary_search_by_key(&r.seq, |m| m.seq) {
        state.recent[i] = r.clone();
    }
    if state
        .overlay
        .get(&r.seq)
        .is_some_and(|o| o.state.changed_seq <= r.state.changed_seq)
    {
        state.overlay.remove(&r.seq);
    }
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
