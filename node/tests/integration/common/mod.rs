//! Test harness: a real node on port 0 (in-process or as a `chatnode` process) and real
//! clients (reqwest for HTTP, tokio-tungstenite for WebSocket) speaking the public protocol.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use chat_node::{NodeConfig, RunningNode};
use chat_proto::v1::{
    self, ClientFrame, ServerFrame, client_frame::Command, server_frame::Payload,
};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue},
};

mod http;
mod poll;
mod process;
mod ws;

pub use http::*;
pub use poll::*;
pub use process::*;
pub use ws::*;

/// How long any single wait may take before the test fails (never a performance bound).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A base64 signing key tests share so they can mint tokens.
pub const SIGNING_KEY_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A config for tests: port 0, cheap password hashing, a known signing key.
pub fn test_config(data_dir: &Path) -> NodeConfig {
    let mut c = NodeConfig::default();
    c.node.data_dir = data_dir.to_path_buf();
    c.http.listen = "127.0.0.1:0".into();
    c.auth.signing_key = Some(SIGNING_KEY_B64.into());
    c.auth.tokens.argon2_memory_kib = 1024;
    c.auth.tokens.argon2_iterations = 1;
    c.node.shutdown_timeout_secs = 5;
    // Idle connections release their actors after a second, so the suite also runs through
    // hibernation and wake-ups (they must be invisible to clients).
    c.chat.connection_idle_secs = 1;
    // The suite sends bursts; the limit tests set their own.
    c.limits = chat_actors::limits::LimitsConfig::unlimited();
    if let Some((uri, keyspace)) = cql_backend(data_dir) {
        c.store.backend = "cql".into();
        c.store.cql.contact_points = vec![uri];
        c.store.cql.keyspace = keyspace;
    }
    c
}

/// With `CHAT_TEST_STORE=cql`, every test node stores in the CQL server of
/// `CHAT_TEST_CQL_URI`, in a keyspace named after its data directory (so a node restarted on
/// the same directory finds its data): the whole suite runs on the CQL backend.
pub fn cql_backend(data_dir: &Path) -> Option<(String, String)> {
    if std::env::var("CHAT_TEST_STORE").ok()? != "cql" {
        return None;
    }
    let uri =
        std::env::var("CHAT_TEST_CQL_URI").expect("CHAT_TEST_STORE=cql needs CHAT_TEST_CQL_URI");
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut h);
    Some((uri, format!("chat_suite_{:016x}", h.finish())))
}

/// An in-process node with its own data directory.
pub struct TestNode {
    pub node: Option<RunningNode>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl TestNode {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut NodeConfig)) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), adjust).await
    }

    /// A node on an existing data directory (e.g. the one of a node stopped before).
    pub async fn start_in(dir: tempfile::TempDir, adjust: impl FnOnce(&mut NodeConfig)) -> Self {
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let node = chat_node::start(config).await.unwrap();
        Self {
            addr: node.http_addr,
            node: Some(node),
            dir,
        }
    }

    /// Stops the node and hands back its data directory.
    pub async fn stop_keep_dir(mut self) -> tempfile::TempDir {
        if let Some(n) = self.node.take() {
            n.shutdown().await;
        }
        self.dir
    }

    pub fn http(&self) -> Http {
        Http::new(self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(n) = self.node.take() {
            n.shutdown().await;
        }
        if let Some((uri, keyspace)) = cql_backend(self.dir.path()) {
            let config = chat_store::CqlConfig {
                contact_points: vec![uri],
                keyspace,
                ..chat_store::CqlConfig::default()
            };
            chat_store::CqlStore::drop_keyspace(&config).await.unwrap();
        }
    }
}

pub fn send_cmd(room: u64, client_msg_id: &str, body: &str) -> Command {
    Command::SendMessage(v1::SendMessageRequest {
        room_id: room,
        client_msg_id: client_msg_id.into(),
        body: body.into(),
        file_ids: Vec::new(),
        ..Default::default()
    })
}

/// The error of a reply, or a panic.
pub fn expect_error(p: Payload) -> v1::Error {
    match p {
        Payload::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Asserts an error reply's code name and reason.
pub fn assert_error(p: Payload, code: v1::ErrorCode, reason: &str) {
    let e = expect_error(p);
    assert_eq!((e.code(), e.reason.as_str()), (code, reason), "{e:?}");
}

/// A path that lives as long as the test.
pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

pub use tungstenite::Message as WsMessage;

/// Asserts a plain `ok` reply.
pub fn ok_payload(p: Payload) {
    assert!(matches!(p, Payload::Ok(_)), "expected ok, got {p:?}");
}
