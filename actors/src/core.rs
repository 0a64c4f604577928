//! What every actor of a node shares: config, store, ids, hub and bus.

use std::sync::Arc;

use chat_store::SharedStore;

use crate::{
    bus::Bus, cluster::Placement, config::ChatConfig, hub::Hub, ids::IdGenerator,
    presence::Presence,
};

/// Shared, immutable wiring of one node's actors.
pub struct Core {
    /// Limits and timings.
    pub config: ChatConfig,
    /// The store backend.
    pub store: SharedStore,
    /// Id generator of this node.
    pub ids: Arc<IdGenerator>,
    /// Local fan-out.
    pub hub: Arc<Hub>,
    /// Who is online.
    pub presence: Arc<Presence>,
    /// Cross-node (or in-process) publication.
    pub bus: Arc<dyn Bus>,
    /// This node's name.
    pub node_id: String,
    /// Who owns which room and user session (a single node owns everything).
    pub placement: Arc<Placement>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Rate and connection limits.
    pub limits: Arc<crate::limits::Limits>,
    /// Enables test-only fault injection (never on in production).
    pub fault_injection: bool,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}
