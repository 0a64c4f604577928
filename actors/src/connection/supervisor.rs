//! `ConnectionSupervisor`: parent of every connection actor on this node. A connection is
//! never restarted (the client reconnects and recovers by seq); a crashed one has its socket
//! closed.

use ractor::{ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::registry::{ConnectionRegistry, WeakRegistry};
use crate::{
    ids::now_ms,
    services::Services,
    spawn::{SpawnFailed, spawn_child},
};

/// The connection supervisor.
pub struct ConnectionSupervisor;

impl ractor::Actor for ConnectionSupervisor {
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
            registry.close_crashed(&cell).await;
        }
        Ok(())
    }
}

impl ConnectionRegistry {
    /// A registry for this node's connections, their supervisor started under `parent`.
    pub(crate) async fn start(
        services: Services,
        parent: Option<ActorCell>,
    ) -> Result<Self, SpawnFailed> {
        let registry = Self::new(services);
        let supervisor = spawn_child(
            "connection supervisor",
            ConnectionSupervisor,
            registry.clone(),
            parent,
        )
        .await?;
        registry.set_supervisor(supervisor.get_cell());
        let weak = registry.downgrade();
        registry
            .services()
            .auth
            .revocations()
            .on_revoked(move |revocation| {
                if let Some(registry) = weak.upgrade() {
                    registry.close_session(revocation.family_id);
                }
            });
        tokio::spawn(close_expired(registry.downgrade()));
        Ok(registry)
    }
}

/// Ends connections whose token expired without a re-authentication, every second (so a
/// connection outlives its token by at most a second), for as long as the node runs.
async fn close_expired(registry: WeakRegistry) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        every.tick().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let closed = registry.close_expired(now_ms() / 1000);
        if closed > 0 {
            tracing::debug!(closed, "connections closed: their access token expired");
        }
    }
}
