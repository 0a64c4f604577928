//! Bad input over gRPC and gRPC-Web: documented statuses, nothing changed.

use super::*;

#[tokio::test]
async fn bad_grpc_input_gets_documented_statuses() {
    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let (_, token) = grpc_signup(&ch, "alice").await;
    let (bob, _) = grpc_signup(&ch, "bob").await;
    let users = UserServiceClient::new(ch.clone());
    let get = |id| v1::GetUserRequest {
        username: String::new(),
        user_id: id,
    };

    // No token, a bad token: UNAUTHENTICATED, on unary calls and on Session.
    let r = users.clone().get_user(Request::new(get(bob))).await;
    assert_status(r, Code::Unauthenticated, "TOKEN_MISSING");
    let r = users.clone().get_user(authed("garbage", get(bob))).await;
    assert_status(r, Code::Unauthenticated, "TOKEN_INVALID");
    let (_tx, frames) = mpsc::unbounded::<ClientFrame>();
    let r = SessionServiceClient::new(ch.clone())
        .session(authed("garbage", frames))
        .await;
    assert_status(r, Code::Unauthenticated, "TOKEN_INVALID");

    // Malformed requests: the same reasons as on the socket.
    let both = v1::GetUserRequest {
        username: "bob".into(),
        user_id: bob,
    };
    let r = users.clone().get_user(authed(&token, both)).await;
    assert_status(r, Code::InvalidArgument, "INVALID_ARGUMENT");
    let messages = MessageServiceClient::new(ch.clone());
    let send = |body: String| {
        authed(
            &token,
            v1::SendMessageRequest {
                room_id: 1,
                client_msg_id: "x".into(),
                body,
                file_ids: Vec::new(),
                ..Default::default()
            },
        )
    };
    let r = messages.clone().send_message(send("x".repeat(5000))).await;
    assert_status(r, Code::InvalidArgument, "MESSAGE_TOO_LONG");
    let r = messages.clone().send_message(send("hi".into())).await;
    assert_status(r, Code::NotFound, "ROOM_NOT_FOUND");
    // Over the message size limit (http.max_frame_bytes): refused by the transport.
    let r = messages
        .clone()
        .send_message(send("x".repeat(100_000)))
        .await;
    assert_eq!(r.expect_err("oversized").code(), Code::OutOfRange);

    // A deadline that cannot be met (sent over gRPC-Web, whose client sets no timer of its
    // own, so the server's answer is what arrives).
    let history = v1::GetHistoryRequest {
        room_id: 1,
        before_seq: 0,
        limit: 10,
    };
    let (grpc_status, _) =
        grpc_web(&node, "MessageService/GetHistory", &token, &history, "1n").await;
    assert_eq!(grpc_status, Code::DeadlineExceeded as i32);
    // Bytes that are no message of the method, and a service that does not exist.
    let (grpc_status, reason) = grpc_web_raw(
        &node,
        "UserService/GetUser",
        &token,
        &[0xff, 0xff, 0xff],
        "",
    )
    .await;
    assert_eq!(
        (grpc_status, reason.as_str()),
        (Code::InvalidArgument as i32, "MALFORMED_FRAME")
    );
    let (grpc_status, _) = grpc_web(&node, "NoSuchService/Nothing", &token, &history, "").await;
    assert_eq!(grpc_status, Code::Unimplemented as i32);
    // Without a deadline the same call runs (and finds no such room).
    let (grpc_status, reason) =
        grpc_web(&node, "MessageService/GetHistory", &token, &history, "").await;
    assert_eq!(
        (grpc_status, reason.as_str()),
        (Code::NotFound as i32, "ROOM_NOT_FOUND")
    );

    // Files: unknown ids, out-of-range offsets, metadata not first.
    let missing = v1::DownloadFileRequest {
        file_id: 42,
        ..Default::default()
    };
    assert_status(
        download(&ch, &token, missing).await,
        Code::NotFound,
        "FILE_NOT_FOUND",
    );
    let file = upload(&ch, &token, "a.txt", b"abc").await.unwrap();
    let past = v1::DownloadFileRequest {
        file_id: file.id,
        offset: 3,
        ..Default::default()
    };
    assert_status(
        download(&ch, &token, past).await,
        Code::InvalidArgument,
        "RANGE_NOT_SATISFIABLE",
    );
    let chunk_first = vec![v1::UploadFileRequest {
        part: Some(Part::Chunk(b"abc".to_vec())),
    }];
    let r = FileServiceClient::new(ch.clone())
        .upload_file(authed(&token, futures::stream::iter(chunk_first)))
        .await;
    assert_status(r, Code::InvalidArgument, "MALFORMED_REQUEST");
    assert_status(
        upload(&ch, &token, "../x", b"abc").await,
        Code::InvalidArgument,
        "INVALID_FILE_NAME",
    );

    // The node is unaffected.
    let me = users
        .clone()
        .get_user(authed(&token, get(bob)))
        .await
        .unwrap();
    assert_eq!(me.into_inner().id, bob);
    node.stop().await;
}

