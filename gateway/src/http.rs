//! HTTP routes: accounts (JSON bodies, protobuf JSON mapping), health, readiness, the
//! WebSocket upgrade, and (only when enabled) the test-only fault hook.

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use chat_actors::{ChatError, Reason, auth::IssuedTokens};
use chat_proto::v1::{
    AuthTokens, Empty, ErrorResponse, LoginRequest, LogoutRequest, RefreshRequest, SignupRequest,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Gateway, error::http_status, files, poll, ws};

pub fn routes(gateway: Gateway) -> Router {
    let mut router = Router::new()
        .route("/v1/auth/signup", post(signup))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .layer(DefaultBodyLimit::max(gateway.config.max_body_bytes))
        .route("/v1/ws", get(ws::upgrade))
        .route("/v1/poll/sessions", post(poll::open))
        .route("/v1/poll", get(poll::poll))
        .route("/v1/poll/{session_id}/commands", post(poll::command))
        .route("/v1/poll/{session_id}", delete(poll::close))
        .route("/v1/files", post(files::upload))
        .route("/v1/files/{id}", get(files::download))
        .route("/v1/files/{id}/thumbnail", get(files::thumbnail))
        .route("/v1/files/{id}/info", get(files::info))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/cluster", get(cluster))
        .route("/v1/cluster/rooms/{room_id}", get(room_owner));
    if gateway.services.core.fault_injection {
        router = router.route("/debug/rooms/{room_id}/fault", post(inject_room_fault));
    }
    router.fallback(not_found).with_state(gateway)
}

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

pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ChatError> {
    serde_json::from_slice(body).map_err(|e| {
        ChatError::invalid(
            Reason::MalformedRequest,
            format!("malformed JSON body: {e}"),
        )
    })
}

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

fn respond(status: StatusCode, r: Result<IssuedTokens, ChatError>) -> Response {
    match r {
        Ok(t) => json(status, &tokens(t)),
        Err(e) => error_response(&e),
    }
}

async fn signup(State(g): State<Gateway>, PeerIp(ip): PeerIp, body: Bytes) -> Response {
    let req: SignupRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    if let Some(ip) = ip
        && let Err(e) = g.services.core.limits.signup(ip)
    {
        return error_response(&e);
    }
    respond(
        StatusCode::CREATED,
        g.services
            .auth
            .signup(&req.username, &req.display_name, &req.password)
            .await,
    )
}

async fn login(State(g): State<Gateway>, PeerIp(ip): PeerIp, body: Bytes) -> Response {
    let req: LoginRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    if let Err(e) = g.services.core.limits.login(ip, &req.username) {
        return error_response(&e);
    }
    respond(
        StatusCode::OK,
        g.services.auth.login(&req.username, &req.password).await,
    )
}

async fn refresh(State(g): State<Gateway>, body: Bytes) -> Response {
    let req: RefreshRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    respond(
        StatusCode::OK,
        g.services.auth.refresh(&req.refresh_token).await,
    )
}

async fn logout(State(g): State<Gateway>, body: Bytes) -> Response {
    let req: LogoutRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    match g.services.auth.logout(&req.refresh_token).await {
        Ok(()) => json(StatusCode::OK, &Empty {}),
        Err(e) => error_response(&e),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(g): State<Gateway>) -> Response {
    if g.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else if g.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response()
    }
}

/// Prometheus metrics (OpenMetrics text).
async fn metrics(State(g): State<Gateway>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        g.services.metrics_text(),
    )
        .into_response()
}

/// This node's name and the cluster members it sees (one, itself, for a single node).
async fn cluster(State(g): State<Gateway>) -> Response {
    let placement = &g.services.core.placement;
    let view = placement.view();
    let members: Vec<&str> = view.members.iter().map(|m| &**m).collect();
    axum::Json(serde_json::json!({
        "node": &**placement.name(),
        "members": members,
        "version": view.version,
    }))
    .into_response()
}

/// The node owning a room's actor in this node's view (operators, and tests that need to
/// kill exactly that node).
async fn room_owner(State(g): State<Gateway>, Path(room_id): Path<u64>) -> Response {
    use chat_actors::cluster::{Key, Owner};
    let placement = &g.services.core.placement;
    let owner = match placement.owner(Key::Room(room_id)) {
        Owner::Local => placement.name().clone(),
        Owner::Remote(node) => node,
    };
    axum::Json(serde_json::json!({ "room_id": room_id.to_string(), "owner": &*owner }))
        .into_response()
}

async fn not_found() -> Response {
    error_response(&ChatError::NotFound(
        Reason::InvalidArgument,
        "no such endpoint".into(),
    ))
}

async fn inject_room_fault(State(g): State<Gateway>, Path(room_id): Path<u64>) -> Response {
    match g.services.rooms.inject_fault(room_id).await {
        Ok(()) => json(StatusCode::OK, &Empty {}),
        Err(e) => error_response(&e),
    }
}
