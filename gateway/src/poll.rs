//! Long polling, for clients that cannot keep a WebSocket. A poll session is a connection
//! whose outbound queue is drained into a numbered buffer instead of a socket:
//!
//! - `POST /v1/poll/sessions` (Bearer token) opens one: `{session_id, cursor}`;
//! - `GET /v1/poll?cursor=C` returns the frames after `C` and the next cursor, holding up to
//!   `http.poll_timeout_ms` while there are none; asking with a cursor acknowledges (and
//!   frees) everything before it, so a lost response is simply asked for again;
//! - `POST /v1/poll/{session_id}/commands` takes one `ClientFrame` (same dispatcher as the
//!   socket); its reply arrives in the stream like on a socket;
//! - `DELETE /v1/poll/{session_id}` closes it. Idle sessions close on their own.
//!
//! A cursor is `<session_id>.<index>`; the session id is a 128-bit secret and is only
//! accepted with a token of the session's user.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chat_actors::{
    ChatError, Reason,
    connection::{ConnectionHandle, ConnectionMessage, ConnectionSlot},
    outbound::{CloseRequest, EncodedFrame, Outbound, OutboundReceiver},
};
use chat_proto::v1::{
    Authenticate, ClientFrame, Empty, PollBatch, PollSession as PollSessionReply,
    client_frame::Command,
};
use serde::Deserialize;
use tokio::sync::{Notify, Semaphore};

use crate::{
    Gateway, GatewayConfig,
    http::{bearer, error_response, json},
};

/// Every long-poll session of this node.
pub struct PollSessions {
    sessions: Mutex<HashMap<String, Arc<PollSession>>>,
    idle: Duration,
}

struct PollSession {
    id: String,
    user_id: u64,
    slot: Arc<ConnectionSlot>,
    permits: Arc<Semaphore>,
    buffer: Mutex<PollBuffer>,
    notify: Notify,
    last_poll: Mutex<Instant>,
    /// Counts the session against its address's connection limit while it lives.
    _ip: Option<chat_actors::limits::IpGuard>,
}

#[derive(Default)]
struct PollBuffer {
    /// Index of `frames[0]`.
    base: u64,
    frames: VecDeque<Arc<EncodedFrame>>,
    closed: Option<CloseRequest>,
}

impl PollSession {
    fn buffer(&self) -> std::sync::MutexGuard<'_, PollBuffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self) {
        *self.last_poll.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_poll
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    fn close(&self) {
        let slot = self.slot.clone();
        tokio::spawn(async move { slot.close().await });
    }
}

impl PollSessions {
    /// Creates the registry and its reaper of idle sessions.
    pub fn start(config: &GatewayConfig) -> Arc<Self> {
        let sessions = Arc::new(Self {
            sessions: Mutex::default(),
            idle: Duration::from_secs(config.poll_session_idle_secs),
        });
        let weak = Arc::downgrade(&sessions);
        let period = (sessions.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        tokio::spawn(reap(weak, period));
        sessions
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<PollSession>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session `id` if it belongs to `user`. Someone else's session is reported as
    /// missing, so session ids cannot be probed.
    fn get(&self, id: &str, user: u64) -> Result<Arc<PollSession>, ChatError> {
        self.lock()
            .get(id)
            .filter(|s| s.user_id == user)
            .cloned()
            .ok_or_else(|| {
                ChatError::NotFound(Reason::SessionNotFound, "no such poll session".into())
            })
    }

    fn remove(&self, id: &str) {
        if let Some(s) = self.lock().remove(id) {
            s.close();
        }
    }
}

async fn reap(sessions: Weak<PollSessions>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let Some(sessions) = sessions.upgrade() else {
            return;
        };
        let expired: Vec<String> = sessions
            .lock()
            .values()
            .filter(|s| s.idle_for() > sessions.idle)
            .map(|s| s.id.clone())
            .collect();
        for id in expired {
            tracing::debug!(session = %id, "poll session idle; closing");
            sessions.remove(&id);
        }
    }
}

/// Moves frames from the connection's queue into the session's buffer.
async fn pump(session: Weak<PollSession>, mut outbound: OutboundReceiver, capacity: usize) {
    while let Some(next) = outbound.next().await {
        let Some(session) = session.upgrade() else {
            return;
        };
        {
            let mut buffer = session.buffer();
            match next {
                Outbound::Frame(frame) => {
                    buffer.frames.push_back(frame);
                    if buffer.frames.len() > capacity {
                        buffer.frames.pop_front();
                        buffer.base += 1;
                    }
                }
                Outbound::Close(close) => buffer.closed = Some(close),
            }
        }
        session.notify.notify_waiters();
    }
}

fn random_id() -> Result<String, ChatError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ChatError::Internal(format!("rng: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn invalid_cursor() -> ChatError {
    ChatError::invalid(Reason::InvalidCursor, "malformed or unknown poll cursor")
}

pub(crate) fn parse_cursor(cursor: &str) -> Result<(&str, u64), ChatError> {
    let (id, index) = cursor.split_once('.').ok_or_else(invalid_cursor)?;
    let index = index.parse().map_err(|_| invalid_cursor())?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid_cursor());
    }
    Ok((id, index))
}

/// `POST /v1/poll/sessions`
pub async fn open(
    State(g): State<Gateway>,
    crate::http::PeerIp(ip): crate::http::PeerIp,
    headers: HeaderMap,
) -> Response {
    match open_session(&g, bearer(&headers), ip).await {
        Ok(reply) => json(StatusCode::CREATED, &reply),
        Err(e) => error_response(&e),
    }
}

