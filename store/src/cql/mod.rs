//! The CQL backend (ScyllaDB, or Apache Cassandra which speaks the same protocol) through
//! the `scylla` driver: prepared statements only, token-aware routing (the driver's default
//! policy), configurable consistency (LOCAL_QUORUM by default; lightweight transactions at
//! LOCAL_SERIAL) and timeouts, credentials from configuration.
//!
//! **Fencing.** A room's head row holds its owner's epoch, advanced by a lightweight
//! transaction in `claim_room`. An append writes the message rows first, with the
//! epoch as their write timestamp, then moves the head with a lightweight transaction that
//! requires the epoch and the expected end of the log. The head is the commit point: reads
//! never look past it, and because message rows carry their owner's epoch as timestamp, a
//! stale owner's late write can never replace a newer owner's row at the same seq
//! (last-write-wins), whatever order they arrive in. Rows a failed append left past the
//! head are invisible and overwritten by the next owner.
//!
//! Files, by concern: `config.rs`, `store.rs` (the session and statements), `statements.rs`,
//! `values.rs`, `schema.rs` (migrations), then what is stored: `accounts.rs`, `search.rs`
//! (the username tree), `social.rs`, `rooms.rs`, `log.rs` (and its `tails.rs` hint),
//! `files.rs`, `message_index.rs` (message search). This file only declares and re-exports.

mod accounts;
mod config;
mod files;
mod log;
mod message_index;
mod rooms;
mod schema;
mod search;
mod social;
mod statements;
mod store;
mod tails;
mod values;

pub use config::CqlConfig;
pub use schema::{LATEST as SCHEMA_VERSION, Replication};
pub use store::CqlStore;

#[cfg(test)]
mod tests;
