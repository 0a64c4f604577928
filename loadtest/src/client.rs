//! A WebSocket client of the chat protocol, split into its two halves.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context as _, bail};
use chat_proto::v1::{ClientFrame, ServerFrame, client_frame::Command};
use futures::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use prost::Message as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::cli::CodecArg;

type Ws = WebSocketStream<TcpStream>;

/// The sending half.
pub struct Sender {
    sink: SplitSink<Ws, Message>,
    codec: CodecArg,
    next_id: u32,
}

/// The receiving half.
pub struct Receiver {
    stream: SplitStream<Ws>,
    codec: CodecArg,
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

/// Connects and authenticates (the token rides in the URL).
pub async fn connect(
    base: &str,
    token: &str,
    codec: CodecArg,
    source: IpAddr,
) -> anyhow::Result<(Sender, Receiver)> {
    let target = socket_addr(base)?;
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if target.is_ipv4() && source.is_ipv4() {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let stream = socket
        .connect(target)
        .await
        .with_context(|| format!("connect {target}"))?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{target}/v1/ws?access_token={token}");
    let mut request = url.into_client_request()?;
    let protocol = match codec {
        CodecArg::Proto => "chat.v1.proto",
        CodecArg::Json => "chat.v1.json",
    };
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    let (ws, _) = tokio_tungstenite::client_async(request, stream).await?;
    let (sink, stream) = ws.split();
    let mut rx = Receiver { stream, codec };
    match rx.next().await? {
        Some(f)
            if matches!(
                f.payload,
                Some(chat_proto::v1::server_frame::Payload::Authenticated(_))
            ) => {}
        other => bail!("authentication failed: {other:?}"),
    }
    Ok((
        Sender {
            sink,
            codec,
            next_id: 0,
        },
        rx,
    ))
}

impl Sender {
    /// Sends a command; returns its request id.
    pub async fn send(&mut self, command: Command) -> anyhow::Result<u32> {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let frame = ClientFrame {
            request_id: self.next_id,
            command: Some(command),
        };
        let message = match self.codec {
            CodecArg::Proto => Message::Binary(frame.encode_to_vec().into()),
            CodecArg::Json => Message::Text(serde_json::to_string(&frame)?.into()),
        };
        self.sink.send(message).await?;
        Ok(self.next_id)
    }
}

impl Receiver {
    /// The next frame; None when the socket closed.
    pub async fn next(&mut self) -> anyhow::Result<Option<ServerFrame>> {
        loop {
            let Some(message) = self.stream.next().await else {
                return Ok(None);
            };
            return Ok(Some(match (message?, self.codec) {
                (Message::Binary(b), CodecArg::Proto) => ServerFrame::decode(b.as_ref())?,
                (Message::Text(t), CodecArg::Json) => serde_json::from_str(&t)?,
                (Message::Close(_), _) => return Ok(None),
                (Message::Ping(_) | Message::Pong(_), _) => continue,
                (other, _) => bail!("unexpected frame {other:?}"),
            }));
        }
    }

    /// Waits for the reply to `request_id`, dropping events.
    pub async fn reply(
        &mut self,
        request_id: u32,
    ) -> anyhow::Result<chat_proto::v1::server_frame::Payload> {
        loop {
            match self.next().await? {
                Some(f) if f.request_id == request_id => return f.payload.context("empty reply"),
                Some(_) => continue,
                None => bail!("socket closed while waiting for reply {request_id}"),
            }
        }
    }
}
