//! The commands that need no per-connection state: validation, then the room actor or the
//! store. Shared by every transport through the connection actor.

use std::{collections::BTreeSet, sync::Arc};

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use chat_store::{RoomHead, RoomId, RoomKind, RoomRecord, UserId, UserRecord};

use super::{
    entries::{Entry, start_entry},
    room_commands, search,
};
use crate::{
    convert,
    error::{ChatError, Reason},
    files::Variant,
    hub::{Event, Topic},
    ids::now_ms,
    outbound::EncodedFrame,
    room::{self, RoomOp},
    services::Services,
    social,
};

const DEFAULT_ROOM_LIST: usize = 100;

/// Sends a timeline entry and answers with its ack once durable.
async fn timeline_entry(
    services: &Services,
    user: &UserRecord,
    entry: Entry,
) -> Result<Payload, ChatError> {
    let room = entry.room_id();
    let outcome = start_entry(services, user.id, entry)
        .await?
        .finish()
        .await?;
    Ok(outcome.into_payload(room))
}

fn ok(r: Result<(), ChatError>) -> Result<Payload, ChatError> {
    r.map(|()| Payload::Ok(v1::Ok {}))
}

/// Runs a command that needs no connection (a unary RPC): everything but authenticating and
/// opening or closing rooms, which only make sense on a session. A send resolves once the
/// message is durable.
pub async fn unary(
    services: &Services,
    user: &UserRecord,
    command: Command,
) -> Result<Payload, ChatError> {
    let command = match Entry::of(command) {
        Ok(entry) => return timeline_entry(services, user, entry).await,
        Err(other) => other,
    };
    match command {
        Command::LeaveRoom(l) => {
            room_commands::in_room(services, l.room_id, RoomOp::Leave { user: user.id }).await
        }
        Command::Authenticate(_) | Command::OpenRoom(_) | Command::CloseRoom(_) => {
            Err(ChatError::FailedPrecondition(
                Reason::SessionRequired,
                "this command needs a session (WebSocket, long poll or gRPC Session)".into(),
            ))
        }
        other => execute(services, user, other).await,
    }
}

async fn file_url(
    services: &Services,
    user: UserId,
    f: v1::GetFileUrlRequest,
) -> Result<Payload, ChatError> {
    let variant = if f.thumbnail {
        Variant::Thumbnail
    } else {
        Variant::Original
    };
    let (url, expires_at_ms) = services.files.signed_url(user, f.file_id, variant).await?;
    Ok(Payload::FileUrl(v1::FileUrl { url, expires_at_ms }))
}

/// Mutes or unmutes a room for the caller and tells all their devices.
async fn set_room_muted(
    services: &Services,
    me: UserId,
    m: v1::SetRoomMutedRequest,
) -> Result<(), ChatError> {
    let store = &services.core.store;
    if !store.set_room_muted(m.room_id, me, m.muted).await? {
        return Err(if store.room(m.room_id).await?.is_none() {
            ChatError::NotFound(Reason::RoomNotFound, "no such room".into())
        } else {
            ChatError::PermissionDenied(Reason::NotAMember, "not a member of this room".into())
        });
    }
    let settings = v1::RoomSettings {
        room_id: m.room_id,
        muted: m.muted,
    };
    let frame = EncodedFrame::new(v1::ServerFrame {
        request_id: 0,
        payload: Some(Payload::RoomSettings(settings)),
    });
    services
        .core
        .bus
        .publish(Topic::User(me), Arc::new(Event::new(frame)));
    Ok(())
}

fn pong() -> Payload {
    Payload::Pong(v1::Pong {
        server_time_ms: now_ms(),
    })
}

