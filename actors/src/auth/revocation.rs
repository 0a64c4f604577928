//! Revoked log-ins, as every node holds them: checking an access token (at connect, per HTTP
//! request, per frame) is a lookup in memory, never a store read.
//!
//! A revocation is written to the store first, then applied here and (in a cluster)
//! announced on `<prefix>.revoked`; every node applies what it hears and closes its live
//! connections of that log-in. A node that starts loads the revocations still in force from
//! the store before it serves, and reloads them after its NATS link was interrupted and every
//! [`RELOAD_EVERY`] as a backstop, so a lost announcement delays a revocation by at most that
//! long. A revocation is kept until every access token it covers has expired.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use chat_cluster::NatsLink;
use chat_proto::cluster as pb;
use chat_store::{Revocation, SharedStore};
use futures::StreamExt as _;
use prost::Message as _;
use tokio::sync::Notify;

use crate::{error::StartError, ids::now_ms};

/// How often a node re-reads the revocations from the store, in case it missed one.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// Called for each revocation this node learns of (to close the log-in's connections).
type Listener = Box<dyn Fn(&Revocation) + Send + Sync>;

/// The revoked log-ins this node knows of (see the module docs).
#[derive(Default)]
pub struct Revocations {
    revoked: Mutex<HashMap<u64, Revocation>>,
    listener: OnceLock<Listener>,
    reload: Arc<Notify>,
    link: OnceLock<(Arc<NatsLink>, String)>,
    /// The follower and reloader tasks, stopped with the node.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("revoked", &self.len())
            .finish_non_exhaustive()
    }
}

impl Revocations {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Revocation>> {
        self.revoked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the log-in `family_id` (an access token's `sid`) was revoked.
    pub fn is_revoked(&self, family_id: u64) -> bool {
        self.table().contains_key(&family_id)
    }

    /// Revocations held.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// True when no log-in is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets what happens to a log-in's live connections when it is revoked (once).
    pub fn on_revoked(&self, listener: impl Fn(&Revocation) + Send + Sync + 'static) {
        let _ = self.listener.set(Box::new(listener));
    }

    /// Asks for a reload from the store (the NATS link was interrupted: announcements may
    /// have been missed).
    pub fn request_reload(&self) {
        self.reload.notify_one();
    }

    /// Applies a revocation this node made (already in the store) and tells the others.
    pub(crate) fn revoke(&self, revocation: Revocation) {
        self.apply(revocation);
        if let Some((link, subject)) = self.link.get() {
            let message = pb::SessionRevoked {
                user_id: revocation.user_id,
                family_id: revocation.family_id,
                until_ms: revocation.until_ms,
            };
            if !link.publish(subject.clone(), Bytes::from(message.encode_to_vec())) {
                // The other nodes find it at their next reload.
                tracing::warn!("NATS publish queue full: a revocation announcement was dropped");
            }
        }
    }

    /// Records a revocation; the first time, closes the log-in's live connections.
    fn apply(&self, revocation: Revocation) {
        if revocation.until_ms <= now_ms() {
            return;
        }
        let new = self
            .table()
            .insert(revocation.family_id, revocation)
            .is_none();
        if new && let Some(listener) = self.listener.get() {
            listener(&revocation);
        }
    }

    /// Forgets revocations whose tokens have all expired.
    fn prune(&self) {
        let now = now_ms();
        self.table().retain(|_, r| r.until_ms > now);
    }

    /// Loads what the store holds: revocations in force with tokens up to `horizon` old.
    async fn load(&self, store: &SharedStore, horizon: Duration) -> Result<(), StartError> {
        let now = now_ms();
        let latest = now.saturating_add(i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX));
        let found = store.revocations(now, latest).await?;
        self.prune();
        for revocation in found {
            self.apply(revocation);
        }
        Ok(())
    }

    /// Loads the revocations in force, then follows the other nodes' announcements (over
    /// `link`, in a cluster) and reloads as the module docs say, for as long as `self` lives.
    /// `horizon`: the access-token lifetime.
    pub(crate) async fn start(
        self: &Arc<Self>,
        store: SharedStore,
        link: Option<Arc<NatsLink>>,
        horizon: Duration,
    ) -> Result<(), StartError> {
        if let Some(link) = link {
            let subject = link.subject("revoked");
            let announcements = link.subscribe(subject.clone()).await?;
            let _ = self.link.set((link, subject));
            self.keep(tokio::spawn(follow(announcements, Arc::downgrade(self))));
        }
        self.load(&store, horizon).await?;
        let asked = self.reload.clone();
        self.keep(tokio::spawn(reload(
            Arc::downgrade(self),
            asked,
            store,
            horizon,
        )));
        Ok(())
    }

    fn keep(&self, task: tokio::task::JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Stops following and reloading (the node stops; the store is released).
    pub(crate) fn stop(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

async fn follow(
    mut announcements: impl futures::Stream<Item = Bytes> + Unpin,
    revocations: std::sync::Weak<Revocations>,
) {
    while let Some(payload) = announcements.next().await {
        let Some(revocations) = revocations.upgrade() else {
            return;
        };
        match pb::SessionRevoked::decode(payload) {
            Ok(m) => revocations.apply(Revocation {
                user_id: m.user_id,
                family_id: m.family_id,
                until_ms: m.until_ms,
            }),
            Err(_) => tracing::warn!("undecodable revocation announcement"),
        }
    }
}

async fn reload(
    revocations: std::sync::Weak<Revocations>,
    asked: Arc<Notify>,
    store: SharedStore,
    horizon: Duration,
) {
    let mut every = tokio::time::interval(RELOAD_EVERY);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = asked.notified() => {}
        }
        let Some(revocations) = revocations.upgrade() else {
            return;
        };
        if let Err(e) = revocations.load(&store, horizon).await {
            tracing::warn!(error = %e, "reloading revocations failed; retrying later");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_revocation_closes_its_connections_once_and_lapses() {
        let revocations = Revocations::default();
        let closed = Arc::new(AtomicUsize::new(0));
        let counter = closed.clone();
        revocations.on_revoked(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let revocation = Revocation {
            user_id: 1,
            family_id: 7,
            until_ms: now_ms() + 60_000,
        };
        revocations.revoke(revocation);
        revocations.revoke(revocation);
        assert!(revocations.is_revoked(7));
        assert!(!revocations.is_revoked(8));
        assert_eq!(closed.load(Ordering::Relaxed), 1);
        revocations.revoke(Revocation {
            family_id: 9,
            until_ms: now_ms() - 1,
            ..revocation
        });
        assert!(!revocations.is_revoked(9));
        assert_eq!(revocations.len(), 1);
    }
}
