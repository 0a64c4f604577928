//! The one error type of the messenger, and its protocol form.

use chat_proto::v1::{self, ErrorCode};
use chat_store::StoreError;

/// A stable, documented, machine-readable reason (docs/protocol.md lists them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::EnumIter)]
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
    NotAuthenticated,
    AlreadyAuthenticated,
    MalformedFrame,
    MalformedRequest,
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
    TooManyAttachments,
    NotAnImage,
    ThumbnailNotReady,
    RangeNotSatisfiable,
    UploadInterrupted,
    SessionRequired,
    Starting,
}

impl Reason {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUsername => "INVALID_USERNAME",
            Self::InvalidDisplayName => "INVALID_DISPLAY_NAME",
            Self::InvalidPassword => "INVALID_PASSWORD",
            Self::UsernameTaken => "USERNAME_TAKEN",
            Self::BadCredentials => "BAD_CREDENTIALS",
            Self::TokenMissing => "TOKEN_MISSING",
            Self::TokenInvalid => "TOKEN_INVALID",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::RefreshTokenInvalid => "REFRESH_TOKEN_INVALID",
            Self::NotAuthenticated => "NOT_AUTHENTICATED",
            Self::AlreadyAuthenticated => "ALREADY_AUTHENTICATED",
            Self::MalformedFrame => "MALFORMED_FRAME",
            Self::MalformedRequest => "MALFORMED_REQUEST",
            Self::UnknownCommand => "UNKNOWN_COMMAND",
            Self::FrameTooLarge => "FRAME_TOO_LARGE",
            Self::EmptyMessage => "EMPTY_MESSAGE",
            Self::MessageTooLong => "MESSAGE_TOO_LONG",
            Self::InvalidClientMsgId => "INVALID_CLIENT_MSG_ID",
            Self::InvalidRoomName => "INVALID_ROOM_NAME",
            Self::InvalidLimit => "INVALID_LIMIT",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::SeqInFuture => "SEQ_IN_FUTURE",
            Self::SeqBeyondLast => "SEQ_BEYOND_LAST",
            Self::InvalidCursor => "INVALID_CURSOR",
            Self::CursorExpired => "CURSOR_EXPIRED",
            Self::SessionNotFound => "SESSION_NOT_FOUND",
            Self::SessionClosed => "SESSION_CLOSED",
            Self::Blocked => "BLOCKED",
            Self::AlreadyFriends => "ALREADY_FRIENDS",
            Self::RequestPending => "REQUEST_PENDING",
            Self::NoSuchRequest => "NO_SUCH_REQUEST",
            Self::NotFriends => "NOT_FRIENDS",
            Self::CannotFriendSelf => "CANNOT_FRIEND_SELF",
            Self::InvalidStatusMessage => "INVALID_STATUS_MESSAGE",
            Self::InvalidPrefix => "INVALID_PREFIX",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::RoomNotFound => "ROOM_NOT_FOUND",
            Self::NotAMember => "NOT_A_MEMBER",
            Self::NotAGroupRoom => "NOT_A_GROUP_ROOM",
            Self::RoomFull => "ROOM_FULL",
            Self::TooManyRooms => "TOO_MANY_ROOMS",
            Self::TooManyContacts => "TOO_MANY_CONTACTS",
            Self::TooManyPendingRequests => "TOO_MANY_PENDING_REQUESTS",
            Self::RateLimited => "RATE_LIMITED",
            Self::TooManyConnections => "TOO_MANY_CONNECTIONS",
            Self::CannotDirectSelf => "CANNOT_DIRECT_SELF",
            Self::RoomUnavailable => "ROOM_UNAVAILABLE",
            Self::StoreUnavailable => "STORE_UNAVAILABLE",
            Self::Draining => "DRAINING",
            Self::Internal => "INTERNAL",
            Self::FileTooLarge => "FILE_TOO_LARGE",
            Self::FileEmpty => "FILE_EMPTY",
            Self::InvalidFileName => "INVALID_FILE_NAME",
            Self::FileNotFound => "FILE_NOT_FOUND",
            Self::TooManyAttachments => "TOO_MANY_ATTACHMENTS",
            Self::NotAnImage => "NOT_AN_IMAGE",
            Self::ThumbnailNotReady => "THUMBNAIL_NOT_READY",
            Self::RangeNotSatisfiable => "RANGE_NOT_SATISFIABLE",
            Self::UploadInterrupted => "UPLOAD_INTERRUPTED",
            Self::SessionRequired => "SESSION_REQUIRED",
            Self::Starting => "STARTING",
        }
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
            StoreError::NotFound => Self::NotFound(Reason::InvalidArgument, "not found".into()),
            StoreError::Unavailable(_) | StoreError::Conflict { .. } => {
                tracing::warn!(error = %e, "store unavailable");
                Self::Unavailable(
                    Reason::StoreUnavailable,
                    "storage temporarily unavailable, retry".into(),
                )
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Self::Internal(other.to_string())
            }
        }
    }
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
