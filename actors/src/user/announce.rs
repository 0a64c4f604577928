//! Telling others that a user came online or went offline: the cluster's presence (which
//! every node reads), the rooms the user is in (connections with a room open show it) and
//! the user's friends.

use std::sync::Arc;

use chat_proto::v1::{self, PresenceChanged, ServerFrame, server_frame::Payload};
use chat_store::{SocialEdge, UserId};

use crate::{
    core::Core,
    hub::{Event, Topic},
    outbound::EncodedFrame,
};

fn event(payload: Payload) -> Arc<Event> {
    Arc::new(Event::new(EncodedFrame::new(ServerFrame {
        request_id: 0,
        payload: Some(payload),
    })))
}

/// Records and announces the user's presence. Awaited in the session actor, so a quick
/// connect-disconnect is announced in order.
pub(super) async fn presence(core: &Core, user: UserId, online: bool) {
    core.presence.announce(user, online);
    tracing::debug!(user, online, "presence");
    let rooms = match core.store.user_rooms(user).await {
        Ok(rooms) => rooms,
        Err(e) => {
            tracing::warn!(user, error = %e, "cannot announce presence");
            return;
        }
    };
    let edges = match core.store.social_edges(user).await {
        Ok(edges) => edges,
        Err(e) => {
            tracing::warn!(user, error = %e, "cannot tell friends about presence");
            return;
        }
    };
    to_friends(core, user, online, &edges);
    // A block hides each side's presence from the other in their direct room.
    let mut hidden = Vec::new();
    for (other, edge) in &edges {
        if !edge.blocked_by.is_empty()
            && let Ok(Some(room)) = core.store.direct_room(user, *other).await
        {
            hidden.push(room);
        }
    }
    for room_id in rooms.into_iter().filter(|r| !hidden.contains(r)) {
        let change = PresenceChanged {
            room_id,
            user_id: user,
            online,
        };
        core.bus.publish(
            Topic::Room(room_id),
            event(Payload::PresenceChanged(change)),
        );
    }
}

/// Tells a user's friends that they went online or offline.
fn to_friends(core: &Core, user: UserId, online: bool, edges: &[(UserId, SocialEdge)]) {
    let change = event(Payload::FriendPresence(v1::FriendPresence {
        user_id: user,
        online,
    }));
    for (friend, edge) in edges {
        if edge.friends_since_ms.is_some() {
            core.bus.publish(Topic::User(*friend), change.clone());
        }
    }
}
