//! The read side: open (with recovery), history, mark-read and typing.

use std::time::{Duration, Instant};

use chat_proto::v1;
use chat_store::{MessageRecord, Seq, UserId};
use ractor::ActorRef;

use super::{
    cursors::unread_in,
    events, hidden,
    ops::{HistoryPage, Opened, Reply, RoomMessage, RoomOutcome},
    pins, sequencer,
    state::{RoomState, visible_after},
    timeline,
};
use crate::{
    convert,
    error::{ChatError, Reason},
};

/// Most missed messages an `open_room` with `since_seq` delivers (well inside the default
/// outbound queue, so a recovery never trips the slow-consumer cut-off by itself).
const MAX_RECOVERY: u64 = 500;

/// At most one typing event per user and room per this interval.
const TYPING_INTERVAL: Duration = Duration::from_secs(1);

pub(super) async fn on_open(
    state: &mut RoomState,
    user: UserId,
    since: Seq,
) -> Result<Opened, ChatError> {
    state.require_member(user)?;
    if since > state.durable_seq {
        return Err(ChatError::invalid(
            Reason::SeqInFuture,
            format!(
                "since_seq {since} is beyond the room's last seq {}",
                state.durable_seq
            ),
        ));
    }
    load_missing_profiles(state).await?;
    let members = state
        .members
        .iter()
        .map(|&u| events::member(state, u))
        .collect();
    // Read once per member and kept: history pages from the cache need it too.
    let hidden = hidden::of(state, user).await?;
    let mut missed = Vec::new();
    let mut truncated = false;
    if since > 0 && since < state.durable_seq {
        let behind = state.durable_seq - since;
        // The recovered messages are queued for the client at once: stay well inside its queue.
        let limit = MAX_RECOVERY
            .min(state.core.config.outbound_queue as u64 / 2)
            .max(1);
        let n = behind.min(limit);
        truncated = behind > n;
        let page = read_page(state, user, state.durable_seq + 1, n as usize, &hidden).await?;
        missed = page.messages;
        missed.reverse();
    }
    Ok(Opened {
        snapshot: state.snapshot(),
        members,
        missed,
        truncated,
        pinned: pins::pinned_for(state, user).await?,
    })
}

async fn load_missing_profiles(state: &mut RoomState) -> Result<(), ChatError> {
    let missing: Vec<UserId> = state
        .members
        .iter()
        .copied()
        .filter(|u| !state.profiles.contains_key(u))
        .collect();
    for u in missing {
        if let Some(record) = state.core.store.user_by_id(u).await? {
            state.profiles.insert(u, convert::user(&record));
        }
    }
    Ok(())
}

/// Messages with seq in `[end - limit, end)`, newest first, from the cache when it holds
/// them all, else from the store (awaited: used for recovery, which is rare).
async fn read_page(
    state: &RoomState,
    viewer: UserId,
    end: Seq,
    limit: usize,
    hidden: &[Seq],
) -> Result<HistoryPage, ChatError> {
    let from = state.visible_from(viewer);
    let Some(limit) = visible_limit(end, limit, from) else {
        return Ok(HistoryPage::default());
    };
    if let Some(page) = cached_page(state, viewer, end, limit, hidden) {
        return Ok(page);
    }
    let mut records = state
        .core
        .store
        .history(state.record.id, end, limit)
        .await?;
    let known = |seq| state.recent_entry(seq).cloned();
    timeline::refresh_replies_from(&state.core.store, state.record.id, &mut records, known).await?;
    Ok(page_of(&records, from, hidden, |m| {
        state.message_proto_for(m, viewer)
    }))
}

/// How many entries below `end` a page may read without going back past `from` (where the
/// reader's view of the log starts); `None` when there is nothing there to read.
fn visible_limit(end: Seq, limit: usize, from: Seq) -> Option<usize> {
    let visible = end.saturating_sub(from + 1);
    let limit = usize::try_from(visible).map_or(limit, |v| v.min(limit));
    (limit > 0).then_some(limit)
}

/// A page of `records` (newest first, none at or below `from`) as its reader may see it:
/// changes to messages from before `from`, and what they hid, left out. Paging continues
/// below the oldest record read, shown or not.
fn page_of(
    records: &[MessageRecord],
    from: Seq,
    hidden: &[Seq],
    proto: impl Fn(&MessageRecord) -> v1::Message,
) -> HistoryPage {
    HistoryPage {
        messages: records
            .iter()
            .filter(|m| shown(m, from, hidden))
            .map(proto)
            .collect(),
        has_more: records.last().is_some_and(|m| m.seq > from + 1),
        next_before: records.last().map_or(0, |m| m.seq),
    }
}

/// Whether a reader whose view starts after `from` and who hid `hidden` is shown `m`.
fn shown(m: &MessageRecord, from: Seq, hidden: &[Seq]) -> bool {
    visible_after(m, from) && hidden.binary_search(&m.seq).is_err()
}

