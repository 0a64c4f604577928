//! What a connection actor is sent.

use chat_proto::v1::ClientFrame;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::ChatError;

/// Messages to a connection actor.
#[derive(ractor_cluster::RactorMessage)]
pub enum ConnectionMessage {
    /// A decoded client frame, with the reader's in-flight permit.
    Frame(ClientFrame, Option<OwnedSemaphorePermit>),
    /// The transport could not decode a frame; answer with this error (with the reader's
    /// permit, like a frame, so a hibernating actor never drops one).
    Reject(u32, ChatError, Option<OwnedSemaphorePermit>),
    /// The transport closed (client gone).
    TransportClosed,
    /// The authentication deadline passed.
    AuthDeadline,
    /// Periodic check whether the connection has been idle long enough to hibernate.
    IdleTick,
}
