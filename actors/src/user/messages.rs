//! The messages of the user supervisor and of each user session actor.

use std::sync::Arc;

use chat_cluster::View;
use chat_store::UserId;
use ractor::RpcReplyPort;

use super::ops::ConnKey;

/// Messages to the user supervisor.
#[derive(ractor_cluster::RactorMessage)]
pub enum UserSupervisorMessage {
    /// A connection of a user opened.
    Attach(UserId, ConnKey),
    /// A connection of a user closed.
    Detach(UserId, ConnKey),
    /// The cluster's members changed: sessions this node no longer owns stop (their
    /// connections attach to the new owner), the others forget connections of nodes gone.
    ViewChanged(Arc<View>),
    /// Whether a user has a connection open.
    IsOnline(UserId, RpcReplyPort<bool>),
    /// A session has been without connections for its grace period.
    Idle(UserId),
}

/// Messages to a user session.
#[derive(ractor_cluster::RactorMessage)]
pub enum UserMessage {
    /// A connection of this user opened.
    Attach(ConnKey),
    /// A connection of this user closed.
    Detach(ConnKey),
    /// The cluster's members changed: connections on nodes that left are gone.
    Members(Arc<View>),
    /// Is any connection of this user open?
    IsOnline(RpcReplyPort<bool>),
    /// The grace period of generation `n` ended.
    GraceExpired(u64),
    /// Stop if still without connections (asked by the supervisor); replies whether it stops.
    StopIfIdle(RpcReplyPort<bool>),
}
