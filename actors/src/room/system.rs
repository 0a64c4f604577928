//! System entries: what a room records about itself in its own timeline (joins, leaves,
//! removals, renames, hand-overs, the notice, pins, permissions), sequenced like any entry. A
//! change to the room's settings (`RoomMeta`: owner, name, notice, pins) is applied to the
//! state when its entry is sequenced and written to the head in the same append as the entry.

use chat_store::{EntryKind, MessageRecord, Seq, SystemEvent, SystemRecord, UserId};
use ractor::ActorRef;

use super::{
    ops::{Reply, RoomMessage},
    sequencer,
    state::{Answer, Pending, RoomState},
};
use crate::ids::now_ms;

/// One system entry to sequence.
pub(super) struct SystemEntry {
    /// Who did it.
    pub(super) by: UserId,
    pub(super) event: SystemEvent,
    pub(super) users: Vec<UserId>,
    /// A rename's new name.
    pub(super) body: String,
    /// It changed the room's settings (`state.meta` already holds the change).
    pub(super) changes_meta: bool,
    /// The message it is about (a pin), 0 for none.
    pub(super) target: Seq,
    /// That message as it is now, carried by the live event (not written).
    pub(super) carries: Option<MessageRecord>,
}

impl SystemEntry {
    pub(super) fn new(by: UserId, event: SystemEvent, users: Vec<UserId>) -> Self {
        Self {
            by,
            event,
            users,
            body: String::new(),
            changes_meta: false,
            target: 0,
            carries: None,
        }
    }
}

/// Sequences a system entry; `reply` is answered with `answer` once it is durable.
pub(super) fn sequence(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    entry: SystemEntry,
    reply: Option<Reply>,
    answer: Answer,
) {
    let seq = state.last_seq + 1;
    let id = state.core.ids.next_id();
    let sent_at_ms = now_ms().max(state.last_ts);
    let meta = entry.changes_meta.then(|| {
        state.meta.changed_seq = seq;
        // A notice is stamped by the entry that sets it.
        if entry.event == SystemEvent::NoticeChanged
            && let Some(notice) = state.meta.notice.as_mut()
        {
            notice.seq = seq;
            notice.at_ms = sent_at_ms;
        }
        state.timeline = true;
        state.meta.clone()
    });
    let record = MessageRecord {
        room_id: state.record.id,
        seq,
        id,
        sender_id: entry.by,
        // Unique per entry, so the idempotency index never confuses it with a send.
        client_msg_id: format!("~system-{id}"),
        body: entry.body,
        sent_at_ms,
        kind: EntryKind::System,
        target_seq: entry.target,
        ordinal: state.ordinal,
        system: Some(SystemRecord {
            event: entry.event,
            users: entry.users,
        }),
        ..MessageRecord::default()
    };
    state.last_seq = seq;
    state.last_ts = sent_at_ms;
    state.pending.push(Pending {
        record,
        rewrite: None,
        carries: entry.carries,
        released: Vec::new(),
        replies: reply.into_iter().collect(),
        answer,
        meta,
        at: std::time::Instant::now(),
    });
    sequencer::submit_next(myself, state);
}

/// Makes `to` the owner, recorded by a system entry from `from`.
pub(super) fn hand_over(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    from: UserId,
    to: UserId,
    reply: Option<Reply>,
    answer: Answer,
) {
    state.meta.owner = to;
    let entry = SystemEntry {
        changes_meta: true,
        ..SystemEntry::new(from, SystemEvent::OwnerChanged, vec![to])
    };
    sequence(myself, state, entry, reply, answer);
}
