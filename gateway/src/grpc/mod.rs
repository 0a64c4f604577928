//! gRPC for native clients, on the HTTP port (HTTP/2 cleartext or TLS in front; gRPC-Web over
//! HTTP/1.1 for browsers): unary services that run the same commands as the socket, file
//! streams, and a bidirectional `Session` carrying the socket's frames through the same
//! connection actor. Plus the standard tooling services: `grpc.health.v1` (SERVING only while
//! the node is ready) and server reflection.
//!
//! Requests are routed by path (`/chat.v1.<Service>/<Method>`), so gRPC and the HTTP API share
//! one listener without ambiguity.

mod codec;
mod files;
mod session;
mod unary;

/// The hand-generated server of `chat.v1.SessionService` (see `build.rs`).
#[allow(missing_docs, clippy::all, clippy::pedantic, unused_qualifications)]
mod session_server {
    include!(concat!(env!("OUT_DIR"), "/chat.v1.SessionService.rs"));
}

use std::time::Duration;

use axum::Router;
use chat_actors::{ChatError, Reason, UserRecord};
use chat_proto::v1::{
    auth_service_server::AuthServiceServer, file_service_server::FileServiceServer,
    message_service_server::MessageServiceServer, room_service_server::RoomServiceServer,
    user_service_server::UserServiceServer,
};
use session_server::session_service_server::SessionServiceServer;
use tokio::sync::watch;
use tonic::{Status, metadata::MetadataMap, server::NamedService};
use tonic_health::ServingStatus;

use crate::{error::grpc_status, state::Gateway};

/// Largest file chunk a client may send in one `UploadFile` message.
pub const MAX_UPLOAD_CHUNK: usize = 1024 * 1024;
/// Largest chunk `DownloadFile` sends.
const DOWNLOAD_CHUNK: usize = 256 * 1024;
/// Room for a message's own framing around a chunk's bytes.
const ENVELOPE: usize = 4 * 1024;

/// The services' shared state.
#[derive(Clone)]
pub struct GrpcApi {
    g: Gateway,
}

/// Whether the node serves, for the health service: follows readiness.
pub fn health_status(ready: bool) -> ServingStatus {
    if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Every gRPC route, ready to merge into the HTTP router. `serving` drives the health
/// service.
pub fn routes(g: &Gateway, serving: watch::Receiver<bool>) -> Router {
    let api = GrpcApi { g: g.clone() };
    let frame = g.config.max_frame_bytes;
    let (reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(follow_readiness(reporter, serving));
    let mut router = Router::new();
    router = add(
        router,
        AuthServiceServer::new(api.clone())
            .max_decoding_message_size(frame)
            .max_encoding_message_size(frame),
    );
    router = add(
        router,
        UserServiceServer::new(api.clone())
            .max_decoding_message_size(frame)
            .max_encoding_message_size(usize::MAX),
    );
    router = add(
        router,
        RoomServiceServer::new(api.clone())
            .max_decoding_message_size(frame)
            .max_encoding_message_size(usize::MAX),
    );
    router = add(
        router,
        MessageServiceServer::new(api.clone())
            .max_decoding_message_size(frame)
            .max_encoding_message_size(usize::MAX),
    );
    router = add(
        router,
        FileServiceServer::new(api.clone())
            .max_decoding_message_size(MAX_UPLOAD_CHUNK + ENVELOPE)
            .max_encoding_message_size(DOWNLOAD_CHUNK + ENVELOPE),
    );
    router = add(
        router,
        SessionServiceServer::new(api)
            .max_decoding_message_size(frame)
            .max_encoding_message_size(usize::MAX),
    );
    router = add(router, health);
    router = add_reflection(router);
    router.layer(tonic_web::GrpcWebLayer::new())
}

/// Server reflection in both versions tools speak (grpcurl and Postman ask for v1, older
/// tools for v1alpha), describing the API, health, and the `google.rpc` error details so a
/// tool can decode an error's `ErrorInfo` and `RetryInfo`.
fn add_reflection(mut router: Router) -> Router {
    let described = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(chat_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            // Each version lists both reflection services, as it serves both.
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
    };
    match described().build_v1() {
        Ok(r) => router = add(router, r),
        Err(e) => tracing::error!(error = %e, "gRPC reflection v1 unavailable"),
    }
    match described().build_v1alpha() {
        Ok(r) => router = add(router, r),
        Err(e) => tracing::error!(error = %e, "gRPC reflection v1alpha unavailable"),
    }
    router
}

/// Routes a service's path prefix to it, as `tonic::service::Routes` does, but without the
/// catch-all fallback it adds (the HTTP router has its own).
fn add<S>(router: Router, service: S) -> Router
where
    S: tower::Service<
            axum::http::Request<tonic::body::Body>,
            Response = axum::http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    use tower::ServiceExt as _;
    router.route_service(
        &format!("/{}/{{*rest}}", S::NAME),
        service
            .map_request(|r: axum::http::Request<axum::body::Body>| r.map(tonic::body::Body::new))
            .map_response(undecodable_is_invalid),
    )
}

/// tonic answers a request message it cannot decode with `INTERNAL` and the decoder's own
/// words; the protocol says `INVALID_ARGUMENT / MALFORMED_FRAME`, without internals.
fn undecodable_is_invalid(
    response: axum::http::Response<tonic::body::Body>,
) -> axum::http::Response<tonic::body::Body> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let undecodable =
        header("grpc-status") == "13" && header("grpc-message").starts_with("failed%20to%20decode");
    if !undecodable {
        return response;
    }
    let e = ChatError::invalid(
        Reason::MalformedFrame,
        "the request is not a valid protobuf message of this method",
    );
    grpc_status(&e).into_http()
}

