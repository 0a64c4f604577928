//! The rooms of this node as a [`Shard`]: an operation goes straight to the room's live
//! actor (from the shared map), or through the supervisor, which activates it.

use std::{sync::Arc, time::Duration};

use chat_store::RoomId;
use futures::future::BoxFuture;
use ractor::{ActorCell, ActorRef};

use super::{
    ops::{RoomMessage, RoomOp, RoomOutcome},
    supervisor::{RoomMap, RoomSupervisor, RoomSupervisorMessage, is_alive, read},
};
use crate::{
    core::Core,
    error::ChatError,
    route::{Pending, Shard, wait},
    spawn::{SpawnFailed, spawn_child},
};

/// The room actors of this node. Cheap to clone.
#[derive(Clone)]
pub(super) struct LocalRooms {
    supervisor: ActorRef<RoomSupervisorMessage>,
    rooms: RoomMap,
    timeout: Duration,
}

impl LocalRooms {
    /// Starts the room supervisor under `parent`.
    pub(super) async fn start(
        core: Arc<Core>,
        parent: Option<ActorCell>,
        timeout: Duration,
    ) -> Result<Self, SpawnFailed> {
        let rooms: RoomMap = Arc::default();
        let supervisor = spawn_child(
            "room supervisor",
            RoomSupervisor,
            (core, rooms.clone()),
            parent,
        )
        .await?;
        Ok(Self {
            supervisor,
            rooms,
            timeout,
        })
    }

    /// The live actor of a room, activated if needed. `NOT_FOUND` for unknown rooms.
    pub(super) async fn get(&self, room: RoomId) -> Result<ActorRef<RoomMessage>, ChatError> {
        if let Some(actor) = read(&self.rooms).get(&room)
            && is_alive(actor)
        {
            return Ok(actor.clone());
        }
        match self
            .supervisor
            .call(
                |reply| RoomSupervisorMessage::Get(room, reply),
                Some(self.timeout),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(r)) => r,
            _ => Err(ChatError::room_unavailable()),
        }
    }

    /// Number of active room actors.
    pub(super) fn active(&self) -> usize {
        read(&self.rooms).len()
    }

    /// Rooms now owned elsewhere finish what they have in flight and stop.
    pub(super) fn hand_over(&self) {
        let _ = self.supervisor.cast(RoomSupervisorMessage::Handover);
    }

    /// Drains every active room within `deadline` (shutdown).
    pub(super) async fn drain_all(&self, deadline: Duration) {
        let _ = self
            .supervisor
            .call(
                |r| RoomSupervisorMessage::DrainAll(deadline, r),
                Some(deadline + Duration::from_secs(1)),
            )
            .await;
    }

    /// Sends a test-only fault to a room's actor (ignored unless fault injection is on).
    pub(super) async fn inject_fault(&self, room: RoomId) -> Result<(), ChatError> {
        self.get(room)
            .await?
            .cast(RoomMessage::InjectFault)
            .map_err(|_| ChatError::room_unavailable())
    }

    async fn submit_local(
        &self,
        room: RoomId,
        op: RoomOp,
    ) -> Result<Pending<RoomOutcome>, ChatError> {
        let (tx, rx) = ractor::concurrency::oneshot();
        let mut message = RoomMessage::Op(op, tx.into());
        for attempt in 0..2 {
            let actor = self.get(room).await?;
            match actor.cast(message) {
                Ok(()) => return Ok(wait(rx, self.timeout, ChatError::room_unavailable)),
                // The actor stopped before it could receive the message: nothing was done,
                // so its successor may have it.
                Err(ractor::MessagingErr::SendErr(m)) if attempt == 0 => message = m,
                Err(_) => break,
            }
        }
        Err(ChatError::room_unavailable())
    }
}

impl Shard<RoomOp, RoomOutcome> for LocalRooms {
    fn submit(
        &self,
        room: RoomId,
        op: RoomOp,
        _hops: u32,
    ) -> BoxFuture<'_, Result<Pending<RoomOutcome>, ChatError>> {
        Box::pin(self.submit_local(room, op))
    }
}
