//! The owner's controls of a group: rename, set the history visibility, reserve inviting
//! and pinning, remove a member, hand the group over. Each is recorded by a system entry
//! (`system.rs`) and answered once that entry is durable.

use chat_store::{RoomKind, SystemEvent, UserId};
use ractor::ActorRef;

use super::{
    events, membership,
    ops::{Reply, RoomMessage, RoomOutcome},
    state::{Answer, RoomState},
    system::{self, SystemEntry},
};
use crate::{
    config::ChatConfig,
    error::{ChatError, Reason},
};

/// A room name as given at creation or rename, trimmed; `INVALID_ROOM_NAME` unless it has
/// 1 to `chat.max_room_name_chars` characters and no control characters.
pub(crate) fn check_room_name(config: &ChatConfig, name: &str) -> Result<String, ChatError> {
    let name = name.trim();
    let max = config.max_room_name_chars;
    if name.is_empty() || name.chars().count() > max || name.chars().any(char::is_control) {
        return Err(ChatError::invalid(
            Reason::InvalidRoomName,
            format!("room name must be 1-{max} characters without control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// Fails unless `by` owns this group.
pub(super) fn require_owner(state: &RoomState, by: UserId) -> Result<(), ChatError> {
    state.require_member(by)?;
    if state.record.kind != RoomKind::Group {
        return Err(ChatError::FailedPrecondition(
            Reason::NotAGroupRoom,
            "a direct room has no owner".into(),
        ));
    }
    if state.owner() != by {
        return Err(ChatError::PermissionDenied(
            Reason::NotRoomOwner,
            "only the room's owner may do this".into(),
        ));
    }
    Ok(())
}

/// Fails unless `user` is a member other than `by`.
fn require_other_member(state: &RoomState, by: UserId, user: UserId) -> Result<(), ChatError> {
    if user == by {
        return Err(ChatError::invalid(
            Reason::InvalidArgument,
            "that is you (leave the room, or pick another member)".to_owned(),
        ));
    }
    if !state.members.contains(&user) {
        return Err(ChatError::NotFound(
            Reason::MemberNotFound,
            format!("user {user} is not a member of this room"),
        ));
    }
    Ok(())
}

pub(super) fn on_rename(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    by: UserId,
    name: String,
    reply: Reply,
) {
    let body = name.clone();
    change_setting(
        myself,
        state,
        by,
        reply,
        (SystemEvent::Renamed, body),
        |s| {
            if name == s.record.name {
                return false;
            }
            s.record.name.clone_from(&name);
            s.meta.name = Some(name);
            true
        },
    );
}

pub(super) fn on_set_visibility(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    by: UserId,
    shared: bool,
    reply: Reply,
) {
    let body = if shared { "shared" } else { "joined" }.to_owned();
    let line = (SystemEvent::VisibilityChanged, body);
    change_setting(myself, state, by, reply, line, |s| {
        if shared == s.record.shared_history {
            return false;
        }
        s.record.shared_history = shared;
        s.meta.shared_history = Some(shared);
        true
    });
}

pub(super) fn on_set_permissions(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    by: UserId,
    (invite, pins): (bool, bool),
    reply: Reply,
) {
    let reserved: Vec<&str> = [("invite", invite), ("pins", pins)]
        .into_iter()
        .filter_map(|(what, owner_only)| owner_only.then_some(what))
        .collect();
    let line = (SystemEvent::PermissionsChanged, reserved.join(","));
    change_setting(myself, state, by, reply, line, |s| {
        if (s.meta.invite_owner_only, s.meta.pins_owner_only) == (invite, pins) {
            return false;
        }
        s.meta.invite_owner_only = invite;
        s.meta.pins_owner_only = pins;
        true
    });
}

/// An owner's change to a group setting: refused unless `by` owns the group; when `change`
/// finds nothing to change, answered with the room at once; else recorded by a line
/// (`event`, `body`) and answered once it is durable.
fn change_setting(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    by: UserId,
    reply: Reply,
    (event, body): (SystemEvent, String),
    change: impl FnOnce(&mut RoomState) -> bool,
) {
    if let Err(e) = require_owner(state, by) {
        let _ = reply.send(Err(e));
        return;
    }
    if !change(state) {
        let _ = reply.send(Ok(RoomOutcome::Snapshot(state.snapshot())));
        return;
    }
    let entry = SystemEntry {
        body,
        changes_meta: true,
        ..SystemEntry::new(by, event, Vec::new())
    };
    system::sequence(myself, state, entry, Some(reply), Answer::Snapshot);
}

pub(super) async fn on_remove(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    by: UserId,
    user: UserId,
    reply: Reply,
) {
    let checked = require_owner(state, by).and_then(|()| require_other_member(state, by, user));
    if let Err(e) = checked {
        let _ = reply.send(Err(e));
        return;
    }
    if let Err(e) = membership::drop_member(state, user).await {
        let _ = reply.send(Err(e));
        return;
    }
    events::publish_members(state, by, Vec::new(), vec![user]);
    let entry = SystemEntry::new(by, SystemEvent::Removed, vec![user]);
    system::sequence(myself, state, entry, Some(reply), Answer::Snapshot);
}

pub(super) fn on_transfer(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    by: UserId,
    to: UserId,
    reply: Reply,
) {
    let checked = require_owner(state, by).and_then(|()| require_other_member(state, by, to));
    if let Err(e) = checked {
        let _ = reply.send(Err(e));
        return;
    }
    system::hand_over(myself, state, by, to, Some(reply), Answer::Snapshot);
}

/// A group whose recorded owner is gone (it left before owners were kept) records its
/// longest member as owner, so every node and list agrees on one.
pub(super) fn settle_owner(myself: &ActorRef<RoomMessage>, state: &mut RoomState) {
    if state.record.kind != RoomKind::Group {
        return;
    }
    let recorded = state.meta.owner_or(state.record.created_by);
    let owner = state.owner();
    if owner != 0 && owner != recorded {
        system::hand_over(myself, state, recorded, owner, None, Answer::Done);
    }
}
