//! `SessionService.Session`: the socket protocol over a gRPC bidirectional stream. Frames in
//! go to a connection actor exactly as WebSocket frames do; its outbound queue becomes the
//! response stream. The call's end maps to the socket's close codes: the stream finishes
//! with a status (DRAINING -> UNAVAILABLE, SLOW_CONSUMER -> RESOURCE_EXHAUSTED, ...) and a
//! `chat-close-code` trailer.

use std::pin::Pin;

use chat_actors::{
    connection::{ConnectionHandle, ConnectionMessage, SessionAuth},
    outbound::{CloseRequest, Outbound, OutboundReceiver},
};
use chat_proto::{
    Codec,
    v1::{ClientFrame, CloseCode},
};
use futures::{Stream, StreamExt as _};
use tokio::sync::oneshot;
use tonic::{Code, Request, Response, Status, Streaming};

use super::{
    GrpcApi, bearer, codec::EncodedServerFrame, peer_ip,
    session_server::session_service_server::SessionService, status,
};
use crate::error::close_status;

/// The response stream of a session.
pub type FrameStream = Pin<Box<dyn Stream<Item = Result<EncodedServerFrame, Status>> + Send>>;

#[tonic::async_trait]
impl SessionService for GrpcApi {
    type SessionStream = FrameStream;

    async fn session(
        &self,
        request: Request<Streaming<ClientFrame>>,
    ) -> Result<Response<FrameStream>, Status> {
        // A bad token fails the call itself, before any stream exists.
        let auth = SessionAuth::Upfront(bearer(request.metadata()).to_owned());
        let handle = self
            .g
            .connections
            .open_session(auth, peer_ip(request.extensions()))
            .await
            .map_err(status)?;
        let ConnectionHandle {
            slot,
            outbound,
            permits,
            closer,
            ..
        } = handle;
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
