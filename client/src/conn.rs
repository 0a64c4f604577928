//! One connection to a node, split into its sending and receiving halves: a WebSocket
//! (`/v1/ws`, protobuf or JSON frames) or a gRPC `Session` stream. No policy: the managed
//! [`Client`](crate::Client) adds reconnection, recovery and the outbox on top, and load
//! generators use the halves directly.

use std::net::{IpAddr, SocketAddr};

use chat_proto::v1::{
    self, ClientFrame, ServerFrame, client_frame::Command, server_frame::Payload,
    session_service_client::SessionServiceClient,
};
use futures::{
    SinkExt, StreamExt,
    channel::mpsc,
    stream::{SplitSink, SplitStream},
};
use prost::Message as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue, protocol::CloseFrame},
};

use crate::error::ClientError;

type Ws = WebSocketStream<TcpStream>;

/// Frames a gRPC sender may have queued before `send` waits.
const GRPC_SEND_QUEUE: usize = 256;

/// Which transport: a WebSocket or a gRPC `Session` stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `/v1/ws`.
    #[default]
    WebSocket,
    /// `chat.v1.SessionService/Session` over HTTP/2.
    Grpc,
}

/// WebSocket frame encoding (gRPC is always protobuf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    /// `chat.v1.proto`: binary protobuf frames.
    #[default]
    Binary,
    /// `chat.v1.json`: protobuf JSON text frames.
    Json,
}

/// How to reach a node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dial {
    /// WebSocket or gRPC.
    pub transport: Transport,
    /// The WebSocket's frame encoding.
    pub wire: Wire,
    /// The local address to connect from (load generators spread ports over several).
    pub source: Option<IpAddr>,
}

/// Why a connection ended: the WebSocket close code (or, for gRPC, the `chat-close-code`
/// trailer; 1006 when the connection broke without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code (docs/protocol.md, "Close codes").
    pub code: u16,
    /// The close frame's reason, or the gRPC status message.
    pub reason: String,
}

/// The sending half.
pub struct FrameSender {
    sink: Sink,
    next_id: u32,
}

enum Sink {
    Ws(SplitSink<Ws, Message>, Wire),
    Grpc(mpsc::Sender<ClientFrame>),
}

/// The receiving half.
pub struct FrameReceiver {
    source: Source,
    closed: Option<Closed>,
}

enum Source {
    Ws(SplitStream<Ws>, Wire),
    Grpc(Box<tonic::Streaming<ServerFrame>>),
}

/// The node's address from a base URL (`http://127.0.0.1:8080`).
fn socket_addr(base: &str) -> Result<SocketAddr, ClientError> {
    let authority = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .replace("localhost", "127.0.0.1");
    authority
        .parse()
        .map_err(|_| ClientError::Transport(format!("cannot use {base:?} as an address")))
}

/// Connects and authenticates with `token`; returns once `authenticated` arrived.
pub async fn connect(
    base: &str,
    token: &str,
    dial: Dial,
) -> Result<(FrameSender, FrameReceiver, v1::Authenticated), ClientError> {
    let target = socket_addr(base)?;
    let (sink, source) = match dial.transport {
        Transport::WebSocket => connect_ws(target, dial).await?,
        Transport::Grpc => connect_grpc(target, token, dial.source).await?,
    };
    let mut tx = FrameSender { sink, next_id: 0 };
    let mut rx = FrameReceiver {
        source,
        closed: None,
    };
    let hello = if dial.transport == Transport::WebSocket {
        let command = Command::Authenticate(v1::AuthenticateRequest {
            access_token: token.to_owned(),
        });
        Some(tx.send(command).await?)
    } else {
        None
    };
    loop {
        let frame = rx.next().await?.ok_or_else(|| rx.refusal())?;
        match frame.payload {
            Some(Payload::Authenticated(a)) => return Ok((tx, rx, a)),
            // Before `authenticated`, an error is about the connection (the token, the
            // connection limit), whatever its request id.
            Some(Payload::Error(e))
                if hello.is_none_or(|id| id == frame.request_id || frame.request_id == 0) =>
            {
                return Err(ClientError::from_frame(&e));
            }
            _ => continue,
        }
    }
}

async fn tcp(target: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream, ClientError> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(ClientError::transport)?;
    if let Some(source) = source.filter(|s| s.is_ipv4() == target.is_ipv4()) {
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(ClientError::transport)?;
    }
    let stream = socket
        .connect(target)
        .await
        .map_err(|e| ClientError::Transport(format!("connect {target}: {e}")))?;
    stream.set_nodelay(true).map_err(ClientError::transport)?;
    Ok(stream)
}

/// A WebSocket; the token goes in the first frame, not the URL (which access logs keep).
async fn connect_ws(target: SocketAddr, dial: Dial) -> Result<(Sink, Source), ClientError> {
    let stream = tcp(target, dial.source).await?;
    let mut request = format!("ws://{target}/v1/ws")
        .into_client_request()
        .map_err(ClientError::transport)?;
    let protocol = match dial.wire {
        Wire::Binary => "chat.v1.proto",
        Wire::Json => "chat.v1.json",
    };
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(ClientError::transport)?;
    let (sink, stream) = ws.split();
    Ok((Sink::Ws(sink, dial.wire), Source::Ws(stream, dial.wire)))
}

