//! The notice, pinned messages and the owner's reservations, over every transport: who may
//! set them, the system lines members see live, the state an open and the chat list carry,
//! the limits, and a delete for everyone unpinning; refusals change nothing.

use super::*;

fn notice(room: u64, text: &str) -> Command {
    Command::SetNotice(v1::SetNoticeRequest {
        room_id: room,
        text: text.into(),
    })
}

fn pin(room: u64, seq: u64) -> Command {
    Command::PinMessage(v1::PinMessageRequest { room_id: room, seq })
}

fn unpin(room: u64, seq: u64) -> Command {
    Command::UnpinMessage(v1::UnpinMessageRequest { room_id: room, seq })
}

fn list_pins(room: u64) -> Command {
    Command::ListPins(v1::ListPinsRequest { room_id: room })
}

fn reserve(room: u64, invite: bool, pins: bool) -> Command {
    Command::SetRoomPermissions(v1::SetRoomPermissionsRequest {
        room_id: room,
        invite_owner_only: invite,
        pins_owner_only: pins,
    })
}

fn room_of(p: Payload) -> v1::Room {
    match p {
        Payload::Room(r) => r,
        other => panic!("expected a room, got {other:?}"),
    }
}

fn pinned_seqs(p: Payload) -> Vec<u64> {
    match p {
        Payload::PinnedMessages(p) => p.messages.iter().map(|m| m.seq).collect(),
        other => panic!("expected pinned messages, got {other:?}"),
    }
}

const NOTICE: i32 = v1::SystemEventKind::NoticeChanged as i32;
const PINNED: i32 = v1::SystemEventKind::Pinned as i32;
const UNPINNED: i32 = v1::SystemEventKind::Unpinned as i32;
const PERMISSIONS: i32 = v1::SystemEventKind::PermissionsChanged as i32;

