//! The one error type of the messenger, its protocol form and how it crosses to peers; and
//! the error of starting a node's actors.

use chat_cluster::ClusterError;
use chat_proto::v1::{self, CloseCode, ErrorCode};
use chat_store::StoreError;

/// A stable, documented, machine-readable reason (docs/protocol.md lists them all).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::EnumIter, strum::IntoStaticStr,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum Reason {
    InvalidUsername,
    InvalidDisplayName,
    InvalidPassword,
    UsernameTaken,
    BadCredentials,
    TokenMissing,
    TokenInvalid,
    TokenExpired,
    RefreshTokenInvalid,
    AuthRevoked,
    UserMismatch,
    NotAuthenticated,
    MalformedFrame,
    MalformedRequest,
    MethodNotAllowed,
    BodyTooLarge,
    UnsupportedMediaType,
    UnknownCommand,
    FrameTooLarge,
    EmptyMessage,
    MessageTooLong,
    InvalidClientMsgId,
    InvalidRoomName,
    InvalidLimit,
    InvalidArgument,
    SeqInFuture,
    SeqBeyondLast,
    InvalidCursor,
    CursorExpired,
    SessionNotFound,
    SessionClosed,
    Blocked,
    AlreadyFriends,
    RequestPending,
    NoSuchRequest,
    NotFriends,
    CannotFriendSelf,
    CannotBlockSelf,
    InvalidStatusMessage,
    InvalidPrefix,
    UserNotFound,
    RoomNotFound,
    NotAMember,
    NotAGroupRoom,
    RoomFull,
    TooManyRooms,
    TooManyContacts,
    TooManyPendingRequests,
    RateLimited,
    TooManyConnections,
    CannotDirectSelf,
    RoomUnavailable,
    StoreUnavailable,
    Draining,
    Internal,
    FileTooLarge,
    FileEmpty,
    InvalidFileName,
    FileNotFound,
    UrlExpired,
    TooManyAttachments,
    NotAnImage,
    ThumbnailNotReady,
    RangeNotSatisfiable,
    UploadInterrupted,
    SessionRequired,
    Starting,
    NotFound,
    AlreadyExists,
    MessageNotFound,
    NotAMessage,
    NotYourMessage,
    MessageDeleted,
    EditWindowClosed,
    UnsendWindowClosed,
    InvalidEmoji,
    AlreadyReacted,
    ReactionNotFound,
    TooManyReactions,
    InvalidMention,
    TooManyMentions,
    NotRoomOwner,
    MemberNotFound,
    TooManyHidden,
    PinListFull,
    InvalidNotice,
    EmptyQuery,
    QueryTooLong,
}

impl Reason {
    /// The wire spelling (derived from the name: `RoomFull` is `ROOM_FULL`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why a request failed. Each variant is one protocol error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// `INVALID_ARGUMENT`
    #[error("{1}")]
    InvalidArgument(Reason, String),
    /// `NOT_FOUND`
    #[error("{1}")]
    NotFound(Reason, String),
    /// `ALREADY_EXISTS`
    #[error("{1}")]
    AlreadyExists(Reason, String),
    /// `PERMISSION_DENIED`
    #[error("{1}")]
    PermissionDenied(Reason, String),
    /// `RESOURCE_EXHAUSTED`, with an optional retry-after in ms.
    #[error("{1}")]
    ResourceExhausted(Reason, String, u32),
    /// `FAILED_PRECONDITION`
    #[error("{1}")]
    FailedPrecondition(Reason, String),
    /// `UNAUTHENTICATED`
    #[error("{1}")]
    Unauthenticated(Reason, String),
    /// `UNAVAILABLE` (always retryable)
    #[error("{1}")]
    Unavailable(Reason, String),
    /// `INTERNAL`: the detail is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ChatError {
    /// `INVALID_ARGUMENT` with a reason.
    pub fn invalid(reason: Reason, message: impl Into<String>) -> Self {
        Self::InvalidArgument(reason, message.into())
    }

    /// The room does not exist, or the caller may not know it does.
    pub fn room_not_found() -> Self {
        Self::NotFound(Reason::RoomNotFound, "no such room".into())
    }

    /// The file does not exist, or the caller may not read it (the two look the same, so
    /// ids cannot be probed).
    pub fn file_not_found() -> Self {
        Self::NotFound(Reason::FileNotFound, "no such file".into())
    }

    /// The caller is not a member of the room.
    pub fn not_a_member() -> Self {
        Self::PermissionDenied(
            Reason::NotAMember,
            "you are not a member of this room".into(),
        )
    }

    /// The room's actor could not answer in time, or restarted: retry.
    pub fn room_unavailable() -> Self {
        Self::Unavailable(
            Reason::RoomUnavailable,
            "room temporarily unavailable, retry".into(),
        )
    }

