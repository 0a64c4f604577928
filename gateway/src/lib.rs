//! Transports of a node, on one listener: HTTP (accounts, files, health), WebSocket `/v1/ws`
//! (both subprotocols), gRPC (HTTP/2, and gRPC-Web over HTTP/1.1).
//! Transports stay thin: they decode frames and hand them to the connection actor, the one
//! command dispatcher, and write what its outbound queue yields. No business logic here.
//!
//! May depend on `chat-actors` and `chat-proto`; never on the store or the node. Inside the
//! crate no file imports one that imports it back: this file only declares and re-exports.

mod client_ip;
mod config;
mod cors;
mod error;
mod files;
mod frontend;
#[doc(hidden)]
pub mod fuzzing;
mod grpc;
mod http;
mod poll;
mod respond;
pub mod serve;
mod state;
pub mod tls;
mod web;
mod ws;

pub use config::GatewayConfig;
pub use error::{grpc_status, http_status};
pub use frontend::Frontend;
pub use state::Gateway;
