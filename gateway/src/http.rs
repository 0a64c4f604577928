//! The HTTP router: accounts (JSON bodies, protobuf JSON mapping), health, readiness, the
//! WebSocket upgrade, long polling, files, the cluster views, the browser client and gRPC on
//! one router; and (only when enabled) the test-only fault hook.

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
    ChangePasswordRequest, Empty, LoginRequest, LogoutEverywhereRequest, LogoutEverywhereResponse,
    LogoutRequest, RefreshRequest, SignupRequest,
};

use crate::{
    client_ip, cors, files, grpc, poll,
    respond::{PeerIp, bearer, error_response, json, json_errors, parse, require_json, tokens},
    state::Gateway,
    web, ws,
};

impl Gateway {
    /// The HTTP router with every route, gRPC's included.
    pub fn router(&self) -> Router {
        let router = routes(self.clone())
            .merge(web::routes().with_state(self.clone()))
            .merge(grpc::routes(self, self.serving()));
        let router = match cors::layer(&self.config.cors_allowed_origins) {
            Ok(Some(cors)) => router.layer(cors),
            // Validated at start-up.
            Ok(None) | Err(_) => router,
        };
        let trusted = self.trusted.clone();
        router
            .layer(axum::middleware::map_response(json_errors))
            .layer(axum::middleware::from_fn(
                move |mut request: axum::extract::Request, next: axum::middleware::Next| {
                    client_ip::record(&trusted, &mut request);
                    next.run(request)
                },
            ))
    }
}

fn routes(gateway: Gateway) -> Router {
    let mut router = Router::new()
        .route("/v1/auth/signup", post(signup))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/logout_everywhere", post(logout_everywhere))
        .route("/v1/auth/password", post(change_password))
        .route_layer(axum::middleware::from_fn(json_only))
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
    if gateway.services.fault_injection() {
        router = router.route("/debug/rooms/{room_id}/fault", post(inject_room_fault));
    }
    router.fallback(not_found).with_state(gateway)
}

/// Account bodies are JSON: anything else is refused before it is read (415).
async fn json_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match require_json(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
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
    let auth = &g.services.auth;
    let issued = auth
        .signup(ip, &req.username, &req.display_name, &req.password)
        .await;
    respond(StatusCode::CREATED, issued)
}

async fn login(State(g): State<Gateway>, PeerIp(ip): PeerIp, body: Bytes) -> Response {
    let req: LoginRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let issued = g
        .services
        .auth
        .login(ip, &req.username, &req.password)
        .await;
    respond(StatusCode::OK, issued)
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

async fn logout_everywhere(State(g): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = parse::<LogoutEverywhereRequest>(&body) {
        return error_response(&e);
    }
    match g.services.auth.logout_everywhere(bearer(&headers)).await {
        Ok(ended) => json(
            StatusCode::OK,
            &LogoutEverywhereResponse {
                sessions_ended: u32::try_from(ended).unwrap_or(u32::MAX),
            },
        ),
        Err(e) => error_response(&e),
    }
}

async fn change_password(State(g): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let req: ChangePasswordRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let auth = &g.services.auth;
    match auth
        .change_password(bearer(&headers), &req.current_password, &req.new_password)
        .await
    {
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
    let view = g.services.cluster_view();
    let members: Vec<&str> = view.members.iter().map(|m| &**m).collect();
    axum::Json(serde_json::json!({
        "node": &**g.services.node_id(),
        "members": members,
        "version": view.version,
    }))
    .into_response()
}

/// The node owning a room's actor in this node's view (operators, and tests that need to
/// kill exactly that node).
async fn room_owner(State(g): State<Gateway>, Path(room_id): Path<u64>) -> Response {
    let owner = g.services.room_owner(room_id);
    axum::Json(serde_json::json!({ "room_id": room_id.to_string(), "owner": &*owner }))
        .into_response()
}

async fn not_found(headers: HeaderMap) -> Response {
    let grpc = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/grpc"));
    if grpc {
        return grpc::unimplemented();
    }
    error_response(&ChatError::NotFound(
        Reason::NotFound,
        "no such endpoint".into(),
    ))
}

async fn inject_room_fault(State(g): State<Gateway>, Path(room_id): Path<u64>) -> Response {
    match g.services.rooms.inject_fault(room_id).await {
        Ok(()) => json(StatusCode::OK, &Empty {}),
        Err(e) => error_response(&e),
    }
}
