//! Friends, friend requests, blocks and profiles: the rules, over the store's per-pair
//! relationship changed only by compare-and-set (so a request racing an accept or a block
//! never leaves a pair half-changed). Friend events go to users' topics, like room updates.

use std::sync::Arc;

use chat_proto::v1::{self, ServerFrame, server_frame::Payload};
use chat_store::{SocialEdge, StoreError, UserId, UserRecord};

use crate::{
    auth::validate,
    convert,
    error::{ChatError, Reason},
    hub::{Event, Topic},
    ids::now_ms,
    outbound::EncodedFrame,
    room::RoomOp,
    services::Services,
};

const MAX_STATUS_CHARS: usize = 140;
const MAX_SEARCH_PAGE: usize = 50;
const DEFAULT_SEARCH_PAGE: usize = 20;

fn publish(services: &Services, to: UserId, payload: Payload) {
    let frame = EncodedFrame::new(ServerFrame {
        request_id: 0,
        payload: Some(payload),
    });
    services
        .core
        .bus
        .publish(Topic::User(to), Arc::new(Event::new(frame)));
}

/// Changes the caller's profile.
pub async fn update_profile(
    services: &Services,
    me: UserId,
    display_name: &str,
    status_message: &str,
    avatar_file_id: Option<u64>,
) -> Result<UserRecord, ChatError> {
    let display_name = validate::display_name(display_name)?;
    let status = status_message.trim();
    if status.chars().count() > MAX_STATUS_CHARS || status.chars().any(char::is_control) {
        return Err(ChatError::invalid(
            Reason::InvalidStatusMessage,
            format!(
                "status message must be 0-{MAX_STATUS_CHARS} characters without control characters"
            ),
        ));
    }
    let not_found = || ChatError::NotFound(Reason::UserNotFound, "no such user".into());
    let avatar = match avatar_file_id {
        None => {
            let current = services.core.store.user_by_id(me).await?;
            current.ok_or_else(not_found)?.avatar_file_id
        }
        Some(0) => 0,
        Some(id) => {
            services.files.make_avatar(me, id).await?;
            id
        }
    };
    services
        .core
        .store
        .update_profile(me, display_name, status.to_owned(), avatar)
        .await?
        .ok_or_else(not_found)
}

