//! User sessions: one `UserSessionActor` per online user in the cluster, on the node
//! placement picks for the user; the user's presence authority and the place where their
//! devices meet.
//!
//! Files, by concern: `ops.rs` (what a session is asked and answers), `messages.rs`,
//! `actor.rs`, `announce.rs` (presence to rooms and friends), `supervisor.rs` and
//! `local.rs` (this node's sessions), `remote.rs` (the wire mapping to peers),
//! `directory.rs` (routing by placement). This file only declares and re-exports.

mod actor;
mod announce;
mod directory;
mod local;
mod messages;
mod ops;
mod remote;
mod supervisor;
#[cfg(test)]
mod tests;

pub use directory::UserDirectory;
pub use ops::{ConnKey, UserOp, UserOutcome};
pub(crate) use remote::{serve_call as serve_peer_call, serve_cast as serve_peer_cast};
