//! The managed client: a handle to a task that keeps one connection alive and authorized,
//! re-opens rooms by seq after reconnecting, and sends through an outbox. Events arrive on a
//! channel.

use std::sync::Arc;

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use tokio::sync::{mpsc, oneshot};

use crate::{
    error::ClientError,
    outbox::OutboxUpdate,
    session::TokenSource,
    shared::Task,
    types::{Cmd, Event, Options},
};

/// A handle to the client's task; cheap to clone. The task ends when every handle is gone
/// or [`close`](Self::close) is called.
#[derive(Clone)]
pub struct Client {
    cmds: mpsc::UnboundedSender<Cmd>,
}

impl Client {
    /// Starts connecting (on the current tokio runtime); events arrive on the receiver.
    pub fn connect(
        options: Options,
        tokens: impl TokenSource,
    ) -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (cmds, rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        tokio::spawn(Task::new(options, Arc::new(tokens), events, rx).run());
        (Self { cmds }, events_rx)
    }

    fn ask(&self, cmd: Cmd) -> Result<(), ClientError> {
        self.cmds
            .send(cmd)
            .map_err(|_| ClientError::Closed("the client stopped".into()))
    }

    async fn answer<T>(&self, rx: oneshot::Receiver<T>) -> Result<T, ClientError> {
        rx.await
            .map_err(|_| ClientError::Closed("the client stopped".into()))
    }

    /// Sends a command; the reply's payload, or the server's error.
    pub async fn request(&self, command: Command) -> Result<Payload, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.ask(Cmd::Request(command, tx))?;
        self.answer(rx).await?
    }

    /// Opens a room: its messages arrive as events from now on, and after every
    /// reconnection it is re-opened from the last seq delivered.
    pub async fn open_room(&self, room_id: u64) -> Result<v1::RoomOpened, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.ask(Cmd::OpenRoom(room_id, tx))?;
        match self.answer(rx).await?? {
            Payload::RoomOpened(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    /// Stops following a room.
    pub fn close_room(&self, room_id: u64) -> Result<(), ClientError> {
        self.ask(Cmd::CloseRoom(room_id))
    }

    /// A page of history, newest first; pass `next_before_seq` for the next page.
    pub async fn history(
        &self,
        room_id: u64,
        before_seq: u64,
        limit: u32,
    ) -> Result<v1::History, ClientError> {
        let command = Command::GetHistory(v1::GetHistoryRequest {
            room_id,
            before_seq,
            limit,
        });
        match self.request(command).await? {
            Payload::History(h) => Ok(h),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends a message through the outbox (queued while offline, retried with the same
    /// client_msg_id until acked); progress arrives as [`Event::Outbox`]. Returns the id.
    pub fn send(
        &self,
        room_id: u64,
        body: &str,
        file_ids: Vec<u64>,
    ) -> Result<String, ClientError> {
        let client_msg_id = crate::ids::client_msg_id();
        self.ask(Cmd::Send {
            room_id,
            body: body.to_owned(),
            file_ids,
            client_msg_id: client_msg_id.clone(),
        })?;
        Ok(client_msg_id)
    }

    /// Tries a failed send again, with the same client_msg_id.
    pub fn retry_send(&self, client_msg_id: &str) -> Result<(), ClientError> {
        self.ask(Cmd::Retry(client_msg_id.to_owned()))
    }

    /// Drops an unsent message.
    pub fn discard_send(&self, client_msg_id: &str) -> Result<(), ClientError> {
        self.ask(Cmd::Discard(client_msg_id.to_owned()))
    }

    /// Messages not yet acked (queued, sending or failed).
    pub async fn unsent(&self) -> Result<Vec<OutboxUpdate>, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.ask(Cmd::Unsent(tx))?;
        self.answer(rx).await
    }

    /// The newest seq delivered in a room (0 when none).
    pub async fn last_seq(&self, room_id: u64) -> Result<u64, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.ask(Cmd::LastSeq(room_id, tx))?;
        self.answer(rx).await
    }

    /// Closes the connection for good.
    pub fn close(&self) {
        let _ = self.cmds.send(Cmd::Close);
    }
}

fn unexpected(p: &Payload) -> ClientError {
    ClientError::Transport(format!("unexpected reply {p:?}"))
}
