//! Replies, edits and deletes for everyone through the public protocol: the socket in both
//! encodings, long polling and gRPC unary calls, with live events carrying the target as it
//! is now and history showing each message's current state.

use super::*;

fn edit(room: u64, seq: u64, id: &str, body: &str) -> Command {
    Command::EditMessage(v1::EditMessageRequest {
        room_id: room,
        seq,
        client_msg_id: id.into(),
        body: body.into(),
        mentions: vec![],
    })
}

fn delete(room: u64, seq: u64, id: &str) -> Command {
    Command::DeleteMessage(v1::DeleteMessageRequest {
        room_id: room,
        seq,
        client_msg_id: id.into(),
    })
}

fn reply(room: u64, to: u64, id: &str, body: &str) -> Command {
    Command::SendMessage(v1::SendMessageRequest {
        room_id: room,
        client_msg_id: id.into(),
        body: body.into(),
        reply_to_seq: to,
        ..Default::default()
    })
}

fn ack(p: Payload) -> v1::SendAck {
    match p {
        Payload::SendAck(a) => a,
        other => panic!("expected an ack, got {other:?}"),
    }
}

fn message(p: Payload) -> Option<v1::Message> {
    match p {
        Payload::Message(m) => Some(m),
        _ => None,
    }
}

#[tokio::test]
async fn replies_edits_and_deletes_reach_members_live_and_show_in_history() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    for wire in [Wire::Json, Wire::Proto] {
        let mut a = Client::connect(node.addr, &ann.access_token, wire).await;
        let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
        let mut c = PollClient::open(node.addr, &cat.access_token).await;
        let room = a.create_group("g", &[ben.id, cat.id]).await.id;
        b.open(room).await;
        let Payload::RoomOpened(_) = c
            .call(Command::OpenRoom(v1::OpenRoomRequest {
                room_id: room,
                since_seq: 0,
            }))
            .await
        else {
            panic!("open over long polling")
        };
        assert_eq!(a.say_ok(room, "1", "helo").await.seq, 1);
        let quoted = ack(b.call(reply(room, 1, "2", "hi!")).await);
        assert_eq!(quoted.seq, 2);
        // Someone else's message: refused, nothing sequenced.
        assert_error(
            b.call(edit(room, 1, "e0", "x")).await,
            ErrorCode::PermissionDenied,
            "NOT_YOUR_MESSAGE",
        );
        assert_error(
            a.call(edit(room, 9, "e0", "x")).await,
            ErrorCode::NotFound,
            "MESSAGE_NOT_FOUND",
        );
        assert_eq!(ack(a.call(edit(room, 1, "e1", "hello")).await).seq, 3);
        assert_eq!(ack(b.call(delete(room, 2, "d1")).await).seq, 4);
        // Members with the room open see the message, the reply, then the changes, each
        // change with its target as it is now.
        for live in [
            vec![
                b.next_where(message).await,
                b.next_where(message).await,
                b.next_where(message).await,
                b.next_where(message).await,
            ],
            vec![
                c.next_where(message).await,
                c.next_where(message).await,
                c.next_where(message).await,
                c.next_where(message).await,
            ],
        ] {
            let seqs: Vec<u64> = live.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, [1, 2, 3, 4]);
            assert_eq!(live[1].reply_to.as_ref().unwrap().preview, "helo");
            assert_eq!(live[2].kind(), v1::MessageKind::Edit);
            let updated = live[2].updated.as_ref().unwrap();
            assert_eq!((updated.seq, updated.body.as_str()), (1, "hello"));
            assert!(updated.edited_at_ms > 0);
            assert_eq!(live[3].kind(), v1::MessageKind::Delete);
            let gone = live[3].updated.as_ref().unwrap();
            assert!(gone.deleted && gone.body.is_empty() && gone.deleted_by == ben.id);
        }
        // History pages show every message as it is now, and the changes themselves.
        let page = a.history_ok(room, 0, 10).await.messages;
        let by_seq = |s: u64| page.iter().find(|m| m.seq == s).unwrap();
        assert_eq!(by_seq(1).body, "hello");
        assert_eq!(by_seq(1).changed_seq, 3);
        assert!(by_seq(2).deleted && by_seq(2).reply_to.is_none());
        assert_eq!(by_seq(4).target_seq, 2);
        // Changes are not messages: nothing unread in the chat list from them.
        let Payload::RoomList(list) = c
            .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
            .await
        else {
            panic!("room list")
        };
        let summary = list
            .rooms
            .iter()
            .find(|r| r.room.as_ref().unwrap().id == room);
        let summary = summary.unwrap();
        // Cat has read nothing: two messages, one of them deleted.
        assert_eq!(summary.unread, 1);
        assert_eq!(summary.last_message.as_ref().unwrap().seq, 2);
    }
}

