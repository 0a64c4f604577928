//! Who is online: a user is online while at least one of their connections is open, on any
//! node. The node owning a user's session is the authority: it records the change and (in a
//! cluster) tells every other node, which records it with the owner's name. When a node
//! leaves the membership, what it said goes with it; the users' new session owners say it
//! again. Presence is its own interface, apart from the event bus (centrifuge's
//! `PresenceManager` beside its `Broker`).

pub mod nats;
mod table;

pub use table::PresenceTable;

use std::sync::Arc;

use chat_store::UserId;

/// The cluster's presence as this node knows it.
pub trait Presence: Send + Sync + 'static {
    /// Whether `user` has a connection open anywhere.
    fn is_online(&self, user: UserId) -> bool;
    /// This node's session of `user` saw them come online or go offline: record it, and
    /// tell the other nodes.
    fn announce(&self, user: UserId, online: bool);
    /// The members changed: forget what nodes outside `members` vouched for, and tell every
    /// node (newcomers too) the users this node vouches for now, those of its sessions it
    /// still owns (`owned`).
    fn reconcile(&self, members: &[Arc<str>], owned: &dyn Fn(UserId) -> bool);
}

/// A single node's presence: nobody else to tell.
#[derive(Debug)]
pub struct LocalPresence {
    node: Arc<str>,
    table: PresenceTable,
}

impl LocalPresence {
    /// The presence of node `node`.
    pub fn new(node: Arc<str>) -> Self {
        Self {
            node,
            table: PresenceTable::default(),
        }
    }
}

impl Presence for LocalPresence {
    fn is_online(&self, user: UserId) -> bool {
        self.table.is_online(user)
    }

    fn announce(&self, user: UserId, online: bool) {
        self.table.set(user, &self.node, online);
    }

    fn reconcile(&self, members: &[Arc<str>], owned: &dyn Fn(UserId) -> bool) {
        self.table.reconcile(&self.node, members, owned);
    }
}
