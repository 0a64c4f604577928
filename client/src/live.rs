//! One live connection: requests by id, events, heartbeats, re-authentication, room
//! re-opening and gap reads, the outbox's sends.

use std::{collections::HashMap, time::Duration};

use chat_proto::v1::{self, ServerFrame, client_frame::Command, server_frame::Payload};
use tokio::{
    sync::oneshot,
    time::{Instant, interval},
};

use crate::{
    conn::{Closed, FrameSender},
    error::ClientError,
    rooms::Gap,
    session::AccessToken,
    shared::{Ended, Reader, Task},
    types::{Cmd, Event},
};

type Reply = oneshot::Sender<Result<Payload, ClientError>>;

/// What a request in flight is for.
enum Pending {
    App(Reply),
    /// Opening a room; `None` for the client's own re-open after a reconnection.
    OpenRoom(u64, Option<Reply>),
    /// Reading a gap from history, page by page (newest first), with what was read so far.
    Gap(Gap, Vec<v1::Message>),
    Send(String),
    Reauth(AccessToken),
    Ping,
}

pub(crate) struct Live {
    tx: FrameSender,
    reader: Reader,
    token: AccessToken,
    authenticated: v1::Authenticated,
    pending: HashMap<u32, (Instant, Pending)>,
    last_frame: Instant,
    ping_sent: Option<Instant>,
    reauth_at: Instant,
    /// Re-opens still unanswered; `ready` is announced when none is left.
    reopening: usize,
    ready: bool,
}

impl Live {
    pub fn new(
        tx: FrameSender,
        reader: Reader,
        token: AccessToken,
        authenticated: v1::Authenticated,
    ) -> Self {
        let now = Instant::now();
        Self {
            tx,
            reader,
            token,
            authenticated,
            pending: HashMap::new(),
            last_frame: now,
            ping_sent: None,
            reauth_at: now,
            reopening: 0,
            ready: false,
        }
    }

