//! The messenger's rules, as ractor actors. No transport code lives here: transports decode
//! frames and hand them to a connection's actor, the one command dispatcher.
//!
//! Supervision tree of a node (every child is linked to its parent; stopping the root stops
//! all of them):
//!
//! ```text
//! NodeRoot (ractor root, spawned by ChatSystem::start)
//! ├── RoomSupervisor ─── RoomActor*        one per active room; activated on demand, stopped
//! │                                        when idle, restarted from the store after a crash
//! ├── UserSupervisor ─── UserSessionActor* one per online user; stops a grace period after
//! │                                        the user's last connection closes
//! └── ConnectionSupervisor ── ConnectionActor*  one per socket while it has work: an idle
//!                                          one hibernates and the next frame wakes a new
//!                                          one; never restarted after a crash (the client
//!                                          reconnects and recovers by seq)
//! ```
//!
//! Alongside the tree: the [`hub::Hub`] (local fan-out by topic), the [`bus::Bus`]
//! (in-process, or NATS in a cluster), [`presence::Presence`], and in a cluster the
//! membership of `chat-cluster`, which reaches rooms and user sessions through the
//! `PeerService` this crate implements (`peers.rs`).
//!
//! May depend on `chat-proto`, `chat-store` and `chat-cluster`; never on the gateway or the
//! node. Inside the crate no file imports one that imports it back (`scripts/structure.py`
//! checks it): this file and each directory's `mod.rs` only declare and re-export.

pub mod auth;
pub mod bus;
pub mod config;
pub mod connection;
pub mod convert;
mod core;
pub mod error;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
mod guessing;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod outbound;
mod peers;
pub mod presence;
pub mod room;
mod route;
mod services;
pub mod social;
mod spawn;
mod system;
#[cfg(test)]
mod testing;
pub mod user;

/// The cluster layer, for the layers above (the node's configuration).
pub use chat_cluster as cluster;
pub use chat_store::UserRecord;

pub use crate::{
    auth::{AuthConfig, AuthService, TokenSigner},
    config::{BusBackend, BusConfig, ChatConfig, FilesConfig},
    connection::ConnectionRegistry,
    core::Core,
    error::{ChatError, Reason, StartError},
    files::FileService,
    room::RoomDirectory,
    services::Services,
    system::{ChatSystem, SystemConfig},
    user::UserDirectory,
};
