//! WebSocket `/v1/ws`: subprotocol `chat.v1.json` (text frames of protobuf JSON, the default)
//! or `chat.v1.proto` (binary protobuf frames). A reader half decodes frames into the
//! connection actor; a writer half drains the outbound queue, coalescing queued frames into
//! one flush. When either half ends, the other is dropped.

use std::time::Duration;

use axum::{
    extract::{
        Query, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chat_actors::{
    ChatError, Reason,
    connection::{Admission, ConnectionHandle, ConnectionMessage, ConnectionSlot, SessionAuth},
    outbound::{CloseRequest, EncodedFrame, Outbound, OutboundReceiver},
};
use chat_proto::{
    Codec, SUBPROTOCOL_JSON, SUBPROTOCOL_PROTO, decode_client_frame,
    v1::{ClientFrame, CloseCode},
};
use futures::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use serde::Deserialize;
use tokio::sync::{Notify, Semaphore};

use crate::{
    respond::{PeerIp, error_response},
    state::Gateway,
};

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    access_token: Option<String>,
}

/// Picks the codec from `Sec-WebSocket-Protocol`; JSON when none is asked for.
fn negotiate(headers: &HeaderMap) -> Option<(Codec, Option<&'static str>)> {
    let Some(requested) = headers.get(header::SEC_WEBSOCKET_PROTOCOL) else {
        return Some((Codec::Json, None));
    };
    let requested = requested.to_str().ok()?;
    requested.split(',').map(str::trim).find_map(|p| match p {
        SUBPROTOCOL_JSON => Some((Codec::Json, Some(SUBPROTOCOL_JSON))),
        SUBPROTOCOL_PROTO => Some((Codec::Proto, Some(SUBPROTOCOL_PROTO))),
        _ => None,
    })
}

pub async fn upgrade(
    State(g): State<Gateway>,
    Query(query): Query<WsQuery>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Counted from the upgrade until the connection ends; refused while draining. A token
    // in the URL is checked by the connection itself, so a bad one is answered on the socket.
    let admission = match g
        .connections
        .admit(SessionAuth::InBand(query.access_token), ip)
    {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    let Some((codec, protocol)) = negotiate(&headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "unsupported subprotocol; use chat.v1.json or chat.v1.proto",
        )
            .into_response();
    };
    let mut ws = ws
        .max_message_size(g.config.hard_frame_limit_bytes)
        .max_frame_size(g.config.hard_frame_limit_bytes)
        // Client frames are small; each idle socket keeps this buffer, so keep it small too.
        .read_buffer_size(1024)
        // Frames fed between flushes go out in one write; an idle socket allocates nothing.
        .write_buffer_size(16 * 1024);
    if let Some(p) = protocol {
        ws = ws.protocols([p]);
    }
    ws.on_upgrade(move |socket| serve(g, socket, codec, admission))
}

/// Runs one socket. Its future lives as long as the socket, so large one-off steps (opening
/// the connection) are boxed rather than inlined into it.
async fn serve(g: Gateway, socket: WebSocket, codec: Codec, admission: Admission) {
    let handle = match Box::pin(admission.open()).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot open connection");
            return;
        }
    };
    let ConnectionHandle {
        slot,
        outbound,
        permits,
        closer,
        ..
    } = handle;
    let (sink, stream) = socket.split();
    let ping = Notify::new();
    let writer = write_loop(sink, outbound, codec, g.config.write_coalesce, &ping);
    tokio::pin!(writer);
    let end = tokio::select! {
        () = &mut writer => End::Written,
        end = read_loop(&g, stream, codec, &slot, &permits, &ping) => End::ReadSide(end),
        () = closer.closed() => End::CloseRequested,
    };
    match end {
        End::Written => {}
        End::ReadSide(close) => {
            // The read side broke (e.g. a frame over the hard limit) but the socket may still
            // take a close frame that says why.
            if let Some(close) = close {
                closer.close_with(close);
            }
            let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
        }
        // A client that stopped reading leaves the writer blocked on a full socket, where it
        // would never see the close (e.g. its queue overflowed): it gets the grace to write
        // the close frame, then the socket is dropped either way.
        End::CloseRequested => {
            let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
        }
    }
    slot.close().await;
}

