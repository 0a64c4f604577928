//! The commands one room's actor answers (besides the timeline entries and leaving, which
//! the connection runs itself): each maps its request to a [`RoomOp`] here, checks what
//! needs no room state (limits, names), and hands it to the room wherever it runs.

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use chat_store::{RoomId, UserId};

use crate::{
    error::{ChatError, Reason},
    room::{self, RoomOp},
    services::Services,
};

const DEFAULT_HISTORY_PAGE: usize = 50;

/// Asks a room and answers in the client's terms.
pub(super) async fn in_room(
    services: &Services,
    room: RoomId,
    op: RoomOp,
) -> Result<Payload, ChatError> {
    let outcome = services.rooms.request(room, op).await?;
    Ok(outcome.into_payload(room))
}

/// Runs a room command for `me`.
pub(super) async fn run(
    services: &Services,
    me: UserId,
    command: Command,
) -> Result<Payload, ChatError> {
    let (room, op) = match command {
        Command::ListReactions(r) => return list_reactions(services, me, r).await,
        Command::GetHistory(h) => return history(services, me, h).await,
        Command::RenameRoom(r) => {
            let name = room::check_room_name(&services.core.config, &r.name)?;
            (r.room_id, RoomOp::Rename { by: me, name })
        }
        other => room_op(me, other).or_else(|other| settings_op(me, other))?,
    };
    in_room(services, room, op).await
}

/// A member's command as the room's operation (the command back when it is none of these).
fn room_op(me: UserId, command: Command) -> Result<(RoomId, RoomOp), Command> {
    Ok(match command {
        Command::InviteMembers(i) => (
            i.room_id,
            RoomOp::Invite {
                by: Some(me),
                users: i.user_ids,
            },
        ),
        Command::MarkRead(m) => (
            m.room_id,
            RoomOp::MarkRead {
                user: me,
                seq: m.seq,
            },
        ),
        Command::Typing(t) => (t.room_id, RoomOp::Typing { user: me }),
        Command::GetMessageVersions(v) => (
            v.room_id,
            RoomOp::Versions {
                user: me,
                seq: v.seq,
            },
        ),
        Command::HideMessage(h) => (
            h.room_id,
            RoomOp::Hide {
                user: me,
                seq: h.seq,
            },
        ),
        Command::PinMessage(p) => (
            p.room_id,
            RoomOp::Pin {
                by: me,
                seq: p.seq,
                pinned: true,
            },
        ),
        Command::UnpinMessage(p) => (
            p.room_id,
            RoomOp::Pin {
                by: me,
                seq: p.seq,
                pinned: false,
            },
        ),
        Command::ListPins(l) => (l.room_id, RoomOp::Pins { user: me }),
        other => return Err(other),
    })
}

/// A command changing the room's settings as the room's operation.
fn settings_op(me: UserId, command: Command) -> Result<(RoomId, RoomOp), ChatError> {
    Ok(match command {
        Command::RemoveMember(r) => (
            r.room_id,
            RoomOp::Remove {
                by: me,
                user: r.user_id,
            },
        ),
        Command::TransferOwnership(t) => (
            t.room_id,
            RoomOp::TransferOwnership {
                by: me,
                to: t.user_id,
            },
        ),
        Command::SetHistoryVisibility(v) => {
            let shared = v.visibility == v1::HistoryVisibility::Shared as i32;
            (v.room_id, RoomOp::SetHistoryVisibility { by: me, shared })
        }
        Command::SetNotice(n) => (
            n.room_id,
            RoomOp::SetNotice {
                by: me,
                text: n.text,
            },
        ),
        Command::SetRoomPermissions(p) => (
            p.room_id,
            RoomOp::SetPermissions {
                by: me,
                invite_owner_only: p.invite_owner_only,
                pins_owner_only: p.pins_owner_only,
            },
        ),
        _ => return Err(ChatError::Internal("not a room command".into())),
    })
}
async fn list_reactions(
    services: &Services,
    user: UserId,
    r: v1::ListReactionsRequest,
) -> Result<Payload, ChatError> {
    const DEFAULT: usize = 50;
    const MAX: usize = 100;
    let limit = match r.limit {
        0 => DEFAULT,
        n if n as usize <= MAX => n as usize,
        _ => {
            return Err(ChatError::invalid(
                Reason::InvalidLimit,
                format!("limit must be 0-{MAX}"),
            ));
        }
    };
    let op = RoomOp::Reactions {
        user,
        seq: r.seq,
        emoji: r.emoji,
        after: r.after_user_id,
        limit,
    };
    in_room(services, r.room_id, op).await
}
async fn history(
    services: &Services,
    me: UserId,
    h: v1::GetHistoryRequest,
) -> Result<Payload, ChatError> {
    let max = services.core.config.max_history_page;
    let limit = match usize::try_from(h.limit).unwrap_or(usize::MAX) {
        0 => DEFAULT_HISTORY_PAGE.min(max),
        n if n <= max => n,
        _ => {
            return Err(ChatError::invalid(
                Reason::InvalidLimit,
                format!("limit must be 0-{max}"),
            ));
        }
    };
    let op = RoomOp::History {
        user: me,
        before: h.before_seq,
        limit,
    };
    in_room(services, h.room_id, op).await
}