/// Runs a stateless command for an authenticated user.
pub async fn execute(
    services: &Services,
    user: &UserRecord,
    command: Command,
) -> Result<Payload, ChatError> {
    match command {
        Command::Ping(_) => Ok(pong()),
        Command::GetUser(q) => get_user(services, q)
            .await
            .map(|u| Payload::User(convert::user(&u))),
        Command::CreateDirectRoom(c) => create_direct(services, user.id, c.peer_id).await,
        Command::CreateGroupRoom(c) => create_group(services, user.id, c).await.map(Payload::Room),
        c @ (Command::InviteMembers(_)
        | Command::HideMessage(_)
        | Command::MarkRead(_)
        | Command::Typing(_)
        | Command::ListReactions(_)
        | Command::GetMessageVersions(_)
        | Command::GetHistory(_)
        | Command::RenameRoom(_)
        | Command::RemoveMember(_)
        | Command::TransferOwnership(_)
        | Command::SetHistoryVisibility(_)
        | Command::SetNotice(_)
        | Command::PinMessage(_)
        | Command::UnpinMessage(_)
        | Command::ListPins(_)
        | Command::SetRoomPermissions(_)) => room_commands::run(services, user.id, c).await,
        Command::UpdateProfile(u) => {
            let updated = social::update_profile(
                services,
                user.id,
                &u.display_name,
                &u.status_message,
                u.avatar_file_id,
            )
            .await?;
            Ok(Payload::User(convert::user(&updated)))
        }
        Command::SearchUsers(q) => social::search(services, &q.prefix, &q.after, q.limit)
            .await
            .map(Payload::UserList),
        Command::ListFriends(_) => social::list(services, user.id).await.map(Payload::Friends),
        c @ (Command::SendFriendRequest(_)
        | Command::AcceptFriendRequest(_)
        | Command::DeclineFriendRequest(_)
        | Command::CancelFriendRequest(_)
        | Command::RemoveFriend(_)
        | Command::BlockUser(_)
        | Command::UnblockUser(_)) => ok(relationship(services, user, c).await),
        Command::GetUnreadTotal(_) => {
            let total = unread_total(services, user.id).await?;
            Ok(Payload::UnreadTotal(v1::UnreadTotal { total }))
        }
        Command::ListRooms(l) => list_rooms(services, user.id, l.limit)
            .await
            .map(Payload::RoomList),
        Command::GetFileUrl(f) => file_url(services, user.id, f).await,
        Command::SetRoomMuted(m) => ok(set_room_muted(services, user.id, m).await),
        Command::SearchMessages(q) => search::search_messages(services, user.id, q)
            .await
            .map(Payload::SearchResults),
        Command::Authenticate(_)
        | Command::OpenRoom(_)
        | Command::CloseRoom(_)
        | Command::SendMessage(_)
        | Command::EditMessage(_)
        | Command::DeleteMessage(_)
        | Command::AddReaction(_)
        | Command::RemoveReaction(_)
        | Command::ForwardMessage(_)
        | Command::LeaveRoom(_) => Err(ChatError::Internal(
            "connection command routed as stateless".into(),
        )),
    }
}

/// A change to the caller's relationship with another user (friends, blocks).
async fn relationship(
    services: &Services,
    user: &UserRecord,
    command: Command,
) -> Result<(), ChatError> {
    let me = user.id;
    match command {
        Command::SendFriendRequest(r) => social::request(services, user, r.user_id).await,
        Command::AcceptFriendRequest(r) => social::accept(services, user, r.user_id).await,
        Command::DeclineFriendRequest(r) => social::decline(services, me, r.user_id).await,
        Command::CancelFriendRequest(r) => social::cancel(services, me, r.user_id).await,
        Command::RemoveFriend(r) => social::remove(services, me, r.user_id).await,
        Command::BlockUser(r) => social::block(services, me, r.user_id).await,
        Command::UnblockUser(r) => social::unblock(services, me, r.user_id).await,
        _ => Err(ChatError::Internal("not a relationship command".into())),
    }
}

