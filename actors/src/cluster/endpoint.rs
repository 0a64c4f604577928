//! `NodeEndpoint`: the one actor of a node that peers talk to. It joins the process group
//! named after its node, which ractor_cluster mirrors on every connected peer, so any node
//! finds any other's endpoint by name. Requests and replies are `chat.cluster.v1` bytes.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chat_proto::cluster as pb;
use prost::Message as _;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::codec;
use crate::{
    error::{ChatError, Reason},
    room::RoomDirectory,
    user::UserDirectory,
};

/// Messages between nodes. Variants are only ever added (see `chat.cluster.v1`).
#[derive(ractor_cluster::RactorClusterMessage)]
pub enum PeerMessage {
    /// A request expecting a reply (`PeerRequest` -> `PeerReply`).
    #[rpc]
    Call(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// A request without a reply (`PeerRequest`).
    Cast(Vec<u8>),
}

/// The process group holding the endpoint of node `name`.
pub fn group_of(name: &str) -> String {
    format!("chat.node.{name}")
}

/// Prefix of every endpoint group.
pub const GROUP_PREFIX: &str = "chat.node.";

/// The endpoint of node `name`, if it is connected.
pub fn endpoint_of(name: &str) -> Option<ActorRef<PeerMessage>> {
    ractor::pg::get_members(&group_of(name))
        .into_iter()
        .next()
        .map(ActorRef::from)
}

/// The error for a peer that cannot be reached: retryable, as its work moves elsewhere.
pub fn peer_unavailable() -> ChatError {
    ChatError::Unavailable(
        Reason::RoomUnavailable,
        "the node owning this is unreachable, retry".into(),
    )
}

/// Sends `request` to node `name` now (so requests to one node keep their order) and
/// returns the wait for its reply.
pub fn call(
    name: &str,
    request: Vec<u8>,
    timeout: Duration,
) -> Result<impl Future<Output = Result<Vec<u8>, ChatError>> + use<>, ChatError> {
    let endpoint = endpoint_of(name).ok_or_else(peer_unavailable)?;
    let (tx, rx) = ractor::concurrency::oneshot();
    endpoint
        .cast(PeerMessage::Call(request, tx.into()))
        .map_err(|_| peer_unavailable())?;
    Ok(async move {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            // Dropped (the session broke) or late: the outcome is unknown; callers' retries
            // are idempotent.
            _ => Err(peer_unavailable()),
        }
    })
}

/// Sends `request` to node `name` without waiting for anything.
pub fn cast(name: &str, request: Vec<u8>) -> Result<(), ChatError> {
    let endpoint = endpoint_of(name).ok_or_else(peer_unavailable)?;
    endpoint
        .cast(PeerMessage::Cast(request))
        .map_err(|_| peer_unavailable())
}

/// What the endpoint serves.
pub struct EndpointArgs {
    /// This node's name.
    pub name: Arc<str>,
    /// Rooms (local ones, or forwarded once more when this node's view differs).
    pub rooms: RoomDirectory,
    /// User sessions.
    pub users: UserDirectory,
    /// Set while the node leaves the cluster.
    pub leaving: Arc<AtomicBool>,
}

/// The endpoint actor (see the module docs).
pub struct NodeEndpoint;

impl Actor for NodeEndpoint {
    type Msg = PeerMessage;
    type State = EndpointArgs;
    type Arguments = EndpointArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: EndpointArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join(group_of(&args.name), vec![myself.get_cell()]);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PeerMessage::Call(bytes, reply) => on_call(state, &bytes, reply).await,
            PeerMessage::Cast(bytes) => on_cast(state, &bytes),
        }
        Ok(())
    }
}

async fn on_call(state: &EndpointArgs, bytes: &[u8], reply: RpcReplyPort<Vec<u8>>) {
    let Ok(request) = pb::PeerRequest::decode(bytes) else {
        let _ = reply.send(codec::error_reply(&ChatError::Internal(
            "cluster: undecodable request".into(),
        )));
        return;
    };
    match request.kind {
        Some(pb::peer_request::Kind::Ping(_)) => {
            let pong = pb::Pong {
                node: state.name.to_string(),
                leaving: state.leaving.load(Ordering::Relaxed),
            };
            let _ = reply.send(codec::reply(pb::peer_reply::Kind::Pong(pong)));
        }
        Some(pb::peer_request::Kind::Room(r)) => {
            let (room, op) = match codec::room_op(r) {
                Ok(v) => v,
                Err(e) => {
                    let _ = reply.send(codec::error_reply(&e));
                    return;
                }
            };
            // Handed on here, in arrival order; only the wait runs apart.
            match state.rooms.submit(room, op, request.hops + 1).await {
                Ok(done) => {
                    tokio::spawn(async move {
                        let _ = reply.send(codec::room_reply(&done.await));
                    });
                }
                Err(e) => {
                    let _ = reply.send(codec::room_reply(&Err(e)));
                }
            }
        }
        Some(pb::peer_request::Kind::User(u)) => {
            let users = state.users.clone();
            tokio::spawn(async move {
                let answer = users.serve_peer_call(u).await;
                let _ = reply.send(match answer {
                    Ok(kind) => codec::reply(kind),
                    Err(e) => codec::error_reply(&e),
                });
            });
        }
        None => {
            let _ = reply.send(codec::error_reply(&ChatError::Internal(
                "cluster: empty request".into(),
            )));
        }
    }
}

fn on_cast(state: &EndpointArgs, bytes: &[u8]) {
    match pb::PeerRequest::decode(bytes) {
        Ok(pb::PeerRequest {
            kind: Some(pb::peer_request::Kind::User(u)),
            ..
        }) => state.users.serve_peer_cast(u),
        _ => tracing::warn!("cluster: unexpected one-way request from a peer"),
    }
}
