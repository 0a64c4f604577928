//! `[http]`: the settings of the transports.

use serde::{Deserialize, Serialize};

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
    /// A WebSocket silent for this long is pinged. Default 25.
    pub ping_interval_secs: u64,
    /// A pinged WebSocket that sends nothing (no pong, no frame) for this long is closed as
    /// dead (4004): its user's presence goes offline, its resources are freed. Default 10.
    pub pong_timeout_secs: u64,
    /// Proxies (CIDRs or addresses) whose `Forwarded` / `X-Forwarded-For` headers name the
    /// real client: behind a load balancer or Ingress, list its addresses, or every client
    /// counts as the proxy's address in per-address limits. Default empty (believe nobody).
    pub trusted_proxies: Vec<String>,
    /// Origins (`https://chat.example.com`, or `*`) whose pages may call the HTTP API and
    /// gRPC-Web from a browser (CORS, with preflights answered). Default empty: same origin
    /// only.
    pub cors_allowed_origins: Vec<String>,
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
            ping_interval_secs: 25,
            pong_timeout_secs: 10,
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
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
            self.ping_interval_secs,
            self.pong_timeout_secs,
        ];
        if sizes.contains(&0) || times.contains(&0) {
            return Err("http sizes, counts and times must be positive".into());
        }
        if self.tls_cert_file.is_empty() != self.tls_key_file.is_empty() {
            return Err("http.tls_cert_file and http.tls_key_file go together".into());
        }
        crate::client_ip::TrustedProxies::parse(&self.trusted_proxies)?;
        crate::cors::layer(&self.cors_allowed_origins)?;
        if self.hard_frame_limit_bytes < self.max_frame_bytes {
            return Err("http.hard_frame_limit_bytes must be at least http.max_frame_bytes".into());
        }
        Ok(())
    }
}
