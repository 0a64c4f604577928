//! The messenger behaviour: read counts, chat-list push, invitations, presence, typing,
//! long polling, recovery and several devices.

use std::collections::BTreeMap;

use chat_proto::v1::{self, ErrorCode, client_frame::Command, server_frame::Payload};
use serde_json::json;

use crate::common::*;

mod delivery;
mod mentions;
mod mute;
mod pins;
mod reads;
mod recovery;
mod roles;
mod search;
mod timeline;
mod visibility;

fn room_update(p: Payload) -> Option<v1::RoomUpdate> {
    match p {
        Payload::RoomUpdate(u) => Some(u),
        _ => None,
    }
}

fn room_added(p: Payload) -> Option<v1::RoomAdded> {
    match p {
        Payload::RoomAdded(a) => Some(a),
        _ => None,
    }
}

fn presence(p: Payload) -> Option<v1::PresenceChanged> {
    match p {
        Payload::PresenceChanged(c) => Some(c),
        _ => None,
    }
}

fn mark_read(room: u64, seq: u64) -> Command {
    Command::MarkRead(v1::MarkReadRequest { room_id: room, seq })
}

/// The test's own model of read cursors: unread(seq) = members whose cursor is below seq.
struct Model(BTreeMap<u64, u64>);

impl Model {
    fn unread(&self, seq: u64) -> u32 {
        self.0.values().filter(|&&c| c < seq).count() as u32
    }
    fn read(&mut self, user: u64, seq: u64) {
        let c = self.0.get_mut(&user).unwrap();
        *c = (*c).max(seq);
    }
}
