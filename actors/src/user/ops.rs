//! What a user session is asked and what it answers, the same values whether the session
//! runs here or on another node (`remote.rs` maps them to `chat.cluster.v1`).

use std::sync::Arc;

/// A connection, cluster-wide: the node holding its socket and its id there.
pub type ConnKey = (Arc<str>, u64);

/// What a user session is asked to do.
#[derive(Debug, Clone)]
pub enum UserOp {
    /// A connection of the user opened; answers [`UserOutcome::Done`] at once.
    Attach(ConnKey),
    /// A connection of the user closed; answers [`UserOutcome::Done`] at once.
    Detach(ConnKey),
    /// Is any connection of the user open? Answers [`UserOutcome::Online`].
    IsOnline,
}

/// What a user session answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserOutcome {
    /// Taken (attach and detach are not waited for).
    Done,
    /// Whether the user has a connection open.
    Online(bool),
}
