//! The client's state that outlives each connection (rooms, outbox, tokens, the channels to
//! the handle and the app), and what a connection's end looks like.

use std::{sync::Arc, time::Duration};

use tokio::{sync::mpsc, time::Instant};

use crate::{
    conn::{Closed, FrameReceiver},
    error::ClientError,
    outbox::Outbox,
    rooms::RoomTracker,
    session::{AccessToken, TokenSource},
    types::{Cmd, ConnectionState, Event, Options},
};

pub(crate) struct Task {
    pub o: Options,
    pub tokens: Arc<dyn TokenSource>,
    pub events: mpsc::UnboundedSender<Event>,
    pub cmds: mpsc::UnboundedReceiver<Cmd>,
    pub rooms: RoomTracker,
    pub outbox: Outbox,
    pub stopped: bool,
    pub state: ConnectionState,
    pub attempt: u32,
    pub need_fresh_token: bool,
}

/// How a connection ended, for the decision what to do next.
pub(crate) enum Ended {
    /// The server (or the network) closed it.
    Closed(Closed),
    /// The app closed the client.
    Stopped,
    /// The log-in is over.
    SignedOut(ClientError),
}

impl Task {
    pub fn new(
        o: Options,
        tokens: Arc<dyn TokenSource>,
        events: mpsc::UnboundedSender<Event>,
        cmds: mpsc::UnboundedReceiver<Cmd>,
    ) -> Self {
        let outbox = Outbox::new(o.outbox_timeout);
        Self {
            o,
            tokens,
            events,
            cmds,
            rooms: RoomTracker::default(),
            outbox,
            stopped: false,
            state: ConnectionState::Offline,
            attempt: 0,
            need_fresh_token: false,
        }
    }

    pub fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    pub fn set_state(&mut self, s: ConnectionState) {
        if self.state != s {
            self.state = s;
            self.emit(Event::State(s));
        }
    }

    /// A command while there is no connection.
    pub fn offline_command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Request(_, reply) => {
                let _ = reply.send(Err(ClientError::Offline));
            }
            Cmd::OpenRoom(room, reply) => {
                // Opened with the next connection.
                self.rooms.open(room);
                let _ = reply.send(Err(ClientError::Offline));
            }
            cmd => self.local_command(cmd),
        }
    }

    /// Commands that need no connection.
    pub fn local_command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::CloseRoom(room) => self.rooms.close(room),
            Cmd::Send {
                room_id,
                body,
                file_ids,
                client_msg_id,
            } => {
                if let Some(u) = self.outbox.add(room_id, body, file_ids, client_msg_id) {
                    self.emit(Event::Outbox(u));
                }
            }
            Cmd::Retry(id) => {
                if let Some(u) = self.outbox.retry(&id) {
                    self.emit(Event::Outbox(u));
                }
            }
            Cmd::Discard(id) => self.outbox.discard(&id),
            Cmd::Unsent(reply) => {
                let _ = reply.send(self.outbox.pending());
            }
            Cmd::LastSeq(room, reply) => {
                let _ = reply.send(self.rooms.last_seq(room));
            }
            Cmd::Close => self.stopped = true,
            Cmd::Request(_, reply) | Cmd::OpenRoom(_, reply) => {
                let _ = reply.send(Err(ClientError::Offline));
            }
        }
    }

    /// Re-authentication is due this long before the token expires.
    pub fn reauth_at(&self, token: &AccessToken) -> Instant {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let margin = i64::try_from(self.o.reauth_margin.as_millis()).unwrap_or(i64::MAX);
        let due_in = token
            .expires_at_ms
            .saturating_sub(margin)
            .saturating_sub(now_ms)
            .max(1000);
        Instant::now() + Duration::from_millis(u64::try_from(due_in).unwrap_or(1000))
    }
}

/// A connection that failed before it was authenticated, as the close it stands for.
pub(crate) fn refused(e: ClientError) -> Ended {
    if e.is_signed_out() {
        return Ended::SignedOut(e);
    }
    let code = match e.reason() {
        "TOO_MANY_CONNECTIONS" => 4103,
        "PROTOCOL_ERROR" => 4102,
        "TOKEN_EXPIRED" | "TOKEN_INVALID" | "TOKEN_MISSING" | "NOT_AUTHENTICATED" => 4100,
        _ => 1006,
    };
    Ended::Closed(Closed {
        code,
        reason: e.to_string(),
    })
}

/// Reads frames on a task of their own, so the connection's loop can wait on a channel
/// (cancel-safe) instead of on the socket. The last item says how the connection ended.
pub(crate) fn spawn_reader(mut rx: FrameReceiver) -> Reader {
    let (tx, frames) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match rx.next().await {
                Ok(Some(frame)) => {
                    if tx.send(Ok(frame)).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let closed = rx.closed().cloned().unwrap_or(Closed {
                        code: 1006,
                        reason: String::new(),
                    });
                    let _ = tx.send(Err(closed));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(Closed {
                        code: 1007,
                        reason: e.to_string(),
                    }));
                    return;
                }
            }
        }
    });
    Reader { frames, task }
}

/// The frames of a connection, and the task reading them (stopped when this is dropped, so
/// a silent connection does not outlive the client's interest in it).
pub(crate) struct Reader {
    pub frames: mpsc::UnboundedReceiver<Result<chat_proto::v1::ServerFrame, Closed>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.task.abort();
    }
}
