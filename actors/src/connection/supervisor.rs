//! `ConnectionSupervisor`: parent of every connection actor on this node. A connection is
//! never restarted (the client reconnects and recovers by seq); a crashed one has its socket
//! closed.

use ractor::{ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::registry::ConnectionRegistry;
use crate::{
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
        Ok(registry)
    }
}
