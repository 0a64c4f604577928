//! Friends (part of issue 5): profiles, search, requests with live events, presence, blocks.

use chat_proto::v1::{self, ErrorCode, client_frame::Command, server_frame::Payload};

use crate::common::*;

fn friends(p: Payload) -> v1::Friends {
    match p {
        Payload::Friends(f) => f,
        other => panic!("expected friends, got {other:?}"),
    }
}

fn ids(users: &[v1::User]) -> Vec<u64> {
    users.iter().map(|u| u.id).collect()
}

fn ok(p: Payload) {
    assert!(matches!(p, Payload::Ok(_)), "{p:?}");
}

#[tokio::test]
async fn friend_requests_with_live_events_on_both_sides() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben, cat, dan] = http.signups(["ann", "ben", "cat", "dan"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let req = |id| Command::SendFriendRequest(v1::SendFriendRequestRequest { user_id: id });

    ok(a.call(req(ben.id)).await);
    let got = b
        .next_where(|p| match p {
            Payload::FriendRequestReceived(r) => r.from,
            _ => None,
        })
        .await;
    assert_eq!(got.id, ann.id);
    assert_error(
        a.call(req(ben.id)).await,
        ErrorCode::AlreadyExists,
        "REQUEST_PENDING",
    );
    assert_error(
        a.call(req(ann.id)).await,
        ErrorCode::InvalidArgument,
        "CANNOT_FRIEND_SELF",
    );
    assert_error(
        a.call(req(424242)).await,
        ErrorCode::NotFound,
        "USER_NOT_FOUND",
    );
    let list = friends(
        b.call(Command::ListFriends(v1::ListFriendsRequest {}))
            .await,
    );
    assert_eq!(ids(&list.incoming), vec![ann.id]);
    assert_eq!(
        ids(&friends(
            a.call(Command::ListFriends(v1::ListFriendsRequest {}))
                .await
        )
        .outgoing),
        vec![ben.id]
    );

    ok(b.call(Command::AcceptFriendRequest(
        v1::AcceptFriendRequestRequest { user_id: ann.id },
    ))
    .await);
    for (client, other) in [(&mut a, ben.id), (&mut b, ann.id)] {
        let accepted = client
            .next_where(|p| match p {
                Payload::FriendRequestAccepted(r) => r.user,
                _ => None,
            })
            .await;
        assert_eq!(accepted.id, other);
    }
    let list = friends(
        a.call(Command::ListFriends(v1::ListFriendsRequest {}))
            .await,
    );
    assert_eq!(list.friends.len(), 1);
    assert!(list.friends[0].online && list.incoming.is_empty() && list.outgoing.is_empty());
    assert_error(
        a.call(req(ben.id)).await,
        ErrorCode::AlreadyExists,
        "ALREADY_FRIENDS",
    );

    // A friend going offline and online again shows up live.
    drop(b);
    let p = a
        .next_where(|p| match p {
            Payload::FriendPresence(f) => Some(f),
            _ => None,
        })
        .await;
    assert_eq!((p.user_id, p.online), (ben.id, false));
    let _b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let p = a
        .next_where(|p| match p {
            Payload::FriendPresence(f) => Some(f),
            _ => None,
        })
        .await;
    assert_eq!((p.user_id, p.online), (ben.id, true));

    // Cancel, decline, and two requests that cross become a friendship at once.
    let mut c = Client::connect(node.addr, &cat.access_token, Wire::Json).await;
    ok(c.call(req(ann.id)).await);
    ok(c.call(Command::CancelFriendRequest(
        v1::CancelFriendRequestRequest { user_id: ann.id },
    ))
    .await);
    assert_error(
        c.call(Command::CancelFriendRequest(
            v1::CancelFriendRequestRequest { user_id: ann.id },
        ))
        .await,
        ErrorCode::NotFound,
        "NO_SUCH_REQUEST",
    );
    let mut d = Client::connect(node.addr, &dan.access_token, Wire::Json).await;
    ok(d.call(req(ann.id)).await);
    ok(a.call(Command::DeclineFriendRequest(
        v1::DeclineFriendRequestRequest { user_id: dan.id },
    ))
    .await);
    assert!(
        friends(
            d.call(Command::ListFriends(v1::ListFriendsRequest {}))
                .await
        )
        .outgoing
        .is_empty()
    );
    ok(c.call(req(dan.id)).await);
    ok(d.call(req(cat.id)).await);
    let list = friends(
        c.call(Command::ListFriends(v1::ListFriendsRequest {}))
            .await,
    );
    assert_eq!(
        list.friends
            .iter()
            .map(|f| f.user.as_ref().unwrap().id)
            .collect::<Vec<_>>(),
        vec![dan.id]
    );

    // Removing a friend.
    ok(a.call(Command::RemoveFriend(v1::RemoveFriendRequest {
        user_id: ben.id,
    }))
    .await);
    assert_error(
        a.call(Command::RemoveFriend(v1::RemoveFriendRequest {
            user_id: ben.id,
        }))
        .await,
        ErrorCode::NotFound,
        "NOT_FRIENDS",
    );
    assert!(
        friends(
            a.call(Command::ListFriends(v1::ListFriendsRequest {}))
                .await
        )
        .friends
        .is_empty()
    );
    node.stop().await;
}

#[tokio::test]
async fn blocked_users_cannot_reach_you() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, eve, cat] = http.signups(["ann", "eve", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut e = Client::connect(node.addr, &eve.access_token, Wire::Json).await;
    // Friends first: blocking ends it.
    ok(
        a.call(Command::SendFriendRequest(v1::SendFriendRequestRequest {
            user_id: eve.id,
        }))
        .await,
    );
    ok(e.call(Command::AcceptFriendRequest(
        v1::AcceptFriendRequestRequest { user_id: ann.id },
    ))
    .await);
    ok(
        e.call(Command::BlockUser(v1::BlockUserRequest { user_id: ann.id }))
            .await,
    );
    ok(
        e.call(Command::BlockUser(v1::BlockUserRequest { user_id: ann.id }))
            .await,
    );
    let list = friends(
        e.call(Command::ListFriends(v1::ListFriendsRequest {}))
            .await,
    );
    assert!(list.friends.is_empty());
    assert_eq!(ids(&list.blocked), vec![ann.id]);

    let p = a
        .call(Command::SendFriendRequest(v1::SendFriendRequestRequest {
            user_id: eve.id,
        }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "BLOCKED");
    let p = a
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: eve.id,
        }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "BLOCKED");
    let p = a
        .call(Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
            name: "g".into(),
            member_ids: vec![eve.id],
            ..Default::default()
        }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "BLOCKED");
    let room = a.create_group("club", &[cat.id]).await;
    let p = a
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room.id,
            user_ids: vec![eve.id],
        }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "BLOCKED");
    // Someone else may still invite eve, and in that shared room the room's rules apply.
    let mut c = Client::connect(node.addr, &cat.access_token, Wire::Json).await;
    let p = c
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room.id,
            user_ids: vec![eve.id],
        }))
        .await;
    assert!(
        matches!(p, Payload::Room(ref r) if r.member_ids.contains(&eve.id)),
        "{p:?}"
    );
    a.say_ok(room.id, "1", "hello all").await;

    // Unblocked, requests work again.
    ok(e.call(Command::UnblockUser(v1::UnblockUserRequest {
        user_id: ann.id,
    }))
    .await);
    ok(
        a.call(Command::SendFriendRequest(v1::SendFriendRequestRequest {
            user_id: eve.id,
        }))
        .await,
    );
    node.stop().await;
}

