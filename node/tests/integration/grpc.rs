//! gRPC: a tonic client through the whole journey, a gRPC and a WebSocket client seeing the
//! same events, reflection and health, deadlines, cancellation, bad input, slow readers.

use std::collections::VecDeque;

use chat_proto::v1::{
    self, ClientFrame, ServerFrame, auth_service_client::AuthServiceClient, client_frame::Command,
    file_service_client::FileServiceClient, message_service_client::MessageServiceClient,
    room_service_client::RoomServiceClient, server_frame::Payload,
    session_service_client::SessionServiceClient, upload_file_request::Part,
    user_service_client::UserServiceClient,
};
use futures::{SinkExt as _, channel::mpsc};
use tonic::{Code, Request, Status, Streaming, transport::Channel};
use tonic_types::StatusExt as _;

use crate::common::*;

pub async fn channel(node: &TestNode) -> Channel {
    Channel::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A request with `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// The status's reason, from the `google.rpc.ErrorInfo` detail (checked against the
/// `chat-reason` trailer).
pub fn reason_of(s: &Status) -> String {
    let info = s
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default();
    let trailer = s
        .metadata()
        .get("chat-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(info, trailer, "detail and trailer disagree: {s:?}");
    info
}

fn assert_status<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, reason: &str) {
    let s = r.expect_err("expected an error status");
    assert_eq!((s.code(), reason_of(&s).as_str()), (code, reason), "{s:?}");
}

async fn grpc_signup(ch: &Channel, name: &str) -> (u64, String) {
    let t = AuthServiceClient::new(ch.clone())
        .signup(v1::SignupRequest {
            username: name.into(),
            display_name: name.to_uppercase(),
            password: "correct horse".into(),
        })
        .await
        .unwrap()
        .into_inner();
    (t.user.unwrap().id, t.access_token)
}

/// A `Session` stream, driven like the WebSocket test client.
struct GrpcSession {
    tx: mpsc::UnboundedSender<ClientFrame>,
    rx: Streaming<ServerFrame>,
    next_id: u32,
    events: VecDeque<ServerFrame>,
}

impl GrpcSession {
    async fn open(ch: &Channel, token: &str) -> Self {
        let (tx, frames) = mpsc::unbounded();
        let rx = SessionServiceClient::new(ch.clone())
            .session(authed(token, frames))
            .await
            .unwrap()
            .into_inner();
        let mut s = Self {
            tx,
            rx,
            next_id: 0,
            events: VecDeque::new(),
        };
        let hello = s.next_frame().await.unwrap();
        assert!(
            matches!(hello.payload, Some(Payload::Authenticated(_))),
            "{hello:?}"
        );
        s
    }

    async fn next_frame(&mut self) -> Result<ServerFrame, Status> {
        match tokio::time::timeout(PATIENCE, self.rx.message()).await {
            Ok(Ok(Some(f))) => Ok(f),
            Ok(Ok(None)) => Err(Status::ok("stream ended")),
            Ok(Err(s)) => Err(s),
            Err(_) => panic!("no frame within {PATIENCE:?}"),
        }
    }

    async fn call(&mut self, command: Command) -> Payload {
        self.next_id += 1;
        let id = self.next_id;
        self.tx
            .send(ClientFrame {
                request_id: id,
                command: Some(command),
            })
            .await
            .unwrap();
        loop {
            let f = self.next_frame().await.unwrap();
            if f.request_id == id {
                return f.payload.unwrap();
            }
            self.events.push_back(f);
        }
    }

    async fn next_event(&mut self) -> ServerFrame {
        if let Some(e) = self.events.pop_front() {
            return e;
        }
        self.next_frame().await.unwrap()
    }

    async fn next_where<T>(&mut self, pick: impl Fn(Payload) -> Option<T>) -> T {
        loop {
            if let Some(t) = self.next_event().await.payload.and_then(&pick) {
                return t;
            }
        }
    }

    async fn open_room(&mut self, room: u64) {
        let p = self
            .call(Command::OpenRoom(v1::OpenRoom {
                room_id: room,
                since_seq: 0,
            }))
            .await;
        assert!(matches!(p, Payload::RoomOpened(_)), "{p:?}");
    }
}

async fn upload(
    ch: &Channel,
    token: &str,
    name: &str,
    data: &[u8],
) -> Result<v1::FileInfo, Status> {
    let mut parts = vec![v1::UploadFileRequest {
        part: Some(Part::Metadata(v1::UploadFileMetadata {
            name: name.into(),
            size: 0,
        })),
    }];
    for c in data.chunks(300 * 1024) {
        parts.push(v1::UploadFileRequest {
            part: Some(Part::Chunk(c.to_vec())),
        });
    }
    FileServiceClient::new(ch.clone())
        .upload_file(authed(token, futures::stream::iter(parts)))
        .await
        .map(|r| r.into_inner())
}

async fn download(
    ch: &Channel,
    token: &str,
    request: v1::DownloadFileRequest,
) -> Result<(Option<v1::FileInfo>, Vec<u8>), Status> {
    let mut stream = FileServiceClient::new(ch.clone())
        .download_file(authed(token, request))
        .await?
        .into_inner();
    let mut info = None;
    let mut out = Vec::new();
    while let Some(chunk) = stream.message().await? {
        if chunk.info.is_some() {
            assert!(
                info.is_none() && out.is_empty(),
                "info only in the first chunk"
            );
            info = chunk.info;
        }
        out.extend_from_slice(&chunk.data);
    }
    Ok((info, out))
}

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
            v1::SearchUsers {
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
        .send_friend_request(authed(&at, v1::SendFriendRequest { user_id: bob }))
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
        .accept_friend_request(authed(&bt, v1::AcceptFriendRequest { user_id: alice }))
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
        .create_direct_room(authed(&at, v1::CreateDirectRoom { peer_id: bob }))
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
            v1::SendMessage {
                room_id: room.id,
                client_msg_id: "g1".into(),
                body: "hello over gRPC".into(),
                file_ids: Vec::new(),
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
            v1::MarkRead {
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
        .call(Command::SendMessage(v1::SendMessage {
            room_id: room.id,
            client_msg_id: "g2".into(),
            body: String::new(),
            file_ids: vec![file.id],
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
            v1::GetHistory {
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
        .call(Command::MarkRead(v1::MarkRead {
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

#[tokio::test]
async fn bad_grpc_input_gets_documented_statuses() {
    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let (_, token) = grpc_signup(&ch, "alice").await;
    let (bob, _) = grpc_signup(&ch, "bob").await;
    let users = UserServiceClient::new(ch.clone());
    let get = |id| v1::GetUser {
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
    let both = v1::GetUser {
        username: "bob".into(),
        user_id: bob,
    };
    let r = users.clone().get_user(authed(&token, both)).await;
    assert_status(r, Code::InvalidArgument, "INVALID_ARGUMENT");
    let messages = MessageServiceClient::new(ch.clone());
    let send = |body: String| {
        authed(
            &token,
            v1::SendMessage {
                room_id: 1,
                client_msg_id: "x".into(),
                body,
                file_ids: Vec::new(),
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
    let history = v1::GetHistory {
        room_id: 1,
        before_seq: 0,
        limit: 10,
    };
    let (grpc_status, _) =
        grpc_web(&node, "MessageService/GetHistory", &token, &history, "1n").await;
    assert_eq!(grpc_status, Code::DeadlineExceeded as i32);
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
    let payload = message.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&payload);
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
            command: Some(Command::Ping(v1::Ping {})),
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
    let p = ok.call(Command::Ping(v1::Ping {})).await;
    assert!(matches!(p, Payload::Pong(_)));
    node.stop().await;
}

#[tokio::test]
async fn a_half_closed_session_lives_on_and_a_cancelled_one_is_freed() {
    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let [ann, ben] = node.http().signups(["ann", "ben"]).await;
    let mut watcher = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = watcher.create_group("presence", &[ben.id]).await.id;
    watcher.open(room).await;
    let mut session = GrpcSession::open(&ch, &ben.access_token).await;
    session.open_room(room).await;
    let online = |want: bool| {
        move |p: Payload| match p {
            Payload::PresenceChanged(c) if c.online == want => Some(c.user_id),
            _ => None,
        }
    };
    assert_eq!(watcher.next_where(online(true)).await, ben.id);
    // Half-closing (no more commands) keeps the session and its events, like a socket.
    session.tx.close_channel();
    watcher.say_ok(room, "m1", "still there?").await;
    let m = session
        .next_where(|p| match p {
            Payload::Message(m) => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(m.body, "still there?");
    // Cancelling the call ends it.
    drop(session);
    // Ben's only connection is gone: the node noticed and let his session go.
    assert_eq!(watcher.next_where(online(false)).await, ben.id);
    node.stop().await;
}

#[tokio::test]
async fn a_grpc_reader_that_stops_reading_is_cut_off_like_a_socket() {
    let node = TestNode::start_with(|c| {
        c.chat.max_append_batch = 32;
        c.chat.max_inflight_per_connection = 32;
        c.chat.outbound_queue = 64;
    })
    .await;
    let ch = channel(&node).await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Proto).await;
    let room = a.create_group("flood", &[ben.id, cat.id]).await.id;
    let mut stuck = GrpcSession::open(&ch, &ben.access_token).await;
    stuck.open_room(room).await;
    let mut reader = GrpcSession::open(&ch, &cat.access_token).await;
    reader.open_room(room).await;

    // Enough to fill the stuck stream's HTTP/2 windows and buffers, then its queue.
    let body = "z".repeat(4000);
    let total = 3000u64;
    let mut sent = 0;
    let mut next = 1;
    while sent < total {
        let mut ids = Vec::new();
        for _ in 0..100 {
            ids.push(a.send(send_cmd(room, &format!("f{sent}"), &body)).await);
            sent += 1;
        }
        for id in ids {
            assert!(matches!(a.reply(id).await, Payload::SendAck(_)));
        }
        while next <= sent {
            let m = reader
                .next_where(|p| match p {
                    Payload::Message(m) => Some(m),
                    _ => None,
                })
                .await;
            assert_eq!(m.seq, next, "the reader keeps up, in order");
            next += 1;
        }
    }
    // The stuck reader finds, after what was already on the wire, a status saying why.
    let end = loop {
        match stuck.next_frame().await {
            Ok(_) => continue,
            Err(s) => break s,
        }
    };
    assert_eq!(end.code(), Code::ResourceExhausted, "{end:?}");
    let close = end
        .metadata()
        .get("chat-close-code")
        .and_then(|v| v.to_str().ok());
    assert_eq!(close, Some("4001"));
    node.stop().await;
}