#[tokio::test]
async fn the_notice_and_pins_over_every_transport() {
    use crate::grpc::{authed, channel};
    use chat_proto::v1::room_service_client::RoomServiceClient;

    let node = TestNode::start_with(|c| {
        c.http.poll_timeout_ms = 1000;
        c.chat.max_pins_per_room = 2;
    })
    .await;
    let http = node.http();
    let [ann, ben, cat, dan] = http.signups(["ann", "ben", "cat", "dan"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let mut c = PollClient::open(node.addr, &cat.access_token).await;
    let room = a.create_group("trip", &[ben.id, cat.id]).await.id;
    b.open(room).await;
    let first = a.say_ok(room, "1", "train at 9").await.seq;
    let second = b.say_ok(room, "2", "bring snacks").await.seq;
    let third = c.call(send_cmd(room, "3", "ok!")).await;
    let Payload::SendAck(third) = third else {
        panic!("{third:?}")
    };

    // The notice: the owner's, checked, a system line for the room.
    let p = b.call(notice(room, "mine")).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_ROOM_OWNER");
    let p = a.call(notice(room, &"가".repeat(2000))).await;
    assert_error(p, ErrorCode::InvalidArgument, "INVALID_NOTICE");
    let set = room_of(a.call(notice(room, " 9시 서울역 ")).await);
    let n = set.notice.clone().unwrap();
    assert_eq!((n.text.as_str(), n.set_by), ("9시 서울역", ann.id));
    let (m, s) = b.next_system().await;
    assert_eq!(
        (s.kind, m.body.as_str(), m.seq),
        (NOTICE, "9시 서울역", n.seq)
    );

    // Pins: any member, live with the message as it is now; bad seqs refused.
    let p = c.call(pin(room, 99)).await;
    assert_error(p, ErrorCode::NotFound, "MESSAGE_NOT_FOUND");
    let p = c.call(pin(room, n.seq)).await;
    assert_error(p, ErrorCode::InvalidArgument, "NOT_A_MESSAGE");
    ok_payload(c.call(pin(room, second)).await);
    let (m, s) = b.next_system().await;
    assert_eq!(
        (s.kind, m.sender_id, m.target_seq),
        (PINNED, cat.id, second)
    );
    assert_eq!(m.updated.as_ref().unwrap().body, "bring snacks");
    ok_payload(a.call(pin(room, first)).await);
    let (m, _) = b.next_system().await;
    assert_eq!(m.target_seq, first);
    let p = b.call(pin(room, third.seq)).await;
    assert_error(p, ErrorCode::ResourceExhausted, "PIN_LIST_FULL");
    ok_payload(b.call(pin(room, first)).await);
    let ch = channel(&node).await;
    let mut grpc = RoomServiceClient::new(ch.clone());
    let listed = grpc
        .list_pins(authed(
            &ben.access_token,
            v1::ListPinsRequest { room_id: room },
        ))
        .await
        .unwrap()
        .into_inner();
    let seqs: Vec<u64> = listed.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![first, second], "newest pin first");

    // The owner reserves pins and invites (over gRPC): the others are refused.
    let request = v1::SetRoomPermissionsRequest {
        room_id: room,
        invite_owner_only: true,
        pins_owner_only: true,
    };
    let reserved = grpc
        .set_room_permissions(authed(&ann.access_token, request))
        .await
        .unwrap()
        .into_inner();
    assert!(reserved.invite_owner_only && reserved.pins_owner_only);
    let (m, s) = b.next_system().await;
    assert_eq!((s.kind, m.body.as_str()), (PERMISSIONS, "invite,pins"));
    let p = b.call(reserve(room, false, false)).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_ROOM_OWNER");
    let p = c.call(unpin(room, first)).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_ROOM_OWNER");
    let invite = Command::InviteMembers(v1::InviteMembersRequest {
        room_id: room,
        user_ids: vec![dan.id],
    });
    assert_error(
        b.call(invite.clone()).await,
        ErrorCode::PermissionDenied,
        "NOT_ROOM_OWNER",
    );

    // What an open and the chat list carry.
    let mut a2 = Client::connect(node.addr, &ann.access_token, Wire::Proto).await;
    let opened = a2
        .call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room,
            since_seq: 0,
        }))
        .await;
    let Payload::RoomOpened(opened) = opened else {
        panic!("{opened:?}")
    };
    let seqs: Vec<u64> = opened.pinned.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![first, second]);
    assert_eq!(opened.room.unwrap().notice.unwrap().text, "9시 서울역");
    let Payload::RoomList(list) = c
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await
    else {
        panic!("room list")
    };
    let listed = list.rooms[0].room.clone().unwrap();
    assert_eq!(listed.notice.unwrap().text, "9시 서울역");
    assert!(listed.invite_owner_only && listed.pins_owner_only);

    // A newcomer sees no pin from before they joined; a delete for everyone unpins.
    room_of(a.call(invite).await);
    let mut d = Client::connect(node.addr, &dan.access_token, Wire::Json).await;
    assert!(pinned_seqs(d.call(list_pins(room)).await).is_empty());
    let delete = Command::DeleteMessage(v1::DeleteMessageRequest {
        room_id: room,
        seq: second,
        client_msg_id: "del-2".into(),
    });
    assert!(matches!(b.call(delete).await, Payload::SendAck(_)));
    assert_eq!(pinned_seqs(c.call(list_pins(room)).await), vec![first]);
    let request = v1::UnpinMessageRequest {
        room_id: room,
        seq: first,
    };
    grpc.unpin_message(authed(&ann.access_token, request))
        .await
        .unwrap();
    assert!(pinned_seqs(b.call(list_pins(room)).await).is_empty());
    let taken_down = room_of(a.call(notice(room, "")).await);
    assert!(taken_down.notice.is_none());
    let kinds: Vec<(i32, u64)> = b
        .all_messages(room)
        .await
        .iter()
        .filter_map(|m| m.system.as_ref().map(|s| (s.kind, m.target_seq)))
        .filter(|(k, _)| [NOTICE, PINNED, UNPINNED].contains(k))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (NOTICE, 0),
            (PINNED, second),
            (PINNED, first),
            (UNPINNED, first),
            (NOTICE, 0),
        ]
    );
    node.stop().await;
}
