//! `ConnectionSupervisor`: parent of every connection actor on this node. A connection is
//! never restarted (the client reconnects and recovers by seq); a crashed one has its socket
//! closed. The registry lets the node tell every client to reconnect elsewhere at shutdown.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use chat_proto::v1::CloseCode;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::Semaphore;

use super::{ConnectionActor, ConnectionArgs, ConnectionMessage, ConnectionSlot};
use crate::{
    Services,
    error::ChatError,
    outbound::{OutboundReceiver, OutboundSender, outbound_queue},
};

/// The connection supervisor.
pub struct ConnectionSupervisor;

impl Actor for ConnectionSupervisor {
    type Msg = ();
    type State = ConnectionRegistry;
    type Arguments = ConnectionRegistry;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        registry: ConnectionRegistry,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(registry)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        registry: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            tracing::error!(%error, "connection actor crashed; closing its socket");
            registry.close_actor(&cell);
        }
        Ok(())
    }
}

/// What the transport holds for one connection.
pub struct ConnectionHandle {
    /// Node-local id.
    pub conn_id: u64,
    /// Where decoded frames go (`slot.dispatch`), and `slot.close()` when the socket ends.
    pub slot: Arc<ConnectionSlot>,
    /// The writer's queue.
    pub outbound: OutboundReceiver,
    /// For the transport to request a close itself (e.g. a frame over the hard limit).
    pub closer: OutboundSender,
    /// Permits bounding commands in flight; acquire one per frame.
    pub permits: Arc<Semaphore>,
}

#[derive(Default)]
struct Entries {
    by_conn: HashMap<u64, Entry>,
}

struct Entry {
    /// The current actor; `None` while it hibernates.
    actor: Option<ractor::ActorId>,
    outbound: OutboundSender,
    /// Set once the connection authenticated.
    user: Option<chat_store::UserId>,
}

/// The live connections of this node. Cheap to clone.
#[derive(Clone, Default)]
pub struct ConnectionRegistry {
    next_id: Arc<AtomicU64>,
    entries: Arc<Mutex<Entries>>,
    supervisor: Arc<Mutex<Option<ActorCell>>>,
    /// To detach a crashed connection from its user's session (it cannot do so itself).
    users: Arc<Mutex<Option<crate::UserDirectory>>>,
}

impl ConnectionRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the connection supervisor under `parent`.
    pub async fn start(
        &self,
        parent: Option<ActorCell>,
        users: crate::UserDirectory,
    ) -> Result<(), ChatError> {
        *self.users.lock().unwrap_or_else(|p| p.into_inner()) = Some(users);
        let actor = crate::spawn_child(
            "connection supervisor",
            ConnectionSupervisor,
            self.clone(),
            parent,
        )
        .await?;
        *self.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some(actor.get_cell());
        Ok(())
    }

    /// Every authenticated connection of this node, with its user.
    pub fn authenticated(&self) -> Vec<(u64, chat_store::UserId)> {
        self.lock()
            .by_conn
            .iter()
            .filter_map(|(conn, e)| e.user.map(|u| (*conn, u)))
            .collect()
    }

    /// Opens a connection: its queue, its slot and its first actor.
    pub async fn open(&self, services: &Services) -> Result<ConnectionHandle, ChatError> {
        let config = &services.core.config;
        let conn_id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = outbound_queue(config.outbound_queue);
        let slot = ConnectionSlot::new(conn_id, services.clone(), tx.clone());
        let entry = Entry {
            actor: None,
            outbound: tx.clone(),
            user: None,
        };
        self.lock().by_conn.insert(conn_id, entry);
        let actor = match self.spawn_actor(slot.clone()).await {
            Ok(a) => a,
            Err(e) => {
                self.remove(conn_id);
                return Err(e);
            }
        };
        slot.set_actor(actor).await;
        Ok(ConnectionHandle {
            conn_id,
            permits: slot.permits.clone(),
            slot,
            outbound: rx,
            closer: tx,
        })
    }

    /// Spawns an actor for a connection (at open, and to wake a hibernating one).
    pub(super) async fn spawn_actor(
        &self,
        slot: Arc<ConnectionSlot>,
    ) -> Result<ActorRef<ConnectionMessage>, ChatError> {
        let conn_id = slot.conn_id;
        let parent = self
            .supervisor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ChatError::Internal("connection supervisor not started".into()))?;
        let actor = crate::spawn_child(
            "connection actor",
            ConnectionActor,
            ConnectionArgs { slot },
            Some(parent),
        )
        .await?;
        if let Some(e) = self.lock().by_conn.get_mut(&conn_id) {
            e.actor = Some(actor.get_id());
        }
        Ok(actor)
    }

    /// Whether a connection currently has an actor (false while it hibernates or after it
    /// closed).
    pub fn is_awake(&self, conn_id: u64) -> bool {
        self.lock()
            .by_conn
            .get(&conn_id)
            .is_some_and(|e| e.actor.is_some())
    }

    /// Records that a connection's actor hibernated.
    pub(super) fn set_asleep(&self, conn_id: u64) {
        if let Some(e) = self.lock().by_conn.get_mut(&conn_id) {
            e.actor = None;
        }
    }

    /// Records who a connection authenticated as.
    pub fn set_user(&self, conn_id: u64, user: chat_store::UserId) {
        if let Some(e) = self.lock().by_conn.get_mut(&conn_id) {
            e.user = Some(user);
        }
    }

    /// Forgets a connection (its actor stopped).
    pub fn remove(&self, conn_id: u64) {
        let removed = self.lock().by_conn.remove(&conn_id);
        if let Some(user) = removed.and_then(|e| e.user) {
            self.release_user(user);
        }
    }

    /// An authenticated connection is gone: it no longer counts against its user's limit.
    /// Called by whoever removed its entry, so exactly once.
    fn release_user(&self, user: chat_store::UserId) {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(users) = users {
            users.core().limits.user_disconnected(user);
        }
    }

    /// A connection actor crashed: close its socket and detach it from its user, which its
    /// `post_stop` (not run after a crash) would have done.
    fn close_actor(&self, cell: &ActorCell) {
        let id = cell.get_id();
        let removed = {
            let mut entries = self.lock();
            let conn = entries
                .by_conn
                .iter()
                .find(|(_, e)| e.actor == Some(id))
                .map(|(c, _)| *c);
            conn.and_then(|c| entries.by_conn.remove(&c).map(|e| (c, e)))
        };
        let Some((conn, entry)) = removed else { return };
        entry
            .outbound
            .close_with(crate::outbound::CloseRequest::after_queued(
                1011,
                "internal error",
            ));
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let (Some(user), Some(users)) = (entry.user, users) {
            users.detach(user, conn);
            users.core().limits.user_disconnected(user);
        }
    }

    /// Asks every client to reconnect elsewhere (shutdown).
    pub fn close_all(&self, code: CloseCode, reason: &str) {
        for entry in self.lock().by_conn.values() {
            entry.outbound.close(code, reason);
        }
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.lock().by_conn.len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