async fn get_user(services: &Services, q: v1::GetUserRequest) -> Result<UserRecord, ChatError> {
    let store = &services.core.store;
    let found = match (q.username.is_empty(), q.user_id) {
        (false, 0) => {
            store
                .user_by_username(&q.username.trim().to_ascii_lowercase())
                .await?
        }
        (true, id) if id != 0 => store.user_by_id(id).await?,
        _ => {
            return Err(ChatError::invalid(
                Reason::InvalidArgument,
                "set exactly one of username and user_id",
            ));
        }
    };
    found.ok_or_else(user_not_found)
}

fn user_not_found() -> ChatError {
    ChatError::NotFound(Reason::UserNotFound, "no such user".into())
}

async fn require_users(services: &Services, users: &BTreeSet<UserId>) -> Result<(), ChatError> {
    for &u in users {
        if services.core.store.user_by_id(u).await?.is_none() {
            return Err(ChatError::NotFound(
                Reason::UserNotFound,
                format!("no user with id {u}"),
            ));
        }
    }
    Ok(())
}

async fn create_direct(
    services: &Services,
    me: UserId,
    peer: UserId,
) -> Result<Payload, ChatError> {
    if peer == me {
        return Err(ChatError::invalid(
            Reason::CannotDirectSelf,
            "a direct room needs another user",
        ));
    }
    require_users(services, &[peer].into()).await?;
    if social::blocked_between(services, me, peer).await? {
        return Err(ChatError::PermissionDenied(
            Reason::Blocked,
            "one of you has blocked the other".into(),
        ));
    }
    let store = &services.core.store;
    let room_id = match store.direct_room(me, peer).await? {
        Some(id) => id,
        None => {
            services.core.limits.room(me)?;
            room::require_room_capacity(&services.core, &[me, peer]).await?;
            let record = RoomRecord {
                id: services.core.ids.next_id(),
                kind: RoomKind::Direct,
                name: String::new(),
                created_by: me,
                created_at_ms: now_ms(),
                shared_history: false,
            };
            let id = store.create_direct_room(record.clone(), me, peer).await?;
            if id == record.id {
                let mut members = vec![me, peer];
                members.sort_unstable();
                announce_new_room(services, &record, &members);
            }
            id
        }
    };
    // Asking again re-adds whoever left, and returns the room as it stands.
    let op = RoomOp::Invite {
        by: None,
        users: vec![me, peer],
    };
    room_commands::in_room(services, room_id, op).await
}

async fn create_group(
    services: &Services,
    me: UserId,
    c: v1::CreateGroupRoomRequest,
) -> Result<v1::Room, ChatError> {
    let name = room::check_room_name(&services.core.config, &c.name)?;
    let mut members: BTreeSet<UserId> = c.member_ids.into_iter().collect();
    members.remove(&me);
    let max = services.core.config.max_room_members;
    if members.len() + 1 > max {
        return Err(ChatError::ResourceExhausted(
            Reason::RoomFull,
            format!("a room holds at most {max} members"),
            0,
        ));
    }
    require_users(services, &members).await?;
    for &m in &members {
        if social::blocked_between(services, me, m).await? {
            return Err(ChatError::PermissionDenied(
                Reason::Blocked,
                format!("user {m} cannot be added by you"),
            ));
        }
    }
    members.insert(me);
    let members: Vec<UserId> = members.into_iter().collect();
    room::require_room_capacity(&services.core, &members).await?;
    services.core.limits.room(me)?;
    let record = RoomRecord {
        id: services.core.ids.next_id(),
        kind: RoomKind::Group,
        name,
        created_by: me,
        created_at_ms: now_ms(),
        shared_history: c.history_visibility == v1::HistoryVisibility::Shared as i32,
    };
    services
        .core
        .store
        .create_room(record.clone(), members.clone())
        .await?;
    announce_new_room(services, &record, &members);
    Ok(convert::room(&record, &members, 0))
}

