//! Errors to transport statuses, each in one exhaustive match: an error to its HTTP status
//! and its gRPC status, and a connection's close to the status that ends its gRPC call.
//! (Which close code an error ends a connection with is the actors' `ChatError::close_code`.)

use axum::http::StatusCode;
use chat_actors::{ChatError, Reason, outbound::CloseRequest};
use chat_proto::v1::CloseCode;
use tonic::Code;

/// The HTTP status of an error (Google's mapping of gRPC codes to HTTP), except that a
/// too-large upload is `413` and an unsatisfiable range `416`, as HTTP clients expect.
pub fn http_status(e: &ChatError) -> StatusCode {
    match e {
        ChatError::InvalidArgument(Reason::FileTooLarge, _) => StatusCode::PAYLOAD_TOO_LARGE,
        ChatError::InvalidArgument(Reason::RangeNotSatisfiable, _) => {
            StatusCode::RANGE_NOT_SATISFIABLE
        }
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

/// How a close ends the call: `None` for a normal end.
pub(crate) fn close_status(close: &CloseRequest) -> Option<tonic::Status> {
    let code = match CloseCode::try_from(i32::from(close.code)) {
        Ok(CloseCode::Draining | CloseCode::Resync | CloseCode::PingTimeout) => Code::Unavailable,
        Ok(CloseCode::SlowConsumer | CloseCode::TooManyConnections) => Code::ResourceExhausted,
        Ok(CloseCode::AuthTimeout | CloseCode::Unauthenticated | CloseCode::AuthRevoked) => {
            Code::Unauthenticated
        }
        Ok(CloseCode::ProtocolError) => Code::InvalidArgument,
        Ok(CloseCode::Unspecified) | Err(_) if close.code == 1000 => return None,
        Ok(CloseCode::Unspecified) | Err(_) => Code::Internal,
    };
    let mut s = tonic::Status::new(code, close.reason.clone());
    if let Ok(v) = close.code.to_string().parse() {
        s.metadata_mut().insert("chat-close-code", v);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let e = ChatError::AlreadyExists(Reason::UsernameTaken, String::new());
        assert_eq!(http_status(&e), StatusCode::CONFLICT);
        let e = ChatError::Unauthenticated(Reason::TokenExpired, String::new());
        assert_eq!(http_status(&e), StatusCode::UNAUTHORIZED);
        assert_eq!(e.close_code(), Some(CloseCode::Unauthenticated));
        let big = ChatError::invalid(Reason::FileTooLarge, "big");
        assert_eq!(http_status(&big), StatusCode::PAYLOAD_TOO_LARGE);
        let range = ChatError::invalid(Reason::RangeNotSatisfiable, "no");
        assert_eq!(http_status(&range), StatusCode::RANGE_NOT_SATISFIABLE);
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

    #[test]
    fn closes_map_to_statuses() {
        let c = |code: u16| {
            close_status(&CloseRequest::after_queued(code, "why")).map(|s| {
                let trailer = s
                    .metadata()
                    .get("chat-close-code")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (s.code(), trailer)
            })
        };
        assert_eq!(c(1000), None);
        assert_eq!(c(4000), Some((Code::Unavailable, Some("4000".into()))));
        assert_eq!(
            c(4001),
            Some((Code::ResourceExhausted, Some("4001".into())))
        );
        assert_eq!(c(4100).map(|x| x.0), Some(Code::Unauthenticated));
        assert_eq!(c(4102).map(|x| x.0), Some(Code::InvalidArgument));
        assert_eq!(c(1011).map(|x| x.0), Some(Code::Internal));
    }
}
