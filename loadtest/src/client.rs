//! A client of the chat protocol over a WebSocket or a gRPC `Session` stream, split into its
//! two halves.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context as _, bail};
use chat_proto::v1::{
    ClientFrame, ServerFrame, client_frame::Command, server_frame::Payload,
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
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::cli::{CodecArg, TransportArg};

type Ws = WebSocketStream<TcpStream>;

/// Frames a gRPC sender may have queued before `send` waits.
const GRPC_SEND_QUEUE: usize = 256;

/// How to reach the node.
#[derive(Debug, Clone, Copy)]
pub struct Dial {
    /// WebSocket or gRPC.
    pub transport: TransportArg,
    /// WebSocket frame encoding.
    pub codec: CodecArg,
    /// Local address to connect from.
    pub source: IpAddr,
}

/// The sending half.
pub struct Sender {
    sink: Sink,
    next_id: u32,
}

enum Sink {
    Ws(SplitSink<Ws, Message>, CodecArg),
    Grpc(mpsc::Sender<ClientFrame>),
}

/// The receiving half.
pub struct Receiver {
    source: Source,
}

enum Source {
    Ws(SplitStream<Ws>, CodecArg),
    Grpc(Box<tonic::Streaming<ServerFrame>>),
}

/// `127.0.0.(1 + i % n)`: spreads source ports over several loopback addresses.
pub fn source_ip(i: usize, n: u8) -> IpAddr {
    let last = 1 + (i % usize::from(n)) as u8;
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn socket_addr(base: &str) -> anyhow::Result<SocketAddr> {
    let authority = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let authority = authority.replace("localhost", "127.0.0.1");
    authority
        .parse()
        .with_context(|| format!("cannot use {base:?} as an address"))
}

/// Connects and authenticates; the first frame must be `authenticated`.
pub async fn connect(base: &str, token: &str, dial: Dial) -> anyhow::Result<(Sender, Receiver)> {
    let target = socket_addr(base)?;
    let (sink, source) = match dial.transport {
        TransportArg::Ws => connect_ws(target, token, dial).await?,
        TransportArg::Grpc => connect_grpc(target, token, dial.source).await?,
    };
    let mut rx = Receiver { source };
    match rx.next().await? {
        Some(f) if matches!(f.payload, Some(Payload::Authenticated(_))) => {}
        other => bail!("authentication failed: {other:?}"),
    }
    Ok((Sender { sink, next_id: 0 }, rx))
}

/// A WebSocket; the token rides in the URL.
async fn connect_ws(target: SocketAddr, token: &str, dial: Dial) -> anyhow::Result<(Sink, Source)> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if target.is_ipv4() && dial.source.is_ipv4() {
        socket.bind(SocketAddr::new(dial.source, 0))?;
    }
    let stream = socket
        .connect(target)
        .await
        .with_context(|| format!("connect {target}"))?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{target}/v1/ws?access_token={token}");
    let mut request = url.into_client_request()?;
    let protocol = match dial.codec {
        CodecArg::Proto => "chat.v1.proto",
        CodecArg::Json => "chat.v1.json",
    };
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    let (ws, _) = tokio_tungstenite::client_async(request, stream).await?;
    let (sink, stream) = ws.split();
    Ok((Sink::Ws(sink, dial.codec), Source::Ws(stream, dial.codec)))
}

/// A gRPC `Session` on its own HTTP/2 connection; the token rides in the metadata.
async fn connect_grpc(
    target: SocketAddr,
    token: &str,
    source: IpAddr,
) -> anyhow::Result<(Sink, Source)> {
    let mut endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://{target}"))?.tcp_nodelay(true);
    if target.is_ipv4() && source.is_ipv4() {
        endpoint = endpoint.local_address(Some(source));
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connect {target}"))?;
    let (tx, frames) = mpsc::channel(GRPC_SEND_QUEUE);
    let mut request = tonic::Request::new(frames);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let stream = SessionServiceClient::new(channel)
        .session(request)
        .await?
        .into_inner();
    Ok((Sink::Grpc(tx), Source::Grpc(Box::new(stream))))
}

impl Sender {
    /// Sends a command; returns its request id.
    pub async fn send(&mut self, command: Command) -> anyhow::Result<u32> {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let frame = ClientFrame {
            request_id: self.next_id,
            command: Some(command),
        };
        match &mut self.sink {
            Sink::Ws(sink, codec) => {
                let message = match codec {
                    CodecArg::Proto => Message::Binary(frame.encode_to_vec().into()),
                    CodecArg::Json => Message::Text(serde_json::to_string(&frame)?.into()),
                };
                sink.send(message).await?;
            }
            Sink::Grpc(tx) => tx.send(frame).await.context("session stream closed")?,
        }
        Ok(self.next_id)
    }
}

impl Receiver {
    /// The next frame; None when the connection closed.
    pub async fn next(&mut self) -> anyhow::Result<Option<ServerFrame>> {
        let (stream, codec) = match &mut self.source {
            Source::Grpc(stream) => return Ok(stream.message().await?),
            Source::Ws(stream, codec) => (stream, *codec),
        };
        loop {
            let Some(message) = stream.next().await else {
                return Ok(None);
            };
            return Ok(Some(match (message?, codec) {
                (Message::Binary(b), CodecArg::Proto) => ServerFrame::decode(b.as_ref())?,
                (Message::Text(t), CodecArg::Json) => serde_json::from_str(&t)?,
                (Message::Close(_), _) => return Ok(None),
                (Message::Ping(_) | Message::Pong(_), _) => continue,
                (other, _) => bail!("unexpected frame {other:?}"),
            }));
        }
    }

    /// Waits for the reply to `request_id`, dropping events.
    pub async fn reply(&mut self, request_id: u32) -> anyhow::Result<Payload> {
        loop {
            match self.next().await? {
                Some(f) if f.request_id == request_id => return f.payload.context("empty reply"),
                Some(_) => continue,
                None => bail!("connection closed while waiting for reply {request_id}"),
            }
        }
    }
}