#[tokio::test]
async fn profiles_and_search_never_leak_secrets() {
    let node = TestNode::start().await;
    let http = node.http();
    let kim = http.signup("kim").await;
    for name in ["kimchi", "kimbap", "kite", "lee"] {
        http.signup(name).await;
    }
    let mut k = Client::connect(node.addr, &kim.access_token, Wire::Json).await;
    let p = k
        .call(Command::UpdateProfile(v1::UpdateProfileRequest {
            display_name: " Kim K ".into(),
            status_message: "at work".into(),
            avatar_file_id: None,
        }))
        .await;
    let Payload::User(me) = p else {
        panic!("{p:?}")
    };
    assert_eq!(
        (me.display_name.as_str(), me.status_message.as_str()),
        ("Kim K", "at work")
    );
    let p = k
        .call(Command::UpdateProfile(v1::UpdateProfileRequest {
            display_name: "Kim".into(),
            status_message: "x".repeat(141),
            avatar_file_id: None,
        }))
        .await;
    assert_error(p, ErrorCode::InvalidArgument, "INVALID_STATUS_MESSAGE");

    let search = |prefix: &str, after: &str, limit| {
        Command::SearchUsers(v1::SearchUsersRequest {
            prefix: prefix.into(),
            after: after.into(),
            limit,
        })
    };
    let Payload::UserList(page) = k.call(search("KI", "", 2)).await else {
        panic!()
    };
    let names: Vec<&str> = page.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, vec!["kim", "kimbap"]);
    assert_eq!(page.next_after, "kimbap");
    let Payload::UserList(rest) = k.call(search("ki", &page.next_after, 2)).await else {
        panic!()
    };
    let names: Vec<&str> = rest.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, vec!["kimchi", "kite"]);
    assert_eq!(rest.users[..1].len(), 1);
    assert_error(
        k.call(search("", "", 2)).await,
        ErrorCode::InvalidArgument,
        "INVALID_PREFIX",
    );
    assert_error(
        k.call(search("k", "", 51)).await,
        ErrorCode::InvalidArgument,
        "INVALID_LIMIT",
    );
    // The raw JSON of a search carries no password data or tokens.
    k.send_raw(WsMessage::Text(
        r#"{"request_id": 99, "search_users": {"prefix": "k"}}"#.into(),
    ))
    .await;
    let frame = k.next_frame().await.unwrap();
    let text = serde_json::to_string(&frame).unwrap();
    assert!(
        !text.contains("argon2") && !text.contains("password") && !text.contains("token"),
        "{text}"
    );
    node.stop().await;
}

