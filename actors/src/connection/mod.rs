//! Connections: one `ConnectionActor` per client connection, on the node holding the socket,
//! the one command dispatcher for every transport. The transport opens a connection through
//! [`ConnectionRegistry::open_session`] (or [`ConnectionRegistry::admit`], then
//! [`Admission::open`]), hands decoded frames to its [`ConnectionSlot`], and writes what its
//! outbound queue yields.
//!
//! Files, by concern: `open.rs` (opening, dispatching, closing), `message.rs`, `actor.rs`
//! (the dispatcher), `commands.rs` (the commands that need no connection state),
//! `room_commands.rs` (those a room actor answers), `search.rs` (message search), `entries.rs` (sends, edits and deletes:
//! timeline entries, kept in order), `slot.rs` (what survives hibernation), `registry.rs`
//! and `supervisor.rs`. This file only declares and re-exports.

#[cfg(test)]
mod access_tests;
mod actor;
mod commands;
mod entries;
mod message;
mod open;
mod registry;
mod room_commands;
mod search;
mod slot;
mod supervisor;
#[cfg(test)]
mod tests;

pub use commands::unary;
pub use message::ConnectionMessage;
pub use open::{Admission, ConnectionHandle, SessionAuth};
pub use registry::ConnectionRegistry;
pub use slot::ConnectionSlot;
