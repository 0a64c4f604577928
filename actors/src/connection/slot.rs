//! `ConnectionSlot`: what a connection keeps between its actor's lives. An authenticated
//! connection with nothing in flight for `chat.connection_idle_secs` releases its actor (the
//! actor "hibernates"): events keep flowing, since the hub writes straight into the outbound
//! queue, and the next frame from the client spawns a fresh actor that picks the state up
//! from here. An idle socket then costs its queue and this slot, not a whole actor.
//!
//! Ordering: the transport must hold an in-flight permit for every frame it dispatches, and
//! dispatching holds the slot's lock. An actor only hibernates while holding that lock with
//! every permit free, so nothing is queued or running in it, and its successor starts clean.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use chat_store::UserRecord;
use ractor::ActorRef;
use tokio::sync::Semaphore;

use super::ConnectionMessage;
use crate::{
    Services,
    error::ChatError,
    hub::{OpenRooms, Topic},
    outbound::OutboundSender,
};

/// One connection's lasting state.
pub struct ConnectionSlot {
    /// Node-local id.
    pub conn_id: u64,
    pub(super) services: Services,
    pub(super) outbound: OutboundSender,
    pub(super) permits: Arc<Semaphore>,
    max_permits: usize,
    user: Mutex<Option<Arc<UserRecord>>>,
    pub(super) open_rooms: Arc<OpenRooms>,
    actor: tokio::sync::Mutex<Option<ActorRef<ConnectionMessage>>>,
    closed: AtomicBool,
}

impl ConnectionSlot {
    pub(super) fn new(conn_id: u64, services: Services, outbound: OutboundSender) -> Arc<Self> {
        let max_permits = services.core.config.max_inflight_per_connection;
        Arc::new(Self {
            conn_id,
            services,
            outbound,
            permits: Arc::new(Semaphore::new(max_permits)),
            max_permits,
            user: Mutex::new(None),
            open_rooms: Arc::default(),
            actor: tokio::sync::Mutex::new(None),
            closed: AtomicBool::new(false),
        })
    }

    /// The authenticated user, if any.
    pub(super) fn user(&self) -> Option<Arc<UserRecord>> {
        self.user.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn set_user(&self, user: Arc<UserRecord>) {
        *self.user.lock().unwrap_or_else(|p| p.into_inner()) = Some(user);
    }

    /// Hands a message to the connection's actor, spawning one if it hibernates. Fails only
    /// when the connection is closed or closing.
    pub async fn dispatch(self: &Arc<Self>, message: ConnectionMessage) -> Result<(), ChatError> {
        self.services.core.metrics.frames_in.inc();
        let mut actor = self.actor.lock().await;
        if let Some(a) = actor.as_ref() {
            if a.cast(message).is_ok() {
                return Ok(());
            }
            // It stopped, and not to hibernate (that clears the slot under this lock): the
            // connection is over.
            *actor = None;
            return Err(closed());
        }
        if self.closed.load(Ordering::Acquire) || self.outbound.is_closed() {
            return Err(closed());
        }
        // Boxed: this future is part of every socket task's state for the socket's whole
        // life, and spawning an actor is a large future needed only on wake-up.
        let spawned = Box::pin(self.services.connections.spawn_actor(self.clone())).await?;
        spawned.cast(message).map_err(|_| closed())?;
        *actor = Some(spawned);
        Ok(())
    }

    /// Records the actor spawned when the connection opened.
    pub(super) async fn set_actor(&self, actor: ActorRef<ConnectionMessage>) {
        *self.actor.lock().await = Some(actor);
    }

    /// The transport is gone: the actor (if awake) cleans up in its `post_stop`, else this
    /// does.
    pub async fn close(self: &Arc<Self>) {
        self.closed.store(true, Ordering::Release);
        let actor = self.actor.lock().await;
        match actor.as_ref() {
            Some(a) if a.cast(ConnectionMessage::TransportClosed).is_ok() => {}
            _ => self.cleanup(),
        }
    }

    /// Releases `me` if the connection is authenticated, open, and nothing is queued or in
    /// flight. True when the caller must now stop.
    pub(super) async fn try_release(&self, me: &ActorRef<ConnectionMessage>) -> bool {
        let mut actor = self.actor.lock().await;
        let quiet = self.permits.available_permits() == self.max_permits;
        let mine = actor.as_ref().is_some_and(|a| a.get_id() == me.get_id());
        if !quiet || !mine || self.closed.load(Ordering::Acquire) || self.user().is_none() {
            return false;
        }
        *actor = None;
        self.services.connections.set_asleep(self.conn_id);
        true
    }

    /// Forgets the connection everywhere: subscriptions, user session, registry.
    pub(super) fn cleanup(&self) {
        let hub = &self.services.core.hub;
        for room in self.open_rooms.drain() {
            hub.unsubscribe(Topic::Room(room), self.conn_id);
        }
        if let Some(user) = self.user() {
            hub.unsubscribe(Topic::User(user.id), self.conn_id);
            self.services.users.detach(user.id, self.conn_id);
        }
        self.services.connections.remove(self.conn_id);
    }
}

fn closed() -> ChatError {
    ChatError::Unavailable(crate::error::Reason::Draining, "connection closed".into())
}
