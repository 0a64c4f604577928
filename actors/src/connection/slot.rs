//! `ConnectionSlot`: what a connection keeps between its actor's lives. An authenticated
//! connection with nothing in flight for `chat.connection_idle_secs` releases its actor (the
//! actor "hibernates"): events keep flowing, since the hub writes straight into the outbound
//! queue, and the next frame from the client spawns a fresh actor that picks the state up
//! from here. An idle socket then costs its queue and this slot, not a whole actor.
//!
//! Ordering: the transport must hold an in-flight permit for every frame it dispatches, and
//! dispatching holds the slot's lock. An actor only hibernates while holding that lock with
//! every permit free, so nothing is queued or running in it, and its successor starts clean.
//! Dispatching and closing, which wake or stop the actor, are in `open.rs` (above the actor).

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use chat_store::UserRecord;
use ractor::ActorRef;
use tokio::sync::Semaphore;

use super::{message::ConnectionMessage, registry::ConnectionRegistry};
use crate::{
    auth::Access,
    hub::{OpenRooms, Topic},
    outbound::OutboundSender,
    services::Services,
};

/// One connection's lasting state.
pub struct ConnectionSlot {
    /// Node-local id.
    pub conn_id: u64,
    pub(super) registry: ConnectionRegistry,
    pub(super) outbound: OutboundSender,
    pub(super) permits: Arc<Semaphore>,
    max_permits: usize,
    user: Mutex<Option<Arc<UserRecord>>>,
    /// What the connection's current token grants (replaced at each re-authentication).
    access: Mutex<Option<Access>>,
    pub(super) open_rooms: Arc<OpenRooms>,
    pub(super) actor: tokio::sync::Mutex<Option<ActorRef<ConnectionMessage>>>,
    pub(super) closed: AtomicBool,
}

impl ConnectionSlot {
    pub(super) fn new(
        conn_id: u64,
        registry: ConnectionRegistry,
        outbound: OutboundSender,
    ) -> Arc<Self> {
        let max_permits = registry.services().core.config.max_inflight_per_connection;
        Arc::new(Self {
            conn_id,
            registry,
            outbound,
            permits: Arc::new(Semaphore::new(max_permits)),
            max_permits,
            user: Mutex::new(None),
            access: Mutex::new(None),
            open_rooms: Arc::default(),
            actor: tokio::sync::Mutex::new(None),
            closed: AtomicBool::new(false),
        })
    }

    /// What commands need.
    pub(super) fn services(&self) -> &Services {
        self.registry.services()
    }

    /// The authenticated user, if any.
    pub(super) fn user(&self) -> Option<Arc<UserRecord>> {
        self.user.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn set_user(&self, user: Arc<UserRecord>) {
        *self.user.lock().unwrap_or_else(|p| p.into_inner()) = Some(user);
    }

    /// What the current token grants, once authenticated.
    pub(super) fn access(&self) -> Option<Access> {
        *self.access.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the token the connection (re-)authenticated with.
    pub(super) fn set_access(&self, access: Access) {
        *self.access.lock().unwrap_or_else(|p| p.into_inner()) = Some(access);
        self.registry.set_access(self.conn_id, access);
    }

    /// Whether the transport went away (or is going).
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.outbound.is_closed()
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
        self.registry.set_actor(self.conn_id, None);
        true
    }

    /// Forgets the connection everywhere: subscriptions, user session, registry.
    pub(super) async fn cleanup(&self) {
        let services = self.services();
        let hub = &services.core.hub;
        for room in self.open_rooms.drain() {
            hub.unsubscribe(Topic::Room(room), self.conn_id);
        }
        if let Some(user) = self.user() {
            hub.unsubscribe(Topic::User(user.id), self.conn_id);
            services.users.detach(user.id, self.conn_id).await;
        }
        self.registry.remove(self.conn_id);
    }
}
