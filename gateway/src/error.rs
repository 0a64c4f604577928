//! Errors to transport statuses, each in one exhaustive match.

use axum::http::StatusCode;
use chat_actors::ChatError;
use chat_proto::v1::CloseCode;

/// The HTTP status of an error (Google's mapping of gRPC codes to HTTP).
pub fn http_status(e: &ChatError) -> StatusCode {
    match e {
        ChatError::InvalidArgument(..) | ChatError::FailedPrecondition(..) => {
            StatusCode::BAD_REQUEST
        }
        ChatError::NotFound(..) => StatusCode::NOT_FOUND,
        ChatError::AlreadyExists(..) => StatusCode::CONFLICT,
        ChatError::PermissionDenied(..) => StatusCode::FORBIDDEN,
        ChatError::ResourceExhausted(..) => StatusCode::TOO_MANY_REQUESTS,
        ChatError::Unauthenticated(..) => StatusCode::UNAUTHORIZED,
        ChatError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
        ChatError::Internal(..) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The gRPC status of an error: the same code, the message, and the reason both as a
/// `google.rpc.ErrorInfo` detail (domain `chat.v1`) and as a `chat-reason` trailer; a
/// retry-after as a `google.rpc.RetryInfo` detail.
pub fn grpc_status(e: &ChatError) -> tonic::Status {
    use tonic::Code;
    use tonic_types::{ErrorDetails, StatusExt as _};
    let code = match e {
        ChatError::InvalidArgument(..) => Code::InvalidArgument,
        ChatError::NotFound(..) => Code::NotFound,
        ChatError::AlreadyExists(..) => Code::AlreadyExists,
        ChatError::PermissionDenied(..) => Code::PermissionDenied,
        ChatError::ResourceExhausted(..) => Code::ResourceExhausted,
        ChatError::FailedPrecondition(..) => Code::FailedPrecondition,
        ChatError::Unauthenticated(..) => Code::Unauthenticated,
        ChatError::Unavailable(..) => Code::Unavailable,
        ChatError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            Code::Internal
        }
    };
    let proto = e.to_proto();
    let mut details = ErrorDetails::with_error_info(
        proto.reason.clone(),
        "chat.v1",
        std::collections::HashMap::new(),
    );
    if proto.retry_after_ms > 0 {
        details.set_retry_info(Some(std::time::Duration::from_millis(u64::from(
            proto.retry_after_ms,
        ))));
    }
    let mut status = tonic::Status::with_error_details(code, proto.message, details);
    if let Ok(v) = proto.reason.parse() {
        status.metadata_mut().insert("chat-reason", v);
    }
    status
}

/// The WebSocket close code when an error ends a socket.
pub fn ws_close_code(e: &ChatError) -> u16 {
    let code = match e {
        ChatError::Unauthenticated(..) => CloseCode::Unauthenticated,
        ChatError::Unavailable(..) => CloseCode::Draining,
        ChatError::InvalidArgument(..)
        | ChatError::NotFound(..)
        | ChatError::AlreadyExists(..)
        | ChatError::PermissionDenied(..)
        | ChatError::ResourceExhausted(..)
        | ChatError::FailedPrecondition(..)
        | ChatError::Internal(..) => return 1011,
    };
    u16::try_from(code as i32).unwrap_or(1011)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_actors::Reason;

    #[test]
    fn statuses() {
        let e = ChatError::AlreadyExists(Reason::UsernameTaken, String::new());
        assert_eq!(http_status(&e), StatusCode::CONFLICT);
        let e = ChatError::Unauthenticated(Reason::TokenExpired, String::new());
        assert_eq!(http_status(&e), StatusCode::UNAUTHORIZED);
        assert_eq!(ws_close_code(&e), 4100);
        let s = grpc_status(&e);
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            s.metadata()
                .get("chat-reason")
                .and_then(|v| v.to_str().ok()),
            Some("TOKEN_EXPIRED")
        );
        use tonic_types::StatusExt as _;
        let info = s.get_details_error_info().map(|i| (i.reason, i.domain));
        assert_eq!(info, Some(("TOKEN_EXPIRED".into(), "chat.v1".into())));
        let limited = ChatError::ResourceExhausted(Reason::RoomFull, "slow down".into(), 1500);
        let retry = grpc_status(&limited).get_details_retry_info();
        assert_eq!(
            retry.and_then(|r| r.retry_delay),
            Some(std::time::Duration::from_millis(1500))
        );
    }
}