#[tokio::test]
async fn unanswered_requests_are_capped_and_an_answer_makes_room() {
    let node = TestNode::start_with(|c| c.chat.max_pending_requests_per_user = 2).await;
    let [ann, ben, cat, dan, eve] = node
        .http()
        .signups(["ann", "ben", "cat", "dan", "eve"])
        .await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let req = |id| Command::SendFriendRequest(v1::SendFriendRequestRequest { user_id: id });
    ok(a.call(req(ben.id)).await);
    ok(a.call(req(cat.id)).await);
    assert_error(
        a.call(req(dan.id)).await,
        ErrorCode::ResourceExhausted,
        "TOO_MANY_PENDING_REQUESTS",
    );
    // Nothing was stored for dan.
    let f = friends(
        a.call(Command::ListFriends(v1::ListFriendsRequest {}))
            .await,
    );
    assert_eq!(ids(&f.outgoing), [ben.id, cat.id]);
    // A request to someone who asked first is an acceptance: always allowed.
    let mut e = Client::connect(node.addr, &eve.access_token, Wire::Json).await;
    ok(e.call(req(ann.id)).await);
    ok(a.call(req(eve.id)).await);
    // An answer frees a slot.
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    ok(b.call(Command::DeclineFriendRequest(
        v1::DeclineFriendRequestRequest { user_id: ann.id },
    ))
    .await);
    ok(a.call(req(dan.id)).await);
    node.stop().await;
}
