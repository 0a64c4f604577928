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

/// HTTP client for the accounts API.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: reqwest::Client,
}

/// A signed-up user.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// Lowercase hex SHA-256 of `bytes`, as `FileInfo.sha256` spells it.
pub fn sha_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A reqwest client.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::new()
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            client: http_client(),
        }
    }

    /// POSTs a JSON body; returns (status, parsed body).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, body: String) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Signs several users up, in order.
    pub async fn signups<const N: usize>(&self, names: [&str; N]) -> [Account; N] {
        let mut accounts = Vec::with_capacity(N);
        for name in names {
            accounts.push(self.signup(name).await);
        }
        accounts.try_into().unwrap_or_else(|_| unreachable!())
    }

    /// `POST /v1/auth/refresh` with a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.post(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// `POST /v1/auth/logout` with a refresh token.
    pub async fn logout(&self, refresh_token: &str) -> (u16, Value) {
        self.post(
            "/v1/auth/logout",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    pub async fn signup(&self, username: &str) -> Account {
        let (status, body) = self
            .post(
                "/v1/auth/signup",
                &json!({"username": username, "display_name": username.to_uppercase(), "password": "correct horse"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        account(&body)
    }
}

/// Reads an `AuthTokens` body.
pub fn account(body: &Value) -> Account {
    Account {
        id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
        username: body["user"]["username"].as_str().unwrap().into(),
        access_token: body["access_token"].as_str().unwrap().into(),
        refresh_token: body["refresh_token"].as_str().unwrap().into(),
    }
}

/// The error reason of an HTTP error body.
pub fn reason(body: &Value) -> &str {
    body["error"]["reason"].as_str().unwrap_or("")
}

/// A long-polling client.
pub struct PollClient {
    base: String,
    client: reqwest::Client,
    token: String,
    pub session: String,
    pub cursor: String,
    next_id: u32,
    /// Frames polled but not consumed yet.
    pending: VecDeque<ServerFrame>,
}

impl PollClient {
    pub async fn open(addr: SocketAddr, token: &str) -> Self {
        let client = http_client();
        let base = format!("http://{addr}");
        let r = client
            .post(format!("{base}/v1/poll/sessions"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let body: Value = r.json().await.unwrap();
        let mut c = Self {
            base,
            client,
            token: token.into(),
            session: body["session_id"].as_str().unwrap().into(),
            cursor: body["cursor"].as_str().unwrap().into(),
            next_id: 0,
            pending: VecDeque::new(),
        };
        let first = c.next_frame().await;
        assert!(
            matches!(first.payload, Some(Payload::Authenticated(_))),
            "{first:?}"
        );
        c
    }

    /// One raw poll: (status, body).
    pub async fn poll_raw(&self, token: &str, cursor: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}/v1/poll?cursor={cursor}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The next frame, polling as needed.
    pub async fn next_frame(&mut self) -> ServerFrame {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(f) = self.pending.pop_front() {
                return f;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no event arrived by long poll"
            );
            let (status, body) = self.poll_raw(&self.token, &self.cursor).await;
            assert_eq!(status, 200, "{body}");
            let batch: v1::PollBatch = serde_json::from_value(body).unwrap();
            self.cursor = batch.cursor;
            self.pending.extend(batch.events);
        }
    }

    /// Sends a command; its reply arrives in the stream.
    pub async fn send(&mut self, command: Command) -> u32 {
        self.next_id += 1;
        let frame = ClientFrame {
            request_id: self.next_id,
            command: Some(command),
        };
        let r = self
            .client
            .post(format!("{}/v1/poll/{}/commands", self.base, self.session))
            .bearer_auth(&self.token)
            .body(serde_json::to_string(&frame).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        self.next_id
    }

    /// Sends a command and waits for its reply (events before it are kept).
    pub async fn call(&mut self, command: Command) -> Payload {
        let id = self.send(command).await;
        let mut kept = VecDeque::new();
        loop {
            let f = self.next_frame().await;
            if f.request_id == id {
                kept.extend(self.pending.drain(..));
                self.pending = kept;
                return f.payload.unwrap();
            }
            kept.push_back(f);
        }
    }

    /// The next event `pick` accepts, skipping others.
    pub async fn next_where<T>(&mut self, pick: impl Fn(Payload) -> Option<T>) -> T {
        loop {
            let f = self.next_frame().await;
            if f.request_id == 0
                && let Some(p) = f.payload
                && let Some(t) = pick(p)
            {
                return t;
            }
        }
    }
}

/// Which subprotocol a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Json,
    Proto,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client speaking the chat protocol.
pub struct Client {
    ws: Ws,
    wire: Wire,
    next_id: u32,
    /// Events (request id 0) received while waiting for replies.
    events: VecDeque<ServerFrame>,
    /// The close frame, once received.
    pub closed: Option<(u16, String)>,
}

impl Client {
    /// Connects and authenticates with the token in the URL.
    pub async fn connect(addr: SocketAddr, token: &str, wire: Wire) -> Self {
        let mut c = Self::connect_raw(addr, Some(token), wire).await;
        let auth = c.next_frame().await.expect("authenticated frame");
        assert!(
            matches!(auth.payload, Some(Payload::Authenticated(_))),
            "{auth:?}"
        );
        c
    }

    /// Connects and authenticates; `None` if the node is not there (any more) or refuses.
    pub async fn try_connect(addr: SocketAddr, token: &str, wire: Wire) -> Option<Self> {
        let url = format!("ws://{addr}/v1/ws?access_token={token}");
        let mut request = url.into_client_request().ok()?;
        let protocol = match wire {
            Wire::Json => "chat.v1.json",
            Wire::Proto => "chat.v1.proto",
        };
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .ok()?;
        let mut c = Self {
            ws,
            wire,
            next_id: 0,
            events: VecDeque::new(),
            closed: None,
        };
        match c.next_frame().await?.payload {
            Some(Payload::Authenticated(_)) => Some(c),
            _ => None,
        }
    }

    /// Connects without waiting for anything.
    pub async fn connect_raw(addr: SocketAddr, token: Option<&str>, wire: Wire) -> Self {
        let url = match token {
            Some(t) => format!("ws://{addr}/v1/ws?access_token={t}"),
            None => format!("ws://{addr}/v1/ws"),
        };
        let mut request = url.into_client_request().unwrap();
        let protocol = match wire {
            Wire::Json => "chat.v1.json",
            Wire::Proto => "chat.v1.proto",
        };
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
        let (ws, response) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .unwrap();
        assert_eq!(
            response.headers().get("sec-websocket-protocol").unwrap(),
            protocol
        );
        Self {
            ws,
            wire,
            next_id: 0,
            events: VecDeque::new(),
            closed: None,
        }
    }

    /// Sends a raw WebSocket message.
    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// Sends a command with a fresh request id; returns the id.
    pub async fn send(&mut self, command: Command) -> u32 {
        self.next_id += 1;
        let id = self.next_id;
        self.send_frame(ClientFrame {
            request_id: id,
            command: Some(command),
        })
        .await;
        id
    }

    pub async fn send_frame(&mut self, frame: ClientFrame) {
        let message = match self.wire {
            Wire::Json => Message::Text(serde_json::to_string(&frame).unwrap().into()),
            Wire::Proto => Message::Binary(frame.encode_to_vec().into()),
        };
        self.send_raw(message).await;
    }

    /// The next frame from the server, or None when the socket closed.
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match message {
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(self.wire, Wire::Json, "text frame on a proto socket");
                    return Some(serde_json::from_str(&t).unwrap());
                }
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(self.wire, Wire::Proto, "binary frame on a json socket");
                    return Some(ServerFrame::decode(b.as_ref()).unwrap());
                }
                Some(Ok(Message::Close(frame))) => {
                    self.closed = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Waits for the reply to `request_id`, keeping events for later.
    pub async fn reply(&mut self, request_id: u32) -> Payload {
        loop {
            let frame = self
                .next_frame()
                .await
                .expect("socket closed while waiting for a reply");
            if frame.request_id == request_id {
                return frame.payload.expect("reply without payload");
            }
            assert_eq!(
                frame.request_id, 0,
                "reply to an unexpected request: {frame:?}"
            );
            self.events.push_back(frame);
        }
    }

    /// Sends a command and waits for its reply.
    pub async fn call(&mut self, command: Command) -> Payload {
        let id = self.send(command).await;
        self.reply(id).await
    }

    /// The next event (request id 0).
    pub async fn next_event(&mut self) -> ServerFrame {
        if let Some(e) = self.events.pop_front() {
            return e;
        }
        let frame = self
            .next_frame()
            .await
            .expect("socket closed while waiting for an event");
        assert_eq!(frame.request_id, 0, "unexpected reply {frame:?}");
        frame
    }

    /// The next frame in arrival order: buffered events first, then the socket.
    pub async fn next_any(&mut self) -> ServerFrame {
        match self.events.pop_front() {
            Some(f) => f,
            None => self.next_frame().await.expect("socket closed"),
        }
    }

    /// An event already received, if any (never waits).
    pub fn events_pop(&mut self) -> Option<ServerFrame> {
        self.events.pop_front()
    }

    /// The next event that `pick` accepts, skipping others.
    pub async fn next_where<T>(&mut self, pick: impl Fn(Payload) -> Option<T>) -> T {
        loop {
            if let Some(p) = self.next_event().await.payload
                && let Some(t) = pick(p)
            {
                return t;
            }
        }
    }

    /// The next live chat message event, skipping other events.
    pub async fn next_message(&mut self) -> v1::Message {
        loop {
            if let Some(Payload::Message(m)) = self.next_event().await.payload {
                return m;
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed_code(&mut self) -> Option<u16> {
        while self.next_frame().await.is_some() {}
        self.closed.as_ref().map(|c| c.0)
    }

    // Command helpers: each asserts success and returns the useful part.

    pub async fn create_group(&mut self, name: &str, members: &[u64]) -> v1::Room {
        match self
            .call(Command::CreateGroupRoom(v1::CreateGroupRoom {
                name: name.into(),
                member_ids: members.to_vec(),
            }))
            .await
        {
            Payload::Room(r) => r,
            other => panic!("create group failed: {other:?}"),
        }
    }

    pub async fn create_direct(&mut self, peer: u64) -> v1::Room {
        match self
            .call(Command::CreateDirectRoom(v1::CreateDirectRoom {
                peer_id: peer,
            }))
            .await
        {
            Payload::Room(r) => r,
            other => panic!("create direct failed: {other:?}"),
        }
    }

    pub async fn open(&mut self, room: u64) -> v1::Room {
        match self
            .call(Command::OpenRoom(v1::OpenRoom {
                room_id: room,
                since_seq: 0,
            }))
            .await
        {
            Payload::RoomOpened(o) => o.room.unwrap(),
            other => panic!("open failed: {other:?}"),
        }
    }

    pub async fn say(&mut self, room: u64, client_msg_id: &str, body: &str) -> Payload {
        self.call(send_cmd(room, client_msg_id, body)).await
    }

    pub async fn say_ok(&mut self, room: u64, client_msg_id: &str, body: &str) -> v1::SendAck {
        match self.say(room, client_msg_id, body).await {
            Payload::SendAck(a) => a,
            other => panic!("send failed: {other:?}"),
        }
    }

    pub async fn history(&mut self, room: u64, before: u64, limit: u32) -> Payload {
        self.call(Command::GetHistory(v1::GetHistory {
            room_id: room,
            before_seq: before,
            limit,
        }))
        .await
    }

    pub async fn history_ok(&mut self, room: u64, before: u64, limit: u32) -> v1::History {
        match self.history(room, before, limit).await {
            Payload::History(h) => h,
            other => panic!("history failed: {other:?}"),
        }
    }

    /// Every message of a room, oldest first, by paging history backwards.
    pub async fn all_messages(&mut self, room: u64) -> Vec<v1::Message> {
        let mut all = Vec::new();
        let mut before = 0;
        loop {
            let page = self.history_ok(room, before, 100).await;
            let Some(last) = page.messages.last() else {
                break;
            };
            before = last.seq;
            let more = page.has_more;
            all.extend(page.messages);
            if !more {
                break;
            }
        }
        all.reverse();
        all
    }
}

pub fn send_cmd(room: u64, client_msg_id: &str, body: &str) -> Command {
    Command::SendMessage(v1::SendMessage {
        room_id: room,
        client_msg_id: client_msg_id.into(),
        body: body.into(),
        file_ids: Vec::new(),
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

/// A `chatnode` process (for crash tests).
pub struct NodeProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// The node's log lines after the one that gave its address.
    log: std::sync::mpsc::Receiver<String>,
}

impl Drop for NodeProcess {
    /// A test that fails midway must not leave its node running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProcess {
    /// Starts `chatnode` on `data_dir` with port 0 and returns once it is ready (it logs
    /// `http_addr=` then).
    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::spawn(data_dir, extra_env, "http_addr=")
    }

    /// Starts a node and returns as soon as it listens, ready or not.
    pub fn start_listening(data_dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::spawn(data_dir, extra_env, "listen_addr=")
    }

    fn spawn(data_dir: &Path, extra_env: &[(&str, &str)], marker: &'static str) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chatnode"));
        cmd.env_clear()
            .env("CHAT__NODE__DATA_DIR", data_dir)
            .env("CHAT__HTTP__LISTEN", "127.0.0.1:0")
            .env("CHAT__AUTH__SIGNING_KEY", SIGNING_KEY_B64)
            .env("CHAT__AUTH__ARGON2_MEMORY_KIB", "1024")
            .env("CHAT__AUTH__ARGON2_ITERATIONS", "1")
            .env("CHAT__LOG__LEVEL", "info,fjall=warn,lsm_tree=warn")
            .env("CHAT__STORE__BACKEND", "embedded")
            .env("CHAT__LIMITS__MESSAGES_PER_SEC", "1000000")
            .env("CHAT__LIMITS__MESSAGE_BURST", "1000000")
            .env("CHAT__LIMITS__ROOMS_PER_HOUR", "1000000")
            .env("CHAT__LIMITS__SIGNUPS_PER_IP_PER_HOUR", "1000000")
            .env("CHAT__LIMITS__LOGINS_PER_IP_PER_MIN", "1000000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        if let Some((uri, keyspace)) = cql_backend(data_dir) {
            cmd.env("CHAT__STORE__BACKEND", "cql")
                .env("CHAT__STORE__CQL__CONTACT_POINTS", format!("[\"{uri}\"]"))
                .env("CHAT__STORE__CQL__KEYSPACE", keyspace);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Self::launch(cmd, marker)
    }

    /// Starts `chatnode` with exactly these arguments and environment (nothing of the test
    /// defaults), once ready.
    pub fn start_exact(args: &[String], env: &[(String, String)]) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chatnode"));
        cmd.env_clear()
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        Self::launch(cmd, "http_addr=")
    }

    fn launch(mut cmd: std::process::Command, marker: &'static str) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = cmd.spawn().expect("spawn chatnode");
        let stdout = child.stdout.take().unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = log.recv_timeout(left) else {
                let status = child.try_wait().ok().flatten();
                panic!(
                    "chatnode did not report its address (exit: {status:?}); its output:\n{}",
                    seen.join("\n")
                );
            };
            seen.push(line.clone());
            if let Some(rest) = line.split(marker).nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        Self { child, addr, log }
    }

    /// Waits until the node has logged a line containing `needle` `times` more times.
    pub fn wait_for_log(&self, needle: &str, times: usize) {
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut seen = 0;
        while seen < times {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the node never logged {needle:?} {times} times"));
            if line.contains(needle) {
                seen += 1;
            }
        }
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The node's resident memory (VmRSS), bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        kib * 1024
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
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
