//! Records to protocol values.

use chat_proto::v1;
use chat_store::{
    AttachmentRecord, EntryKind, FileRecord, MentionRecord, MessageRecord, ReactionRecord,
    ReplyRecord, RoomKind, RoomMeta, RoomRecord, SystemEvent, SystemRecord, UserId, UserRecord,
};

/// A user's public profile (never the password hash).
pub fn user(u: &UserRecord) -> v1::User {
    v1::User {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        created_at_ms: u.created_at_ms,
        status_message: u.status_message.clone(),
        avatar_file_id: u.avatar_file_id,
    }
}

/// A timeline entry with its unread count (changes count nobody: they are not messages),
/// as every member sees it (live events).
pub fn message(m: &MessageRecord, unread: u32) -> v1::Message {
    message_for(m, unread, 0)
}

/// A timeline entry as `viewer` sees it: their own reactions marked (0: nobody's).
pub fn message_for(m: &MessageRecord, unread: u32, viewer: UserId) -> v1::Message {
    let deleted = m.state.deleted;
    v1::Message {
        room_id: m.room_id,
        seq: m.seq,
        id: m.id,
        sender_id: m.sender_id,
        client_msg_id: m.client_msg_id.clone(),
        body: m.body.clone(),
        sent_at_ms: m.sent_at_ms,
        unread: if m.is_message() { unread } else { 0 },
        attachments: m.attachments.iter().map(attachment).collect(),
        kind: entry_kind(m.kind) as i32,
        target_seq: m.target_seq,
        updated: None,
        reply_to: m.reply.as_ref().map(quoted),
        edited_at_ms: m.state.edited_at_ms,
        deleted: deleted.is_some(),
        deleted_by: deleted.map_or(0, |d| d.by),
        changed_seq: m.state.changed_seq,
        reactions: m
            .state
            .reactions
            .iter()
            .map(|r| reaction(r, viewer))
            .collect(),
        mentions: m.mentions.iter().map(mention).collect(),
        system: m.system.as_ref().map(system),
        forwarded: m.forwarded,
    }
}

/// A system entry's event on the wire.
fn system(s: &SystemRecord) -> v1::SystemEvent {
    let kind = match s.event {
        SystemEvent::Joined => v1::SystemEventKind::Joined,
        SystemEvent::Left => v1::SystemEventKind::Left,
        SystemEvent::Removed => v1::SystemEventKind::Removed,
        SystemEvent::Renamed => v1::SystemEventKind::Renamed,
        SystemEvent::OwnerChanged => v1::SystemEventKind::OwnerChanged,
        SystemEvent::VisibilityChanged => v1::SystemEventKind::HistoryVisibilityChanged,
        SystemEvent::NoticeChanged => v1::SystemEventKind::NoticeChanged,
        SystemEvent::Pinned => v1::SystemEventKind::Pinned,
        SystemEvent::Unpinned => v1::SystemEventKind::Unpinned,
        SystemEvent::PermissionsChanged => v1::SystemEventKind::PermissionsChanged,
    };
    v1::SystemEvent {
        kind: kind as i32,
        user_ids: s.users.clone(),
    }
}

/// A stored mention on the wire (user 0 is `@all`).
pub fn mention(m: &MentionRecord) -> v1::Mention {
    v1::Mention {
        user_id: m.user_id,
        offset: m.offset,
        length: m.length,
        all: m.user_id == 0,
    }
}

/// How many first reactors a message carries per emoji (the rest: list_reactions).
const FIRST_REACTORS: usize = 3;

fn reaction(r: &ReactionRecord, viewer: UserId) -> v1::Reaction {
    v1::Reaction {
        emoji: r.emoji.clone(),
        count: u32::try_from(r.users.len()).unwrap_or(u32::MAX),
        mine: viewer != 0 && r.users.contains(&viewer),
        first_user_ids: r.users.iter().take(FIRST_REACTORS).copied().collect(),
    }
}

/// A change entry with its target as it is now (live delivery).
pub fn change(m: &MessageRecord, target: &MessageRecord, target_unread: u32) -> v1::Message {
    v1::Message {
        updated: Some(Box::new(message(target, target_unread))),
        ..message(m, 0)
    }
}

fn entry_kind(kind: EntryKind) -> v1::MessageKind {
    match kind {
        EntryKind::Message => v1::MessageKind::Unspecified,
        EntryKind::Edit => v1::MessageKind::Edit,
        EntryKind::Delete => v1::MessageKind::Delete,
        EntryKind::ReactionAdd => v1::MessageKind::ReactionAdded,
        EntryKind::ReactionRemove => v1::MessageKind::ReactionRemoved,
        EntryKind::System => v1::MessageKind::System,
    }
}

fn quoted(r: &ReplyRecord) -> v1::QuotedMessage {
    v1::QuotedMessage {
        seq: r.seq,
        sender_id: r.sender_id,
        preview: r.preview.clone(),
        attachment_type: r.attachment_type.clone(),
        deleted: r.deleted,
    }
}

/// An attachment as a message carries it.
pub fn attachment(a: &AttachmentRecord) -> v1::Attachment {
    v1::Attachment {
        file_id: a.file_id,
        name: a.name.clone(),
        size: a.size,
        content_type: a.content_type.clone(),
        width: a.width,
        height: a.height,
    }
}

/// A file's metadata as the files API returns it.
pub fn file_info(f: &FileRecord) -> v1::FileInfo {
    v1::FileInfo {
        id: f.id,
        owner_id: f.owner_id,
        name: f.name.clone(),
        size: f.size,
        content_type: f.content_type.clone(),
        sha256: hex(&f.sha256),
        created_at_ms: f.created_at_ms,
        width: f.width,
        height: f.height,
        has_thumbnail: f.thumbnail.is_some(),
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The first `PREVIEW_CHARS` characters of a message for chat-list updates; a message with
/// no text previews as its first attachment's name.
pub fn preview(m: &MessageRecord) -> String {
    const PREVIEW_CHARS: usize = 100;
    if m.state.deleted.is_some() {
        return "[Deleted]".into();
    }
    match m.attachments.first() {
        Some(a) if m.body.trim().is_empty() => {
            let kind = if a.content_type.starts_with("image/") {
                "Photo"
            } else {
                "File"
            };
            format!("[{kind}] {}", a.name)
                .chars()
                .take(PREVIEW_CHARS)
                .collect()
        }
        _ => m.body.chars().take(PREVIEW_CHARS).collect(),
    }
}

/// A room with what its log set: the notice and the owner's reservations (groups).
pub fn with_meta(room: v1::Room, meta: &RoomMeta) -> v1::Room {
    let group = room.kind == v1::RoomKind::Group as i32;
    v1::Room {
        notice: meta.notice.as_ref().map(|n| v1::Notice {
            text: n.text.clone(),
            set_by: n.by,
            set_at_ms: n.at_ms,
            seq: n.seq,
        }),
        invite_owner_only: group && meta.invite_owner_only,
        pins_owner_only: group && meta.pins_owner_only,
        ..room
    }
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
        // Until the log says otherwise (see `RoomMeta`), a group's creator owns it.
        owner_id: if r.kind == RoomKind::Group {
            r.created_by
        } else {
            0
        },
        history_visibility: if r.shared_history && r.kind == RoomKind::Group {
            v1::HistoryVisibility::Shared
        } else {
            v1::HistoryVisibility::Unspecified
        }
        .into(),
        // From the log: see `with_meta`.
        notice: None,
        invite_owner_only: false,
        pins_owner_only: false,
    }
}
