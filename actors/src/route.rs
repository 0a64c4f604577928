//! Where an operation runs: on the actor of this node that owns it, or on the node that owns
//! it, chosen by placement. Local and remote execution sit behind one typed interface,
//! [`Shard`] (qdrant's `ShardOperation`, implemented by a local and a remote shard, is the
//! model): the local actors implement it, and so does a [`Peer`], through the wire mapping
//! that lives beside each kind of actor (`room/remote.rs`, `user/remote.rs`). Callers never
//! match on where the work runs, and every remote call has the configured timeout.

use std::{sync::Arc, time::Duration};

use chat_cluster::{Key, Owner, Placement};
use chat_proto::cluster as pb;
use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;

use crate::error::ChatError;

/// An answer still to come.
pub(crate) type Pending<T> = BoxFuture<'static, Result<T, ChatError>>;

/// Most times a request is passed on between nodes whose views disagree.
pub(crate) const MAX_HOPS: u32 = 2;

/// Runs the operations of one kind of actor (rooms, user sessions).
pub(crate) trait Shard<Op, Out>: Send + Sync {
    /// Hands `op` for the actor `id` over now, so operations submitted one after another
    /// reach it in that order, and returns the wait for its outcome. `hops` counts how often
    /// the request was passed on already (0 from a client).
    fn submit(&self, id: u64, op: Op, hops: u32) -> BoxFuture<'_, Result<Pending<Out>, ChatError>>;
}

/// Another node, reached through its endpoint.
pub(crate) struct Peer {
    name: Arc<str>,
    timeout: Duration,
}

impl Peer {
    /// Sends `request` now and returns the wait for the reply (its error, if it is one).
    pub(crate) fn call(
        &self,
        request: &pb::PeerRequest,
    ) -> Result<Pending<pb::peer_reply::Kind>, ChatError> {
        let reply = chat_cluster::call(&self.name, request, self.timeout)?;
        Ok(Box::pin(async move {
            match reply.await?.kind {
                Some(pb::peer_reply::Kind::Error(e)) => Err(ChatError::from_wire(&e)),
                Some(kind) => Ok(kind),
                None => Err(ChatError::Internal("cluster: an empty reply".into())),
            }
        }))
    }

    /// Sends `request` without waiting for anything.
    pub(crate) fn cast(&self, request: &pb::PeerRequest) -> Result<(), ChatError> {
        Ok(chat_cluster::cast(&self.name, request)?)
    }
}

/// Routes operations by placement, to a local shard or to the owner.
#[derive(Clone)]
pub(crate) struct Router {
    placement: Arc<Placement>,
    timeout: Duration,
    /// Counts what is sent to a peer, when given.
    forwarded: Option<Counter>,
}

impl Router {
    /// A router over `placement`, waiting at most `timeout` for a peer's answer.
    pub(crate) fn new(
        placement: Arc<Placement>,
        timeout: Duration,
        forwarded: Option<Counter>,
    ) -> Self {
        Self {
            placement,
            timeout,
            forwarded,
        }
    }

    /// Submits `op` for `id` (placed by `key`) where its owner is: `local`, or a peer.
    pub(crate) async fn submit<Op, Out>(
        &self,
        key: Key,
        local: &dyn Shard<Op, Out>,
        id: u64,
        op: Op,
        hops: u32,
    ) -> Result<Pending<Out>, ChatError>
    where
        Peer: Shard<Op, Out>,
    {
        match self.placement.owner(key) {
            Owner::Local => local.submit(id, op, hops).await,
            Owner::Remote(name) if hops >= MAX_HOPS => {
                Err(chat_cluster::ClusterError::Unreachable(name.to_string()).into())
            }
            Owner::Remote(name) => {
                if let Some(c) = &self.forwarded {
                    c.inc();
                }
                let peer = Peer {
                    name,
                    timeout: self.timeout,
                };
                peer.submit(id, op, hops).await
            }
        }
    }
}

/// Waits for a local actor's answer on `rx`, at most `timeout`. A dropped reply (the actor
/// crashed) or a late one leaves the outcome unknown: the caller may retry (sends carry
/// their client message id).
pub(crate) fn wait<T: Send + 'static>(
    rx: ractor::concurrency::OneshotReceiver<Result<T, ChatError>>,
    timeout: Duration,
    unavailable: fn() -> ChatError,
) -> Pending<T> {
    Box::pin(async move {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            _ => Err(unavailable()),
        }
    })
}
