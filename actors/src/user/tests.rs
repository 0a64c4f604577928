//! User sessions at the actor level, on the embedded store and the in-process bus: presence
//! while any connection is open, what is announced to rooms and friends, the grace period.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};

use crate::{
    ChatConfig,
    testing::{Conn, signup, system_with, wait_until},
};

/// Waits for the next event (request id 0) on `c` that `pick` accepts.
async fn event_where(c: &mut Conn, pick: impl Fn(&Payload) -> bool) -> Payload {
    loop {
        let f = c.next().await;
        if let Some(p) = f.payload
            && f.request_id == 0
            && pick(&p)
        {
            return p;
        }
    }
}

#[tokio::test]
async fn online_while_any_connection_is_announced_to_rooms_and_friends() {
    let dir = tempfile::tempdir().unwrap();
    let chat = ChatConfig {
        user_session_grace_secs: 1,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), chat).await;
    let (ann, ben) = (signup(&sys, "ann").await, signup(&sys, "ben").await);
    let (a, b) = (ann.user.id, ben.user.id);
    let mut bc = Conn::of(&sys, &ben).await;
    // Friends, and a room together that ben has open.
    let request = Command::SendFriendRequest(v1::SendFriendRequestRequest { user_id: a });
    assert!(matches!(bc.call(request).await, Payload::Ok(_)));
    let mut first = Conn::of(&sys, &ann).await;
    let accept = Command::AcceptFriendRequest(v1::AcceptFriendRequestRequest { user_id: b });
    assert!(matches!(first.call(accept).await, Payload::Ok(_)));
    let Payload::Room(room) = bc
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: a,
        }))
        .await
    else {
        panic!()
    };
    let open = Command::OpenRoom(v1::OpenRoomRequest {
        room_id: room.id,
        since_seq: 0,
    });
    assert!(matches!(bc.call(open).await, Payload::RoomOpened(_)));

    let users = &sys.services.users;
    let presence = &sys.services.core.presence;
    let second = Conn::of(&sys, &ann).await;
    assert!(users.is_online(a).await && presence.is_online(a));
    // One of two connections closes: still online.
    first.0.slot.close().await;
    wait_until("ann's first connection to go", || {
        sys.connections.len() == 2
    })
    .await;
    assert!(users.is_online(a).await);
    // The last one closes: offline, told to her friend, then to the rooms she is in.
    second.0.slot.close().await;
    let to_friend = event_where(
        &mut bc,
        |p| matches!(p, Payload::FriendPresence(f) if !f.online),
    )
    .await;
    assert!(matches!(to_friend, Payload::FriendPresence(f) if f.user_id == a));
    let in_room = event_where(
        &mut bc,
        |p| matches!(p, Payload::PresenceChanged(c) if !c.online),
    )
    .await;
    assert!(
        matches!(in_room, Payload::PresenceChanged(c) if c.user_id == a && c.room_id == room.id)
    );
    assert!(!users.is_online(a).await && !presence.is_online(a));
    // After the grace period her session actor is gone; ben's stays.
    let sessions = &sys.services.core.metrics.user_sessions;
    wait_until("ann's session to stop", || sessions.get() == 1).await;
    // Coming back starts a new session, online again.
    let _again = Conn::of(&sys, &ann).await;
    assert!(users.is_online(a).await);
    sys.shutdown(Duration::from_secs(5)).await;
}
