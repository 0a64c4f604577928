//! Long polling, for clients that cannot keep a WebSocket. A poll session is a connection
//! whose outbound queue is drained into a numbered buffer instead of a socket:
//! `sessions.rs` keeps them, `routes.rs` serves them over HTTP.

mod routes;
pub(crate) mod sessions;

pub use routes::{close, command, open, poll};
pub(crate) use sessions::parse_cursor;
