//! `SessionService.Session`: the socket protocol over a gRPC bidirectional stream. Frames in
//! go to a connection actor exactly as WebSocket frames do; its outbound queue becomes the
//! response stream. The call's end maps to the socket's close codes: the stream finishes
//! with a status (DRAINING -> UNAVAILABLE, SLOW_CONSUMER -> RESOURCE_EXHAUSTED, ...) and a
//! `chat-close-code` trailer.

use std::pin::Pin;

use chat_actors::{
    ChatError, Reason,
    connection::{ConnectionHandle, ConnectionMessage},
    outbound::{CloseRequest, Outbound, OutboundReceiver},
};
use chat_proto::{
    Codec,
    v1::{Authenticate, ClientFrame, CloseCode, client_frame::Command},
};
use futures::{Stream, StreamExt as _};
use tokio::sync::oneshot;
use tonic::{Code, Request, Response, Status, Streaming};

use super::{
    GrpcApi, bearer, codec::EncodedServerFrame,
    session_server::session_service_server::SessionService, status,
};

/// The response stream of a session.
pub type FrameStream = Pin<Box<dyn Stream<Item = Result<EncodedServerFrame, Status>> + Send>>;

#[tonic::async_trait]
impl SessionService for GrpcApi {
    type SessionStream = FrameStream;

    async fn session(
        &self,
        request: Request<Streaming<ClientFrame>>,
    ) -> Result<Response<FrameStream>, Status> {
        let g = &self.g;
        if g.is_draining() {
            return Err(status(ChatError::Unavailable(
                Reason::Draining,
                "node is shutting down; reconnect elsewhere".into(),
            )));
        }
        let token = bearer(request.metadata()).to_owned();
        // A bad token fails the call itself, before any stream exists.
        g.services.auth.verify_access(&token).map_err(status)?;
        let handle = g
            .services
            .connections
            .open(&g.services)
            .await
            .map_err(status)?;
        let ConnectionHandle {
            slot,
            outbound,
            permits,
            closer,
            ..
        } = handle;
        let hello = ClientFrame {
            request_id: 0,
            command: Some(Command::Authenticate(Authenticate {
                access_token: token,
            })),
        };
        let _ = slot.dispatch(ConnectionMessage::Frame(hello, None)).await;
        let mut inbound = request.into_inner();
        // Dropped with the response stream: the call is over (the client cancelled or went
        // away), whether or not it was still sending.
        let (gone_tx, gone) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let reader = async {
                loop {
                    let frame = match inbound.message().await {
                        Ok(Some(frame)) => frame,
                        // The client half-closed: it sends no more commands, but the session
                        // and its events go on until the call ends (as a socket's do).
                        Ok(None) => std::future::pending().await,
                        Err(s) if s.code() == Code::Cancelled => return None,
                        // Undecodable or oversized message: tell the client why.
                        Err(s) => {
                            return Some(CloseRequest::after_queued(
                                close_code(CloseCode::ProtocolError),
                                s.message().to_owned(),
                            ));
                        }
                    };
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        return None;
                    };
                    let message = ConnectionMessage::Frame(frame, Some(permit));
                    if slot.dispatch(message).await.is_err() {
                        return None;
                    }
                }
            };
            // A close from the node's side (drain, slow consumer, revoked token) ends the
            // session even while the client keeps sending or has stopped reading.
            tokio::select! {
                end = reader => closer.close_with(end.unwrap_or_else(cancelled)),
                _ = gone => closer.close_with(cancelled()),
                () = closer.closed() => {}
            }
            slot.close().await;
        });
        let stream = frames(outbound).map(move |item| {
            // Keeps the sender alive exactly as long as the response stream.
            let _alive = &gone_tx;
            item
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

fn cancelled() -> CloseRequest {
    CloseRequest {
        code: 1000,
        reason: "cancelled".into(),
        immediate: true,
    }
}

fn close_code(code: CloseCode) -> u16 {
    u16::try_from(code as i32).unwrap_or(1011)
}

/// The outbound queue as a response stream, each frame in the protobuf encoding it was given
/// once for all its receivers.
fn frames(outbound: OutboundReceiver) -> impl Stream<Item = Result<EncodedServerFrame, Status>> {
    futures::stream::unfold(Some(outbound), |state| async move {
        let mut rx = state?;
        match rx.next().await? {
            Outbound::Frame(frame) => {
                let bytes = frame.bytes(Codec::Proto);
                Some((Ok(EncodedServerFrame(bytes)), Some(rx)))
            }
            Outbound::Close(close) => close_status(&close).map(|s| (Err(s), None)),
        }
    })
}

/// How a close ends the call: `None` for a normal end.
fn close_status(close: &CloseRequest) -> Option<Status> {
    let code = match CloseCode::try_from(i32::from(close.code)) {
        Ok(CloseCode::Draining | CloseCode::Resync) => Code::Unavailable,
        Ok(CloseCode::SlowConsumer | CloseCode::TooManyConnections) => Code::ResourceExhausted,
        Ok(CloseCode::AuthTimeout | CloseCode::Unauthenticated | CloseCode::AuthRevoked) => {
            Code::Unauthenticated
        }
        Ok(CloseCode::ProtocolError) => Code::InvalidArgument,
        Ok(CloseCode::Unspecified) | Err(_) if close.code == 1000 => return None,
        Ok(CloseCode::Unspecified) | Err(_) => Code::Internal,
    };
    let mut s = Status::new(code, close.reason.clone());
    if let Ok(v) = close.code.to_string().parse() {
        s.metadata_mut().insert("chat-close-code", v);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_map_to_statuses() {
        let c = |code: u16| {
            close_status(&CloseRequest::after_queued(code, "why")).map(|s| {
                let trailer = s
                    .metadata()
                    .get("chat-close-code")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (s.code(), trailer)
            })
        };
        assert_eq!(c(1000), None);
        assert_eq!(c(4000), Some((Code::Unavailable, Some("4000".into()))));
        assert_eq!(
            c(4001),
            Some((Code::ResourceExhausted, Some("4001".into())))
        );
        assert_eq!(c(4100).map(|x| x.0), Some(Code::Unauthenticated));
        assert_eq!(c(4102).map(|x| x.0), Some(Code::InvalidArgument));
        assert_eq!(c(1011).map(|x| x.0), Some(Code::Internal));
    }
}
