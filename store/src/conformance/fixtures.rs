//! The conformance suite: the records the checks build.
#![allow(clippy::unwrap_used, missing_docs)]

use crate::{FileRecord, MessageRecord, RoomKind, RoomRecord, UserRecord};

pub(super) fn user(id: u64, name: &str) -> UserRecord {
    UserRecord {
        id,
        username: name.into(),
        display_name: name.to_uppercase(),
        password_hash: "$argon2id$fake".into(),
        created_at_ms: 1,
        status_message: String::new(),
        avatar_file_id: 0,
    }
}

pub(super) fn room(id: u64, kind: RoomKind) -> RoomRecord {
    RoomRecord {
        id,
        kind,
        name: if kind == RoomKind::Group {
            "g".into()
        } else {
            String::new()
        },
        created_by: 1,
        created_at_ms: 1,
        shared_history: false,
    }
}

pub(super) fn msg(room_id: u64, seq: u64, at: i64) -> MessageRecord {
    MessageRecord {
        room_id,
        seq,
        id: 1000 + seq,
        sender_id: 1,
        client_msg_id: format!("c{seq}"),
        body: format!("m{seq}"),
        sent_at_ms: at,
        ordinal: seq,
        ..MessageRecord::default()
    }
}

pub(super) fn file(id: u64, created_at_ms: i64) -> FileRecord {
    FileRecord {
        id,
        owner_id: 1,
        name: format!("f{id}.png"),
        size: 10,
        content_type: "image/png".into(),
        sha256: [id as u8; 32],
        created_at_ms,
        width: 0,
        height: 0,
        thumbnail: None,
        attached: false,
        public: false,
    }
}
