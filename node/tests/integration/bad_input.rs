use chat_proto::v1::{self, ErrorCode, client_frame::Command, server_frame::Payload};

use crate::common::*;

async fn ping_ok(c: &mut Client) {
    assert!(
        matches!(
            c.call(Command::Ping(v1::PingRequest {})).await,
            Payload::Pong(_)
        ),
        "connection unusable"
    );
}

#[tokio::test]
async fn malformed_unknown_and_oversized_frames_keep_the_socket_usable() {
    let node = TestNode::start_with(|c| c.http.max_frame_bytes = 2048).await;
    let alice = node.http().signup("alice").await;

    let mut c = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    c.send_raw(WsMessage::Text("{this is not json".into()))
        .await;
    let f = c.next_frame().await.unwrap();
    assert_error(
        f.payload.unwrap(),
        ErrorCode::InvalidArgument,
        "MALFORMED_FRAME",
    );
    // Wrong types: the request id is still recovered so the client can match the error.
    c.send_raw(WsMessage::Text(
        r#"{"request_id": 77, "send_message": {"room_id": [1]}}"#.into(),
    ))
    .await;
    let f = c.next_frame().await.unwrap();
    assert_eq!(f.request_id, 77);
    assert_error(
        f.payload.unwrap(),
        ErrorCode::InvalidArgument,
        "MALFORMED_FRAME",
    );
    c.send_raw(WsMessage::Text(
        r#"{"request_id": 78, "teleport": {"to": "mars"}}"#.into(),
    ))
    .await;
    let f = c.next_frame().await.unwrap();
    assert_eq!(f.request_id, 78);
    assert_error(
        f.payload.unwrap(),
        ErrorCode::InvalidArgument,
        "UNKNOWN_COMMAND",
    );
    c.send_raw(WsMessage::Binary(vec![1, 2, 3].into())).await;
    let f = c.next_frame().await.unwrap();
    assert_error(
        f.payload.unwrap(),
        ErrorCode::InvalidArgument,
        "MALFORMED_FRAME",
    );
    let big = format!(
        r#"{{"request_id": 79, "ping": {{}}, "pad": "{}"}}"#,
        "x".repeat(4000)
    );
    c.send_raw(WsMessage::Text(big.into())).await;
    let f = c.next_frame().await.unwrap();
    assert_eq!(f.request_id, 79);
    assert_error(
        f.payload.unwrap(),
        ErrorCode::InvalidArgument,
        "FRAME_TOO_LARGE",
    );
    ping_ok(&mut c).await;

    let mut p = Client::connect(node.addr, &alice.access_token, Wire::Proto).await;
    p.send_raw(WsMessage::Binary(vec![0xff, 0xff, 0xff, 0xff].into()))
        .await;
    let f = p.next_frame().await.unwrap();
    assert_error(
        f.payload.unwrap(),
        ErrorCode::InvalidArgument,
        "MALFORMED_FRAME",
    );
    p.send_raw(WsMessage::Text("ping".into())).await;
    let f = p.next_frame().await.unwrap();
    assert_error(
        f.payload.unwrap(),
        ErrorCode::InvalidArgument,
        "MALFORMED_FRAME",
    );
    // A protobuf frame with only an unknown field number: an unknown command.
    p.send_raw(WsMessage::Binary(vec![0x08, 0x05, 0xfa, 0x06, 0x00].into()))
        .await;
    let f = p.next_frame().await.unwrap();
    assert_eq!(f.request_id, 5);
    assert_error(
        f.payload.unwrap(),
        ErrorCode::InvalidArgument,
        "UNKNOWN_COMMAND",
    );
    ping_ok(&mut p).await;

    // Past the hard limit the frame is not even read: the socket closes with 1009.
    let mut h = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    h.send_raw(WsMessage::Text("y".repeat(2 * 1024 * 1024).into()))
        .await;
    assert_eq!(h.closed_code().await, Some(1009));
    node.stop().await;
}

#[tokio::test]
async fn bad_sends_and_reads_are_refused_and_store_nothing() {
    let node = TestNode::start_with(|c| c.chat.max_message_bytes = 100).await;
    let http = node.http();
    let [alice, bob, eve] = http.signups(["alice", "bob", "eve"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut e = Client::connect(node.addr, &eve.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await;

    assert_error(
        a.say(room.id, "1", "").await,
        ErrorCode::InvalidArgument,
        "EMPTY_MESSAGE",
    );
    assert_error(
        a.say(room.id, "2", " \n\t ").await,
        ErrorCode::InvalidArgument,
        "EMPTY_MESSAGE",
    );
    assert_error(
        a.say(room.id, "3", &"z".repeat(101)).await,
        ErrorCode::InvalidArgument,
        "MESSAGE_TOO_LONG",
    );
    assert_error(
        a.say(room.id, "", "no id").await,
        ErrorCode::InvalidArgument,
        "INVALID_CLIENT_MSG_ID",
    );
    assert_error(
        a.say(room.id, &"i".repeat(65), "long id").await,
        ErrorCode::InvalidArgument,
        "INVALID_CLIENT_MSG_ID",
    );
    assert_error(
        a.say(424242, "4", "nowhere").await,
        ErrorCode::NotFound,
        "ROOM_NOT_FOUND",
    );
    assert_error(
        a.history(424242, 0, 10).await,
        ErrorCode::NotFound,
        "ROOM_NOT_FOUND",
    );
    let p = a
        .call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: 424242,
            since_seq: 0,
        }))
        .await;
    assert_error(p, ErrorCode::NotFound, "ROOM_NOT_FOUND");
    assert_error(
        a.history(room.id, 0, 101).await,
        ErrorCode::InvalidArgument,
        "INVALID_LIMIT",
    );

    // A non-member can neither send, read, open nor leave.
    assert_error(
        e.say(room.id, "e1", "let me in").await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    assert_error(
        e.history(room.id, 0, 10).await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    let p = e
        .call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room.id,
            since_seq: 0,
        }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");

    // Exactly 100 bytes is fine (multi-byte characters count as bytes).
    a.say_ok(room.id, "ok", &"é".repeat(50)).await;
    let all = a.all_messages(room.id).await;
    assert_eq!(all.len(), 1, "a refused message was stored");
    node.stop().await;
}

#[tokio::test]
async fn unsupported_subprotocol_is_refused() {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};
    let node = TestNode::start().await;
    let mut request = format!("ws://{}/v1/ws", node.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    let r = tokio_tungstenite::connect_async(request).await;
    assert!(r.is_err(), "handshake should fail");
    // Unknown HTTP paths get a JSON error.
    let (status, body) = node.http().get("/v1/nope").await;
    assert_eq!(status, 404, "{body}");
    node.stop().await;
}

/// Reads until the server closes the connection; panics if it is still open after PATIENCE.
async fn closed_by_server(tcp: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the node kept a connection that never finished its request"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_trickling_connections_are_dropped_and_sockets_are_not() {
    use tokio::io::AsyncWriteExt as _;
    let node = TestNode::start_with(|c| c.http.header_read_timeout_secs = 1).await;
    let [ann] = node.http().signups(["ann"]).await;
    // A WebSocket open (and quiet) for longer than the header timeout stays open.
    let mut ws = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    // Slowloris: a request head that never ends, and a connection that never speaks.
    let mut trickling = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    trickling
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    closed_by_server(&mut trickling).await;
    closed_by_server(&mut silent).await;
    ping_ok(&mut ws).await;
    // A complete request is served as usual.
    let (status, body) = node.http().get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    node.stop().await;
}
