//! What can go wrong, for the app to branch on.

use chat_proto::v1;

/// An error of the server (an `error` frame, a gRPC status, a non-2xx HTTP answer) or of the
/// client itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server refused: branch on `reason` (docs/protocol.md lists them).
    #[error("{reason}: {message}")]
    Server {
        /// The protocol error code (a gRPC status number).
        code: i32,
        /// Stable, machine-readable (`NOT_A_MEMBER`, `RATE_LIMITED`, ...).
        reason: String,
        /// For people; never internal details.
        message: String,
        /// Whether the same request may succeed if sent again.
        retryable: bool,
        /// How long to wait first (0: no advice).
        retry_after_ms: u32,
    },
    /// Not connected right now (the request was not sent).
    #[error("not connected")]
    Offline,
    /// No reply in time.
    #[error("no reply in time")]
    Timeout,
    /// The connection dropped before the reply came.
    #[error("connection lost")]
    Disconnected,
    /// The client was closed (by the app, or for good by the server).
    #[error("client closed: {0}")]
    Closed(String),
    /// The node could not be reached or spoke something unexpected.
    #[error("transport: {0}")]
    Transport(String),
}

impl ClientError {
    /// The error an `error` frame carries.
    pub fn from_frame(e: &v1::Error) -> Self {
        Self::Server {
            code: e.code,
            reason: e.reason.clone(),
            message: e.message.clone(),
            retryable: e.retryable,
            retry_after_ms: e.retry_after_ms,
        }
    }

    /// The server's reason, or the client's own in the same style.
    pub fn reason(&self) -> &str {
        match self {
            Self::Server { reason, .. } => reason,
            Self::Offline => "OFFLINE",
            Self::Timeout => "TIMEOUT",
            Self::Disconnected => "DISCONNECTED",
            Self::Closed(_) => "CLOSED",
            Self::Transport(_) => "TRANSPORT",
        }
    }

    /// Whether the same request may succeed when sent again (after `retry_after_ms`).
    pub fn retryable(&self) -> bool {
        match self {
            Self::Server { retryable, .. } => *retryable,
            Self::Closed(_) => false,
            Self::Offline | Self::Timeout | Self::Disconnected | Self::Transport(_) => true,
        }
    }

    /// Whether this says the log-in is over (log in again).
    pub fn is_signed_out(&self) -> bool {
        matches!(
            self.reason(),
            "REFRESH_TOKEN_INVALID" | "AUTH_REVOKED" | "BAD_CREDENTIALS"
        )
    }

    pub(crate) fn transport(e: impl std::fmt::Display) -> Self {
        Self::Transport(e.to_string())
    }
}
