//! What this node serves its peers: the cluster endpoint's [`PeerService`], dispatching
//! room operations and user-session requests to their halves in `room/remote.rs` and
//! `user/remote.rs`.

use chat_cluster::{PeerService, PendingReply};
use chat_proto::cluster as pb;
use futures::future::BoxFuture;

use crate::{
    error::ChatError,
    room::{self, RoomDirectory},
    user::{self, UserDirectory},
};

/// The actors, as peers see them.
pub(crate) struct PeerHandler {
    pub(crate) rooms: RoomDirectory,
    pub(crate) users: UserDirectory,
}

impl PeerService for PeerHandler {
    // The outer future hands the request on; the inner one is the reply, awaited apart.
    #[allow(clippy::async_yields_async)]
    fn call(&self, request: pb::PeerRequest) -> BoxFuture<'_, PendingReply> {
        Box::pin(async move {
            match request.kind {
                Some(pb::peer_request::Kind::Room(r)) => {
                    room::serve_peer(&self.rooms, r, request.hops).await
                }
                Some(pb::peer_request::Kind::User(u)) => user::serve_peer_call(&self.users, u),
                Some(pb::peer_request::Kind::Ping(_)) | None => {
                    let e = ChatError::Internal("cluster: unexpected request".into());
                    let reply = pb::PeerReply {
                        kind: Some(pb::peer_reply::Kind::Error(e.to_wire())),
                    };
                    Box::pin(async move { reply })
                }
            }
        })
    }

    fn cast(&self, request: pb::PeerRequest) {
        match request.kind {
            Some(pb::peer_request::Kind::User(u)) => user::serve_peer_cast(&self.users, u),
            _ => tracing::warn!("cluster: unexpected one-way request from a peer"),
        }
    }
}
