//! Roles in groups and system lines in the timeline, over every transport: the owner
//! renames, removes members and hands the group over; an owner who leaves hands it to the
//! longest member; every change is a system entry members see live, in history and in
//! their chat lists; refusals change nothing.

use super::*;

fn rename(room: u64, name: &str) -> Command {
    Command::RenameRoom(v1::RenameRoomRequest {
        room_id: room,
        name: name.into(),
    })
}

fn remove(room: u64, user: u64) -> Command {
    Command::RemoveMember(v1::RemoveMemberRequest {
        room_id: room,
        user_id: user,
    })
}

fn transfer(room: u64, user: u64) -> Command {
    Command::TransferOwnership(v1::TransferOwnershipRequest {
        room_id: room,
        user_id: user,
    })
}

fn room_of(p: Payload) -> v1::Room {
    match p {
        Payload::Room(r) => r,
        other => panic!("expected a room, got {other:?}"),
    }
}

fn members_changed(p: Payload) -> Option<v1::MembersChanged> {
    match p {
        Payload::MembersChanged(c) => Some(c),
        _ => None,
    }
}

/// A system line: (sender, kind, users, body).
fn line(m: &v1::Message) -> (u64, i32, Vec<u64>, String) {
    let s = m.system.as_ref().expect("a system entry");
    (m.sender_id, s.kind, s.user_ids.clone(), m.body.clone())
}

const RENAMED: i32 = v1::SystemEventKind::Renamed as i32;
const REMOVED: i32 = v1::SystemEventKind::Removed as i32;
const OWNER: i32 = v1::SystemEventKind::OwnerChanged as i32;
const LEFT: i32 = v1::SystemEventKind::Left as i32;
const JOINED: i32 = v1::SystemEventKind::Joined as i32;

#[tokio::test]
async fn the_owner_controls_a_group_over_every_transport() {
    use crate::grpc::{authed, channel};
    use chat_proto::v1::room_service_client::RoomServiceClient;

    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben, cat, dan] = http.signups(["ann", "ben", "cat", "dan"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let mut c = PollClient::open(node.addr, &cat.access_token).await;
    let room = a.create_group("lunch", &[ben.id, cat.id]).await;
    assert_eq!(room.owner_id, ann.id);
    let room = room.id;
    b.open(room).await;
    a.say_ok(room, "1", "noon?").await;

    // Only the owner: refusals change nothing.
    let p = b.call(rename(room, "mine")).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_ROOM_OWNER");
    let p = c.call(remove(room, ben.id)).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_ROOM_OWNER");
    let p = a.call(rename(room, " \u{7} ")).await;
    assert_error(p, ErrorCode::InvalidArgument, "INVALID_ROOM_NAME");
    let p = a.call(remove(room, dan.id)).await;
    assert_error(p, ErrorCode::NotFound, "MEMBER_NOT_FOUND");
    let p = a.call(transfer(room, ann.id)).await;
    assert_error(p, ErrorCode::InvalidArgument, "INVALID_ARGUMENT");
    let mut d = Client::connect(node.addr, &dan.access_token, Wire::Json).await;
    let p = d.call(rename(room, "x")).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    let direct = a.create_direct(ben.id).await.id;
    let p = a.call(rename(direct, "x")).await;
    assert_error(p, ErrorCode::FailedPrecondition, "NOT_A_GROUP_ROOM");

    // A rename: the reply, a system line for those with the room open, a chat-list update
    // for the others.
    let renamed = room_of(a.call(rename(room, "  점심 모임 ")).await);
    assert_eq!(renamed.name, "점심 모임");
    let (m, _) = b.next_system().await;
    assert_eq!(line(&m), (ann.id, RENAMED, vec![], "점심 모임".into()));
    assert_eq!(m.unread, 0);
    let update = c
        .next_where(|p| room_update(p).filter(|u| u.room_id == room && u.name != "lunch"))
        .await;
    assert_eq!(
        (update.name.as_str(), update.owner_id),
        ("점심 모임", ann.id)
    );
    assert_eq!(
        update.unread, 1,
        "the line is not unread; the message before it is"
    );

    // Removed over gRPC: Cat's devices hear it and lose the room.
    let ch = channel(&node).await;
    let request = v1::RemoveMemberRequest {
        room_id: room,
        user_id: cat.id,
    };
    let after = RoomServiceClient::new(ch.clone())
        .remove_member(authed(&ann.access_token, request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.member_ids, vec![ann.id, ben.id]);
    let gone = c.next_where(members_changed).await;
    assert_eq!((gone.left, gone.actor_id), (vec![cat.id], ann.id));
    let p = c.call(rename(room, "x")).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    let (m, _) = b.next_system().await;
    assert_eq!(line(&m), (ann.id, REMOVED, vec![cat.id], String::new()));

    // Handed over: Ben owns it now, Ann does not.
    let over = room_of(a.call(transfer(room, ben.id)).await);
    assert_eq!(over.owner_id, ben.id);
    let (m, _) = b.next_system().await;
    assert_eq!(line(&m), (ann.id, OWNER, vec![ben.id], String::new()));
    let p = a.call(rename(room, "mine")).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_ROOM_OWNER");
    let invited = room_of(
        b.call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room,
            user_ids: vec![dan.id],
        }))
        .await,
    );
    assert_eq!(invited.owner_id, ben.id);

    // The owner leaves: Ann, there longest, takes over.
    let left = b
        .call(Command::LeaveRoom(v1::LeaveRoomRequest { room_id: room }))
        .await;
    assert!(matches!(left, Payload::Ok(_)));
    let lines: Vec<_> = a
        .all_messages(room)
        .await
        .iter()
        .filter(|m| m.system.is_some())
        .map(line)
        .collect();
    assert_eq!(
        lines,
        vec![
            (ann.id, RENAMED, vec![], "점심 모임".into()),
            (ann.id, REMOVED, vec![cat.id], String::new()),
            (ann.id, OWNER, vec![ben.id], String::new()),
            (ben.id, JOINED, vec![dan.id], String::new()),
            (ben.id, LEFT, vec![ben.id], String::new()),
            (ben.id, OWNER, vec![ann.id], String::new()),
        ]
    );
    let Payload::RoomList(list) = d
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await
    else {
        panic!("room list")
    };
    let listed = list.rooms[0].room.as_ref().unwrap();
    assert_eq!(
        (listed.name.as_str(), listed.owner_id),
        ("점심 모임", ann.id)
    );
    assert_eq!(list.rooms[0].unread, 0, "Dan joined after the only message");
    let back = room_of(a.call(rename(room, "dinner")).await);
    assert_eq!((back.name.as_str(), back.owner_id), ("dinner", ann.id));
    node.stop().await;
}

