//! `NodeEndpoint`: the one actor of a node that peers talk to. It joins the process group
//! named after its node, which ractor_cluster mirrors on every connected peer, so any node
//! finds any other's endpoint by name. Requests and replies cross as `chat.cluster.v1` bytes.
//!
//! The endpoint answers heartbeats itself and hands every other request to the
//! [`PeerService`] the layer above implements (the actors: rooms and user sessions), so this
//! crate never names what the requests are about.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chat_proto::{cluster as pb, v1};
use futures::future::BoxFuture;
use prost::Message as _;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::error::{ClusterError, ClusterResult};

/// Messages between nodes. Variants are only ever added (see `chat.cluster.v1`).
#[derive(ractor_cluster::RactorClusterMessage)]
pub enum PeerMessage {
    /// A request expecting a reply (`PeerRequest` -> `PeerReply`).
    #[rpc]
    Call(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// A request without a reply (`PeerRequest`).
    Cast(Vec<u8>),
}

/// A reply still to come.
pub type PendingReply = BoxFuture<'static, pb::PeerReply>;

/// What a node serves its peers, implemented by the layer above (centrifuge's broker is
/// handed its event handler the same way).
pub trait PeerService: Send + Sync + 'static {
    /// A request that wants a reply. The endpoint awaits the outer future before taking its
    /// next request, so whatever it hands on keeps the order the peer sent it in; the reply
    /// it yields is awaited apart.
    fn call(&self, request: pb::PeerRequest) -> BoxFuture<'_, PendingReply>;
    /// A one-way request, taken in arrival order.
    fn cast(&self, request: pb::PeerRequest);
}

/// The process group holding the endpoint of node `name`.
pub fn group_of(name: &str) -> String {
    format!("chat.node.{name}")
}

/// The endpoint of node `name`, if it is connected.
fn endpoint_of(name: &str) -> ClusterResult<ActorRef<PeerMessage>> {
    ractor::pg::get_members(&group_of(name))
        .into_iter()
        .next()
        .map(ActorRef::from)
        .ok_or_else(|| ClusterError::Unreachable(name.to_owned()))
}

/// Sends `request` to node `name` now (so requests to one node keep their order) and
/// returns the wait for its reply, at most `timeout`.
pub fn call(
    name: &str,
    request: &pb::PeerRequest,
    timeout: Duration,
) -> ClusterResult<impl Future<Output = ClusterResult<pb::PeerReply>> + use<>> {
    let endpoint = endpoint_of(name)?;
    let (tx, rx) = ractor::concurrency::oneshot();
    endpoint
        .cast(PeerMessage::Call(request.encode_to_vec(), tx.into()))
        .map_err(|_| ClusterError::Unreachable(name.to_owned()))?;
    let name = name.to_owned();
    Ok(async move {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(bytes)) => pb::PeerReply::decode(bytes.as_slice())
                .map_err(|_| ClusterError::Malformed("reply")),
            // Dropped: the session broke. Either way the outcome is unknown; callers' retries
            // are idempotent.
            Ok(Err(_)) => Err(ClusterError::Unreachable(name)),
            Err(_) => Err(ClusterError::Timeout(name)),
        }
    })
}

/// Sends `request` to node `name` without waiting for anything.
pub fn cast(name: &str, request: &pb::PeerRequest) -> ClusterResult<()> {
    endpoint_of(name)?
        .cast(PeerMessage::Cast(request.encode_to_vec()))
        .map_err(|_| ClusterError::Unreachable(name.to_owned()))
}

/// What the endpoint serves.
pub struct EndpointArgs {
    /// This node's name.
    pub name: Arc<str>,
    /// Everything but heartbeats.
    pub service: Arc<dyn PeerService>,
    /// Set while the node leaves the cluster (reported in pongs).
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
            PeerMessage::Cast(bytes) => match pb::PeerRequest::decode(bytes.as_slice()) {
                Ok(request) => state.service.cast(request),
                Err(_) => tracing::warn!("cluster: undecodable one-way request from a peer"),
            },
        }
        Ok(())
    }
}

async fn on_call(state: &EndpointArgs, bytes: &[u8], reply: RpcReplyPort<Vec<u8>>) {
    let answer = |kind| pb::PeerReply { kind: Some(kind) }.encode_to_vec();
    let request = match pb::PeerRequest::decode(bytes) {
        Ok(r) => r,
        Err(_) => {
            let _ = reply.send(answer(internal("undecodable request")));
            return;
        }
    };
    match request.kind {
        Some(pb::peer_request::Kind::Ping(_)) => {
            let pong = pb::Pong {
                node: state.name.to_string(),
                leaving: state.leaving.load(Ordering::Relaxed),
            };
            let _ = reply.send(answer(pb::peer_reply::Kind::Pong(pong)));
        }
        None => {
            let _ = reply.send(answer(internal("empty request")));
        }
        Some(_) => {
            // Handed on here, in arrival order; only the wait runs apart.
            let pending = state.service.call(request).await;
            tokio::spawn(async move {
                let _ = reply.send(pending.await.encode_to_vec());
            });
        }
    }
}

/// The reply to a request this node cannot even read.
fn internal(what: &str) -> pb::peer_reply::Kind {
    pb::peer_reply::Kind::Error(v1::Error {
        code: v1::ErrorCode::Internal.into(),
        reason: "INTERNAL".into(),
        message: format!("cluster: {what}"),
        retryable: false,
        retry_after_ms: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_peer_that_is_not_connected_is_unreachable_at_once() {
        let ping = pb::PeerRequest::default();
        let call = call("nobody", &ping, Duration::from_secs(1)).map(|_| ());
        assert_eq!(call, Err(ClusterError::Unreachable("nobody".into())));
        assert_eq!(
            cast("nobody", &ping),
            Err(ClusterError::Unreachable("nobody".into()))
        );
    }

    /// What answers a request the endpoint cannot read: an internal error, never a panic.
    #[test]
    fn an_unreadable_request_gets_an_internal_error() {
        let pb::peer_reply::Kind::Error(e) = internal("undecodable request") else {
            panic!("not an error")
        };
        assert_eq!(e.code(), v1::ErrorCode::Internal);
    }
}
