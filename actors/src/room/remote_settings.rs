//! The wire mapping of the room's settings operations (the owner's controls, the notice,
//! pins) to `chat.cluster.v1`, apart from `remote.rs` so each direction stays one short
//! match.

use chat_proto::cluster as pb;

use super::ops::RoomOp;
use crate::error::ChatError;

/// An error for a peer that sent something undecodable or unexpected.
pub(super) fn garbled(what: &str) -> ChatError {
    ChatError::Internal(format!("cluster: malformed {what}"))
}

/// A settings operation on the wire; `None` for the others (`remote.rs` maps those).
pub(super) fn to_pb(op: &RoomOp) -> Option<pb::room_request::Op> {
    use pb::room_request::Op;
    Some(match op {
        RoomOp::Rename { by, name } => Op::Rename(pb::Rename {
            by: *by,
            name: name.clone(),
        }),
        RoomOp::Remove { by, user } => Op::RemoveMember(pb::RemoveMember {
            by: *by,
            user: *user,
        }),
        RoomOp::TransferOwnership { by, to } => {
            Op::TransferOwnership(pb::TransferOwnership { by: *by, to: *to })
        }
        RoomOp::SetHistoryVisibility { by, shared } => {
            Op::SetHistoryVisibility(pb::SetHistoryVisibility {
                by: *by,
                shared: *shared,
            })
        }
        RoomOp::SetNotice { by, text } => Op::SetNotice(pb::SetNotice {
            by: *by,
            text: text.clone(),
        }),
        RoomOp::Pin { by, seq, pinned } => Op::Pin(pb::Pin {
            by: *by,
            seq: *seq,
            pinned: *pinned,
        }),
        RoomOp::Pins { user } => Op::Pins(pb::Pins { user: *user }),
        RoomOp::SetPermissions {
            by,
            invite_owner_only,
            pins_owner_only,
        } => Op::SetPermissions(pb::SetPermissions {
            by: *by,
            invite_owner_only: *invite_owner_only,
            pins_owner_only: *pins_owner_only,
        }),
        _ => return None,
    })
}

/// A settings operation from the wire; an error for the others.
pub(super) fn from_pb(op: pb::room_request::Op) -> Result<RoomOp, ChatError> {
    use pb::room_request::Op;
    Ok(match op {
        Op::Rename(r) => RoomOp::Rename {
            by: r.by,
            name: r.name,
        },
        Op::RemoveMember(r) => RoomOp::Remove {
            by: r.by,
            user: r.user,
        },
        Op::TransferOwnership(t) => RoomOp::TransferOwnership { by: t.by, to: t.to },
        Op::SetHistoryVisibility(v) => RoomOp::SetHistoryVisibility {
            by: v.by,
            shared: v.shared,
        },
        Op::SetNotice(n) => RoomOp::SetNotice {
            by: n.by,
            text: n.text,
        },
        Op::Pin(p) => RoomOp::Pin {
            by: p.by,
            seq: p.seq,
            pinned: p.pinned,
        },
        Op::Pins(p) => RoomOp::Pins { user: p.user },
        Op::SetPermissions(p) => RoomOp::SetPermissions {
            by: p.by,
            invite_owner_only: p.invite_owner_only,
            pins_owner_only: p.pins_owner_only,
        },
        _ => return Err(garbled("settings op")),
    })
}