#[tokio::test]
async fn whoever_left_a_direct_room_is_back_with_the_next_message() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let mut b_web = PollClient::open(node.addr, &ben.access_token).await;
    let room = a.create_direct(ben.id).await.id;
    a.open(room).await;
    a.say_ok(room, "1", "before you left").await;
    let left = b
        .call(Command::LeaveRoom(v1::LeaveRoomRequest { room_id: room }))
        .await;
    assert!(matches!(left, Payload::Ok(_)));
    // Ben's other device hears it too.
    let gone = b_web.next_where(members_changed).await;
    assert_eq!(gone.left, vec![ben.id]);
    let (m, _) = a.next_system().await;
    assert_eq!(line(&m), (ben.id, LEFT, vec![ben.id], String::new()));
    // Ann writes again: Ben is back, on every device, and reads it.
    let sent = a.say_ok(room, "2", "are you there?").await;
    let added = b.next_where(room_added).await;
    let summary = added.room.unwrap();
    assert_eq!(summary.room.as_ref().unwrap().id, room);
    assert!(
        summary.last_message.is_none(),
        "nothing from before his return"
    );
    b_web
        .next_where(|p| {
            room_added(p).filter(|a| a.room.as_ref().unwrap().room.as_ref().unwrap().id == room)
        })
        .await;
    let update = b
        .next_where(|p| room_update(p).filter(|u| u.room_id == room && u.last_seq == sent.seq))
        .await;
    assert_eq!(
        (update.preview.as_str(), update.unread),
        ("are you there?", 1)
    );
    let (m, _) = a.next_system().await;
    assert_eq!(line(&m), (ben.id, JOINED, vec![ben.id], String::new()));
    assert!(m.seq < sent.seq, "back before the message");
    let page = b.history_ok(room, 0, 50).await;
    let bodies: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["are you there?", ""], "from his return on");
    // A retry of the message brings nobody back twice, and Ben's own reply is ordinary.
    assert_eq!(a.say_ok(room, "2", "are you there?").await.seq, sent.seq);
    b.say_ok(room, "b1", "yes!").await;
    let reply = a.next_where(|p| match p {
        Payload::Message(m) if m.sender_id == ben.id && m.system.is_none() => Some(m),
        _ => None,
    });
    assert_eq!(reply.await.body, "yes!");
    node.stop().await;
}
