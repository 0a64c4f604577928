//! Records to protocol values.

use chat_proto::v1;
use chat_store::{MessageRecord, RoomKind, RoomRecord, UserRecord};

/// A user's public profile (never the password hash).
pub fn user(u: &UserRecord) -> v1::User {
    v1::User {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        created_at_ms: u.created_at_ms,
        status_message: u.status_message.clone(),
    }
}

/// A message with its unread count.
pub fn message(m: &MessageRecord, unread: u32) -> v1::Message {
    v1::Message {
        room_id: m.room_id,
        seq: m.seq,
        id: m.id,
        sender_id: m.sender_id,
        client_msg_id: m.client_msg_id.clone(),
        body: m.body.clone(),
        sent_at_ms: m.sent_at_ms,
        unread,
    }
}

/// The first `PREVIEW_CHARS` characters of a message, for chat-list updates.
pub fn preview(body: &str) -> String {
    const PREVIEW_CHARS: usize = 100;
    body.chars().take(PREVIEW_CHARS).collect()
}

/// A room with its members.
pub fn room(r: &RoomRecord, members: &[u64], last_seq: u64) -> v1::Room {
    v1::Room {
        id: r.id,
        kind: match r.kind {
            RoomKind::Direct => v1::RoomKind::Direct,
            RoomKind::Group => v1::RoomKind::Group,
        }
        .into(),
        name: r.name.clone(),
        member_ids: members.to_vec(),
        created_by: r.created_by,
        created_at_ms: r.created_at_ms,
        last_seq,
    }
}
