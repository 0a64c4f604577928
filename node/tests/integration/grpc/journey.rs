//! What a gRPC client does, and that it sees what a WebSocket client sees; reflection and health.

use super::*;

#[tokio::test]
async fn a_grpc_client_does_the_whole_journey() {
    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let (alice, at) = grpc_signup(&ch, "alice").await;
    let (bob, bt) = grpc_signup(&ch, "bob").await;
    let mut a = GrpcSession::open(&ch, &at).await;
    let mut b = GrpcSession::open(&ch, &bt).await;

    // Friends, with live events on both sessions.
    let users = UserServiceClient::new(ch.clone());
    let found = users
        .clone()
        .search_users(authed(
            &at,
            v1::SearchUsersRequest {
                prefix: "bo".into(),
                after: String::new(),
                limit: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.users[0].id, bob);
    users
        .clone()
        .send_friend_request(authed(&at, v1::SendFriendRequestRequest { user_id: bob }))
        .await
        .unwrap();
    let from = b
        .next_where(|p| match p {
            Payload::FriendRequestReceived(r) => r.from,
            _ => None,
        })
        .await;
    assert_eq!(from.id, alice);
    users
        .clone()
        .accept_friend_request(authed(
            &bt,
            v1::AcceptFriendRequestRequest { user_id: alice },
        ))
        .await
        .unwrap();
    let friend = a
        .next_where(|p| match p {
            Payload::FriendRequestAccepted(r) => r.user,
            _ => None,
        })
        .await;
    assert_eq!(friend.id, bob);

    // A room; bob watches it live on his session; alice sends by unary RPC.
    let room = RoomServiceClient::new(ch.clone())
        .create_direct_room(authed(&at, v1::CreateDirectRoomRequest { peer_id: bob }))
        .await
        .unwrap()
        .into_inner();
    b.open_room(room.id).await;
    a.open_room(room.id).await;
    let messages = MessageServiceClient::new(ch.clone());
    let ack = messages
        .clone()
        .send_message(authed(
            &at,
            v1::SendMessageRequest {
                room_id: room.id,
                client_msg_id: "g1".into(),
                body: "hello over gRPC".into(),
                file_ids: Vec::new(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.seq, 1);
    let m = b
        .next_where(|p| match p {
            Payload::Message(m) => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(
        (m.seq, m.body.as_str(), m.unread),
        (1, "hello over gRPC", 1)
    );

    // Bob reads; alice's session sees the receipt.
    messages
        .clone()
        .mark_read(authed(
            &bt,
            v1::MarkReadRequest {
                room_id: room.id,
                seq: 1,
            },
        ))
        .await
        .unwrap();
    let receipt = a
        .next_where(|p| match p {
            Payload::ReadReceipt(r) => Some(r),
            _ => None,
        })
        .await;
    assert_eq!((receipt.user_id, receipt.to_seq), (bob, 1));

    // A file, streamed up, attached, streamed down whole and in part.
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 241) as u8).collect();
    let file = upload(&ch, &at, "data.bin", &data).await.unwrap();
    assert_eq!(
        (file.size, file.sha256.clone()),
        (data.len() as u64, sha_hex(&data))
    );
    let p = a
        .call(Command::SendMessage(v1::SendMessageRequest {
            room_id: room.id,
            client_msg_id: "g2".into(),
            body: String::new(),
            file_ids: vec![file.id],
            ..Default::default()
        }))
        .await;
    assert!(matches!(p, Payload::SendAck(_)), "{p:?}");
    let m = b
        .next_where(|p| match p {
            Payload::Message(m) => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(m.attachments[0].file_id, file.id);
    let whole = v1::DownloadFileRequest {
        file_id: file.id,
        ..Default::default()
    };
    let (info, bytes) = download(&ch, &bt, whole).await.unwrap();
    assert_eq!(
        (info.unwrap().id, sha_hex(&bytes)),
        (file.id, sha_hex(&data))
    );
    let part = v1::DownloadFileRequest {
        file_id: file.id,
        offset: 1000,
        length: 500,
        thumbnail: false,
    };
    let (_, bytes) = download(&ch, &bt, part).await.unwrap();
    assert_eq!(bytes, data[1000..1500]);

    // History over gRPC shows both messages, newest first.
    let history = messages
        .clone()
        .get_history(authed(
            &bt,
            v1::GetHistoryRequest {
                room_id: room.id,
                before_seq: 0,
                limit: 10,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let seqs: Vec<u64> = history.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [2, 1]);
    assert_eq!(history.messages[0].attachments[0].name, "data.bin");
    node.stop().await;
}

#[tokio::test]
async fn grpc_and_websocket_clients_see_identical_events() {
    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let [ann, ben, cat] = node.http().signups(["ann", "ben", "cat"]).await;
    let mut sender = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = sender.create_group("mixed", &[ben.id, cat.id]).await.id;
    let mut ws = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    ws.open(room).await;
    let mut grpc = GrpcSession::open(&ch, &cat.access_token).await;
    grpc.open_room(room).await;
    for n in 1..=5 {
        sender
            .say_ok(room, &format!("c{n}"), &format!("message {n}"))
            .await;
    }
    let p = ws
        .call(Command::MarkRead(v1::MarkReadRequest {
            room_id: room,
            seq: 3,
        }))
        .await;
    assert!(matches!(p, Payload::Ok(_)));
    sender.say_ok(room, "c6", "last").await;

    // Each sees its messages and the other's read receipt; the frames are equal.
    let relevant = |f: &ServerFrame| {
        matches!(
            f.payload,
            Some(Payload::Message(_) | Payload::ReadReceipt(_))
        )
    };
    let mut from_ws = Vec::new();
    while from_ws.len() < 7 {
        let f = ws.next_event().await;
        if relevant(&f) {
            from_ws.push(f);
        }
    }
    let mut from_grpc = Vec::new();
    while from_grpc.len() < 7 {
        let f = grpc.next_event().await;
        if relevant(&f) {
            from_grpc.push(f);
        }
    }
    assert_eq!(from_grpc, from_ws);
    node.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_services_and_health_follows_readiness() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let node = TestNode::start().await;
    let ch = channel(&node).await;

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(ch.clone())
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("{reply:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "chat.v1.AuthService",
        "chat.v1.UserService",
        "chat.v1.RoomService",
        "chat.v1.MessageService",
        "chat.v1.FileService",
        "chat.v1.SessionService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    // Older tools speak v1alpha: the same answer.
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "google.rpc.RetryInfo".into(),
            )),
        };
        let mut replies = ServerReflectionClient::new(ch.clone())
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let reply = replies.message().await.unwrap().unwrap();
        let Some(MessageResponse::FileDescriptorResponse(files)) = reply.message_response else {
            panic!("{reply:?}")
        };
        assert!(!files.file_descriptor_proto.is_empty());
    }

    let mut health = HealthClient::new(ch.clone());
    for service in ["", "chat.v1.SessionService"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    // Draining: the health service says NOT_SERVING before the node goes away.
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );
    let stopping = tokio::spawn(node.stop());
    let next = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .unwrap();
    assert_eq!(next.unwrap().unwrap().status(), ServingStatus::NotServing);
    stopping.await.unwrap();
}
