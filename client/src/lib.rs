//! `chat-client`: a Rust client of the chat protocol (docs/clients.md), for apps, bots,
//! tools and the load generator. Two layers:
//!
//! - [`conn`]: one connection's raw halves, a WebSocket (protobuf or JSON frames) or a gRPC
//!   `Session` stream; no policy (chatload drives these directly).
//! - [`Client`]: the managed client, with the semantics every client needs: re-authenticate
//!   before the token expires, heartbeat, reconnect with jittered backoff by close code,
//!   re-open rooms by seq and fill any gap from history (each message once, in order), and an
//!   outbox retrying sends with the same `client_msg_id` until acked.
//!
//! [`HttpApi`] and [`Session`] cover accounts and tokens. Depends on `chat-proto` only (and
//! the transports' crates): it speaks the public protocol, nothing internal.

mod client;
pub mod conn;
mod error;
mod http;
mod ids;
mod live;
mod outbox;
mod rooms;
mod session;
mod shared;
mod task;
mod types;

pub use chat_proto::v1;
pub use client::Client;
pub use conn::{Dial, Transport, Wire};
pub use error::ClientError;
pub use http::HttpApi;
pub use ids::client_msg_id;
pub use outbox::{OutboxState, OutboxUpdate};
pub use session::{AccessToken, Session, TokenSource};
pub use types::{ConnectionState, Event, Options};
