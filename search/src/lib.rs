//! Message search for the chat cluster: the text analysis shared by the index and the
//! queries (Korean-aware, see [`analysis`]), query parsing and matching, the indexer that
//! follows room logs from a watermark, and the engine that answers a query over the rooms
//! a caller may read (the caller says which and from where: the rules live with the rooms).
//!
//! Depends on `chat-store` only: it reads logs and writes the index through the store's
//! traits and knows nothing of actors, transports or the wire protocol.

pub mod analysis;
pub mod cursor;
pub mod document;
pub mod engine;
pub mod indexer;
pub mod query;
pub mod snippet;
pub mod worker;

pub use cursor::{BadCursor, Cursor};
pub use engine::{Filters, Hit, Page, RoomView, search};
pub use query::{Query, QueryError};
pub use worker::Indexer;

#[cfg(test)]
mod test_log;
