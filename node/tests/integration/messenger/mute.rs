//! Muting a room: per user, synced to every device of theirs over every transport, shown in
//! the room list, still counting unread; refused outside the room; ended by leaving.

use super::*;

fn mute(room: u64, muted: bool) -> Command {
    Command::SetRoomMuted(v1::SetRoomMutedRequest {
        room_id: room,
        muted,
    })
}

fn settings(p: Payload) -> Option<v1::RoomSettings> {
    match p {
        Payload::RoomSettings(s) => Some(s),
        _ => None,
    }
}

/// The caller's summary of `room`, over a socket.
async fn summary(c: &mut Client, room: u64) -> v1::RoomSummary {
    let Payload::RoomList(list) = c
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await
    else {
        panic!("room list")
    };
    let found = list
        .rooms
        .into_iter()
        .find(|r| r.room.as_ref().unwrap().id == room);
    found.expect("the room in the list")
}

#[tokio::test]
async fn a_mute_reaches_every_device_and_keeps_counting_unread() {
    use crate::grpc::{authed, channel};
    use chat_proto::v1::room_service_client::RoomServiceClient;

    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut phone = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut laptop = Client::connect(node.addr, &ann.access_token, Wire::Proto).await;
    let mut web = PollClient::open(node.addr, &ann.access_token).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let room = phone.create_group("noisy", &[ben.id]).await.id;

    assert!(matches!(phone.call(mute(room, true)).await, Payload::Ok(_)));
    for s in [
        laptop.next_where(settings).await,
        web.next_where(settings).await,
        phone.next_where(settings).await,
    ] {
        assert_eq!((s.room_id, s.muted), (room, true));
    }
    assert!(summary(&mut laptop, room).await.muted);
    // Per user: Ben's is not muted.
    assert!(!summary(&mut b, room).await.muted);
    // A muted room still counts unread and still gets chat-list updates.
    b.say_ok(room, "1", "ping").await;
    let update = laptop
        .next_where(|p| room_update(p).filter(|u| u.last_seq == 1))
        .await;
    assert_eq!(update.unread, 1);
    let listed = summary(&mut phone, room).await;
    assert_eq!((listed.unread, listed.muted), (1, true));

    // Refusals change nothing.
    let c = &mut Client::connect(node.addr, &cat.access_token, Wire::Json).await;
    assert_error(
        c.call(mute(room, true)).await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    assert_error(
        c.call(mute(room + 1_000_000, true)).await,
        ErrorCode::NotFound,
        "ROOM_NOT_FOUND",
    );

    // gRPC unmutes; the devices hear it.
    let ch = channel(&node).await;
    let request = v1::SetRoomMutedRequest {
        room_id: room,
        muted: false,
    };
    RoomServiceClient::new(ch)
        .set_room_muted(authed(&ann.access_token, request))
        .await
        .unwrap();
    let s = laptop.next_where(settings).await;
    assert_eq!((s.room_id, s.muted), (room, false));
    assert!(!summary(&mut phone, room).await.muted);
}

#[tokio::test]
async fn leaving_ends_a_mute() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let room = a.create_group("g", &[ben.id]).await.id;
    assert!(matches!(b.call(mute(room, true)).await, Payload::Ok(_)));
    assert!(summary(&mut b, room).await.muted);
    let left = b
        .call(Command::LeaveRoom(v1::LeaveRoomRequest { room_id: room }))
        .await;
    assert!(matches!(left, Payload::Ok(_)));
    assert_error(
        b.call(mute(room, true)).await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    let invited = a
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room,
            user_ids: vec![ben.id],
        }))
        .await;
    assert!(matches!(invited, Payload::Room(_)));
    let back = b.next_where(room_added).await;
    assert!(!back.room.unwrap().muted);
    assert!(!summary(&mut b, room).await.muted);
}