/// A page from the recent cache (`limit` already within the reader's view), when it holds
/// the whole page.
fn cached_page(
    state: &RoomState,
    viewer: UserId,
    end: Seq,
    limit: usize,
    hidden: &[Seq],
) -> Option<HistoryPage> {
    let lo = end.saturating_sub(limit as u64).max(1);
    if state.recent.front().is_none_or(|m| m.seq > lo) {
        return None;
    }
    let in_page = || {
        state
            .recent
            .iter()
            .rev()
            .filter(move |m| m.seq < end && m.seq >= lo)
    };
    let from = state.visible_from(viewer);
    let messages = if in_page().any(|m| m.reply.is_some()) {
        let mut records: Vec<MessageRecord> = in_page().cloned().collect();
        // A quote of a message older than the cache is refreshed from the store, off this
        // path.
        let missing =
            timeline::refresh_replies(&mut records, |seq| state.recent_entry(seq).cloned());
        if !missing.is_empty() {
            return None;
        }
        records
            .iter()
            .filter(|m| shown(m, from, hidden))
            .map(|m| state.message_proto_for(m, viewer))
            .collect()
    } else {
        // No quotes to refresh: convert straight from the cache.
        in_page()
            .filter(|m| shown(m, from, hidden))
            .map(|m| state.message_proto_for(m, viewer))
            .collect()
    };
    Some(HistoryPage {
        messages,
        has_more: lo > from + 1,
        next_before: lo,
    })
}

pub(super) async fn on_history(
    state: &mut RoomState,
    user: UserId,
    before: Seq,
    limit: usize,
    reply: Reply,
) {
    if let Err(e) = state.require_member(user) {
        let _ = reply.send(Err(e));
        return;
    }
    let end = if before == 0 || before > state.durable_seq + 1 {
        state.durable_seq + 1
    } else {
        before
    };
    let from = state.visible_from(user);
    let Some(limit) = visible_limit(end, limit, from) else {
        let page = HistoryPage {
            // Asked for none: older entries exist if there are any in view.
            has_more: limit == 0 && end > from + 1,
            ..HistoryPage::default()
        };
        let _ = reply.send(Ok(RoomOutcome::History(page)));
        return;
    };
    // What the reader hid: read once per member (a point read), then kept.
    let hidden = match hidden::of(state, user).await {
        Ok(h) => h,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    if let Some(page) = cached_page(state, user, end, limit, &hidden) {
        let _ = reply.send(Ok(RoomOutcome::History(page)));
        return;
    }
    // Older pages come from the store off the actor; unread counts use a snapshot of the
    // cursors taken now (shared, not copied).
    let store = state.core.store.clone();
    let room = state.record.id;
    let cursors = state.cursors.snapshot();
    tokio::spawn(async move {
        // A caller that stops waiting (a deadline, a cancelled call) abandons the read:
        // dropping it stops the store between rows.
        let read = tokio::select! {
            r = read_refreshed(&store, room, end, limit) => r,
            () = caller_gone(&reply) => return,
        };
        let r = read.map(|records| {
            let proto =
                |m: &MessageRecord| convert::message_for(m, unread_in(&cursors, m.seq), user);
            RoomOutcome::History(page_of(&records, from, &hidden, proto))
        });
        let _ = reply.send(r);
    });
}

/// A page from the store with its quotes refreshed.
async fn read_refreshed(
    store: &chat_store::SharedStore,
    room: chat_store::RoomId,
    end: Seq,
    limit: usize,
) -> Result<Vec<MessageRecord>, ChatError> {
    let mut records = store.history(room, end, limit).await?;
    timeline::refresh_replies_from(store, room, &mut records, |_| None).await?;
    Ok(records)
}

/// Resolves once nobody waits for `reply` any more.
async fn caller_gone(reply: &Reply) {
    const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(10);
    while !reply.is_closed() {
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

pub(super) async fn on_mark_read(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    user: UserId,
    seq: Seq,
    reply: Reply,
) {
    if let Err(e) = state.require_member(user).and(state.require_unblocked()) {
        let _ = reply.send(Err(e));
        return;
    }
    if seq > state.durable_seq {
        let e = ChatError::invalid(
            Reason::SeqBeyondLast,
            format!(
                "seq {seq} is beyond the room's last seq {}",
                state.durable_seq
            ),
        );
        let _ = reply.send(Err(e));
        return;
    }
    if state.cursors.get(user).is_some_and(|c| c >= seq) {
        // Not forward: ignored, as documented.
        let _ = reply.send(Ok(RoomOutcome::Done));
        return;
    }
    let to = match timeline::cursor_at(state, seq).await {
        Ok(c) => c,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let Some(from) = state.cursors.advance(user, to) else {
        let _ = reply.send(Ok(RoomOutcome::Done));
        return;
    };
    state.dirty_cursors.insert(user, to);
    events::publish_read(state, user, from, seq);
    if state.durable_preview.is_some() {
        events::publish_room_update(state, user);
    }
    state.read_waiters.push(reply);
    sequencer::submit_next(myself, state);
}

pub(super) fn on_typing(state: &mut RoomState, user: UserId) -> Result<(), ChatError> {
    state.require_member(user)?;
    state.require_unblocked()?;
    let now = Instant::now();
    let recent = state
        .last_typing
        .get(&user)
        .is_some_and(|t| now.duration_since(*t) < TYPING_INTERVAL);
    if !recent {
        state.last_typing.insert(user, now);
        state
            .last_typing
            .retain(|_, t| now.duration_since(*t) < TYPING_INTERVAL);
        events::publish_typing(state, user);
    }
    Ok(())
}
