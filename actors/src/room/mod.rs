//! Rooms. A `RoomActor` is the one sequencer of a room in the cluster: it checks
//! membership, de-duplicates by client message id, assigns the next dense seq, hands batches
//! to the store (one append in flight at a time, so seq order is log order), and once a batch
//! is durable acks the senders and publishes the messages, in seq order. It owns the member
//! set, the members' read cursors (for unread counts) and a cache of recent messages.
//! Activated on demand, stopped when idle, restarted from the store after a crash.
//!
//! Files, by concern: `ops.rs` (what a room is asked and answers), `actor.rs` (lifecycle and
//! dispatch), `state.rs`, the handlers `sequencer.rs`, `reads.rs`, `membership.rs`,
//! `system.rs` (system entries), `admin.rs` (the owner's controls), `pins.rs` (the notice
//! and pinned messages), `timeline.rs` (replies, edits, deletes, reactions), `reactions.rs`
//! (who reacted), `events.rs` (what a room publishes), `supervisor.rs` and `local.rs` (this
//! node's room actors), `remote.rs` and `remote_settings.rs` (the wire mapping to peers),
//! `directory.rs` (routing by placement).
//! This file only declares and re-exports.

mod actor;
mod admin;
#[cfg(test)]
mod admin_tests;
pub mod cursors;
mod directory;
mod events;
mod hidden;
mod idempotency;
mod local;
mod membership;
#[cfg(test)]
mod mention_tests;
mod mentions;
mod ops;
mod pins;
#[cfg(test)]
mod pins_tests;
mod reactions;
mod reads;
mod remote;
mod remote_settings;
#[cfg(test)]
mod search_tests;
mod sequencer;
mod state;
mod supervisor;
mod system;
#[cfg(test)]
mod tests;
mod timeline;
#[cfg(test)]
mod timeline_tests;

pub(crate) use admin::check_room_name;
pub use directory::RoomDirectory;
pub(crate) use membership::require_room_capacity;
pub use ops::{
    Ack, HistoryPage, Opened, Reply, RoomMessage, RoomOp, RoomOutcome, RoomSnapshot, SendRequest,
    ack_to_proto, opened_to_proto, snapshot_to_proto,
};
pub(crate) use remote::serve as serve_peer;
