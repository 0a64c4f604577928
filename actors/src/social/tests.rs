//! The rules of friends, requests and blocks at the actor level, on the embedded store and
//! the in-process bus: who may ask whom, what accepting, declining, cancelling, removing and
//! blocking leave behind, the caps, and the events each side hears.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chat_proto::v1::server_frame::Payload;
use chat_store::UserRecord;

use super::{accept, block, cancel, decline, list, remove, request, unblock};
use crate::{
    ChatConfig, ChatError, ChatSystem, Reason,
    testing::{Conn, signup, system, system_with},
};

async fn user(sys: &ChatSystem, name: &str) -> UserRecord {
    signup(sys, name).await.user
}

/// Nobody in any list.
const NONE: [Vec<u64>; 4] = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];

fn reason(r: Result<(), ChatError>) -> Reason {
    match r {
        Err(e) => e.reason(),
        Ok(()) => panic!("expected an error"),
    }
}

/// The ids of a user's friends, incoming and outgoing requests, and whom they blocked.
async fn lists(sys: &ChatSystem, who: u64) -> [Vec<u64>; 4] {
    let f = list(&sys.services, who).await.unwrap();
    let ids = |users: &[chat_proto::v1::User]| users.iter().map(|u| u.id).collect();
    [
        f.friends
            .iter()
            .map(|x| x.user.as_ref().unwrap().id)
            .collect(),
        ids(&f.incoming),
        ids(&f.outgoing),
        ids(&f.blocked),
    ]
}

#[tokio::test]
async fn a_request_is_accepted_declined_or_cancelled_by_the_right_side_only() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let s = &sys.services;
    let (ann, ben, cat) = (
        user(&sys, "ann").await,
        user(&sys, "ben").await,
        user(&sys, "cat").await,
    );
    assert_eq!(
        reason(request(s, &ann, ann.id).await),
        Reason::CannotFriendSelf
    );
    assert_eq!(reason(request(s, &ann, 999).await), Reason::UserNotFound);
    request(s, &ann, ben.id).await.unwrap();
    assert_eq!(
        reason(request(s, &ann, ben.id).await),
        Reason::RequestPending
    );
    assert_eq!(
        lists(&sys, ann.id).await,
        [vec![], vec![], vec![ben.id], vec![]]
    );
    assert_eq!(
        lists(&sys, ben.id).await,
        [vec![], vec![ann.id], vec![], vec![]]
    );
    // Only the asked may accept or decline, only the asker cancel.
    assert_eq!(reason(accept(s, &ann, ben.id).await), Reason::NoSuchRequest);
    assert_eq!(
        reason(cancel(s, ben.id, ann.id).await),
        Reason::NoSuchRequest
    );
    assert_eq!(
        reason(decline(s, cat.id, ann.id).await),
        Reason::NoSuchRequest
    );
    decline(s, ben.id, ann.id).await.unwrap();
    assert_eq!(lists(&sys, ann.id).await, NONE);
    request(s, &ann, ben.id).await.unwrap();
    cancel(s, ann.id, ben.id).await.unwrap();
    assert_eq!(lists(&sys, ben.id).await, NONE);
    // Asking someone who asked first is an acceptance.
    request(s, &ben, ann.id).await.unwrap();
    request(s, &ann, ben.id).await.unwrap();
    assert_eq!(
        lists(&sys, ann.id).await,
        [vec![ben.id], vec![], vec![], vec![]]
    );
    assert_eq!(
        reason(request(s, &ben, ann.id).await),
        Reason::AlreadyFriends
    );
    remove(s, ben.id, ann.id).await.unwrap();
    assert_eq!(reason(remove(s, ben.id, ann.id).await), Reason::NotFriends);
    assert_eq!(lists(&sys, ben.id).await, NONE);
    sys.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_block_ends_everything_between_the_two_and_stops_new_requests() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let s = &sys.services;
    let (ann, ben) = (user(&sys, "ann").await, user(&sys, "ben").await);
    request(s, &ann, ben.id).await.unwrap();
    accept(s, &ben, ann.id).await.unwrap();
    block(s, ben.id, ann.id).await.unwrap();
    // Idempotent, and it ended the friendship.
    block(s, ben.id, ann.id).await.unwrap();
    assert_eq!(
        lists(&sys, ben.id).await,
        [vec![], vec![], vec![], vec![ann.id]]
    );
    assert_eq!(lists(&sys, ann.id).await, NONE);
    // Neither side may ask while the block stands.
    assert_eq!(reason(request(s, &ann, ben.id).await), Reason::Blocked);
    assert_eq!(reason(request(s, &ben, ann.id).await), Reason::Blocked);
    unblock(s, ben.id, ann.id).await.unwrap();
    unblock(s, ben.id, ann.id).await.unwrap();
    request(s, &ann, ben.id).await.unwrap();
    assert_eq!(
        lists(&sys, ben.id).await,
        [vec![], vec![ann.id], vec![], vec![]]
    );
    sys.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn pending_requests_and_contacts_are_capped_but_an_acceptance_never_is() {
    let dir = tempfile::tempdir().unwrap();
    let chat = ChatConfig {
        max_pending_requests_per_user: 2,
        max_contacts_per_user: 3,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), chat).await;
    let s = &sys.services;
    let ann = user(&sys, "ann").await;
    let mut others = Vec::new();
    for name in ["ben", "cat", "dan", "eve"] {
        others.push(user(&sys, name).await);
    }
    let (ben, cat, dan, eve) = (&others[0], &others[1], &others[2], &others[3]);
    request(s, &ann, ben.id).await.unwrap();
    request(s, &ann, cat.id).await.unwrap();
    assert_eq!(
        reason(request(s, &ann, dan.id).await),
        Reason::TooManyPendingRequests
    );
    // dan asks ann: her answer is an acceptance, whatever her pending count.
    request(s, dan, ann.id).await.unwrap();
    request(s, &ann, dan.id).await.unwrap();
    // Three contacts now (two requests out, one friend): a fourth is refused.
    assert_eq!(
        reason(request(s, eve, ann.id).await),
        Reason::TooManyContacts
    );
    // Blocking a stranger stays possible up to twice the cap.
    block(s, ann.id, eve.id).await.unwrap();
    sys.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn both_sides_hear_of_requests_and_friendships() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let (ann, ben) = (signup(&sys, "ann").await, signup(&sys, "ben").await);
    let (mut a, mut b) = (Conn::of(&sys, &ann).await, Conn::of(&sys, &ben).await);
    let s = &sys.services;
    request(s, &ann.user, ben.user.id).await.unwrap();
    let heard = loop {
        match b.next().await.payload {
            Some(Payload::FriendRequestReceived(r)) => break r,
            _ => continue,
        }
    };
    assert_eq!(heard.from.unwrap().id, ann.user.id);
    accept(s, &ben.user, ann.user.id).await.unwrap();
    for (conn, other) in [(&mut a, ben.user.id), (&mut b, ann.user.id)] {
        let accepted = loop {
            match conn.next().await.payload {
                Some(Payload::FriendRequestAccepted(r)) => break r,
                _ => continue,
            }
        };
        assert_eq!(accepted.user.unwrap().id, other);
    }
    sys.shutdown(Duration::from_secs(5)).await;
}