async fn open_session(
    g: &Gateway,
    token: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<PollSessionReply, ChatError> {
    if g.is_draining() {
        return Err(ChatError::Unavailable(
            Reason::Draining,
            "node is shutting down".into(),
        ));
    }
    let user_id = g.services.auth.verify_access(token)?;
    let ip_guard = match ip {
        Some(ip) => Some(g.services.core.limits.ip_connected(ip)?),
        None => None,
    };
    let ConnectionHandle {
        slot,
        outbound,
        permits,
        ..
    } = g.services.connections.open(&g.services).await?;
    let id = random_id()?;
    let session = Arc::new(PollSession {
        id: id.clone(),
        user_id,
        slot: slot.clone(),
        permits,
        buffer: Mutex::default(),
        notify: Notify::new(),
        last_poll: Mutex::new(Instant::now()),
        _ip: ip_guard,
    });
    tokio::spawn(pump(
        Arc::downgrade(&session),
        outbound,
        g.config.poll_buffer,
    ));
    let auth = ClientFrame {
        request_id: 0,
        command: Some(Command::Authenticate(Authenticate {
            access_token: token.to_owned(),
        })),
    };
    let _ = slot.dispatch(ConnectionMessage::Frame(auth, None)).await;
    g.polls.lock().insert(id.clone(), session);
    Ok(PollSessionReply {
        cursor: format!("{id}.0"),
        session_id: id,
    })
}

#[derive(Debug, Deserialize)]
pub struct PollQuery {
    cursor: Option<String>,
}

/// `GET /v1/poll?cursor=...`
pub async fn poll(
    State(g): State<Gateway>,
    headers: HeaderMap,
    Query(q): Query<PollQuery>,
) -> Response {
    match poll_events(&g, bearer(&headers), q.cursor.as_deref().unwrap_or("")).await {
        Ok(batch) => json(StatusCode::OK, &batch),
        Err(e) => error_response(&e),
    }
}

async fn poll_events(g: &Gateway, token: &str, cursor: &str) -> Result<PollBatch, ChatError> {
    let user = g.services.auth.verify_access(token)?;
    let (id, index) = parse_cursor(cursor)?;
    let session = g.polls.get(id, user)?;
    session.touch();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(g.config.poll_timeout_ms);
    loop {
        let notified = session.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut buffer = session.buffer();
            if index < buffer.base {
                return Err(ChatError::FailedPrecondition(
                    Reason::CursorExpired,
                    "events after this cursor were dropped: open a new session and recover by seq"
                        .into(),
                ));
            }
            let end = buffer.base + buffer.frames.len() as u64;
            if index > end {
                return Err(invalid_cursor());
            }
            // Everything before the cursor has been received: free it.
            let acked = usize::try_from(index - buffer.base).unwrap_or(usize::MAX);
            let acked = acked.min(buffer.frames.len());
            buffer.frames.drain(..acked);
            buffer.base = index;
            if !buffer.frames.is_empty() {
                let n = buffer.frames.len().min(g.config.poll_max_batch);
                let events = buffer
                    .frames
                    .iter()
                    .take(n)
                    .map(|f| f.frame().clone())
                    .collect();
                return Ok(PollBatch {
                    events,
                    cursor: format!("{id}.{}", index + n as u64),
                });
            }
            if let Some(close) = &buffer.closed {
                let message = format!("session closed ({}): {}", close.code, close.reason);
                drop(buffer);
                g.polls.remove(id);
                return Err(ChatError::FailedPrecondition(
                    Reason::SessionClosed,
                    message,
                ));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            session.touch();
            return Ok(PollBatch {
                events: Vec::new(),
                cursor: format!("{id}.{index}"),
            });
        }
    }
}

/// `POST /v1/poll/{session_id}/commands`
pub async fn command(
    State(g): State<Gateway>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    body: Bytes,
) -> Response {
    match send_command(&g, bearer(&headers), &session_id, &body).await {
        Ok(()) => json(StatusCode::ACCEPTED, &Empty {}),
        Err(e) => error_response(&e),
    }
}

async fn send_command(
    g: &Gateway,
    token: &str,
    session_id: &str,
    body: &[u8],
) -> Result<(), ChatError> {
    let user = g.services.auth.verify_access(token)?;
    let session = g.polls.get(session_id, user)?;
    if body.len() > g.config.max_frame_bytes {
        return Err(ChatError::invalid(
            Reason::FrameTooLarge,
            format!("frame exceeds {} bytes", g.config.max_frame_bytes),
        ));
    }
    let frame = chat_proto::decode_client_frame(chat_proto::Codec::Json, body)
        .map_err(|e| ChatError::invalid(Reason::MalformedFrame, e.to_string()))?;
    if matches!(frame.command, Some(Command::Authenticate(_))) {
        return Err(ChatError::FailedPrecondition(
            Reason::AlreadyAuthenticated,
            "poll sessions are authenticated at creation".into(),
        ));
    }
    let permit = session
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ChatError::Unavailable(Reason::Draining, "session closing".into()))?;
    session
        .slot
        .dispatch(ConnectionMessage::Frame(frame, Some(permit)))
        .await
        .map_err(|_| ChatError::FailedPrecondition(Reason::SessionClosed, "session closed".into()))
}

/// `DELETE /v1/poll/{session_id}`
pub async fn close(
    State(g): State<Gateway>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
) -> Response {
    let result = g
        .services
        .auth
        .verify_access(bearer(&headers))
        .and_then(|user| g.polls.get(&session_id, user));
    match result {
        Ok(session) => {
            g.polls.remove(&session.id);
            json(StatusCode::OK, &Empty {})
        }
        Err(e) => error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(parse_cursor(&format!("{id}.7")).unwrap(), (id, 7));
        for bad in [
            "",
            "x.1",
            &format!("{id}.x"),
            id,
            "../../etc.1",
            &format!("{id}.-1"),
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
