//! The wire protocol of the chat cluster: package `chat.v1`.
//!
//! `chat/v1/*.proto` is the single source of truth. This crate compiles it at build time
//! (protox, no `protoc` needed) into prost types with the canonical protobuf JSON mapping
//! (pbjson: proto field names, 64-bit integers as strings, every field emitted), and adds the
//! frame codecs the transports share. It depends on nothing else in the workspace.

mod codec;
#[doc(hidden)]
pub mod fuzzing;
mod generated;

pub use codec::{Codec, DecodeError, decode_client_frame, encode_server_frame, json_problem};
/// Between the nodes of a cluster (package `chat.cluster.v1`): not the client protocol.
pub use generated::chat::cluster::v1 as cluster;
pub use generated::chat::v1;

/// The serialized `FileDescriptorSet` of `chat.v1` (for gRPC reflection and tooling).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/chat_v1_descriptor.bin"));

/// WebSocket subprotocol for protobuf JSON text frames.
pub const SUBPROTOCOL_JSON: &str = "chat.v1.json";
/// WebSocket subprotocol for binary protobuf frames.
pub const SUBPROTOCOL_PROTO: &str = "chat.v1.proto";
