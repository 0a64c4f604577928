//! Invitations and leaving, each recorded in the timeline by a system entry.

use std::collections::BTreeSet;

use chat_store::{EntryKind, RoomKind, SystemEvent, UserId};
use ractor::ActorRef;

use super::{
    events,
    ops::{Reply, RoomMessage, RoomOutcome, SendRequest},
    state::{Answer, RoomState},
    system::{self, SystemEntry},
};
use crate::{
    core::Core,
    error::{ChatError, Reason},
};

/// Fails with `TOO_MANY_ROOMS` if one of `users` is already in `chat.max_rooms_per_user`
/// rooms (a user's room list is one store partition: it must stay bounded).
pub(crate) async fn require_room_capacity(core: &Core, users: &[UserId]) -> Result<(), ChatError> {
    let max = core.config.max_rooms_per_user;
    for &u in users {
        if core.store.user_rooms(u).await?.len() >= max {
            return Err(ChatError::ResourceExhausted(
                Reason::TooManyRooms,
                format!("user {u} is already in {max} rooms, the most allowed"),
                0,
            ));
        }
    }
    Ok(())
}

pub(super) async fn on_invite(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    by: Option<UserId>,
    users: Vec<UserId>,
    reply: Reply,
) {
    match add(state, by, users).await {
        Ok(new) if new.is_empty() => {
            let _ = reply.send(Ok(RoomOutcome::Snapshot(state.snapshot())));
        }
        // Answered once the line saying who joined is durable.
        Ok(new) => {
            let back = state.meta.away != 0 && new.contains(&state.meta.away);
            if back {
                state.meta.away = 0;
            }
            let entry = SystemEntry {
                changes_meta: back,
                ..SystemEntry::new(by.unwrap_or(new[0]), SystemEvent::Joined, new)
            };
            system::sequence(myself, state, entry, Some(reply), Answer::Snapshot);
        }
        Err(e) => {
            let _ = reply.send(Err(e));
        }
    }
}

/// Adds the users not yet in the room; returns who joined.
async fn add(
    state: &mut RoomState,
    by: Option<UserId>,
    users: Vec<UserId>,
) -> Result<Vec<UserId>, ChatError> {
    if let Some(by) = by {
        state.require_member(by)?;
        if state.record.kind == RoomKind::Direct {
            return Err(ChatError::FailedPrecondition(
                Reason::NotAGroupRoom,
                "members cannot be invited to a direct room".into(),
            ));
        }
        if state.meta.invite_owner_only && state.owner() != by {
            return Err(ChatError::PermissionDenied(
                Reason::NotRoomOwner,
                "only the room's owner may invite members here".into(),
            ));
        }
    }
    let new: Vec<UserId> = users
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|u| !state.members.contains(u))
        .collect();
    if new.is_empty() {
        return Ok(new);
    }
    if state.members.len() + new.len() > state.core.config.max_room_members {
        return Err(ChatError::ResourceExhausted(
            Reason::RoomFull,
            format!(
                "a room holds at most {} members",
                state.core.config.max_room_members
            ),
            0,
        ));
    }
    require_room_capacity(&state.core, &new).await?;
    for &u in &new {
        if state.core.store.user_by_id(u).await?.is_none() {
            return Err(ChatError::NotFound(
                Reason::UserNotFound,
                format!("no user with id {u}"),
            ));
        }
        // Nobody is put in a room by someone they blocked (or who blocked them).
        if let Some(by) = by
            && !state
                .core
                .store
                .social_edge(by, u)
                .await?
                .blocked_by
                .is_empty()
        {
            return Err(ChatError::PermissionDenied(
                Reason::Blocked,
                format!("user {u} cannot be invited by you"),
            ));
        }
    }
    // Newcomers have nothing unread from before they joined.
    let read_through = state.durable_cursor();
    state
        .core
        .store
        .add_members(state.record.id, new.clone(), read_through)
        .await?;
    for &u in &new {
        state.members.insert(u);
        state.cursors.insert(u, read_through);
        state.joined.insert(u, read_through.seq);
    }
    let actor = by.unwrap_or_default();
    events::publish_members(state, actor, new.clone(), Vec::new());
    events::publish_room_added(state, actor, &new);
    Ok(new)
}