/// The answer to a gRPC call of a service or method this node does not have.
pub(crate) fn unimplemented() -> axum::response::Response {
    let status = tonic::Status::unimplemented("no such gRPC service or method");
    status.into_http::<axum::body::Body>()
}

async fn follow_readiness(
    reporter: tonic_health::server::HealthReporter,
    mut serving: watch::Receiver<bool>,
) {
    loop {
        let status = health_status(*serving.borrow_and_update());
        reporter.set_service_status("", status).await;
        for service in SERVICES {
            reporter.set_service_status(service, status).await;
        }
        if serving.changed().await.is_err() {
            return;
        }
    }
}

/// The fully qualified names of our services (health is reported for each and for "").
const SERVICES: [&str; 6] = [
    "chat.v1.AuthService",
    "chat.v1.UserService",
    "chat.v1.RoomService",
    "chat.v1.MessageService",
    "chat.v1.FileService",
    "chat.v1.SessionService",
];

/// The client's IP address: as resolved behind trusted proxies, else as the listener
/// recorded it (see `Frontend`).
fn peer_ip(extensions: &tonic::Extensions) -> Option<std::net::IpAddr> {
    crate::client_ip::recorded(
        extensions.get::<crate::client_ip::ClientIp>(),
        extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>(),
    )
}

/// The token of `authorization: Bearer <token>` metadata ("" when absent).
fn bearer(metadata: &MetadataMap) -> &str {
    metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
}

impl GrpcApi {
    /// The caller, from the request's bearer token.
    async fn user(&self, metadata: &MetadataMap) -> Result<UserRecord, Status> {
        self.g
            .services
            .auth
            .user_for_token(bearer(metadata))
            .await
            .map(|(user, _)| user)
            .map_err(|e| grpc_status(&e))
    }
}

/// The client's deadline (`grpc-timeout`: digits and a unit, H M S m u n).
fn deadline(metadata: &MetadataMap) -> Option<Duration> {
    let raw = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = raw.split_at(raw.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Deadlines shorter than this cannot be met by any request and fail at once.
const SHORTEST_DEADLINE: Duration = Duration::from_millis(1);

/// Runs `work` within the request's deadline. When it passes, the work is dropped (which
/// abandons store reads in flight) and the answer is `DEADLINE_EXCEEDED`.
async fn within_deadline<T>(
    metadata: &MetadataMap,
    work: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let Some(limit) = deadline(metadata) else {
        return work.await;
    };
    let exceeded = || Status::deadline_exceeded("the request's deadline passed");
    if limit < SHORTEST_DEADLINE {
        return Err(exceeded());
    }
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(exceeded()))
}

/// A `ChatError` as a gRPC status.
fn status(e: ChatError) -> Status {
    grpc_status(&e)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn deadlines_parse() {
        let with = |v: &str| {
            let mut m = MetadataMap::new();
            m.insert("grpc-timeout", v.parse().unwrap());
            deadline(&m)
        };
        assert_eq!(with("5S"), Some(Duration::from_secs(5)));
        assert_eq!(with("250m"), Some(Duration::from_millis(250)));
        assert_eq!(with("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(with("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(with("S"), None);
        assert_eq!(with("5x"), None);
        assert_eq!(deadline(&MetadataMap::new()), None);
    }
}
