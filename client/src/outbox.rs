//! Sends that survive disconnections: each message keeps its client_msg_id across retries
//! (the server stores it once and answers every retry with the first ack); a room's sends go
//! one at a time, in the order the app made them.

use std::time::{Duration, Instant};

use chat_proto::v1::SendAck;

use crate::error::ClientError;

/// Where a message is on its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting for a connection (or for the time the server asked to wait).
    Queued,
    /// Sent, waiting for the ack.
    Sending,
    /// Acked: stored once, with this seq.
    Sent(SendAck),
    /// Refused for good, or not acked in time: retry or discard it.
    Failed(ClientError),
}

/// A change of one outbox entry, as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxUpdate {
    /// The message's idempotency key (what [`Client::send`](crate::Client::send) returned).
    pub client_msg_id: String,
    /// Where it goes.
    pub room_id: u64,
    /// Where it is now.
    pub state: OutboxState,
}

/// A message to send.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub client_msg_id: String,
    pub room_id: u64,
    pub body: String,
    pub file_ids: Vec<u64>,
    state: OutboxState,
    since: Instant,
    not_before: Option<Instant>,
}

pub(crate) struct Outbox {
    entries: Vec<Entry>,
    timeout: Duration,
}

impl Outbox {
    pub fn new(timeout: Duration) -> Self {
        Self {
            entries: Vec::new(),
            timeout,
        }
    }

    fn update(e: &Entry) -> OutboxUpdate {
        OutboxUpdate {
            client_msg_id: e.client_msg_id.clone(),
            room_id: e.room_id,
            state: e.state.clone(),
        }
    }

    fn find(&mut self, id: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.client_msg_id == id)
    }

    /// Queues a message (the same client_msg_id twice is one message).
    pub fn add(
        &mut self,
        room_id: u64,
        body: String,
        file_ids: Vec<u64>,
        client_msg_id: String,
    ) -> Option<OutboxUpdate> {
        if self.find(&client_msg_id).is_some() {
            return None;
        }
        let e = Entry {
            client_msg_id,
            room_id,
            body,
            file_ids,
            state: OutboxState::Queued,
            since: Instant::now(),
            not_before: None,
        };
        let u = Self::update(&e);
        self.entries.push(e);
        Some(u)
    }

    /// Entries to send now: the first unsent one of each room, marked as sending.
    pub fn take_ready(&mut self, now: Instant) -> (Vec<Entry>, Vec<OutboxUpdate>) {
        let mut blocked = std::collections::HashSet::new();
        let (mut ready, mut updates) = (Vec::new(), Vec::new());
        for e in &mut self.entries {
            if matches!(e.state, OutboxState::Failed(_)) || !blocked.insert(e.room_id) {
                continue;
            }
            if e.state == OutboxState::Queued && e.not_before.is_none_or(|t| t <= now) {
                e.state = OutboxState::Sending;
                updates.push(Self::update(e));
                ready.push(e.clone());
            }
        }
        (ready, updates)
    }

    /// The server acked: the entry leaves the outbox.
    pub fn acked(&mut self, id: &str, ack: SendAck) -> Option<OutboxUpdate> {
        let i = self.entries.iter().position(|e| e.client_msg_id == id)?;
        let mut e = self.entries.remove(i);
        e.state = OutboxState::Sent(ack);
        Some(Self::update(&e))
    }

    /// An attempt failed: queued again (after `retry_after_ms` for the server's retryable
    /// errors), or failed for good.
    pub fn attempt_failed(&mut self, id: &str, error: ClientError) -> Option<OutboxUpdate> {
        let timeout = self.timeout;
        let e = self.find(id)?;
        let now = Instant::now();
        // The connection's authority lapsed (it re-authenticates or reconnects with a fresh
        // token): that is the connection's failure, not the message's.
        let error = match error.reason() {
            "TOKEN_EXPIRED" | "NOT_AUTHENTICATED" | "AUTH_REVOKED" => ClientError::Disconnected,
            _ => error,
        };
        e.state = if !error.retryable() {
            OutboxState::Failed(error)
        } else if now.duration_since(e.since) >= timeout {
            OutboxState::Failed(ClientError::Timeout)
        } else {
            if let ClientError::Server { retry_after_ms, .. } = &error {
                let wait = Duration::from_millis(u64::from(*retry_after_ms).max(250));
                e.not_before = Some(now + wait);
            }
            OutboxState::Queued
        };
        Some(Self::update(e))
    }

    /// The connection dropped: what was being sent goes again with the next one.
    pub fn disconnected(&mut self) {
        for e in &mut self.entries {
            if e.state == OutboxState::Sending {
                e.state = OutboxState::Queued;
            }
        }
    }

    /// Queued entries past their time fail.
    pub fn expire(&mut self, now: Instant) -> Vec<OutboxUpdate> {
        let timeout = self.timeout;
        let mut out = Vec::new();
        for e in &mut self.entries {
            if e.state == OutboxState::Queued && now.duration_since(e.since) >= timeout {
                e.state = OutboxState::Failed(ClientError::Timeout);
                out.push(Self::update(e));
            }
        }
        out
    }

    /// Tries a failed entry again, with the same client_msg_id.
    pub fn retry(&mut self, id: &str) -> Option<OutboxUpdate> {
        let e = self.find(id)?;
        if !matches!(e.state, OutboxState::Failed(_)) {
            return None;
        }
        e.state = OutboxState::Queued;
        e.since = Instant::now();
        e.not_before = None;
        Some(Self::update(e))
    }

    /// Drops an entry that is not being sent.
    pub fn discard(&mut self, id: &str) {
        self.entries
            .retain(|e| e.client_msg_id != id || e.state == OutboxState::Sending);
    }

    /// Everything not yet sent.
    pub fn pending(&self) -> Vec<OutboxUpdate> {
        self.entries.iter().map(Self::update).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[Entry]) -> Vec<&str> {
        v.iter().map(|e| e.client_msg_id.as_str()).collect()
    }

    #[test]
    fn one_send_per_room_at_a_time_in_order() {
        let mut o = Outbox::new(Duration::from_secs(60));
        for (room, id) in [(1, "a"), (1, "b"), (2, "c")] {
            o.add(room, "x".into(), vec![], id.into());
        }
        assert!(o.add(1, "x".into(), vec![], "a".into()).is_none());
        let now = Instant::now();
        let (ready, _) = o.take_ready(now);
        assert_eq!(ids(&ready), ["a", "c"]);
        assert!(o.take_ready(now).0.is_empty());
        o.acked("a", SendAck::default());
        assert_eq!(ids(&o.take_ready(now).0), ["b"]);
    }

    #[test]
    fn retryable_errors_requeue_others_fail() {
        let mut o = Outbox::new(Duration::from_secs(60));
        o.add(1, "x".into(), vec![], "a".into());
        o.add(2, "y".into(), vec![], "b".into());
        o.take_ready(Instant::now());
        let refused = ClientError::Server {
            code: 3,
            reason: "MESSAGE_TOO_LONG".into(),
            message: String::new(),
            retryable: false,
            retry_after_ms: 0,
        };
        let u = o.attempt_failed("a", refused).unwrap();
        assert!(matches!(u.state, OutboxState::Failed(_)));
        let u = o.attempt_failed("b", ClientError::Disconnected).unwrap();
        assert_eq!(u.state, OutboxState::Queued);
        assert_eq!(ids(&o.take_ready(Instant::now()).0), ["b"]);
        o.retry("a");
        o.discard("b");
        assert_eq!(o.pending().len(), 2, "b is being sent: not discarded");
    }
}
