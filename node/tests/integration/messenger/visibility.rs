//! History visibility over every transport: newcomers see a group from their joining on
//! (history, recovery, live changes to older messages, quotes), unless the owner shares it,
//! at creation or later.

use super::*;

fn history_seqs(h: &v1::History) -> Vec<u64> {
    h.messages.iter().map(|m| m.seq).collect()
}

#[tokio::test]
async fn newcomers_see_from_their_joining_unless_the_history_is_shared() {
    use crate::grpc::{authed, channel};
    use chat_proto::v1::room_service_client::RoomServiceClient;

    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben, cat, dan] = http.signups(["ann", "ben", "cat", "dan"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let room = a.create_group("plans", &[ben.id]).await;
    assert_eq!(
        room.history_visibility,
        v1::HistoryVisibility::Unspecified as i32
    );
    let room = room.id;
    let secret = a.say_ok(room, "1", "the surprise is on friday").await.seq;
    a.call(Command::InviteMembers(v1::InviteMembersRequest {
        room_id: room,
        user_ids: vec![cat.id],
    }))
    .await;
    let mut c = Client::connect(node.addr, &cat.access_token, Wire::Proto).await;
    c.open(room).await;
    b.open(room).await;
    let seen = c.history_ok(room, 0, 50).await;
    assert_eq!(
        history_seqs(&seen),
        vec![secret + 1],
        "the line of his joining only"
    );
    assert!(!seen.has_more);
    // Not there for him: no quote, no reaction; recovery from 0 stops at his joining too.
    let quote = Command::SendMessage(v1::SendMessageRequest {
        room_id: room,
        client_msg_id: "q".into(),
        body: "what surprise?".into(),
        reply_to_seq: secret,
        ..Default::default()
    });
    assert_error(
        c.call(quote).await,
        ErrorCode::NotFound,
        "MESSAGE_NOT_FOUND",
    );
    // An edit of the old message reaches Ben, not Cat; the next message reaches both.
    let edit = Command::EditMessage(v1::EditMessageRequest {
        room_id: room,
        seq: secret,
        client_msg_id: "e".into(),
        body: "the surprise is on saturday".into(),
        mentions: vec![],
    });
    let Payload::SendAck(edit) = a.call(edit).await else {
        panic!("edit")
    };
    a.say_ok(room, "2", "see you all").await;
    let m = b.next_where(|p| match p {
        Payload::Message(m) if m.seq == edit.seq => Some(m),
        _ => None,
    });
    assert_eq!(m.await.updated.unwrap().body, "the surprise is on saturday");
    let next = c.next_message().await;
    assert_eq!(next.body, "see you all", "the edit was not Cat's to see");
    let seen = c.history_ok(room, 0, 50).await;
    assert!(!history_seqs(&seen).contains(&edit.seq));

    // Shared (over gRPC): everyone sees everything from now on, Cat included.
    let ch = channel(&node).await;
    let request = v1::SetHistoryVisibilityRequest {
        room_id: room,
        visibility: v1::HistoryVisibility::Shared.into(),
    };
    let denied = RoomServiceClient::new(ch.clone())
        .set_history_visibility(authed(&cat.access_token, request))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let shared = RoomServiceClient::new(ch)
        .set_history_visibility(authed(&ann.access_token, request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        shared.history_visibility,
        v1::HistoryVisibility::Shared as i32
    );
    let (line, event) = c.next_system().await;
    assert_eq!(
        (line.body.as_str(), event.kind),
        (
            "shared",
            v1::SystemEventKind::HistoryVisibilityChanged as i32
        )
    );
    let seen = c.history_ok(room, 0, 50).await;
    let first = seen.messages.last().unwrap();
    assert_eq!(
        (first.seq, first.body.as_str()),
        (secret, "the surprise is on saturday")
    );

    // Shared from creation: Dan, invited later over long polling, reads it all.
    let Payload::Room(open_room) = a
        .call(Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
            name: "open".into(),
            member_ids: vec![ben.id],
            history_visibility: v1::HistoryVisibility::Shared.into(),
        }))
        .await
    else {
        panic!("room")
    };
    a.say_ok(open_room.id, "o1", "welcome, whoever comes").await;
    a.call(Command::InviteMembers(v1::InviteMembersRequest {
        room_id: open_room.id,
        user_ids: vec![dan.id],
    }))
    .await;
    let mut d = PollClient::open(node.addr, &dan.access_token).await;
    let Payload::History(h) = d
        .call(Command::GetHistory(v1::GetHistoryRequest {
            room_id: open_room.id,
            before_seq: 0,
            limit: 10,
        }))
        .await
    else {
        panic!("history")
    };
    assert_eq!(h.messages.last().unwrap().body, "welcome, whoever comes");
    node.stop().await;
}

