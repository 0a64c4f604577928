//! Records to protocol values.

use chat_proto::v1;
use chat_store::{AttachmentRecord, FileRecord, MessageRecord, RoomKind, RoomRecord, UserRecord};

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
        attachments: m.attachments.iter().map(attachment).collect(),
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
