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
    }
}
