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

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chat_actors::{
    ChatError, Reason,
    connection::{ConnectionMessage, SessionAuth},
};
use chat_proto::v1::{Empty, PollBatch, PollSession as PollSessionReply};
use serde::Deserialize;

use super::sessions::{invalid_cursor, parse_cursor};
use crate::{
    respond::{PeerIp, bearer, error_response, json, require_json},
    state::Gateway,
};

/// `POST /v1/poll/sessions`
pub async fn open(State(g): State<Gateway>, PeerIp(ip): PeerIp, headers: HeaderMap) -> Response {
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
    let auth = SessionAuth::Upfront(token.to_owned());
    let handle = g.connections.open_session(auth, ip).await?;
    let user = handle
        .user_id
        .ok_or_else(|| ChatError::Internal("an up-front session without its user".into()))?;
    let id = g.polls.insert(user, handle, g.config.poll_buffer)?;
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
    if let Err(refused) = require_json(&headers) {
        return axum::response::IntoResponse::into_response(refused);
    }
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
        .map_err(|e| ChatError::invalid(Reason::MalformedFrame, e.client_message()))?;
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
