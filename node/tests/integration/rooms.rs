use chat_proto::v1::{self, ErrorCode, client_frame::Command, server_frame::Payload};

use crate::common::*;

fn members_changed(p: Payload) -> Option<v1::MembersChanged> {
    match p {
        Payload::MembersChanged(m) => Some(m),
        _ => None,
    }
}

#[tokio::test]
async fn invite_leave_and_membership_events() {
    let node = TestNode::start_with(|c| c.chat.max_room_members = 3).await;
    let http = node.http();
    let [ann, ben, cat, dan] = http.signups(["ann", "ben", "cat", "dan"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut c = Client::connect(node.addr, &cat.access_token, Wire::Json).await;
    let room = a.create_group("  Book club  ", &[ben.id]).await;
    assert_eq!(room.name, "Book club");
    a.open(room.id).await;

    // Cat is not a member yet.
    assert_error(
        c.history(room.id, 0, 10).await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    let p = c
        .call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room.id,
            since_seq: 0,
        }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    let p = c
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room.id,
            user_ids: vec![cat.id],
        }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");

    a.say_ok(room.id, "1", "before cat").await;
    let p = a
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room.id,
            user_ids: vec![999],
        }))
        .await;
    assert_error(p, ErrorCode::NotFound, "USER_NOT_FOUND");
    let p = a
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room.id,
            user_ids: vec![cat.id],
        }))
        .await;
    let Payload::Room(after) = p else {
        panic!("{p:?}")
    };
    assert_eq!(after.member_ids.len(), 3);
    // Full: the limit is 3.
    let p = a
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room.id,
            user_ids: vec![dan.id],
        }))
        .await;
    assert_error(p, ErrorCode::ResourceExhausted, "ROOM_FULL");

    assert_eq!(a.next_message().await.body, "before cat");
    let mc = a.next_where(members_changed).await;
    assert_eq!((mc.joined, mc.actor_id), (vec![cat.id], ann.id));
    // The timeline says who invited whom.
    let (line, event) = a.next_system().await;
    assert_eq!(line.sender_id, ann.id);
    assert_eq!(event.kind, v1::SystemEventKind::Joined as i32);
    assert_eq!(event.user_ids, vec![cat.id]);
    assert_eq!(line.unread, 0);

    // Cat sees the room from the line of his joining on (history visibility `joined`).
    c.open(room.id).await;
    let seen = c.history_ok(room.id, 0, 10).await;
    assert_eq!(seen.messages.len(), 1);
    assert!(!seen.has_more);
    assert_eq!(
        (seen.messages[0].seq, seen.messages[0].kind),
        (line.seq, v1::MessageKind::System as i32)
    );
    c.say_ok(room.id, "c1", "hi all").await;
    assert_eq!(a.next_message().await.body, "hi all");

    // Cat leaves: no more sends, history or live messages for cat.
    assert!(matches!(
        c.call(Command::LeaveRoom(v1::LeaveRoomRequest {
            room_id: room.id
        }))
        .await,
        Payload::Ok(_)
    ));
    let mc = a.next_where(members_changed).await;
    assert_eq!(mc.left, vec![cat.id]);
    let (line, event) = a.next_system().await;
    assert_eq!(
        (line.sender_id, event.kind),
        (cat.id, v1::SystemEventKind::Left as i32)
    );
    assert_error(
        c.say(room.id, "c2", "still here?").await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    assert_error(
        c.history(room.id, 0, 10).await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    let p = c
        .call(Command::LeaveRoom(v1::LeaveRoomRequest {
            room_id: room.id,
        }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    a.say_ok(room.id, "2", "after cat").await;
    assert_eq!(a.next_message().await.body, "after cat");
    // Cat got its own leave event and nothing after it.
    let p = c.call(Command::Ping(v1::PingRequest {})).await;
    assert!(matches!(p, Payload::Pong(_)));
    let mut cat_saw_after = false;
    while let Some(e) = c.events_pop() {
        if let Some(Payload::Message(m)) = e.payload {
            cat_saw_after |= m.body == "after cat";
        }
    }
    assert!(!cat_saw_after);

    // Direct rooms cannot take invitations.
    let direct = a.create_direct(ben.id).await;
    let p = a
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: direct.id,
            user_ids: vec![cat.id],
        }))
        .await;
    assert_error(p, ErrorCode::FailedPrecondition, "NOT_A_GROUP_ROOM");
    node.stop().await;
}

#[tokio::test]
async fn room_list_is_ordered_by_activity_with_last_message() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let r1 = a.create_group("first", &[ben.id]).await;
    let r2 = a.create_direct(cat.id).await;
    let r3 = a.create_group("third", &[]).await;
    a.say_ok(r1.id, "x", "old news").await;
    a.say_ok(r2.id, "y", "newest").await;

    let Payload::RoomList(list) = a
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await
    else {
        panic!()
    };
    let ids: Vec<u64> = list
        .rooms
        .iter()
        .map(|s| s.room.as_ref().unwrap().id)
        .collect();
    assert_eq!(ids, vec![r2.id, r1.id, r3.id]);
    assert_eq!(list.rooms[0].last_message.as_ref().unwrap().body, "newest");
    assert_eq!(list.rooms[0].room.as_ref().unwrap().last_seq, 1);
    assert!(list.rooms[2].last_message.is_none());

    let Payload::RoomList(one) = a
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 1 }))
        .await
    else {
        panic!()
    };
    assert_eq!(one.rooms.len(), 1);
    let p = a
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 100_000 }))
        .await;
    assert_error(p, ErrorCode::InvalidArgument, "INVALID_LIMIT");

    // Ben sees only his room.
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let Payload::RoomList(list) = b
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await
    else {
        panic!()
    };
    assert_eq!(list.rooms.len(), 1);
    node.stop().await;
}

