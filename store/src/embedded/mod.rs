//! The embedded backend: fjall (an LSM-tree) under a local data directory.
//!
//! One keyspace per table. Message appends from all rooms go through one committer thread
//! that batches them into a single journal write and fsync (group commit); other writes are
//! rare and commit on their own, also synced.
//!
//! Files, by concern: `store.rs` (opening, threads), `tables.rs`, `committer.rs` (group
//! commit), then what is stored: `accounts.rs`, `social.rs`, `rooms.rs`, `log.rs`,
//! `files.rs`, `search.rs` (the message index). This file only declares and re-exports.

mod accounts;
mod committer;
mod files;
mod log;
mod rooms;
mod search;
mod social;
mod store;
mod tables;

pub use store::{EmbeddedConfig, EmbeddedStats, EmbeddedStore};

#[cfg(test)]
mod tests;