/// One unary call over gRPC-Web (HTTP/1.1): returns `grpc-status` and `chat-reason`, from
/// the headers (trailers-only reply) or the trailer frame in the body.
async fn grpc_web(
    node: &TestNode,
    method: &str,
    token: &str,
    message: &impl prost::Message,
    timeout: &str,
) -> (i32, String) {
    grpc_web_raw(node, method, token, &message.encode_to_vec(), timeout).await
}

/// Like [`grpc_web`], with any bytes as the request message.
async fn grpc_web_raw(
    node: &TestNode,
    method: &str,
    token: &str,
    payload: &[u8],
    timeout: &str,
) -> (i32, String) {
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    body.extend_from_slice(payload);
    let mut req = http_client()
        .post(format!("http://{}/chat.v1.{method}", node.addr))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", format!("Bearer {token}"))
        .body(body);
    if !timeout.is_empty() {
        req = req.header("grpc-timeout", timeout);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "gRPC-Web is served");
    let headers = r.headers().clone();
    let text = String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned();
    let field = |name: &str| {
        if let Some(v) = headers.get(name) {
            return v.to_str().unwrap().to_owned();
        }
        text.split("\r\n")
            .find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim_start_matches(|c: char| !c.is_ascii_alphabetic())
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    (field("grpc-status").parse().unwrap(), field("chat-reason"))
}

/// Raw bytes as a gRPC message, to send what no generated client would.
#[derive(Clone, Default)]
struct RawCodec;

struct RawEncoder;

struct FrameDecoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for FrameDecoder {
    type Item = ServerFrame;
    type Error = Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<ServerFrame>, Status> {
        use prost::Message as _;
        ServerFrame::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ServerFrame;
    type Encoder = RawEncoder;
    type Decoder = FrameDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> FrameDecoder {
        FrameDecoder
    }
}

#[tokio::test]
async fn a_session_that_sends_garbage_is_told_so_and_others_are_unaffected() {
    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let (_, token) = grpc_signup(&ch, "alice").await;
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready().await.unwrap();
    // A valid ping, then bytes that are no protobuf message at all.
    let ping = {
        use prost::Message as _;
        ClientFrame {
            request_id: 1,
            command: Some(Command::Ping(v1::PingRequest {})),
        }
        .encode_to_vec()
    };
    let garbage = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    let path = "/chat.v1.SessionService/Session".parse().unwrap();
    let (mut tx, frames) = mpsc::unbounded::<Vec<u8>>();
    let mut stream = grpc
        .streaming(authed(&token, frames), path, RawCodec)
        .await
        .unwrap()
        .into_inner();
    tx.send(ping).await.unwrap();
    let mut saw_pong = false;
    loop {
        match stream.message().await {
            Ok(Some(f)) => {
                if matches!(f.payload, Some(Payload::Pong(_))) {
                    saw_pong = true;
                    tx.send(garbage.clone()).await.unwrap();
                }
            }
            Ok(None) => panic!("stream ended without a status"),
            Err(s) => {
                assert!(saw_pong, "the good frame was answered first");
                assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
                let close = s
                    .metadata()
                    .get("chat-close-code")
                    .map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(close.as_deref(), Some("4102"));
                break;
            }
        }
    }
    // Others carry on.
    let mut ok = GrpcSession::open(&ch, &token).await;
    let p = ok.call(Command::Ping(v1::PingRequest {})).await;
    assert!(matches!(p, Payload::Pong(_)));
    node.stop().await;
}
