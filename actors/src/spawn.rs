//! Spawning supervised actors, with one error type for start-up and run time.

use ractor::{Actor, ActorCell, ActorRef};

use crate::error::{ChatError, StartError};

/// An actor could not be spawned (what, and why).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SpawnFailed(String);

impl From<SpawnFailed> for ChatError {
    fn from(e: SpawnFailed) -> Self {
        Self::Internal(e.0)
    }
}

impl From<SpawnFailed> for StartError {
    fn from(e: SpawnFailed) -> Self {
        Self::Spawn(e.0)
    }
}

/// Spawns `actor` linked under `parent` (unlinked when `None`).
pub(crate) async fn spawn_child<A: Actor>(
    what: &str,
    actor: A,
    args: A::Arguments,
    parent: Option<ActorCell>,
) -> Result<ActorRef<A::Msg>, SpawnFailed> {
    let spawned = match parent {
        Some(p) => Actor::spawn_linked(None, actor, args, p).await,
        None => Actor::spawn(None, actor, args).await,
    };
    spawned
        .map(|(actor, _)| actor)
        .map_err(|e| SpawnFailed(format!("{what}: {e}")))
}