    /// The protocol error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument(..) => ErrorCode::InvalidArgument,
            Self::NotFound(..) => ErrorCode::NotFound,
            Self::AlreadyExists(..) => ErrorCode::AlreadyExists,
            Self::PermissionDenied(..) => ErrorCode::PermissionDenied,
            Self::ResourceExhausted(..) => ErrorCode::ResourceExhausted,
            Self::FailedPrecondition(..) => ErrorCode::FailedPrecondition,
            Self::Unauthenticated(..) => ErrorCode::Unauthenticated,
            Self::Unavailable(..) => ErrorCode::Unavailable,
            Self::Internal(..) => ErrorCode::Internal,
        }
    }

    /// The documented reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::InvalidArgument(r, _)
            | Self::NotFound(r, _)
            | Self::AlreadyExists(r, _)
            | Self::PermissionDenied(r, _)
            | Self::ResourceExhausted(r, _, _)
            | Self::FailedPrecondition(r, _)
            | Self::Unauthenticated(r, _)
            | Self::Unavailable(r, _) => *r,
            Self::Internal(_) => Reason::Internal,
        }
    }

    /// Whether the same request may succeed later: always for `UNAVAILABLE`, and for
    /// `RESOURCE_EXHAUSTED` when a retry-after is given (a rate limit, not a hard limit).
    pub fn retryable(&self) -> bool {
        match self {
            Self::Unavailable(..) => true,
            Self::ResourceExhausted(_, _, retry_after_ms) => *retry_after_ms > 0,
            _ => false,
        }
    }

    /// The protocol value sent to clients. Internal details are replaced by a generic text.
    pub fn to_proto(&self) -> v1::Error {
        let message = match self {
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        let retry_after_ms = match self {
            Self::ResourceExhausted(_, _, ms) => *ms,
            _ => 0,
        };
        v1::Error {
            code: self.code().into(),
            reason: self.reason().as_str().to_owned(),
            message,
            retryable: self.retryable(),
            retry_after_ms,
        }
    }
}

impl From<StoreError> for ChatError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound(Reason::NotFound, "not found (any more)".into()),
            StoreError::AlreadyExists => {
                Self::AlreadyExists(Reason::AlreadyExists, "it exists already".into())
            }
            StoreError::Unavailable(_) | StoreError::Conflict { .. } => {
                tracing::warn!(error = %e, "store unavailable");
                Self::Unavailable(
                    Reason::StoreUnavailable,
                    "storage temporarily unavailable, retry".into(),
                )
            }
            StoreError::Invalid(_) | StoreError::Backend(_) | StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "store failure");
                Self::Internal(e.to_string())
            }
        }
    }
}

impl From<ClusterError> for ChatError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Unreachable(_) | ClusterError::Timeout(_) => Self::Unavailable(
                Reason::RoomUnavailable,
                "the node owning this is unreachable, retry".into(),
            ),
            ClusterError::Config(_)
            | ClusterError::Tls(_)
            | ClusterError::Nats(_)
            | ClusterError::Spawn(_)
            | ClusterError::Malformed(_) => Self::Internal(e.to_string()),
        }
    }
}

impl ChatError {
    /// The close code when this error ends a connection (its authentication was refused, or
    /// it is one too many); `None` when the connection carries on.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Self::Unauthenticated(Reason::AuthRevoked, _) => Some(CloseCode::AuthRevoked),
            Self::Unauthenticated(..) => Some(CloseCode::Unauthenticated),
            Self::ResourceExhausted(Reason::TooManyConnections, ..) => {
                Some(CloseCode::TooManyConnections)
            }
            Self::InvalidArgument(..)
            | Self::NotFound(..)
            | Self::AlreadyExists(..)
            | Self::PermissionDenied(..)
            | Self::ResourceExhausted(..)
            | Self::FailedPrecondition(..)
            | Self::Unavailable(..)
            | Self::Internal(..) => None,
        }
    }

    /// The error as it crosses to a peer: like the client's, but an internal error keeps
    /// its detail (peers log it; clients never see it).
    pub fn to_wire(&self) -> v1::Error {
        let mut e = self.to_proto();
        if let Self::Internal(detail) = self {
            e.message = detail.clone();
        }
        e
    }

    /// The error a peer sent, as this node's own (the client sees exactly what the owner
    /// would have sent it). A reason this build does not know keeps its code.
    pub fn from_wire(e: &v1::Error) -> Self {
        use v1::ErrorCode as C;
        let reason: Reason = e.reason.parse().unwrap_or(Reason::Internal);
        let message = e.message.clone();
        match e.code() {
            C::InvalidArgument => Self::InvalidArgument(reason, message),
            C::NotFound => Self::NotFound(reason, message),
            C::AlreadyExists => Self::AlreadyExists(reason, message),
            C::PermissionDenied => Self::PermissionDenied(reason, message),
            C::ResourceExhausted => Self::ResourceExhausted(reason, message, e.retry_after_ms),
            C::FailedPrecondition => Self::FailedPrecondition(reason, message),
            C::Unauthenticated => Self::Unauthenticated(reason, message),
            C::Unavailable => Self::Unavailable(reason, message),
            C::Unspecified | C::Internal => Self::Internal(format!("from a peer: {message}")),
        }
    }
}

/// Why a node's actor system could not start. Never reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is out of range or inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// Joining the cluster or connecting to NATS failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A supervisor could not be spawned.
    #[error("cannot start the {0}")]
    Spawn(String),
    /// The store did not answer what starting needs.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_wire_spelling() {
        for reason in Reason::iter() {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(reason), "{reason:?}");
        }
    }
}
