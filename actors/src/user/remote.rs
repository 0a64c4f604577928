//! User-session operations across nodes: the wire mapping of [`UserOp`] and
//! [`UserOutcome`] to `chat.cluster.v1`, a [`Peer`] as a user-session [`Shard`], and serving
//! the requests peers send (always applied here: peers send them to the owner they see).

use std::sync::Arc;

use chat_cluster::PendingReply;
use chat_proto::cluster as pb;
use chat_store::UserId;
use futures::future::BoxFuture;

use super::{
    directory::UserDirectory,
    ops::{UserOp, UserOutcome},
};
use crate::{
    error::ChatError,
    route::{Peer, Pending, Shard},
};

impl Shard<UserOp, UserOutcome> for Peer {
    fn submit(
        &self,
        user: UserId,
        op: UserOp,
        _hops: u32,
    ) -> BoxFuture<'_, Result<Pending<UserOutcome>, ChatError>> {
        let request = request(user, &op);
        let answer: Result<Pending<UserOutcome>, ChatError> = match op {
            // Fire and forget: an owner that is unreachable is dropped from the membership,
            // and then every node attaches its connections to the new owner.
            UserOp::Attach(_) | UserOp::Detach(_) => {
                if self.cast(&request).is_err() {
                    tracing::debug!(user, "user session owner unreachable");
                }
                Ok(Box::pin(async { Ok(UserOutcome::Done) }))
            }
            UserOp::IsOnline => self.call(&request).map(|reply| {
                let answer: Pending<UserOutcome> = Box::pin(async move { outcome(reply.await?) });
                answer
            }),
        };
        Box::pin(async move { answer })
    }
}

fn request(user: UserId, op: &UserOp) -> pb::PeerRequest {
    use pb::user_request::Op;
    let connection = |(node, conn_id): &(Arc<str>, u64)| pb::Connection {
        node: node.to_string(),
        conn_id: *conn_id,
    };
    let op = match op {
        UserOp::Attach(c) => Op::Attach(connection(c)),
        UserOp::Detach(c) => Op::Detach(connection(c)),
        UserOp::IsOnline => Op::IsOnline(pb::IsOnline {}),
    };
    pb::PeerRequest {
        hops: 0,
        kind: Some(pb::peer_request::Kind::User(pb::UserRequest {
            user_id: user,
            op: Some(op),
        })),
    }
}

fn decode_op(request: pb::UserRequest) -> Result<(UserId, UserOp), ChatError> {
    use pb::user_request::Op;
    let key = |c: pb::Connection| (Arc::from(c.node), c.conn_id);
    let op = match request.op {
        Some(Op::Attach(c)) => UserOp::Attach(key(c)),
        Some(Op::Detach(c)) => UserOp::Detach(key(c)),
        Some(Op::IsOnline(_)) => UserOp::IsOnline,
        None => {
            return Err(ChatError::Internal(
                "cluster: malformed user request".into(),
            ));
        }
    };
    Ok((request.user_id, op))
}

fn outcome(kind: pb::peer_reply::Kind) -> Result<UserOutcome, ChatError> {
    match kind {
        pb::peer_reply::Kind::Online(o) => Ok(UserOutcome::Online(o.online)),
        pb::peer_reply::Kind::Done(_) => Ok(UserOutcome::Done),
        _ => Err(ChatError::Internal("cluster: malformed user reply".into())),
    }
}

fn reply(result: Result<UserOutcome, ChatError>) -> pb::PeerReply {
    use pb::peer_reply::Kind;
    let kind = match result {
        Ok(UserOutcome::Online(online)) => Kind::Online(pb::Online { online }),
        Ok(UserOutcome::Done) => Kind::Done(pb::Done {}),
        Err(e) => Kind::Error(e.to_wire()),
    };
    pb::PeerReply { kind: Some(kind) }
}

/// Serves a user-session request from a peer that wants an answer.
pub(crate) fn serve_call(users: &UserDirectory, request: pb::UserRequest) -> PendingReply {
    match decode_op(request) {
        Ok((user, op)) => {
            let pending = users.local().apply(user, op);
            Box::pin(async move { reply(pending.await) })
        }
        Err(e) => {
            let answer = reply(Err(e));
            Box::pin(async move { answer })
        }
    }
}

/// Serves a one-way user-session request from a peer (its connections attaching and
/// detaching).
pub(crate) fn serve_cast(users: &UserDirectory, request: pb::UserRequest) {
    match decode_op(request) {
        Ok((user, op @ (UserOp::Attach(_) | UserOp::Detach(_)))) => {
            drop(users.local().apply(user, op));
        }
        _ => tracing::warn!("cluster: unexpected one-way user request from a peer"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        for op in [
            UserOp::Attach((Arc::from("n1"), 7)),
            UserOp::Detach((Arc::from("n2"), 8)),
            UserOp::IsOnline,
        ] {
            let Some(pb::peer_request::Kind::User(u)) = request(5, &op).kind else {
                panic!("not a user request")
            };
            let (user, back) = decode_op(u).unwrap();
            assert_eq!(user, 5);
            assert_eq!(format!("{back:?}"), format!("{op:?}"));
        }
        for answer in [UserOutcome::Online(true), UserOutcome::Done] {
            let kind = reply(Ok(answer.clone())).kind.unwrap();
            assert_eq!(outcome(kind).unwrap(), answer);
        }
        assert!(decode_op(pb::UserRequest::default()).is_err());
        assert!(outcome(pb::peer_reply::Kind::Pong(pb::Pong::default())).is_err());
    }
}