pub(super) async fn on_leave(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    user: UserId,
    reply: Reply,
) {
    if let Err(e) = state.require_member(user) {
        let _ = reply.send(Err(e));
        return;
    }
    let owner = state.owner();
    if let Err(e) = drop_member(state, user).await {
        let _ = reply.send(Err(e));
        return;
    }
    events::publish_members(state, user, Vec::new(), vec![user]);
    // Who left a direct room comes back with the other's next message.
    let direct = state.record.kind == RoomKind::Direct;
    if direct {
        state.meta.away = if state.members.is_empty() { 0 } else { user };
    }
    let left = SystemEntry {
        changes_meta: direct,
        ..SystemEntry::new(user, SystemEvent::Left, vec![user])
    };
    // An owner who leaves hands the group to its longest member.
    match state.longest_member(user).filter(|_| owner == user) {
        Some(heir) => {
            system::sequence(myself, state, left, None, Answer::Done);
            system::hand_over(myself, state, user, heir, Some(reply), Answer::Done);
        }
        None => system::sequence(myself, state, left, Some(reply), Answer::Done),
    }
}

/// Brings back a direct room's member who left before `sender` (the other one) says
/// something there: re-added with nothing unread from before, told like an invitee, and
/// recorded by a line; the message then reaches them as any other. Nothing to do otherwise.
/// Runs before the send is sequenced (whose own checks then apply as usual): only a new
/// message from the member still there, in a room without a block, brings anyone back.
pub(super) async fn readmit_away(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    send: &SendRequest,
) -> Result<(), ChatError> {
    let away = state.meta.away;
    let sender = send.sender;
    if state.record.kind != RoomKind::Direct
        || away == 0
        || away == sender
        || send.kind != EntryKind::Message
        || !state.members.contains(&sender)
        || state.blocked
        || is_retry(state, send).await?
    {
        return Ok(());
    }
    require_room_capacity(&state.core, &[away]).await?;
    let read_through = state.durable_cursor();
    state
        .core
        .store
        .add_members(state.record.id, vec![away], read_through)
        .await?;
    state.members.insert(away);
    state.cursors.insert(away, read_through);
    state.joined.insert(away, read_through.seq);
    state.meta.away = 0;
    events::publish_members(state, away, vec![away], Vec::new());
    events::publish_room_added(state, away, &[away]);
    let entry = SystemEntry {
        changes_meta: true,
        ..SystemEntry::new(away, SystemEvent::Joined, vec![away])
    };
    system::sequence(myself, state, entry, None, Answer::Done);
    Ok(())
}

/// Whether a send repeats one the room already took (it brings nobody back).
async fn is_retry(state: &RoomState, send: &SendRequest) -> Result<bool, ChatError> {
    if state.idem.get(send.sender, &send.client_msg_id).is_some() {
        return Ok(true);
    }
    let found = state
        .core
        .store
        .find_client_message(state.record.id, send.sender, &send.client_msg_id)
        .await?;
    Ok(found.is_some())
}

/// Removes a member from the store and from the room's state.
pub(super) async fn drop_member(state: &mut RoomState, user: UserId) -> Result<(), ChatError> {
    state
        .core
        .store
        .remove_member(state.record.id, user)
        .await?;
    state.joined.remove(&user);
    state.hidden.remove(&user);
    state.members.remove(&user);
    state.profiles.remove(&user);
    state.dirty_cursors.remove(&user);
    // A member who leaves stops counting as a reader: to clients that is the same as having
    // read everything, so say so and their counts stay right without a refetch.
    if let Some(cursor) = state.cursors.remove(user)
        && cursor < state.durable_seq
    {
        events::publish_read(state, user, cursor, state.durable_seq);
    }
    Ok(())
}

/// Whether a block separates a direct room's pair, from the store (at load, and when the
/// pair's relationship changes). A direct room one side left keeps its last state.
pub(super) async fn load_block(state: &mut RoomState) -> Result<(), ChatError> {
    if state.record.kind != RoomKind::Direct {
        return Ok(());
    }
    let mut pair = state.members.iter().copied();
    if let (Some(a), Some(b)) = (pair.next(), pair.next()) {
        let edge = state.core.store.social_edge(a, b).await?;
        state.blocked = !edge.blocked_by.is_empty();
    }
    Ok(())
}