#[tokio::test]
async fn edits_and_deletes_over_grpc_unary_calls() {
    use crate::grpc::{assert_status, authed, channel, grpc_signup};
    use chat_proto::v1::message_service_client::MessageServiceClient;
    use tonic::Code;

    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let (_, ann) = grpc_signup(&ch, "ann").await;
    let (ben_id, ben) = grpc_signup(&ch, "ben").await;
    let mut a = Client::connect(node.addr, &ann, Wire::Proto).await;
    let room = a.create_group("g", &[ben_id]).await.id;
    a.say_ok(room, "1", "typo").await;
    let messages = MessageServiceClient::new(ch.clone());
    let edit = |token: &str, id: &str| {
        authed(
            token,
            v1::EditMessageRequest {
                room_id: room,
                seq: 1,
                client_msg_id: id.into(),
                body: "fixed".into(),
                mentions: vec![],
            },
        )
    };
    let r = messages.clone().edit_message(edit(&ben, "e")).await;
    assert_status(r, Code::PermissionDenied, "NOT_YOUR_MESSAGE");
    let acked = messages
        .clone()
        .edit_message(edit(&ann, "e"))
        .await
        .unwrap();
    assert_eq!(acked.into_inner().seq, 2);
    let versions = v1::GetMessageVersionsRequest {
        room_id: room,
        seq: 1,
    };
    let earlier = messages
        .clone()
        .get_message_versions(authed(&ben, versions))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(earlier.versions.len(), 1);
    assert_eq!(earlier.versions[0].body, "typo");
    let delete = v1::DeleteMessageRequest {
        room_id: room,
        seq: 1,
        client_msg_id: "d".into(),
    };
    let acked = messages
        .clone()
        .delete_message(authed(&ann, delete))
        .await
        .unwrap();
    assert_eq!(acked.into_inner().seq, 3);
    let page = a.history_ok(room, 0, 10).await.messages;
    assert!(page.iter().any(|m| m.seq == 1 && m.deleted));
}

fn reaction(room: u64, seq: u64, id: &str, emoji: &str, add: bool) -> Command {
    if add {
        Command::AddReaction(v1::AddReactionRequest {
            room_id: room,
            seq,
            client_msg_id: id.into(),
            emoji: emoji.into(),
        })
    } else {
        Command::RemoveReaction(v1::RemoveReactionRequest {
            room_id: room,
            seq,
            client_msg_id: id.into(),
            emoji: emoji.into(),
        })
    }
}

#[tokio::test]
async fn reactions_over_the_socket_long_polling_and_grpc() {
    use crate::grpc::{assert_status, authed, channel};
    use chat_proto::v1::message_service_client::MessageServiceClient;
    use tonic::Code;

    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let mut bp = PollClient::open(node.addr, &ben.access_token).await;
    let room = a.create_group("g", &[ben.id]).await.id;
    b.open(room).await;
    a.say_ok(room, "1", "lunch?").await;
    assert_error(
        b.call(reaction(room, 1, "r0", "yes", true)).await,
        ErrorCode::InvalidArgument,
        "INVALID_EMOJI",
    );
    assert_eq!(
        ack(b.call(reaction(room, 1, "r1", "👍", true)).await).seq,
        2
    );
    // Over long polling too, in the same namespace of client_msg_ids.
    assert_eq!(
        ack(bp.call(reaction(room, 1, "r2", "🍜", true)).await).seq,
        3
    );
    assert_error(
        a.call(reaction(room, 1, "r3", "🍜", false)).await,
        ErrorCode::NotFound,
        "REACTION_NOT_FOUND",
    );
    let live = b
        .next_where(|p| match p {
            Payload::Message(m) if m.seq == 3 => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(live.kind(), v1::MessageKind::ReactionAdded);
    let counts: Vec<(String, u32)> = live
        .updated
        .unwrap()
        .reactions
        .iter()
        .map(|r| (r.emoji.clone(), r.count))
        .collect();
    assert_eq!(counts, [("👍".into(), 1), ("🍜".into(), 1)]);
    // A page marks the reader's own reactions.
    let mine = |page: &v1::History| {
        let m = page.messages.iter().find(|m| m.seq == 1).unwrap();
        m.reactions.iter().map(|r| r.mine).collect::<Vec<_>>()
    };
    assert_eq!(mine(&b.history_ok(room, 0, 10).await), [true, true]);
    assert_eq!(mine(&a.history_ok(room, 0, 10).await), [false, false]);
    // gRPC: take one back, list who reacted.
    let ch = channel(&node).await;
    let messages = MessageServiceClient::new(ch);
    let remove = v1::RemoveReactionRequest {
        room_id: room,
        seq: 1,
        client_msg_id: "r4".into(),
        emoji: "🍜".into(),
    };
    let acked = messages
        .clone()
        .remove_reaction(authed(&ben.access_token, remove))
        .await
        .unwrap();
    assert_eq!(acked.into_inner().seq, 4);
    let list = |emoji: &str| v1::ListReactionsRequest {
        room_id: room,
        seq: 1,
        emoji: emoji.into(),
        after_user_id: 0,
        limit: 0,
    };
    let users = messages
        .clone()
        .list_reactions(authed(&ann.access_token, list("👍")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        users.users.iter().map(|u| u.id).collect::<Vec<_>>(),
        [ben.id]
    );
    assert_eq!(users.users[0].username, "ben");
    let too_many = v1::ListReactionsRequest {
        limit: 101,
        ..list("👍")
    };
    let r = messages
        .clone()
        .list_reactions(authed(&ann.access_token, too_many))
        .await;
    assert_status(r, Code::InvalidArgument, "INVALID_LIMIT");
}
