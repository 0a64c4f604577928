//! `ConnectionRegistry`: the live connections of this node, with who they authenticated as
//! and what counts them against the connection caps. A connection is registered from its
//! open until its end, and [`ConnectionRegistry::remove`] releases every cap it held,
//! exactly once. Opening connections is in `open.rs`.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use chat_proto::v1::CloseCode;
use chat_store::UserId;
use ractor::{ActorCell, ActorId};

use crate::{
    auth::Access,
    limits::IpGuard,
    outbound::{CloseRequest, OutboundSender},
    services::Services,
};

/// One live connection.
pub(super) struct Entry {
    /// The current actor; `None` while it hibernates.
    pub(super) actor: Option<ActorId>,
    pub(super) outbound: OutboundSender,
    /// Set once the connection authenticated (it then counts against its user's cap).
    pub(super) user: Option<UserId>,
    /// What its current token grants (the log-in, the expiry), once authenticated.
    pub(super) access: Option<Access>,
    /// Counts the connection against its address's cap while registered.
    pub(super) _ip: Option<IpGuard>,
}

struct Inner {
    services: Services,
    next_id: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
    supervisor: OnceLock<ActorCell>,
    draining: AtomicBool,
}

/// The live connections of this node. Cheap to clone.
#[derive(Clone)]
pub struct ConnectionRegistry {
    inner: Arc<Inner>,
}

/// A [`ConnectionRegistry`] that may be gone.
pub(super) struct WeakRegistry(std::sync::Weak<Inner>);

impl WeakRegistry {
    /// The registry, unless the node stopped.
    pub(super) fn upgrade(&self) -> Option<ConnectionRegistry> {
        self.0.upgrade().map(|inner| ConnectionRegistry { inner })
    }
}

impl ConnectionRegistry {
    /// An empty registry; connections open once the supervisor is set.
    pub(super) fn new(services: Services) -> Self {
        Self {
            inner: Arc::new(Inner {
                services,
                next_id: AtomicU64::new(0),
                entries: Mutex::default(),
                supervisor: OnceLock::new(),
                draining: AtomicBool::new(false),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What commands need.
    pub(super) fn services(&self) -> &Services {
        &self.inner.services
    }

    /// The parent of every connection actor.
    pub(super) fn supervisor(&self) -> Option<ActorCell> {
        self.inner.supervisor.get().cloned()
    }

    pub(super) fn set_supervisor(&self, cell: ActorCell) {
        let _ = self.inner.supervisor.set(cell);
    }

    /// From now on no connection opens (the node is shutting down).
    pub fn stop_accepting(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    pub(super) fn is_accepting(&self) -> bool {
        !self.inner.draining.load(Ordering::Acquire)
    }

    /// Registers a new connection; returns its node-local id.
    pub(super) fn insert(&self, outbound: OutboundSender, ip: Option<IpGuard>) -> u64 {
        let conn_id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Entry {
            actor: None,
            outbound,
            user: None,
            access: None,
            _ip: ip,
        };
        let mut entries = self.lock();
        entries.insert(conn_id, entry);
        self.count(entries.len());
        conn_id
    }

    fn count(&self, open: usize) {
        let gauge = &self.inner.services.core.metrics.connections;
        gauge.set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Every authenticated connection of this node, with its user.
    pub fn authenticated(&self) -> Vec<(u64, UserId)> {
        self.lock()
            .iter()
            .filter_map(|(conn, e)| e.user.map(|u| (*conn, u)))
            .collect()
    }

    /// Records a connection's current actor (`None`: it hibernates).
    pub(super) fn set_actor(&self, conn_id: u64, actor: Option<ActorId>) {
        if let Some(e) = self.lock().get_mut(&conn_id) {
            e.actor = actor;
        }
    }

    /// Whether a connection currently has an actor (false while it hibernates or after it
    /// closed).
    pub fn is_awake(&self, conn_id: u64) -> bool {
        self.lock().get(&conn_id).is_some_and(|e| e.actor.is_some())
    }

    /// Records who a connection authenticated as, and with what token (again at each
    /// re-authentication).
    pub(super) fn set_access(&self, conn_id: u64, access: Access) {
        if let Some(e) = self.lock().get_mut(&conn_id) {
            e.user = Some(access.user_id);
            e.access = Some(access);
        }
    }

    /// Closes every connection of a revoked log-in with `AUTH_REVOKED` (4101).
    pub(crate) fn close_session(&self, session_id: u64) {
        for entry in self.lock().values() {
            if entry.access.is_some_and(|a| a.session_id == session_id) {
                entry.outbound.close(CloseCode::AuthRevoked, "AUTH_REVOKED");
            }
        }
    }

    /// Closes every connection whose token expired before `now_secs` without a
    /// re-authentication, with `TOKEN_EXPIRED` (4100). Returns how many.
    pub(super) fn close_expired(&self, now_secs: i64) -> usize {
        let mut closed = 0;
        for entry in self.lock().values_mut() {
            if entry.access.is_some_and(|a| a.expires_at_secs <= now_secs) {
                entry
                    .outbound
                    .close(CloseCode::Unauthenticated, "TOKEN_EXPIRED");
                // Closed once; the entry goes when the transport ends.
                entry.access = None;
                closed += 1;
            }
        }
        closed
    }

    /// A handle that does not keep the registry alive (for listeners and tasks the
    /// registry's own services hold).
    pub(super) fn downgrade(&self) -> WeakRegistry {
        WeakRegistry(Arc::downgrade(&self.inner))
    }

    /// Forgets a connection and releases its caps.
    pub(super) fn remove(&self, conn_id: u64) -> Option<Entry> {
        let removed = {
            let mut entries = self.lock();
            let removed = entries.remove(&conn_id);
            self.count(entries.len());
            removed
        };
        if let Some(user) = removed.as_ref().and_then(|e| e.user) {
            self.inner.services.core.limits.user_disconnected(user);
        }
        removed
    }

    /// A connection actor crashed: close its socket and detach it from its user, which its
    /// `post_stop` (not run after a crash) would have done.
    pub(super) async fn close_crashed(&self, cell: &ActorCell) {
        let id = cell.get_id();
        let conn = self
            .lock()
            .iter()
            .find(|(_, e)| e.actor == Some(id))
            .map(|(c, _)| *c);
        let Some((conn, entry)) = conn.and_then(|c| self.remove(c).map(|e| (c, e))) else {
            return;
        };
        entry
            .outbound
            .close_with(CloseRequest::after_queued(1011, "internal error"));
        if let Some(user) = entry.user {
            self.inner.services.users.detach(user, conn).await;
        }
    }

    /// Asks every client to reconnect elsewhere (shutdown).
    pub fn close_all(&self, code: CloseCode, reason: &str) {
        for entry in self.lock().values() {
            entry.outbound.close(code, reason);
        }
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