/// A send as a client makes it.
fn say(room_id: u64, body: &str) -> chat_proto::v1::client_frame::Command {
    chat_proto::v1::client_frame::Command::SendMessage(chat_proto::v1::SendMessageRequest {
        room_id,
        client_msg_id: body.into(),
        body: body.into(),
        file_ids: Vec::new(),
        ..Default::default()
    })
}

fn refused_as_blocked(p: &Payload) -> bool {
    matches!(p, Payload::Error(e) if e.reason == "BLOCKED")
}

#[tokio::test]
async fn a_block_silences_the_direct_room_both_ways_and_hides_presence() {
    use chat_proto::v1::{self, client_frame::Command};
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let s = &sys.services;
    let (ann, ben) = (signup(&sys, "ann").await, signup(&sys, "ben").await);
    let (mut a, mut b) = (Conn::of(&sys, &ann).await, Conn::of(&sys, &ben).await);
    let Payload::Room(room) = b
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: ann.user.id,
        }))
        .await
    else {
        panic!()
    };
    assert!(matches!(
        b.call(say(room.id, "hi")).await,
        Payload::SendAck(_)
    ));

    assert_eq!(
        reason(block(s, ann.user.id, ann.user.id).await),
        Reason::CannotBlockSelf
    );
    block(s, ann.user.id, ben.user.id).await.unwrap();
    // Nothing new is said, typed or read in the room, by either side.
    for (conn, body) in [(&mut b, "still there?"), (&mut a, "go away")] {
        assert!(refused_as_blocked(&conn.call(say(room.id, body)).await));
        let typing = Command::Typing(v1::TypingRequest { room_id: room.id });
        assert!(refused_as_blocked(&conn.call(typing).await));
        let read = Command::MarkRead(v1::MarkReadRequest {
            room_id: room.id,
            seq: 1,
        });
        assert!(refused_as_blocked(&conn.call(read).await));
    }
    let history = Command::GetHistory(v1::GetHistoryRequest {
        room_id: room.id,
        before_seq: 0,
        limit: 10,
    });
    let Payload::History(h) = b.call(history.clone()).await else {
        panic!()
    };
    assert_eq!(h.messages.len(), 1, "nothing was stored");
    // Ann is online, but Ben does not see it in their room.
    let open = Command::OpenRoom(v1::OpenRoomRequest {
        room_id: room.id,
        since_seq: 0,
    });
    let Payload::RoomOpened(opened) = b.call(open.clone()).await else {
        panic!()
    };
    let of_ann = opened.members;
    let of_ann = of_ann
        .iter()
        .find(|m| m.user.as_ref().unwrap().id == ann.user.id);
    assert!(!of_ann.unwrap().online);
    // A re-created direct room is refused too.
    let again = Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
        peer_id: ann.user.id,
    });
    assert!(refused_as_blocked(&b.call(again).await));

    unblock(s, ann.user.id, ben.user.id).await.unwrap();
    assert!(matches!(
        b.call(say(room.id, "sorry")).await,
        Payload::SendAck(_)
    ));
    let Payload::RoomOpened(opened) = b.call(open).await else {
        panic!()
    };
    assert!(opened.members.iter().all(|m| m.online));
}
