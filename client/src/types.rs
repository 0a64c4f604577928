//! What the handle and the task say to each other and to the app: events, options, commands.

use std::time::Duration;

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use tokio::sync::oneshot;

use crate::{conn::Dial, error::ClientError, outbox::OutboxUpdate};

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Dialing and authenticating.
    Connecting,
    /// Authenticated; requests go out.
    Online,
    /// Waiting to reconnect.
    Offline,
    /// Stopped for good (closed by the app, signed out, or refused).
    Closed,
}

/// What the client tells the app.
#[derive(Debug, Clone)]
pub enum Event {
    /// The connection state changed.
    State(ConnectionState),
    /// (Re)connected and authenticated, the open rooms re-opened.
    Ready(v1::Authenticated),
    /// A room message: once per seq, in seq order within each room.
    Message(v1::Message),
    /// An open room was (re-)opened on the connection.
    RoomOpened(v1::RoomOpened),
    /// Every other server event (read receipts, chat-list updates, invitations, presence,
    /// typing, friends), as its typed payload.
    Server(Payload),
    /// An outbox entry changed state.
    Outbox(OutboxUpdate),
    /// The log-in ended: log in again.
    SignedOut(ClientError),
    /// The server refused the connection for good (4102, 4103).
    Closed(ClientError),
}

/// How the client connects and keeps its connection.
#[derive(Debug, Clone)]
pub struct Options {
    /// The node's HTTP base URL, e.g. `http://127.0.0.1:8080`.
    pub base: String,
    /// Transport, wire and source address.
    pub dial: Dial,
    /// A request with no reply by then fails with [`ClientError::Timeout`].
    pub request_timeout: Duration,
    /// Send `ping` after this long without a frame...
    pub heartbeat_interval: Duration,
    /// ...and take the connection for dead when nothing arrives this long after.
    pub heartbeat_timeout: Duration,
    /// A connection not authenticated by then is retried.
    pub connect_timeout: Duration,
    /// Backoff: the first delay, doubled per failure up to the maximum, jittered.
    pub reconnect_delay: Duration,
    /// The longest wait between two attempts.
    pub reconnect_max_delay: Duration,
    /// Re-authenticate this long before the access token expires.
    pub reauth_margin: Duration,
    /// An outbox entry not acked this long after it was sent fails.
    pub outbox_timeout: Duration,
}

impl Options {
    /// The defaults, for the node at `base`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            dial: Dial::default(),
            request_timeout: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(20),
            heartbeat_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect_delay: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_secs(30),
            reauth_margin: Duration::from_secs(60),
            outbox_timeout: Duration::from_secs(120),
        }
    }
}

/// What the handle asks the task.
pub(crate) enum Cmd {
    Request(Command, oneshot::Sender<Result<Payload, ClientError>>),
    OpenRoom(u64, oneshot::Sender<Result<Payload, ClientError>>),
    CloseRoom(u64),
    Send {
        room_id: u64,
        body: String,
        file_ids: Vec<u64>,
        client_msg_id: String,
    },
    Retry(String),
    Discard(String),
    Unsent(oneshot::Sender<Vec<OutboxUpdate>>),
    LastSeq(u64, oneshot::Sender<u64>),
    Close,
}
