//! What every actor of a node shares: config, store, ids, hub, bus, presence and placement.
//! Private to this crate; the transports ask [`crate::services::Services`] instead.

use std::sync::Arc;

use chat_cluster::Placement;
use chat_store::SharedStore;

use crate::{
    bus::Bus, config::ChatConfig, hub::Hub, ids::IdGenerator, limits::Limits, metrics::Metrics,
    presence::Presence,
};

/// Shared, immutable wiring of one node's actors.
pub struct Core {
    /// Limits and timings.
    pub(crate) config: ChatConfig,
    /// The store backend.
    pub(crate) store: SharedStore,
    /// Id generator of this node.
    pub(crate) ids: Arc<IdGenerator>,
    /// Local fan-out.
    pub(crate) hub: Arc<Hub>,
    /// Who is online, cluster-wide.
    pub(crate) presence: Arc<dyn Presence>,
    /// Cross-node (or in-process) publication.
    pub(crate) bus: Arc<dyn Bus>,
    /// Who owns which room and user session (a single node owns everything).
    pub(crate) placement: Arc<Placement>,
    /// Counters and histograms for `/metrics`.
    pub(crate) metrics: Arc<Metrics>,
    /// Rate and connection limits.
    pub(crate) limits: Arc<Limits>,
    /// Keeps the search index of this node's rooms in step with their logs.
    pub(crate) indexer: Arc<chat_search::Indexer>,
    /// Enables test-only fault injection (never on in production).
    pub(crate) fault_injection: bool,
}

impl Core {
    /// This node's name.
    pub(crate) fn node_id(&self) -> &Arc<str> {
        self.placement.name()
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("node_id", self.node_id())
            .finish_non_exhaustive()
    }
}
