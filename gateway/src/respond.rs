//! The shapes every HTTP route shares: the bearer token and peer address of a request, JSON
//! bodies in and out, and errors as `{"error": {...}}` with their status.

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chat_actors::{ChatError, Reason, auth::IssuedTokens};
use chat_proto::v1::{AuthTokens, ErrorCode, ErrorResponse};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::http_status;

/// The token of an `Authorization: Bearer` header ("" when none).
pub fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
}

/// A protobuf-JSON response.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The response for an error: its HTTP status and `{"error": {...}}`.
pub fn error_response(e: &ChatError) -> Response {
    if let ChatError::Internal(detail) = e {
        tracing::error!(%detail, "internal error");
    }
    let proto = e.to_proto();
    let retry_after = proto.retry_after_ms;
    let mut response = json(http_status(e), &ErrorResponse { error: Some(proto) });
    if retry_after > 0 {
        // Whole seconds, rounded up (RFC 9110 Retry-After).
        let secs = retry_after.div_ceil(1000).to_string();
        if let Ok(v) = secs.parse() {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

/// Every 4xx answer is `{"error": Error}` JSON: the ones the router and the extractors make
/// themselves (unknown method, oversized or mistyped body, a refused WebSocket upgrade) get
/// a documented reason here; headers such as `Allow` are kept.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let typed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("application/grpc"));
    if !status.is_client_error() || typed {
        return response;
    }
    let (reason, message) = match status {
        StatusCode::NOT_FOUND => (Reason::NotFound, "no such endpoint or file"),
        StatusCode::METHOD_NOT_ALLOWED => (
            Reason::MethodNotAllowed,
            "method not allowed here; see the Allow header",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (Reason::BodyTooLarge, "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            Reason::UnsupportedMediaType,
            "send the body as application/json",
        ),
        StatusCode::UNAUTHORIZED => (Reason::TokenMissing, "authentication required"),
        _ => (Reason::MalformedRequest, "the request is malformed"),
    };
    let error = chat_proto::v1::Error {
        code: if status == StatusCode::NOT_FOUND {
            ErrorCode::NotFound as i32
        } else {
            ErrorCode::InvalidArgument as i32
        },
        reason: reason.as_str().into(),
        message: message.into(),
        retryable: false,
        retry_after_ms: 0,
    };
    let (mut parts, _) = response.into_parts();
    let body = json(status, &ErrorResponse { error: Some(error) });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, body.into_body())
}

/// Refuses a body sent with a content type other than JSON (415); no content type is taken
/// as JSON.
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), StatusCode> {
    match headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) {
        None => Ok(()),
        Some(Ok(t))
            if t.trim()
                .to_ascii_lowercase()
                .starts_with("application/json") =>
        {
            Ok(())
        }
        Some(_) => Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    }
}

/// The client's IP address (behind trusted proxies, the one they forwarded), when the
/// listener recorded it.
pub struct PeerIp(pub Option<std::net::IpAddr>);

/// The client address of a request's extensions: the resolved one, else the peer's.
pub(crate) fn client_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    crate::client_ip::recorded(
        extensions.get::<crate::client_ip::ClientIp>(),
        extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>(),
    )
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(&parts.extensions)))
    }
}

/// A JSON request body, or `MALFORMED_REQUEST`.
pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ChatError> {
    serde_json::from_slice(body).map_err(|e| {
        ChatError::invalid(
            Reason::MalformedRequest,
            format!("the request body {}", chat_proto::json_problem(&e)),
        )
    })
}

/// Issued tokens as the API returns them.
pub(crate) fn tokens(t: IssuedTokens) -> AuthTokens {
    AuthTokens {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        access_expires_at_ms: t.access_expires_at_ms,
        refresh_expires_at_ms: t.refresh_expires_at_ms,
        user: Some(chat_actors::convert::user(&t.user)),
        token_type: "Bearer".into(),
    }
}