#[tokio::test]
async fn delete_for_me_hides_a_message_on_all_my_devices_only() {
    use crate::grpc::{authed, channel};
    use chat_proto::v1::message_service_client::MessageServiceClient;

    let node = TestNode::start_with(|c| {
        c.http.poll_timeout_ms = 1000;
        c.chat.max_hidden_per_room = 2;
    })
    .await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut phone = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut web = PollClient::open(node.addr, &ann.access_token).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let room = phone.create_group("g", &[ben.id]).await.id;
    let first = b.say_ok(room, "0", "first").await.seq;
    let oops = b.say_ok(room, "1", "oops").await.seq;
    let keep = b.say_ok(room, "2", "keep").await.seq;
    let hide = |seq| Command::HideMessage(v1::HideMessageRequest { room_id: room, seq });
    assert!(matches!(phone.call(hide(oops)).await, Payload::Ok(_)));
    let hidden = |p| match p {
        Payload::MessageHidden(h) => Some(h),
        _ => None,
    };
    for h in [web.next_where(hidden).await, phone.next_where(hidden).await] {
        assert_eq!((h.room_id, h.seq), (room, oops));
    }
    // Gone from Ann's history on every device, recovery included; Ben still has it.
    let seqs = |h: v1::History| h.messages.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(phone.history_ok(room, 0, 50).await), vec![keep, first]);
    let mut laptop = Client::connect(node.addr, &ann.access_token, Wire::Proto).await;
    let opened = laptop
        .call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room,
            since_seq: first,
        }))
        .await;
    let Payload::RoomOpened(opened) = opened else {
        panic!("{opened:?}")
    };
    assert_eq!(opened.recovered, 1, "the recovery leaves it out too");
    assert_eq!(laptop.next_message().await.seq, keep);
    assert_eq!(
        seqs(b.history_ok(room, 0, 50).await),
        vec![keep, oops, first]
    );
    // Again is fine; what is not there is not found; the limit is per room.
    assert!(matches!(phone.call(hide(oops)).await, Payload::Ok(_)));
    assert_error(
        phone.call(hide(99)).await,
        ErrorCode::NotFound,
        "MESSAGE_NOT_FOUND",
    );
    let ch = channel(&node).await;
    let request = v1::HideMessageRequest {
        room_id: room,
        seq: keep,
    };
    MessageServiceClient::new(ch)
        .hide_message(authed(&ann.access_token, request))
        .await
        .unwrap();
    assert_eq!(seqs(phone.history_ok(room, 0, 50).await), vec![first]);
    let third = b.say_ok(room, "3", "third").await.seq;
    assert_error(
        phone.call(hide(third)).await,
        ErrorCode::ResourceExhausted,
        "TOO_MANY_HIDDEN",
    );
    // Not a member: not yours to hide.
    let [cat] = http.signups(["cat"]).await;
    let mut c = Client::connect(node.addr, &cat.access_token, Wire::Json).await;
    assert_error(
        c.call(hide(oops)).await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    node.stop().await;
}