/// Decodes frames into the connection until the client or the socket ends; maybe with a
/// close to send. A client silent for `http.ping_interval_secs` is pinged (by the writer,
/// through `ping`), and one still silent `http.pong_timeout_secs` later is taken for dead:
/// a paused laptop or a lost network never sends a FIN, so nothing else would notice.
async fn read_loop(
    g: &Gateway,
    mut stream: SplitStream<WebSocket>,
    codec: Codec,
    slot: &std::sync::Arc<ConnectionSlot>,
    permits: &std::sync::Arc<Semaphore>,
    ping: &Notify,
) -> Option<CloseRequest> {
    let ping_interval = Duration::from_secs(g.config.ping_interval_secs);
    let pong_timeout = Duration::from_secs(g.config.pong_timeout_secs);
    let mut pinged = false;
    loop {
        let wait = if pinged { pong_timeout } else { ping_interval };
        let message = match tokio::time::timeout(wait, stream.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(e))) => return Some(read_error_close(e)),
            Ok(None) => return None,
            Err(_) if pinged => {
                return Some(CloseRequest {
                    code: CloseCode::PingTimeout as u16,
                    reason: "PING_TIMEOUT".into(),
                    immediate: true,
                });
            }
            Err(_) => {
                pinged = true;
                ping.notify_one();
                continue;
            }
        };
        // Anything from the client proves it alive.
        pinged = false;
        let decoded = match (codec, message) {
            (Codec::Json, Message::Text(t)) => decode(g, codec, &t.into()),
            (Codec::Proto, Message::Binary(b)) => decode(g, codec, &b),
            (_, Message::Close(_)) => return None,
            (_, Message::Ping(_) | Message::Pong(_)) => continue,
            (Codec::Json, Message::Binary(_)) | (Codec::Proto, Message::Text(_)) => Err((
                0,
                ChatError::invalid(
                    Reason::MalformedFrame,
                    "wrong frame type: chat.v1.json uses text frames, chat.v1.proto binary frames",
                ),
            )),
        };
        // Every message to the actor carries a permit: that bounds work in flight, and lets
        // an idle connection's actor hibernate knowing nothing is queued.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return None;
        };
        let message = match decoded {
            Ok(frame) => ConnectionMessage::Frame(frame, Some(permit)),
            Err((request_id, e)) => ConnectionMessage::Reject(request_id, e, Some(permit)),
        };
        if slot.dispatch(message).await.is_err() {
            return None;
        }
    }
}

/// How long a closing connection's writer may take to write what it still owes (queued
/// frames before a graceful close, then the close frame) before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why a connection's read/write loop ended.
enum End {
    /// The writer finished: it wrote a close frame, or the socket failed.
    Written,
    /// The reader finished: the client closed or the socket failed; maybe with a close to
    /// send.
    ReadSide(Option<CloseRequest>),
    /// Something asked to close the connection (an overflowing queue, a resync, shutdown).
    CloseRequested,
}

/// Decodes one client frame, or says which error to answer (with the request id when it can
/// be recovered).
fn decode(
    g: &Gateway,
    codec: Codec,
    bytes: &bytes::Bytes,
) -> Result<ClientFrame, (u32, ChatError)> {
    if bytes.len() > g.config.max_frame_bytes {
        let e = ChatError::invalid(
            Reason::FrameTooLarge,
            format!("frame exceeds {} bytes", g.config.max_frame_bytes),
        );
        return Err((request_id_hint(codec, bytes), e));
    }
    decode_client_frame(codec, bytes).map_err(|e| {
        let e = ChatError::invalid(Reason::MalformedFrame, e.client_message());
        (request_id_hint(codec, bytes), e)
    })
}

/// The close to attempt after a read error: 1009 for an oversized message, else 1002.
fn read_error_close(error: axum::Error) -> CloseRequest {
    use tokio_tungstenite::tungstenite::{Error as WsError, error::CapacityError};
    let too_big = error
        .into_inner()
        .downcast::<WsError>()
        .is_ok_and(|e| matches!(*e, WsError::Capacity(CapacityError::MessageTooLong { .. })));
    if too_big {
        CloseRequest {
            code: 1009,
            reason: "frame too large".into(),
            immediate: true,
        }
    } else {
        CloseRequest {
            code: 1002,
            reason: "protocol error".into(),
            immediate: true,
        }
    }
}

/// The request id of a frame that failed to decode, when it can be recovered (JSON only), so
/// the client can match the error to its request.
fn request_id_hint(codec: Codec, bytes: &[u8]) -> u32 {
    if codec != Codec::Json {
        return 0;
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(bytes)
    else {
        return 0;
    };
    map.get("request_id")
        .or_else(|| map.get("requestId"))
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

fn to_message(codec: Codec, frame: &EncodedFrame) -> Message {
    let bytes = frame.bytes(codec);
    match codec {
        // JSON encoding always yields UTF-8.
        Codec::Json => match Utf8Bytes::try_from(bytes) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::Text(Utf8Bytes::from_static("{}")),
        },
        Codec::Proto => Message::Binary(bytes),
    }
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbound: OutboundReceiver,
    codec: Codec,
    coalesce: usize,
    ping: &Notify,
) {
    loop {
        let next = tokio::select! {
            next = outbound.next() => next,
            () = ping.notified() => {
                if sink.send(Message::Ping(bytes::Bytes::new())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Some(next) = next else {
            return;
        };
        match next {
            Outbound::Frame(frame) => {
                if sink.feed(to_message(codec, &frame)).await.is_err() {
                    return;
                }
                let mut written = 1;
                let mut yielded = false;
                while written < coalesce {
                    let Some(frame) = outbound.try_next_frame() else {
                        // Replies of one store batch reach the queue from several tasks a
                        // moment apart: give them one turn to land in this write.
                        if yielded {
                            break;
                        }
                        yielded = true;
                        tokio::task::yield_now().await;
                        continue;
                    };
                    if sink.feed(to_message(codec, &frame)).await.is_err() {
                        return;
                    }
                    written += 1;
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            Outbound::Close(close) => {
                let frame = CloseFrame {
                    code: close.code,
                    reason: Utf8Bytes::from(close.reason),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            }
        }
    }
}
