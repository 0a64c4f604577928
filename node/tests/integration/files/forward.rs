//! Forwarding a message with its files, over every transport: the copy carries the body,
//! the files (readable in the target room) and the forwarded mark; the source must be in
//! the forwarder's view; refusals store nothing; the files outlive the original's unsend
//! while the copy holds them.

use chat_proto::v1::message_service_client::MessageServiceClient;

use super::*;
use crate::grpc::{authed, channel};

fn forward(from: u64, seq: u64, to: u64, client_msg_id: &str) -> Command {
    Command::ForwardMessage(v1::ForwardMessageRequest {
        from_room_id: from,
        seq,
        room_id: to,
        client_msg_id: client_msg_id.into(),
    })
}

fn acked(p: Payload) -> v1::SendAck {
    match p {
        Payload::SendAck(a) => a,
        other => panic!("{other:?}"),
    }
}

fn unsend(room_id: u64, seq: u64, client_msg_id: &str) -> Command {
    Command::DeleteMessage(v1::DeleteMessageRequest {
        room_id,
        seq,
        client_msg_id: client_msg_id.into(),
    })
}

#[tokio::test]
async fn forwarding_shares_a_message_and_its_files_over_every_transport() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let [ann, ben, cat, dan] = node.http().signups(["ann", "ben", "cat", "dan"]).await;
    let api = FilesApi::new(&node);
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let mut c = PollClient::open(node.addr, &cat.access_token).await;
    let mut d = Client::connect(node.addr, &dan.access_token, Wire::Json).await;
    let ab = a.create_group("ab", &[ben.id]).await.id;
    let bc = b.create_group("bc", &[cat.id]).await.id;
    let photo = api.upload_ok(&ann.access_token, "p.png", &png(4, 4)).await;
    let shown = acked(a.call(send_files(ab, "s1", "look", &[photo.id])).await);
    let text = a.say_ok(ab, "s2", "plain").await;
    c.call(Command::OpenRoom(v1::OpenRoomRequest {
        room_id: bc,
        since_seq: 0,
    }))
    .await;

    // Ben forwards ann's photo to a room she is not in: Cat gets it live and may read it.
    let copy = acked(b.call(forward(ab, shown.seq, bc, "f1")).await);
    assert_eq!(copy.room_id, bc);
    let live = c
        .next_where(|p| match p {
            Payload::Message(m) if m.seq == copy.seq => Some(m),
            _ => None,
        })
        .await;
    assert!(live.forwarded);
    assert_eq!((live.sender_id, live.body.as_str()), (ben.id, "look"));
    assert_eq!(live.attachments[0].file_id, photo.id);
    assert_eq!(api.download(&cat.access_token, photo.id).await.status, 200);
    // A retry is the same message.
    let again = acked(b.call(forward(ab, shown.seq, bc, "f1")).await);
    assert_eq!(again.seq, copy.seq);
    let page = b.history_ok(bc, 0, 10).await;
    assert_eq!(
        page.messages.iter().filter(|m| m.forwarded).count(),
        1,
        "{page:?}"
    );

    // Refusals: not a member of the source or the target, no such message, a change, a
    // deleted message, a message before one's view of the room. None stores anything.
    let p = d.call(forward(ab, shown.seq, ab, "x1")).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    let p = a.call(forward(ab, shown.seq, bc, "x2")).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    let p = b.call(forward(ab, 99, bc, "x3")).await;
    assert_error(p, ErrorCode::NotFound, "MESSAGE_NOT_FOUND");
    let edit = Command::EditMessage(v1::EditMessageRequest {
        room_id: ab,
        seq: text.seq,
        body: "plain!".into(),
        client_msg_id: "e1".into(),
        ..Default::default()
    });
    let edit = acked(a.call(edit).await);
    let p = b.call(forward(ab, edit.seq, bc, "x4")).await;
    assert_error(p, ErrorCode::InvalidArgument, "NOT_A_MESSAGE");
    acked(a.call(unsend(ab, text.seq, "u1")).await);
    let p = b.call(forward(ab, text.seq, bc, "x5")).await;
    assert_error(p, ErrorCode::FailedPrecondition, "MESSAGE_DELETED");
    let invite = Command::InviteMembers(v1::InviteMembersRequest {
        room_id: ab,
        user_ids: vec![cat.id],
    });
    assert!(matches!(a.call(invite).await, Payload::Room(_)));
    let p = c.call(forward(ab, shown.seq, bc, "x6")).await;
    assert_error(p, ErrorCode::NotFound, "MESSAGE_NOT_FOUND");
    assert_eq!(
        b.history_ok(bc, 0, 10).await.messages.len(),
        page.messages.len()
    );

    // Over gRPC, into the same room.
    let ch = channel(&node).await;
    let request = v1::ForwardMessageRequest {
        from_room_id: ab,
        seq: shown.seq,
        room_id: ab,
        client_msg_id: "g1".into(),
    };
    let grpc = MessageServiceClient::new(ch)
        .forward_message(authed(&ann.access_token, request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc.room_id, ab);

    // Unsending the original leaves the photo to the copies; once the last one goes, so
    // does the photo.
    acked(a.call(unsend(ab, shown.seq, "u2")).await);
    assert_eq!(api.download(&cat.access_token, photo.id).await.status, 200);
    acked(a.call(unsend(ab, grpc.seq, "u3")).await);
    assert_eq!(api.download(&cat.access_token, photo.id).await.status, 200);
    acked(b.call(unsend(bc, copy.seq, "u4")).await);
    for token in [&ann.access_token, &ben.access_token, &cat.access_token] {
        assert_eq!(api.download(token, photo.id).await.status, 404);
    }
    node.stop().await;
}
