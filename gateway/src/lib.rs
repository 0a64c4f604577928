//! Transports of a node, on one listener: HTTP (accounts, files, health), WebSocket `/v1/ws`
//! (both subprotocols), gRPC (HTTP/2, and gRPC-Web over HTTP/1.1).
//! Transports stay thin: they decode frames and hand them to the connection actor, the one
//! command dispatcher, and write what its outbound queue yields. No business logic here.
//!
//! May depend on `chat-actors` and `chat-proto`; never on the store or the node.

mod error;
mod files;
mod frontend;
#[doc(hidden)]
pub mod fuzzing;
mod grpc;
mod http;
mod poll;
pub mod serve;
pub mod tls;
mod web;
mod ws;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::Router;
use chat_actors::Services;
use serde::{Deserialize, Serialize};

pub use error::{grpc_status, http_status, ws_close_code};
pub use frontend::Frontend;

/// Settings of the transports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address for HTTP, WebSocket and gRPC (one port). Default `127.0.0.1:8080`.
    pub listen: String,
    /// Largest client frame in bytes; larger ones get `FRAME_TOO_LARGE`. Also the largest
    /// gRPC request message (upload chunks excepted). Default 65536.
    pub max_frame_bytes: usize,
    /// Frames larger than this are not even read: the socket closes with 1009. Default 1 MiB.
    pub hard_frame_limit_bytes: usize,
    /// Largest HTTP request body in bytes (accounts API). Default 16384.
    pub max_body_bytes: usize,
    /// Most queued frames written per flush. Default 64.
    pub write_coalesce: usize,
    /// How long `GET /v1/poll` holds when there is nothing to return, in ms. Default 25000.
    pub poll_timeout_ms: u64,
    /// Frames a long-poll session keeps for its client; older ones are dropped and a cursor
    /// pointing at them gets `CURSOR_EXPIRED`. Default 1024.
    pub poll_buffer: usize,
    /// Most frames one poll returns. Default 256.
    pub poll_max_batch: usize,
    /// A long-poll session not polled for this long is closed. Default 60.
    pub poll_session_idle_secs: u64,
    /// PEM certificate chain: serve HTTPS/WSS (and gRPC over TLS) instead of plaintext.
    /// Needs `tls_key_file`. Default empty (terminate TLS in front of the node).
    pub tls_cert_file: String,
    /// PEM private key of that certificate.
    pub tls_key_file: String,
    /// Seconds a client has to send its first bytes, and then each request's head (HTTP/1.1),
    /// before its connection is dropped: silent and trickling connections are not held.
    /// Default 30.
    pub header_read_timeout_secs: u64,
    /// Seconds between pings on an idle HTTP/2 connection (gRPC); one unanswered this long
    /// drops the connection. Default 30.
    pub http2_keepalive_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_frame_bytes: 64 * 1024,
            hard_frame_limit_bytes: 1024 * 1024,
            max_body_bytes: 16 * 1024,
            write_coalesce: 64,
            poll_timeout_ms: 25_000,
            poll_buffer: 1024,
            poll_max_batch: 256,
            poll_session_idle_secs: 60,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            header_read_timeout_secs: 30,
            http2_keepalive_secs: 30,
        }
    }
}

impl GatewayConfig {
    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        let sizes = [
            self.max_frame_bytes,
            self.max_body_bytes,
            self.write_coalesce,
            self.poll_buffer,
            self.poll_max_batch,
        ];
        let times = [
            self.poll_session_idle_secs,
            self.header_read_timeout_secs,
            self.http2_keepalive_secs,
        ];
        if sizes.contains(&0) || times.contains(&0) {
            return Err("http sizes, counts and times must be positive".into());
        }
        if self.tls_cert_file.is_empty() != self.tls_key_file.is_empty() {
            return Err("http.tls_cert_file and http.tls_key_file go together".into());
        }
        if self.hard_frame_limit_bytes < self.max_frame_bytes {
            return Err("http.hard_frame_limit_bytes must be at least http.max_frame_bytes".into());
        }
        Ok(())
    }
}

/// Shared state of the transports.
#[derive(Clone)]
pub struct Gateway {
    services: Services,
    config: Arc<GatewayConfig>,
    ready: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
    polls: Arc<poll::PollSessions>,
    /// Readiness for the gRPC health service (follows `ready` and `draining`).
    serving: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Gateway {
    /// Transports over `services`.
    pub fn new(services: Services, config: GatewayConfig) -> Self {
        let polls = poll::PollSessions::start(&config);
        Self {
            services,
            config: Arc::new(config),
            ready: Arc::new(AtomicBool::new(false)),
            draining: Arc::new(AtomicBool::new(false)),
            polls,
            serving: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Marks the node ready (or not) for `/readyz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        self.serving.send_replace(self.is_ready());
    }

    /// Marks the node draining: `/readyz` fails and new sockets are refused.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.serving.send_replace(false);
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.is_draining()
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// The HTTP router with every route, gRPC's included.
    pub fn router(&self) -> Router {
        http::routes(self.clone())
            .merge(web::routes().with_state(self.clone()))
            .merge(grpc::routes(self, self.serving.subscribe()))
    }

    /// Serves HTTP, WebSocket and gRPC on `listener` until `stop` resolves (then stops
    /// accepting and waits for open requests and sockets to finish).
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let front = Frontend::starting();
        front.install(self.router());
        let timeouts = serve::Timeouts::of(&self.config);
        front.serve(listener, stop, None, timeouts).await
    }
}
