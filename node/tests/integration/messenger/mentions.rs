//! Mentions through the public protocol: entities on messages and edits over the socket in
//! both encodings, long polling and gRPC; per-member mention counts in chat-list updates and
//! the room list, cleared by reading; refusals that sequence nothing.

use super::*;

fn user(user_id: u64, offset: u32, length: u32) -> v1::Mention {
    v1::Mention {
        user_id,
        offset,
        length,
        all: false,
    }
}

fn all(offset: u32, length: u32) -> v1::Mention {
    v1::Mention {
        all: true,
        offset,
        length,
        user_id: 0,
    }
}

fn say(room: u64, id: &str, body: &str, mentions: Vec<v1::Mention>) -> Command {
    Command::SendMessage(v1::SendMessageRequest {
        room_id: room,
        client_msg_id: id.into(),
        body: body.into(),
        mentions,
        ..Default::default()
    })
}

fn acked_seq(p: Payload) -> u64 {
    match p {
        Payload::SendAck(a) => a.seq,
        other => panic!("expected an ack, got {other:?}"),
    }
}

/// The room's (unread, mention_count) in the caller's room list.
async fn counts_over_poll(c: &mut PollClient, room: u64) -> (u32, u32) {
    let Payload::RoomList(list) = c
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await
    else {
        panic!("room list")
    };
    let s = list
        .rooms
        .iter()
        .find(|r| r.room.as_ref().unwrap().id == room)
        .unwrap();
    (s.unread, s.mention_count)
}

#[tokio::test]
async fn mentions_count_per_member_until_read_and_show_on_messages() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben, cat, dan] = http.signups(["ann", "ben", "cat", "dan"]).await;
    for wire in [Wire::Json, Wire::Proto] {
        let mut a = Client::connect(node.addr, &ann.access_token, wire).await;
        // Ben's phone shows the chat list; his laptop has the room open.
        let mut b_list = Client::connect(node.addr, &ben.access_token, wire).await;
        let mut b_open = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
        let mut c = PollClient::open(node.addr, &cat.access_token).await;
        let room = a.create_group("g", &[ben.id, cat.id]).await.id;
        b_open.open(room).await;

        // "@ben 🍜?" : the emoji is two UTF-16 code units, the mention four.
        let body = "@ben 🍜?";
        let seq = acked_seq(
            a.call(say(room, "m1", body, vec![user(ben.id, 0, 4)]))
                .await,
        );
        assert_eq!(seq, 1);
        let live = b_open.next_message().await;
        let m = &live.mentions[..];
        assert_eq!(
            (m.len(), m[0].user_id, m[0].offset, m[0].length),
            (1, ben.id, 0, 4)
        );
        let update = b_list
            .next_where(|p| room_update(p).filter(|u| u.last_seq == 1))
            .await;
        assert_eq!((update.unread, update.mention_count), (1, 1));
        // Cat is not mentioned by name; @all reaches her, and Ben once more.
        let said = a.call(say(room, "m2", "@all lunch", vec![all(0, 4)])).await;
        assert_eq!(acked_seq(said), 2);
        let update = b_list
            .next_where(|p| room_update(p).filter(|u| u.last_seq == 2))
            .await;
        assert_eq!((update.unread, update.mention_count), (2, 2));
        assert_eq!(counts_over_poll(&mut c, room).await, (2, 1));

        // Refusals: nothing is sequenced.
        let refusals = [
            (user(dan.id, 0, 4), "@dan", "INVALID_MENTION"),
            (user(ben.id, 5, 1), "@ben 🍜", "INVALID_MENTION"),
            (user(ben.id, 0, 9), "@ben", "INVALID_MENTION"),
        ];
        for (i, (mention, body, reason)) in refusals.into_iter().enumerate() {
            let r = a
                .call(say(room, &format!("bad{i}"), body, vec![mention]))
                .await;
            assert_error(r, ErrorCode::InvalidArgument, reason);
        }
        let r = a
            .call(say(
                room,
                "bad9",
                "@ben @ben",
                vec![user(ben.id, 0, 4), user(ben.id, 2, 4)],
            ))
            .await;
        assert_error(r, ErrorCode::InvalidArgument, "INVALID_MENTION");

        // An edit that drops Ben from message 1 takes its mention back.
        let edit = Command::EditMessage(v1::EditMessageRequest {
            room_id: room,
            seq: 1,
            client_msg_id: "e1".into(),
            body: "@cat 🍜?".into(),
            mentions: vec![user(cat.id, 0, 4)],
        });
        assert_eq!(acked_seq(a.call(edit).await), 3);
        assert_eq!(counts_over_poll(&mut c, room).await, (2, 2));
        let page = b_open.history_ok(room, 0, 10).await.messages;
        let first = page.iter().find(|m| m.seq == 1).unwrap();
        assert_eq!(first.mentions, [user(cat.id, 0, 4)]);
        let edit = page.iter().find(|m| m.seq == 3).unwrap();
        assert_eq!(edit.mentions, [user(cat.id, 0, 4)]);

        // Reading on the laptop clears the phone's count.
        assert!(matches!(
            b_open.call(mark_read(room, 3)).await,
            Payload::Ok(_)
        ));
        let update = b_list
            .next_where(|p| room_update(p).filter(|u| u.unread == 0))
            .await;
        assert_eq!(update.mention_count, 0);
        // Cat reads the first message only: the @all one still counts.
        let Payload::Ok(_) = c.call(mark_read(room, 1)).await else {
            panic!("mark read over long polling")
        };
        assert_eq!(counts_over_poll(&mut c, room).await, (1, 1));
    }
}

