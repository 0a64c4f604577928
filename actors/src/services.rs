//! What a command needs: accounts, rooms, user sessions, files and the node's shared
//! wiring; plus the few questions the transports may ask about the node.

use std::sync::{Arc, atomic::Ordering};

use chat_cluster::{Key, Owner, View};
use chat_store::RoomId;

use crate::{
    auth::AuthService, core::Core, files::FileService, metrics::Live, room::RoomDirectory,
    user::UserDirectory,
};

/// Everything a command needs. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub(crate) core: Arc<Core>,
    /// Accounts and tokens.
    pub auth: AuthService,
    /// Rooms, wherever they run.
    pub rooms: RoomDirectory,
    /// User sessions, wherever they run.
    pub(crate) users: UserDirectory,
    /// Uploads, downloads, attachments.
    pub files: FileService,
}

impl Services {
    /// The node's metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let core = &self.core;
        core.metrics.render(Live {
            room_actors: self.rooms.active(),
            cluster_members: core.placement.view().members.len(),
            bus_up: core.bus.healthy(),
            bus_dropped: core.bus.dropped(),
            index_lag: core.indexer.lag_entries(),
            index_pending_rooms: core.indexer.pending_rooms(),
            index_entries: core.indexer.stats().entries.load(Ordering::Relaxed),
            index_failures: core.indexer.stats().failures.load(Ordering::Relaxed),
            index_dropped: core.indexer.stats().dropped.load(Ordering::Relaxed),
        })
    }

    /// This node's name.
    pub fn node_id(&self) -> &Arc<str> {
        self.core.node_id()
    }

    /// The cluster's members as this node sees them (itself alone on a single node).
    pub fn cluster_view(&self) -> Arc<View> {
        self.core.placement.view()
    }

    /// The node owning a room's actor in this node's view.
    pub fn room_owner(&self, room: RoomId) -> Arc<str> {
        match self.core.placement.owner(Key::Room(room)) {
            Owner::Local => self.core.node_id().clone(),
            Owner::Remote(node) => node,
        }
    }

    /// Whether test-only fault injection is on.
    pub fn fault_injection(&self) -> bool {
        self.core.fault_injection
    }
}
