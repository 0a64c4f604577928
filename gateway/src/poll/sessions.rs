//! The long-poll sessions of this node: each is a connection whose outbound queue a pump
//! drains into a numbered buffer, read by cursor (see `routes.rs`).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use chat_actors::{
    ChatError, Reason,
    connection::{ConnectionHandle, ConnectionSlot},
    outbound::{CloseRequest, EncodedFrame, Outbound, OutboundReceiver},
};
use tokio::sync::{Notify, Semaphore};

use crate::config::GatewayConfig;

/// Every long-poll session of this node.
pub struct PollSessions {
    sessions: Mutex<HashMap<String, Arc<PollSession>>>,
    idle: Duration,
}

pub(super) struct PollSession {
    pub(super) id: String,
    user_id: u64,
    pub(super) slot: Arc<ConnectionSlot>,
    pub(super) permits: Arc<Semaphore>,
    buffer: Mutex<PollBuffer>,
    pub(super) notify: Notify,
    last_poll: Mutex<Instant>,
}

#[derive(Default)]
pub(super) struct PollBuffer {
    /// Index of `frames[0]`.
    pub(super) base: u64,
    pub(super) frames: VecDeque<Arc<EncodedFrame>>,
    pub(super) closed: Option<CloseRequest>,
}

impl PollSession {
    pub(super) fn buffer(&self) -> std::sync::MutexGuard<'_, PollBuffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn touch(&self) {
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
    pub(super) fn get(&self, id: &str, user: u64) -> Result<Arc<PollSession>, ChatError> {
        self.lock()
            .get(id)
            .filter(|s| s.user_id == user)
            .cloned()
            .ok_or_else(|| {
                ChatError::NotFound(Reason::SessionNotFound, "no such poll session".into())
            })
    }

    pub(super) fn remove(&self, id: &str) {
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
pub(super) async fn pump(
    session: Weak<PollSession>,
    mut outbound: OutboundReceiver,
    capacity: usize,
) {
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

pub(super) fn invalid_cursor() -> ChatError {
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

impl PollSessions {
    /// Registers a new session of `user` over its connection `handle`; returns its id.
    pub(super) fn insert(
        &self,
        user_id: u64,
        handle: ConnectionHandle,
        buffer: usize,
    ) -> Result<String, ChatError> {
        let id = random_id()?;
        let session = Arc::new(PollSession {
            id: id.clone(),
            user_id,
            slot: handle.slot,
            permits: handle.permits,
            buffer: Mutex::default(),
            notify: Notify::new(),
            last_poll: Mutex::new(Instant::now()),
        });
        tokio::spawn(pump(Arc::downgrade(&session), handle.outbound, buffer));
        self.lock().insert(id.clone(), session);
        Ok(id)
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