/// Tells every member's connections that a new room includes them.
fn announce_new_room(services: &Services, record: &RoomRecord, members: &[UserId]) {
    let summary = v1::RoomSummary {
        room: Some(convert::room(record, members, 0)),
        last_message: None,
        last_activity_ms: record.created_at_ms,
        unread: 0,
        last_read_seq: 0,
        mention_count: 0,
        muted: false,
    };
    let frame = EncodedFrame::new(v1::ServerFrame {
        request_id: 0,
        payload: Some(Payload::RoomAdded(v1::RoomAdded {
            room: Some(summary),
            added_by: record.created_by,
        })),
    });
    for &m in members {
        services
            .core
            .bus
            .publish(Topic::User(m), Arc::new(Event::new(frame.clone())));
    }
}

/// A user's counts in one room, from the store.
struct RoomCounts {
    unread: u32,
    mentions: u32,
    last_read_seq: u64,
}

async fn room_unread(
    services: &Services,
    user: UserId,
    room: RoomId,
    head: &RoomHead,
) -> Result<RoomCounts, ChatError> {
    let cursor = services.core.store.read_cursor(room, user).await?;
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(RoomCounts {
        unread: clamp(head.unread(cursor)),
        mentions: clamp(head.mentions_of(user, cursor)),
        last_read_seq: cursor.seq,
    })
}

async fn unread_total(services: &Services, user: UserId) -> Result<u64, ChatError> {
    let store = &services.core.store;
    let mut total = 0u64;
    for room in store.user_rooms(user).await? {
        let head = store.room_head(room).await?;
        total += u64::from(room_unread(services, user, room, &head).await?.unread);
    }
    Ok(total)
}

async fn list_rooms(
    services: &Services,
    me: UserId,
    limit: u32,
) -> Result<v1::RoomList, ChatError> {
    let max = services.core.config.max_room_list;
    let limit = match usize::try_from(limit).unwrap_or(usize::MAX) {
        0 => DEFAULT_ROOM_LIST.min(max),
        n if n <= max => n,
        _ => {
            return Err(ChatError::invalid(
                Reason::InvalidLimit,
                format!("limit must be 0-{max}"),
            ));
        }
    };
    let store = &services.core.store;
    let mut rooms = Vec::new();
    let mut total_unread = 0u64;
    let muted = store.muted_rooms(me).await?;
    for room_id in store.user_rooms(me).await? {
        let Some(mut record) = store.room(room_id).await? else {
            continue;
        };
        let joins = store.member_joins(room_id).await?;
        let members: Vec<UserId> = joins.iter().map(|&(u, _)| u).collect();
        let head = store.room_head(room_id).await?;
        let counts = room_unread(services, me, room_id, &head).await?;
        total_unread += u64::from(counts.unread);
        // The list shows the newest real message as it is now (edited, deleted); a change
        // to an older one is no activity.
        let newest = head.newest_message();
        let last_activity_ms = newest.map_or(record.created_at_ms, |m| m.sent_at_ms);
        record.apply(&head.meta);
        // A message from before the user joined is not theirs to preview (unless the room
        // shares its history).
        let joined = joins
            .iter()
            .find(|&&(u, _)| u == me)
            .map_or(0, |&(_, seq)| seq);
        let from = record.visible_from(joined);
        let newest = newest.filter(|m| m.seq > from);
        let mut room = convert::room(&record, &members, head.last_seq);
        if record.kind == RoomKind::Group {
            room.owner_id = head.meta.owner_or(record.created_by);
        }
        rooms.push(v1::RoomSummary {
            room: Some(convert::with_meta(room, &head.meta)),
            // Its per-message count is not tracked here.
            last_message: newest.map(|m| convert::message_for(m, 0, me)),
            last_activity_ms,
            unread: counts.unread,
            last_read_seq: counts.last_read_seq,
            mention_count: counts.mentions,
            muted: muted.binary_search(&room_id).is_ok(),
        });
    }
    rooms.sort_by(|a, b| {
        b.last_activity_ms.cmp(&a.last_activity_ms).then_with(|| {
            b.room
                .as_ref()
                .map(|r| r.id)
                .cmp(&a.room.as_ref().map(|r| r.id))
        })
    });
    rooms.truncate(limit);
    Ok(v1::RoomList {
        rooms,
        total_unread,
    })
}
