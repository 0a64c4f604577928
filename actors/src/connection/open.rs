//! Opening a connection for a transport, and the transport's side of it afterwards
//! (dispatching frames, closing). Everything every transport (WebSocket, long polling, gRPC
//! `Session`) must do to open one is here, once: refuse while the node drains, count the
//! connection against its address's cap, verify or pass on the token, spawn the actor.

use std::{net::IpAddr, sync::Arc, sync::atomic::Ordering};

use chat_proto::v1::{AuthenticateRequest, ClientFrame, client_frame::Command};
use chat_store::UserId;
use tokio::sync::Semaphore;

use super::{
    actor, message::ConnectionMessage, registry::ConnectionRegistry, slot::ConnectionSlot,
};
use crate::{
    error::{ChatError, Reason},
    limits::IpGuard,
    outbound::{OutboundReceiver, OutboundSender, outbound_queue},
};

/// How a new connection authenticates.
#[derive(Debug, Clone)]
pub enum SessionAuth {
    /// With a token verified before the connection opens: a bad one fails the open (long
    /// polling answers the request with it, gRPC the call).
    Upfront(String),
    /// With a token (if any) the connection checks as its first command, as an
    /// `authenticate` frame: a bad one is answered in-band and closes the connection (a
    /// WebSocket, whose upgrade has already succeeded); without one, the client sends
    /// `authenticate` itself.
    InBand(Option<String>),
}

/// A connection the node agreed to take: it is counted against its address's cap until it
/// is opened and ends, or until this is dropped.
pub struct Admission {
    registry: ConnectionRegistry,
    ip: Option<IpGuard>,
    /// The token the connection authenticates with as its first command.
    token: Option<String>,
    /// The user, when the token was verified up front.
    user_id: Option<UserId>,
}

/// What the transport holds for one connection.
pub struct ConnectionHandle {
    /// Node-local id.
    pub conn_id: u64,
    /// The user, when the token was verified up front.
    pub user_id: Option<UserId>,
    /// Where decoded frames go (`slot.dispatch`), and `slot.close()` when the transport ends.
    pub slot: Arc<ConnectionSlot>,
    /// The writer's queue.
    pub outbound: OutboundReceiver,
    /// For the transport to request a close itself (e.g. a frame over the hard limit).
    pub closer: OutboundSender,
    /// Permits bounding commands in flight; acquire one per frame.
    pub permits: Arc<Semaphore>,
}

fn draining() -> ChatError {
    ChatError::Unavailable(
        Reason::Draining,
        "node is shutting down; reconnect elsewhere".into(),
    )
}

impl ConnectionRegistry {
    /// Takes a new connection from `peer` (when the transport knows the address) unless the
    /// node drains, an up-front token does not verify, or the address has
    /// `limits.connections_per_ip` open.
    pub fn admit(&self, auth: SessionAuth, peer: Option<IpAddr>) -> Result<Admission, ChatError> {
        if !self.is_accepting() {
            return Err(draining());
        }
        let (token, user_id) = match auth {
            SessionAuth::Upfront(token) => {
                let user = self.services().auth.verify_access(&token)?;
                (Some(token), Some(user))
            }
            SessionAuth::InBand(token) => (token, None),
        };
        let ip = match peer {
            Some(ip) => Some(self.services().core.limits.ip_connected(ip)?),
            None => None,
        };
        Ok(Admission {
            registry: self.clone(),
            ip,
            token,
            user_id,
        })
    }

    /// Admits and opens a connection in one step.
    pub async fn open_session(
        &self,
        auth: SessionAuth,
        peer: Option<IpAddr>,
    ) -> Result<ConnectionHandle, ChatError> {
        self.admit(auth, peer)?.open().await
    }
}

impl Admission {
    /// Opens the connection: its queue, its slot and its first actor, which authenticates
    /// with the admitted token first (the per-user cap applies then).
    pub async fn open(self) -> Result<ConnectionHandle, ChatError> {
        let registry = self.registry;
        let services = registry.services();
        let (tx, rx) = outbound_queue(services.core.config.outbound_queue);
        let conn_id = registry.insert(tx.clone(), self.ip);
        let slot = ConnectionSlot::new(conn_id, registry.clone(), tx.clone());
        let first = match Box::pin(actor::spawn(slot.clone())).await {
            Ok(a) => a,
            Err(e) => {
                registry.remove(conn_id);
                return Err(e);
            }
        };
        *slot.actor.lock().await = Some(first);
        if let Some(access_token) = self.token {
            // The connection's first command, answered in its stream (request id 0). If the
            // connection is closed already, the transport finds out as it starts.
            let frame = ClientFrame {
                request_id: 0,
                command: Some(Command::Authenticate(AuthenticateRequest { access_token })),
            };
            let _ = slot.dispatch(ConnectionMessage::Frame(frame, None)).await;
        }
        Ok(ConnectionHandle {
            conn_id,
            user_id: self.user_id,
            permits: slot.permits.clone(),
            slot,
            outbound: rx,
            closer: tx,
        })
    }
}

impl ConnectionSlot {
    /// Hands a message to the connection's actor, spawning one if it hibernates. Fails only
    /// when the connection is closed or closing.
    pub async fn dispatch(self: &Arc<Self>, message: ConnectionMessage) -> Result<(), ChatError> {
        self.services().core.metrics.frames_in.inc();
        let mut current = self.actor.lock().await;
        if let Some(a) = current.as_ref() {
            if a.cast(message).is_ok() {
                return Ok(());
            }
            // It stopped, and not to hibernate (that clears the slot under this lock): the
            // connection is over.
            *current = None;
            return Err(closed());
        }
        if self.is_closed() {
            return Err(closed());
        }
        // Boxed: this future is part of every socket task's state for the socket's whole
        // life, and spawning an actor is a large future needed only on wake-up.
        let spawned = Box::pin(actor::spawn(self.clone())).await?;
        spawned.cast(message).map_err(|_| closed())?;
        *current = Some(spawned);
        Ok(())
    }

    /// The transport is gone: the actor (if awake) cleans up in its `post_stop`, else this
    /// does.
    pub async fn close(self: &Arc<Self>) {
        self.closed.store(true, Ordering::Release);
        let current = self.actor.lock().await;
        match current.as_ref() {
            Some(a) if a.cast(ConnectionMessage::TransportClosed).is_ok() => {}
            _ => self.cleanup().await,
        }
    }
}

fn closed() -> ChatError {
    ChatError::Unavailable(Reason::Draining, "connection closed".into())
}
