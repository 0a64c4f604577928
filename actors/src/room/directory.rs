//! `RoomDirectory`: how the rest of the node reaches rooms. Each operation goes to the
//! room's owner by placement (this node's actors, or a peer), through one [`Router`].

use std::{sync::Arc, time::Duration};

use chat_cluster::Key;
use chat_store::RoomId;
use ractor::ActorCell;

use super::{
    local::LocalRooms,
    ops::{RoomOp, RoomOutcome},
};
use crate::{
    core::Core,
    error::ChatError,
    route::{Pending, Router},
    spawn::SpawnFailed,
};

/// Finds rooms wherever they run. Cheap to clone.
#[derive(Clone)]
pub struct RoomDirectory {
    local: LocalRooms,
    router: Router,
}

impl RoomDirectory {
    /// Starts this node's room supervisor under `parent`.
    pub(crate) async fn start(
        core: Arc<Core>,
        parent: Option<ActorCell>,
    ) -> Result<Self, SpawnFailed> {
        let timeout = Duration::from_millis(core.config.call_timeout_ms);
        let router = Router::new(
            core.placement.clone(),
            timeout,
            Some(core.metrics.forwarded.clone()),
        );
        let local = LocalRooms::start(core, parent, timeout).await?;
        Ok(Self { local, router })
    }

    /// Hands `op` to the room's owner now, so operations submitted one after another reach
    /// the room in that order, and returns the wait for its outcome.
    pub async fn submit(
        &self,
        room: RoomId,
        op: RoomOp,
    ) -> Result<Pending<RoomOutcome>, ChatError> {
        self.forward(room, op, 0).await
    }

    /// Like [`RoomDirectory::submit`], for a request that was passed on `hops` times
    /// already (a peer whose view of the owner differs from this node's).
    pub(crate) async fn forward(
        &self,
        room: RoomId,
        op: RoomOp,
        hops: u32,
    ) -> Result<Pending<RoomOutcome>, ChatError> {
        self.router
            .submit(Key::Room(room), &self.local, room, op, hops)
            .await
    }

    /// Submits `op` and waits for the outcome.
    pub async fn request(&self, room: RoomId, op: RoomOp) -> Result<RoomOutcome, ChatError> {
        self.submit(room, op).await?.await
    }

    /// The members changed: rooms this node no longer owns move (their next request
    /// activates them on the new owner, which claims the next epoch).
    pub fn view_changed(&self) {
        self.local.hand_over();
    }

    /// Number of active room actors on this node.
    pub fn active(&self) -> usize {
        self.local.active()
    }

    /// Sends a test-only fault to a room's actor on this node (ignored unless fault
    /// injection is on).
    pub async fn inject_fault(&self, room: RoomId) -> Result<(), ChatError> {
        self.local.inject_fault(room).await
    }

    /// Drains every active room of this node within `deadline` (shutdown).
    pub async fn drain_all(&self, deadline: Duration) {
        self.local.drain_all(deadline).await;
    }
}