/// Users by username prefix, a page at a time.
pub async fn search(
    services: &Services,
    prefix: &str,
    after: &str,
    limit: u32,
) -> Result<v1::UserList, ChatError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.is_empty() || prefix.len() > 32 {
        return Err(ChatError::invalid(
            Reason::InvalidPrefix,
            "prefix must be 1-32 characters",
        ));
    }
    let limit = match usize::try_from(limit).unwrap_or(usize::MAX) {
        0 => DEFAULT_SEARCH_PAGE,
        n if n <= MAX_SEARCH_PAGE => n,
        _ => {
            return Err(ChatError::invalid(
                Reason::InvalidLimit,
                format!("limit must be 0-{MAX_SEARCH_PAGE}"),
            ));
        }
    };
    let users = services
        .core
        .store
        .search_users(&prefix, after, limit)
        .await?;
    let next_after = if users.len() == limit {
        users.last().map(|u| u.username.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(v1::UserList {
        users: users.iter().map(convert::user).collect(),
        next_after,
    })
}

/// Whether either of a pair blocked the other.
pub async fn blocked_between(services: &Services, a: UserId, b: UserId) -> Result<bool, ChatError> {
    Ok(!services
        .core
        .store
        .social_edge(a, b)
        .await?
        .blocked_by
        .is_empty())
}

fn blocked() -> ChatError {
    ChatError::PermissionDenied(Reason::Blocked, "one of you has blocked the other".into())
}

/// Applies `change` to a pair's relationship by compare-and-set, retrying lost races.
/// `change` returns the new edge, or None to leave it as is.
async fn change(
    services: &Services,
    a: UserId,
    b: UserId,
    change: impl Fn(&SocialEdge) -> Result<Option<SocialEdge>, ChatError>,
) -> Result<(SocialEdge, SocialEdge), ChatError> {
    let store = &services.core.store;
    for _ in 0..8 {
        let current = store.social_edge(a, b).await?;
        let Some(new) = change(&current)? else {
            return Ok((current.clone(), current));
        };
        if current == SocialEdge::default() && new != current {
            require_contact_capacity(services, a, b, &new).await?;
        }
        match store
            .set_social_edge(a, b, current.clone(), new.clone())
            .await
        {
            Ok(()) => return Ok((current, new)),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ChatError::Unavailable(
        Reason::StoreUnavailable,
        "relationship changed concurrently, retry".into(),
    ))
}

/// A new relationship between `a` and `b` adds a row to each one's list, a store partition
/// that must stay bounded: fails with `TOO_MANY_CONTACTS` when a list is full. A block only
/// needs the blocker's list under twice the limit (blocking must stay possible).
async fn require_contact_capacity(
    services: &Services,
    a: UserId,
    b: UserId,
    new: &SocialEdge,
) -> Result<(), ChatError> {
    let max = services.core.config.max_contacts_per_user;
    let store = &services.core.store;
    let limits: Vec<(UserId, usize)> = if new.blocked_by.is_empty() {
        vec![(a, max), (b, max)]
    } else {
        new.blocked_by
            .iter()
            .map(|&u| (u, max.saturating_mul(2)))
            .collect()
    };
    for (user, limit) in limits {
        if store.social_edges(user).await?.len() >= limit {
            let whose = if user == a { "your" } else { "their" };
            return Err(ChatError::ResourceExhausted(
                Reason::TooManyContacts,
                format!("{whose} list of friends, requests and blocks is full ({max})"),
                0,
            ));
        }
    }
    Ok(())
}

async fn other_user(
    services: &Services,
    me: UserId,
    other: UserId,
) -> Result<UserRecord, ChatError> {
    if other == me {
        return Err(ChatError::invalid(Reason::CannotFriendSelf, "that is you"));
    }
    services
        .core
        .store
        .user_by_id(other)
        .await?
        .ok_or_else(|| ChatError::NotFound(Reason::UserNotFound, "no such user".into()))
}

async fn current(services: &Services, me: &UserRecord) -> Result<UserRecord, ChatError> {
    Ok(services
        .core
        .store
        .user_by_id(me.id)
        .await?
        .unwrap_or_else(|| me.clone()))
}

fn befriended(services: &Services, a: &UserRecord, b: &UserRecord) {
    publish(
        services,
        a.id,
        Payload::FriendRequestAccepted(v1::FriendRequestAccepted {
            user: Some(convert::user(b)),
        }),
    );
    publish(
        services,
        b.id,
        Payload::FriendRequestAccepted(v1::FriendRequestAccepted {
            user: Some(convert::user(a)),
        }),
    );
}

/// Fails with `TOO_MANY_PENDING_REQUESTS` when `me` already has as many requests out, not
/// yet answered, as allowed (a request to someone who asked first is an acceptance, never
/// refused here).
async fn require_request_capacity(
    services: &Services,
    me: UserId,
    to: UserId,
) -> Result<(), ChatError> {
    let max = services.core.config.max_pending_requests_per_user;
    let edges = services.core.store.social_edges(me).await?;
    let mut pending = 0;
    for (other, edge) in &edges {
        if *other == to && edge.request_from == Some(to) {
            return Ok(());
        }
        if edge.request_from == Some(me) && edge.friends_since_ms.is_none() {
            pending += 1;
        }
    }
    if pending >= max {
        return Err(ChatError::ResourceExhausted(
            Reason::TooManyPendingRequests,
            format!("{max} of your friend requests are still unanswered"),
            0,
        ));
    }
    Ok(())
}

/// Asks `to` to be friends (or accepts at once when they already asked).
pub async fn request(services: &Services, me: &UserRecord, to: UserId) -> Result<(), ChatError> {
    let them = other_user(services, me.id, to).await?;
    require_request_capacity(services, me.id, to).await?;
    // The connection's copy of the caller may predate a profile change: events show the
    // current one.
    let me = &current(services, me).await?;
    let now = now_ms();
    let (_, new) = change(services, me.id, to, |e| {
        if !e.blocked_by.is_empty() {
            return Err(blocked());
        }
        if e.friends_since_ms.is_some() {
            return Err(ChatError::AlreadyExists(
                Reason::AlreadyFriends,
                "you are already friends".into(),
            ));
        }
        match e.request_from {
            Some(from) if from == me.id => Err(ChatError::AlreadyExists(
                Reason::RequestPending,
                "your request is already pending".into(),
            )),
            Some(_) => Ok(Some(SocialEdge {
                friends_since_ms: Some(now),
                ..SocialEdge::default()
            })),
            None => Ok(Some(SocialEdge {
                request_from: Some(me.id),
                request_at_ms: now,
                ..SocialEdge::default()
            })),
        }
    })
    .await?;
    if new.friends_since_ms.is_some() {
        befriended(services, me, &them);
    } else {
        let received = v1::FriendRequestReceived {
            from: Some(convert::user(me)),
        };
        publish(services, to, Payload::FriendRequestReceived(received));
    }
    Ok(())
}

fn no_request() -> ChatError {
    ChatError::NotFound(Reason::NoSuchRequest, "no such pending request".into())
}

/// Accepts the pending request from `from`.
pub async fn accept(services: &Services, me: &UserRecord, from: UserId) -> Result<(), ChatError> {
    let them = other_user(services, me.id, from).await?;
    let me = &current(services, me).await?;
    let now = now_ms();
    change(services, me.id, from, |e| match e.request_from {
        Some(f) if f == from => Ok(Some(SocialEdge {
            friends_since_ms: Some(now),
            blocked_by: e.blocked_by.clone(),
            ..SocialEdge::default()
        })),
        _ => Err(no_request()),
    })
    .await?;
    befriended(services, me, &them);
    Ok(())
}

/// Declines the pending request from `from` (who is not told).
pub async fn decline(services: &Services, me: UserId, from: UserId) -> Result<(), ChatError> {
    change(services, me, from, |e| match e.request_from {
        Some(f) if f == from => Ok(Some(SocialEdge {
            request_from: None,
            request_at_ms: 0,
            ..e.clone()
        })),
        _ => Err(no_request()),
    })
    .await
    .map(|_| ())
}

/// Withdraws the caller's pending request to `to`.
pub async fn cancel(services: &Services, me: UserId, to: UserId) -> Result<(), ChatError> {
    change(services, me, to, |e| match e.request_from {
        Some(f) if f == me => Ok(Some(SocialEdge {
            request_from: None,
            request_at_ms: 0,
            ..e.clone()
        })),
        _ => Err(no_request()),
    })
    .await
    .map(|_| ())
}

/// Ends a friendship.
pub async fn remove(services: &Services, me: UserId, other: UserId) -> Result<(), ChatError> {
    change(services, me, other, |e| match e.friends_since_ms {
        Some(_) => Ok(Some(SocialEdge {
            friends_since_ms: None,
            ..e.clone()
        })),
        None => Err(ChatError::NotFound(
            Reason::NotFriends,
            "you are not friends".into(),
        )),
    })
    .await
    .map(|_| ())
}

/// Blocks `other` (idempotent): also ends any friendship and pending request.
pub async fn block(services: &Services, me: UserId, other: UserId) -> Result<(), ChatError> {
    if other == me {
        return Err(ChatError::invalid(
            Reason::CannotBlockSelf,
            "you cannot block yourself",
        ));
    }
    other_user(services, me, other).await?;
    change(services, me, other, |e| {
        let mut blocked_by = e.blocked_by.clone();
        if !blocked_by.contains(&me) {
            blocked_by.push(me);
        }
        Ok(Some(SocialEdge {
            blocked_by,
            ..SocialEdge::default()
        }))
    })
    .await?;
    tell_direct_room(services, me, other).await
}

/// Unblocks `other` (idempotent).
pub async fn unblock(services: &Services, me: UserId, other: UserId) -> Result<(), ChatError> {
    change(services, me, other, |e| {
        if !e.blocked_by.contains(&me) {
            return Ok(None);
        }
        let blocked_by = e.blocked_by.iter().copied().filter(|u| *u != me).collect();
        Ok(Some(SocialEdge {
            blocked_by,
            ..e.clone()
        }))
    })
    .await?;
    tell_direct_room(services, me, other).await
}

/// A block or unblock takes effect in the pair's direct room at once (the room re-reads
/// the relationship). Always sent, so retrying a block or unblock whose room could not be
/// told fixes it.
async fn tell_direct_room(services: &Services, a: UserId, b: UserId) -> Result<(), ChatError> {
    match services.core.store.direct_room(a, b).await? {
        Some(room) => services
            .rooms
            .request(room, RoomOp::RelationshipChanged)
            .await
            .map(|_| ()),
        None => Ok(()),
    }
}

/// The caller's friends with presence, pending requests both ways, and whom they blocked.
pub async fn list(services: &Services, me: UserId) -> Result<v1::Friends, ChatError> {
    let store = &services.core.store;
    let mut out = v1::Friends::default();
    for (other, edge) in store.social_edges(me).await? {
        let Some(user) = store.user_by_id(other).await? else {
            continue;
        };
        let user = convert::user(&user);
        if let Some(since_ms) = edge.friends_since_ms {
            let online = services.core.presence.is_online(other);
            out.friends.push(v1::Friend {
                user: Some(user.clone()),
                online,
                since_ms,
            });
        }
        match edge.request_from {
            Some(from) if from == me => out.outgoing.push(user.clone()),
            Some(_) => out.incoming.push(user.clone()),
            None => {}
        }
        if edge.blocked_by.contains(&me) {
            out.blocked.push(user);
        }
    }
    out.friends.sort_by(|a, b| {
        a.user
            .as_ref()
            .map(|u| &u.username)
            .cmp(&b.user.as_ref().map(|u| &u.username))
    });
    Ok(out)
}

#[cfg(test)]
mod tests;