/// A gRPC `Session` on its own HTTP/2 connection; the token rides in the metadata.
async fn connect_grpc(
    target: SocketAddr,
    token: &str,
    source: Option<IpAddr>,
) -> Result<(Sink, Source), ClientError> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("http://{target}"))
        .map_err(ClientError::transport)?
        .tcp_nodelay(true);
    if let Some(source) = source.filter(|s| s.is_ipv4() == target.is_ipv4()) {
        endpoint = endpoint.local_address(Some(source));
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| ClientError::Transport(format!("connect {target}: {e}")))?;
    let (tx, frames) = mpsc::channel(GRPC_SEND_QUEUE);
    let mut request = tonic::Request::new(frames);
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| ClientError::Transport("the token is not a valid header value".into()))?;
    request.metadata_mut().insert("authorization", bearer);
    let stream = SessionServiceClient::new(channel)
        .session(request)
        .await
        .map_err(|s| status_error(&s))?
        .into_inner();
    Ok((Sink::Grpc(tx), Source::Grpc(Box::new(stream))))
}

/// A refused `Session` call as the error frame a socket would have sent.
fn status_error(s: &tonic::Status) -> ClientError {
    let reason = s
        .metadata()
        .get("chat-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("TRANSPORT")
        .to_owned();
    ClientError::Server {
        code: s.code() as i32,
        retryable: matches!(s.code(), tonic::Code::Unavailable),
        reason,
        message: s.message().to_owned(),
        retry_after_ms: 0,
    }
}

impl FrameSender {
    /// Sends a command with the next request id (never 0); returns the id.
    pub async fn send(&mut self, command: Command) -> Result<u32, ClientError> {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.send_frame(ClientFrame {
            request_id: self.next_id,
            command: Some(command),
        })
        .await?;
        Ok(self.next_id)
    }

    /// Sends a frame as it is.
    pub async fn send_frame(&mut self, frame: ClientFrame) -> Result<(), ClientError> {
        match &mut self.sink {
            Sink::Ws(sink, wire) => {
                let message = match wire {
                    Wire::Binary => Message::Binary(frame.encode_to_vec().into()),
                    Wire::Json => Message::Text(
                        serde_json::to_string(&frame)
                            .map_err(ClientError::transport)?
                            .into(),
                    ),
                };
                sink.send(message).await.map_err(ClientError::transport)
            }
            Sink::Grpc(tx) => tx.send(frame).await.map_err(|_| ClientError::Disconnected),
        }
    }

    /// Closes the connection (a WebSocket close 1000; a gRPC half-close).
    pub async fn close(&mut self) {
        match &mut self.sink {
            Sink::Ws(sink, _) => {
                let frame = CloseFrame {
                    code: 1000.into(),
                    reason: "client closed".into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
            }
            Sink::Grpc(tx) => tx.close_channel(),
        }
    }
}

impl FrameReceiver {
    /// The next frame; None once the connection ended (then [`closed`](Self::closed) says why).
    pub async fn next(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        if self.closed.is_some() {
            return Ok(None);
        }
        let (stream, wire) = match &mut self.source {
            Source::Grpc(_) => return self.next_grpc_frame().await,
            Source::Ws(stream, wire) => (stream, *wire),
        };
        loop {
            let message = match stream.next().await {
                Some(Ok(m)) => m,
                Some(Err(_)) | None => return Ok(self.end(1006, "connection lost")),
            };
            let frame = match (message, wire) {
                (Message::Binary(b), Wire::Binary) => {
                    ServerFrame::decode(b.as_ref()).map_err(ClientError::transport)?
                }
                (Message::Text(t), Wire::Json) => {
                    serde_json::from_str(&t).map_err(ClientError::transport)?
                }
                (Message::Close(c), _) => {
                    let (code, reason) = c.map_or((1005, String::new()), |c| {
                        (u16::from(c.code), c.reason.to_string())
                    });
                    return Ok(self.end(code, &reason));
                }
                (Message::Ping(_) | Message::Pong(_) | Message::Frame(_), _) => continue,
                (other, _) => {
                    return Err(ClientError::Transport(format!(
                        "unexpected frame {other:?}"
                    )));
                }
            };
            return Ok(Some(frame));
        }
    }

    async fn next_grpc_frame(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        let Source::Grpc(stream) = &mut self.source else {
            return Ok(None);
        };
        match stream.message().await {
            Ok(Some(frame)) => Ok(Some(frame)),
            Ok(None) => Ok(self.end(1000, "stream ended")),
            Err(status) => {
                let code = status
                    .metadata()
                    .get("chat-close-code")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(1006);
                Ok(self.end(code, status.message()))
            }
        }
    }

    fn end(&mut self, code: u16, reason: &str) -> Option<ServerFrame> {
        self.closed = Some(Closed {
            code,
            reason: reason.to_owned(),
        });
        None
    }

    /// Why the connection ended, once it did.
    pub fn closed(&self) -> Option<&Closed> {
        self.closed.as_ref()
    }

    /// The connection ended before authenticating: as an error.
    fn refusal(&self) -> ClientError {
        let Some(c) = &self.closed else {
            return ClientError::Disconnected;
        };
        let (code, reason) = match c.code {
            4100 => (16, "TOKEN_INVALID"),
            4101 => (16, "AUTH_REVOKED"),
            4102 => (3, "PROTOCOL_ERROR"),
            4103 => (8, "TOO_MANY_CONNECTIONS"),
            other => return ClientError::Transport(format!("closed ({other}) {}", c.reason)),
        };
        ClientError::Server {
            code,
            reason: reason.into(),
            message: c.reason.clone(),
            retryable: false,
            retry_after_ms: 0,
        }
    }

    /// Waits for the reply to `request_id`, dropping everything else.
    pub async fn reply(&mut self, request_id: u32) -> Result<Payload, ClientError> {
        loop {
            match self.next().await? {
                Some(f) if f.request_id == request_id => {
                    return f
                        .payload
                        .ok_or_else(|| ClientError::Transport("empty reply".into()));
                }
                Some(_) => continue,
                None => return Err(ClientError::Disconnected),
            }
        }
    }
}
