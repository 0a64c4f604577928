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

mod input;
mod journey;
mod session;
mod tools;

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

pub fn assert_status<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, reason: &str) {
    let s = r.expect_err("expected an error status");
    assert_eq!((s.code(), reason_of(&s).as_str()), (code, reason), "{s:?}");
}

pub async fn grpc_signup(ch: &Channel, name: &str) -> (u64, String) {
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
pub struct GrpcSession {
    tx: mpsc::UnboundedSender<ClientFrame>,
    rx: Streaming<ServerFrame>,
    next_id: u32,
    events: VecDeque<ServerFrame>,
}

impl GrpcSession {
    pub async fn open(ch: &Channel, token: &str) -> Self {
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

    pub async fn next_frame(&mut self) -> Result<ServerFrame, Status> {
        match tokio::time::timeout(PATIENCE, self.rx.message()).await {
            Ok(Ok(Some(f))) => Ok(f),
            Ok(Ok(None)) => Err(Status::ok("stream ended")),
            Ok(Err(s)) => Err(s),
            Err(_) => panic!("no frame within {PATIENCE:?}"),
        }
    }

    pub async fn call(&mut self, command: Command) -> Payload {
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
            .call(Command::OpenRoom(v1::OpenRoomRequest {
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