#[tokio::test]
async fn at_all_is_for_groups_and_mentions_are_bounded() {
    let node = TestNode::start_with(|c| c.chat.max_mentions_per_message = 2).await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let direct = a.create_direct(ben.id).await.id;
    let r = a.call(say(direct, "x1", "@all", vec![all(0, 4)])).await;
    assert_error(r, ErrorCode::InvalidArgument, "INVALID_MENTION");
    // A mention by name in a direct room is fine.
    assert_eq!(
        acked_seq(
            a.call(say(direct, "x2", "@ben", vec![user(ben.id, 0, 4)]))
                .await
        ),
        1
    );
    let group = a.create_group("g", &[ben.id, cat.id]).await.id;
    let three = vec![user(ben.id, 0, 1), user(cat.id, 1, 1), all(2, 1)];
    let r = a.call(say(group, "x3", "abc", three)).await;
    assert_error(r, ErrorCode::InvalidArgument, "TOO_MANY_MENTIONS");
    // The refused send left no gap.
    assert_eq!(acked_seq(a.call(say(group, "x5", "hi", vec![])).await), 1);
}

#[tokio::test]
async fn mentions_over_grpc_unary_calls() {
    use crate::grpc::{authed, channel, grpc_signup};
    use chat_proto::v1::message_service_client::MessageServiceClient;
    use chat_proto::v1::room_service_client::RoomServiceClient;

    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let (_, ann) = grpc_signup(&ch, "ann").await;
    let (ben_id, ben) = grpc_signup(&ch, "ben").await;
    let mut a = Client::connect(node.addr, &ann, Wire::Proto).await;
    let room = a.create_group("g", &[ben_id]).await.id;
    let mut messages = MessageServiceClient::new(ch.clone());
    let send = v1::SendMessageRequest {
        room_id: room,
        client_msg_id: "g1".into(),
        body: "@ben".into(),
        mentions: vec![user(ben_id, 0, 4)],
        ..Default::default()
    };
    let acked = messages.send_message(authed(&ann, send)).await.unwrap();
    assert_eq!(acked.into_inner().seq, 1);
    let bad = v1::SendMessageRequest {
        room_id: room,
        client_msg_id: "g2".into(),
        body: "@eve".into(),
        mentions: vec![user(ben_id + 1000, 0, 4)],
        ..Default::default()
    };
    let r = messages.send_message(authed(&ann, bad)).await;
    crate::grpc::assert_status(r, tonic::Code::InvalidArgument, "INVALID_MENTION");
    let mut rooms = RoomServiceClient::new(ch.clone());
    let list = v1::ListRoomsRequest { limit: 0 };
    let list = rooms
        .list_rooms(authed(&ben, list))
        .await
        .unwrap()
        .into_inner();
    let summary = &list.rooms[0];
    assert_eq!((summary.unread, summary.mention_count), (1, 1));
    let last = summary.last_message.as_ref().unwrap();
    assert_eq!(last.mentions, [user(ben_id, 0, 4)]);
}
