//! The shapes every HTTP route shares: the bearer token and peer address of a request, JSON
//! bodies in and out, and errors as `{"error": {...}}` with their status.

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chat_actors::{ChatError, Reason, auth::IssuedTokens};
use chat_proto::v1::{AuthTokens, ErrorResponse};
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

/// The client's IP address, when the listener recorded it.
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// A JSON request body, or `MALFORMED_REQUEST`.
pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ChatError> {
    serde_json::from_slice(body).map_err(|e| {
        ChatError::invalid(
            Reason::MalformedRequest,
            format!("malformed JSON body: {e}"),
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