    /// Serves the connection until it ends.
    pub async fn serve(mut self, t: &mut Task) -> Ended {
        self.reauth_at = t.reauth_at(&self.token);
        if let Err(c) = self.reopen_rooms(t).await {
            return Ended::Closed(c);
        }
        // Also the resolution of request timeouts and the outbox's timers.
        let tick = (t.o.heartbeat_interval.min(t.o.heartbeat_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut ticker = interval(tick);
        loop {
            let step = tokio::select! {
                frame = self.reader.frames.recv() => match frame {
                    Some(Ok(frame)) => self.frame(t, frame).await,
                    Some(Err(closed)) => Err(Ended::Closed(closed)),
                    None => Err(Ended::Closed(Closed { code: 1006, reason: String::new() })),
                },
                cmd = t.cmds.recv() => match cmd {
                    None | Some(Cmd::Close) => {
                        t.stopped = true;
                        Err(Ended::Stopped)
                    }
                    Some(cmd) => self.command(t, cmd).await,
                },
                _ = ticker.tick() => self.tick(t).await,
                () = tokio::time::sleep_until(self.reauth_at) => {
                    self.reauth_at = Instant::now() + Duration::from_secs(3600 * 24);
                    self.reauthenticate(t).await
                }
            };
            if let Err(ended) = step {
                if matches!(ended, Ended::Stopped) {
                    self.tx.close().await;
                }
                self.fail_pending(t);
                return ended;
            }
        }
    }

    async fn request(
        &mut self,
        t: &Task,
        command: Command,
        why: Pending,
    ) -> Result<(), ClientError> {
        let id = self.tx.send(command).await?;
        let deadline = Instant::now() + t.o.request_timeout;
        self.pending.insert(id, (deadline, why));
        Ok(())
    }

    async fn reopen_rooms(&mut self, t: &mut Task) -> Result<(), Closed> {
        for (room_id, since_seq) in t.rooms.open_rooms() {
            let command = Command::OpenRoom(v1::OpenRoomRequest { room_id, since_seq });
            if self
                .request(t, command, Pending::OpenRoom(room_id, None))
                .await
                .is_err()
            {
                return Err(lost());
            }
            self.reopening += 1;
        }
        self.maybe_ready(t).await.map_err(|_| lost())
    }

    async fn maybe_ready(&mut self, t: &mut Task) -> Result<(), Ended> {
        if self.ready || self.reopening > 0 {
            return Ok(());
        }
        self.ready = true;
        t.emit(Event::Ready(self.authenticated.clone()));
        self.pump_outbox(t).await
    }

    async fn command(&mut self, t: &mut Task, cmd: Cmd) -> Result<(), Ended> {
        let sent = match cmd {
            Cmd::Request(command, reply) => self.request(t, command, Pending::App(reply)).await,
            Cmd::OpenRoom(room_id, reply) => {
                let since_seq = t.rooms.open(room_id);
                let command = Command::OpenRoom(v1::OpenRoomRequest { room_id, since_seq });
                self.request(t, command, Pending::OpenRoom(room_id, Some(reply)))
                    .await
            }
            Cmd::CloseRoom(room_id) => {
                t.rooms.close(room_id);
                let command = Command::CloseRoom(v1::CloseRoomRequest { room_id });
                self.tx.send(command).await.map(drop)
            }
            cmd @ (Cmd::Send { .. } | Cmd::Retry(_)) => {
                t.local_command(cmd);
                return self.pump_outbox(t).await;
            }
            cmd => {
                t.local_command(cmd);
                Ok(())
            }
        };
        sent.map_err(|_| Ended::Closed(lost()))
    }

    async fn frame(&mut self, t: &mut Task, f: ServerFrame) -> Result<(), Ended> {
        self.last_frame = Instant::now();
        self.ping_sent = None;
        let Some(payload) = f.payload else {
            return Ok(());
        };
        if let Payload::RoomOpened(o) = &payload {
            // Before anything else: the recovered messages follow this frame.
            if let Some(room) = &o.room {
                t.rooms.opened(room.id, room.last_seq);
            }
        }
        if f.request_id != 0
            && let Some((_, why)) = self.pending.remove(&f.request_id)
        {
            return self.reply(t, why, payload).await;
        }
        match payload {
            Payload::Message(m) => {
                let (out, gap) = t.rooms.receive(m);
                self.delivered(t, out, gap).await
            }
            Payload::Pong(_) | Payload::Authenticated(_) => Ok(()),
            other => {
                t.emit(Event::Server(other));
                Ok(())
            }
        }
    }

    async fn delivered(
        &mut self,
        t: &mut Task,
        out: Vec<v1::Message>,
        gap: Option<Gap>,
    ) -> Result<(), Ended> {
        for m in out {
            t.emit(Event::Message(m));
        }
        match gap {
            Some(gap) => self.read_gap(t, gap, gap.before, Vec::new()).await,
            None => Ok(()),
        }
    }

    /// Asks for the page of a gap below `before`.
    async fn read_gap(
        &mut self,
        t: &Task,
        gap: Gap,
        before: u64,
        read: Vec<v1::Message>,
    ) -> Result<(), Ended> {
        let command = Command::GetHistory(v1::GetHistoryRequest {
            room_id: gap.room,
            before_seq: before,
            limit: 100,
        });
        self.request(t, command, Pending::Gap(gap, read))
            .await
            .map_err(|_| Ended::Closed(lost()))
    }

    async fn reply(&mut self, t: &mut Task, why: Pending, payload: Payload) -> Result<(), Ended> {
        let result = match payload {
            Payload::Error(e) => Err(ClientError::from_frame(&e)),
            p => Ok(p),
        };
        match why {
            Pending::App(reply) => {
                let _ = reply.send(result);
            }
            Pending::OpenRoom(room, reply) => {
                if let Ok(Payload::RoomOpened(o)) = &result {
                    t.emit(Event::RoomOpened(o.clone()));
                }
                if reply.is_none() {
                    self.reopening = self.reopening.saturating_sub(1);
                    if result.as_ref().is_err_and(|e| !e.retryable()) {
                        // Left or removed meanwhile: no longer this client's to follow.
                        t.rooms.close(room);
                    }
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
                return self.maybe_ready(t).await;
            }
            Pending::Gap(gap, read) => return self.gap_page(t, gap, read, result).await,
            Pending::Send(id) => return self.sent(t, &id, result).await,
            Pending::Reauth(token) => match result {
                Ok(_) => {
                    self.reauth_at = t.reauth_at(&token);
                    self.token = token;
                }
                // The server closes with 4100 at expiry; the reconnection refreshes.
                Err(e) if e.is_signed_out() => return Err(Ended::SignedOut(e)),
                Err(_) => self.reauth_at = Instant::now() + Duration::from_secs(3600 * 24),
            },
            Pending::Ping => {}
        }
        Ok(())
    }

    /// A page of a gap arrived: read the next older one, or hand the whole gap over.
    async fn gap_page(
        &mut self,
        t: &mut Task,
        gap: Gap,
        mut read: Vec<v1::Message>,
        result: Result<Payload, ClientError>,
    ) -> Result<(), Ended> {
        let Ok(Payload::History(h)) = result else {
            t.rooms.fill_failed(gap.room);
            return Err(Ended::Closed(Closed {
                code: 4003,
                reason: "could not read a gap".into(),
            }));
        };
        let oldest = h.messages.last().map_or(0, |m| m.seq);
        read.extend(h.messages.into_iter().filter(|m| m.seq > gap.after));
        if h.has_more && h.next_before_seq > gap.after + 1 && oldest > gap.after + 1 {
            return self.read_gap(t, gap, h.next_before_seq, read).await;
        }
        let (out, next) = t.rooms.filled(gap, read);
        self.delivered(t, out, next).await
    }

    async fn sent(
        &mut self,
        t: &mut Task,
        id: &str,
        result: Result<Payload, ClientError>,
    ) -> Result<(), Ended> {
        let update = match result {
            Ok(Payload::SendAck(ack)) => t.outbox.acked(id, ack),
            Ok(other) => t.outbox.attempt_failed(
                id,
                ClientError::Transport(format!("unexpected reply {other:?}")),
            ),
            Err(e) => t.outbox.attempt_failed(id, e),
        };
        if let Some(u) = update {
            t.emit(Event::Outbox(u));
        }
        self.pump_outbox(t).await
    }

    async fn pump_outbox(&mut self, t: &mut Task) -> Result<(), Ended> {
        if !self.ready {
            return Ok(());
        }
        let (ready, updates) = t.outbox.take_ready(Instant::now().into_std());
        for u in updates {
            t.emit(Event::Outbox(u));
        }
        for e in ready {
            let command = Command::SendMessage(v1::SendMessageRequest {
                room_id: e.room_id,
                client_msg_id: e.client_msg_id.clone(),
                body: e.body.clone(),
                file_ids: e.file_ids.clone(),
                ..Default::default()
            });
            self.request(t, command, Pending::Send(e.client_msg_id))
                .await
                .map_err(|_| Ended::Closed(lost()))?;
        }
        Ok(())
    }

    async fn tick(&mut self, t: &mut Task) -> Result<(), Ended> {
        let now = Instant::now();
        if let Some(sent) = self.ping_sent {
            if now.duration_since(sent) >= t.o.heartbeat_timeout {
                return Err(Ended::Closed(Closed {
                    code: 4004,
                    reason: "no answer to ping".into(),
                }));
            }
        } else if now.duration_since(self.last_frame) >= t.o.heartbeat_interval {
            self.ping_sent = Some(now);
            let ping = Command::Ping(v1::PingRequest {});
            self.request(t, ping, Pending::Ping)
                .await
                .map_err(|_| Ended::Closed(lost()))?;
        }
        self.expire_requests(t, now).await?;
        for u in t.outbox.expire(now.into_std()) {
            t.emit(Event::Outbox(u));
        }
        self.pump_outbox(t).await
    }

    async fn expire_requests(&mut self, t: &mut Task, now: Instant) -> Result<(), Ended> {
        let expired: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some((_, why)) = self.pending.remove(&id) {
                self.reply_error(t, why, ClientError::Timeout).await?;
            }
        }
        Ok(())
    }

    async fn reply_error(
        &mut self,
        t: &mut Task,
        why: Pending,
        e: ClientError,
    ) -> Result<(), Ended> {
        match why {
            Pending::App(reply) | Pending::OpenRoom(_, Some(reply)) => {
                let _ = reply.send(Err(e));
                Ok(())
            }
            Pending::Send(id) => self.sent(t, &id, Err(e)).await,
            // A re-open, a gap read or a ping without an answer: the connection is not
            // usable; the next one recovers by seq.
            Pending::OpenRoom(_, None) | Pending::Gap(..) | Pending::Ping => {
                Err(Ended::Closed(Closed {
                    code: 1006,
                    reason: "no reply in time".into(),
                }))
            }
            Pending::Reauth(_) => Ok(()),
        }
    }

    async fn reauthenticate(&mut self, t: &mut Task) -> Result<(), Ended> {
        let token = match t.tokens.token(true).await {
            Ok(token) => token,
            Err(e) if e.is_signed_out() => return Err(Ended::SignedOut(e)),
            // The reconnection after the 4100 close tries again.
            Err(_) => return Ok(()),
        };
        let command = Command::Authenticate(v1::AuthenticateRequest {
            access_token: token.token.clone(),
        });
        self.request(t, command, Pending::Reauth(token))
            .await
            .map_err(|_| Ended::Closed(lost()))
    }

    fn fail_pending(&mut self, t: &mut Task) {
        for (_, (_, why)) in self.pending.drain() {
            match why {
                Pending::App(reply) | Pending::OpenRoom(_, Some(reply)) => {
                    let _ = reply.send(Err(ClientError::Disconnected));
                }
                Pending::Send(id) => {
                    if let Some(u) = t.outbox.attempt_failed(&id, ClientError::Disconnected) {
                        t.emit(Event::Outbox(u));
                    }
                }
                Pending::OpenRoom(_, None)
                | Pending::Gap(..)
                | Pending::Reauth(_)
                | Pending::Ping => {}
            }
        }
    }
}

fn lost() -> Closed {
    Closed {
        code: 1006,
        reason: "connection lost".into(),
    }
}