#[tokio::test]
async fn users_are_found_by_name_or_id_without_secrets() {
    let node = TestNode::start().await;
    let http = node.http();
    let ann = http.signup("ann").await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let p = a
        .call(Command::GetUser(v1::GetUserRequest {
            username: "ANN".into(),
            user_id: 0,
        }))
        .await;
    let Payload::User(u) = p else { panic!("{p:?}") };
    assert_eq!((u.id, u.display_name.as_str()), (ann.id, "ANN"));
    let p = a
        .call(Command::GetUser(v1::GetUserRequest {
            username: String::new(),
            user_id: ann.id,
        }))
        .await;
    assert!(matches!(p, Payload::User(_)));
    let p = a
        .call(Command::GetUser(v1::GetUserRequest {
            username: "ghost".into(),
            user_id: 0,
        }))
        .await;
    assert_error(p, ErrorCode::NotFound, "USER_NOT_FOUND");
    let p = a
        .call(Command::GetUser(v1::GetUserRequest {
            username: "ann".into(),
            user_id: ann.id,
        }))
        .await;
    assert_error(p, ErrorCode::InvalidArgument, "INVALID_ARGUMENT");
    let p = a
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: ann.id,
        }))
        .await;
    assert_error(p, ErrorCode::InvalidArgument, "CANNOT_DIRECT_SELF");
    let p = a
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: 12345,
        }))
        .await;
    assert_error(p, ErrorCode::NotFound, "USER_NOT_FOUND");
    for name in ["", "   ", &"n".repeat(101)] {
        let p = a
            .call(Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
                name: name.into(),
                member_ids: vec![],
                ..Default::default()
            }))
            .await;
        assert_error(p, ErrorCode::InvalidArgument, "INVALID_ROOM_NAME");
    }
    node.stop().await;
}

/// A user's room list and relationship list are store partitions: both have a ceiling.
#[tokio::test]
async fn per_user_room_and_contact_lists_are_bounded() {
    let node = TestNode::start_with(|c| {
        c.chat.max_rooms_per_user = 2;
        c.chat.max_contacts_per_user = 2;
    })
    .await;
    let http = node.http();
    let [ann, ben, cat, dan, eve] = http.signups(["ann", "ben", "cat", "dan", "eve"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;

    // Rooms: ann can be in two; a third (created, direct, or an invitation) is refused.
    let first = a.create_group("one", &[ben.id]).await;
    a.create_group("two", &[]).await;
    let group = |name: &str, members: Vec<u64>| {
        Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
            name: name.into(),
            member_ids: members,
            ..Default::default()
        })
    };
    let p = a.call(group("three", vec![])).await;
    assert_error(p, ErrorCode::ResourceExhausted, "TOO_MANY_ROOMS");
    let p = a
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: cat.id,
        }))
        .await;
    assert_error(p, ErrorCode::ResourceExhausted, "TOO_MANY_ROOMS");
    let theirs = b.create_group("ben's", &[]).await;
    let p = b
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: theirs.id,
            user_ids: vec![ann.id],
        }))
        .await;
    assert_error(p, ErrorCode::ResourceExhausted, "TOO_MANY_ROOMS");
    // Ben, also in two rooms now, cannot be put in a new one by someone else either.
    let p = a.call(group("four", vec![ben.id])).await;
    assert_error(p, ErrorCode::ResourceExhausted, "TOO_MANY_ROOMS");
    // Leaving makes room.
    ok_payload(
        a.call(Command::LeaveRoom(v1::LeaveRoomRequest {
            room_id: first.id,
        }))
        .await,
    );
    a.create_group("three", &[]).await;

    // Contacts: two relationships each; a request needs both sides under the limit.
    let req = |id| Command::SendFriendRequest(v1::SendFriendRequestRequest { user_id: id });
    ok_payload(a.call(req(ben.id)).await);
    ok_payload(a.call(req(cat.id)).await);
    let p = a.call(req(dan.id)).await;
    assert_error(p, ErrorCode::ResourceExhausted, "TOO_MANY_CONTACTS");
    let mut d = Client::connect(node.addr, &dan.access_token, Wire::Json).await;
    let p = d.call(req(ann.id)).await;
    assert_error(p, ErrorCode::ResourceExhausted, "TOO_MANY_CONTACTS");
    // A full list can still block a stranger (up to twice the limit), and nothing else
    // changed: ann still has her two pending requests.
    let block = |id| Command::BlockUser(v1::BlockUserRequest { user_id: id });
    ok_payload(a.call(block(dan.id)).await);
    ok_payload(a.call(block(eve.id)).await);
    let p = a.call(block(424_242)).await;
    assert_error(p, ErrorCode::NotFound, "USER_NOT_FOUND");
    let list = match a
        .call(Command::ListFriends(v1::ListFriendsRequest {}))
        .await
    {
        Payload::Friends(f) => f,
        other => panic!("{other:?}"),
    };
    let mut outgoing: Vec<u64> = list.outgoing.iter().map(|u| u.id).collect();
    outgoing.sort_unstable();
    let mut want = vec![ben.id, cat.id];
    want.sort_unstable();
    assert_eq!(outgoing, want);
    assert_eq!(list.blocked.len(), 2);
}
