//! What a room publishes: on its room topic for connections that have it open, and on
//! members' user topics for chat-list updates and invitations.

use std::sync::Arc;

use chat_proto::v1::{
    self, MembersChanged, ReadReceipt, RoomAdded, RoomSummary, RoomUpdate, ServerFrame,
    TypingStarted, server_frame::Payload,
};
use chat_store::{MessageRecord, UserId};

use super::{ops::snapshot_to_proto, state::RoomState};
use crate::{
    convert,
    hub::{Event, Topic},
    outbound::EncodedFrame,
};

/// How long a typing indicator lasts unless renewed.
pub(super) const TYPING_TTL_MS: u32 = 5000;

fn frame(payload: Payload) -> Arc<EncodedFrame> {
    EncodedFrame::new(ServerFrame {
        request_id: 0,
        payload: Some(payload),
    })
}

fn publish_room(state: &RoomState, event: Event) {
    state
        .core
        .bus
        .publish(Topic::Room(state.record.id), Arc::new(event));
}

/// A durable entry, with its unread count, to connections with the room open; a change
/// carries its target as it is now.
pub(super) fn publish_message(
    state: &RoomState,
    m: &MessageRecord,
    target: Option<&MessageRecord>,
) {
    let proto = match target {
        Some(t) => convert::change(m, t, state.cursors.unread(t.seq)),
        None => state.message_proto(m),
    };
    let event = Event {
        seq: Some(m.seq),
        // A change to a message from before some members joined is not theirs to see.
        hide_from: match m.target_seq {
            0 => Vec::new(),
            target => state.hidden_from(target),
        },
        ..Event::new(frame(Payload::Message(proto)))
    };
    publish_room(state, event);
}

/// A member's cursor moved from `from` to `to`.
pub(super) fn publish_read(state: &RoomState, user: UserId, from: u64, to: u64) {
    let receipt = ReadReceipt {
        room_id: state.record.id,
        user_id: user,
        from_seq: from,
        to_seq: to,
    };
    publish_room(state, Event::new(frame(Payload::ReadReceipt(receipt))));
}

/// Chat-list updates: to every online member (all their devices that do not have the room
/// open), the newest message, the room's name and owner, and their own unread count. One
/// update per batch.
pub(super) fn publish_room_updates(state: &RoomState) {
    for &member in &state.members {
        if state.core.presence.is_online(member) {
            publish_room_update(state, member);
        }
    }
}

/// One member's chat-list update (also after they read on another device).
pub(super) fn publish_room_update(state: &RoomState, member: UserId) {
    let newest = visible_preview(state, member);
    let update = RoomUpdate {
        room_id: state.record.id,
        last_seq: state.durable_seq,
        sender_id: newest.map_or(0, |m| m.sender_id),
        preview: newest.map(convert::preview).unwrap_or_default(),
        sent_at_ms: newest.map_or(0, |m| m.sent_at_ms),
        unread: state.unread_for(member),
        mention_count: state.mentions_for(member),
        name: state.record.name.clone(),
        owner_id: state.owner(),
    };
    let event = Event {
        skip_if_open: Some(state.record.id),
        ..Event::new(frame(Payload::RoomUpdate(update)))
    };
    state.core.bus.publish(Topic::User(member), Arc::new(event));
}

/// The newest message, unless it is from before `user` may see the room's log.
fn visible_preview(state: &RoomState, user: UserId) -> Option<&MessageRecord> {
    let from = state.visible_from(user);
    state.durable_preview.as_ref().filter(|m| m.seq > from)
}

/// Members joined or left.
pub(super) fn publish_members(
    state: &RoomState,
    actor_id: UserId,
    joined: Vec<UserId>,
    left: Vec<UserId>,
) {
    let change = MembersChanged {
        room_id: state.record.id,
        joined,
        left: left.clone(),
        actor_id,
        member_ids: state.members.iter().copied().collect(),
    };
    let frame = frame(Payload::MembersChanged(change));
    // Those who left hear it on every device, also where the room is not open (their chat
    // lists drop it); where it is open the room topic tells them, then stops.
    for &user in &left {
        let event = Event {
            skip_if_open: Some(state.record.id),
            ..Event::new(frame.clone())
        };
        state.core.bus.publish(Topic::User(user), Arc::new(event));
    }
    let event = Event {
        remove_users: left,
        ..Event::new(frame)
    };
    publish_room(state, event);
}

/// The room as a chat-list entry for `user`.
pub(super) fn summary_for(state: &RoomState, user: UserId) -> RoomSummary {
    let last = visible_preview(state, user);
    RoomSummary {
        room: Some(snapshot_to_proto(&state.snapshot())),
        last_message: last.map(|m| state.message_proto_for(m, user)),
        last_activity_ms: last.map_or(state.record.created_at_ms, |m| m.sent_at_ms),
        unread: state.unread_for(user),
        last_read_seq: state.cursors.get(user).unwrap_or(0),
        mention_count: state.mentions_for(user),
        // Joining (or coming back) starts unmuted.
        muted: false,
    }
}

/// Tells each added user's connections about the room, at once.
pub(super) fn publish_room_added(state: &RoomState, added_by: UserId, users: &[UserId]) {
    for &user in users {
        let added = RoomAdded {
            room: Some(summary_for(state, user)),
            added_by,
        };
        let event = Event::new(frame(Payload::RoomAdded(added)));
        state.core.bus.publish(Topic::User(user), Arc::new(event));
    }
}

/// A member is typing.
pub(super) fn publish_typing(state: &RoomState, user: UserId) {
    let typing = TypingStarted {
        room_id: state.record.id,
        user_id: user,
        ttl_ms: TYPING_TTL_MS,
    };
    publish_room(state, Event::new(frame(Payload::TypingStarted(typing))));
}

/// The protocol form of a member for someone opening the room.
pub(super) fn member(state: &RoomState, user: UserId) -> v1::Member {
    v1::Member {
        user: Some(state.profiles.get(&user).cloned().unwrap_or(v1::User {
            id: user,
            ..Default::default()
        })),
        // A block in a direct room hides each side's presence from the other.
        online: !state.blocked && state.core.presence.is_online(user),
        last_read_seq: state.cursors.get(user).unwrap_or(0),
    }
}
