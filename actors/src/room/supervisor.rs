//! `RoomSupervisor`: activates room actors on demand (one per room on this node), restarts
//! them after a crash, hands rooms over when the membership changes, and drains them at
//! shutdown. It shares the map of live rooms with [`super::local::LocalRooms`], so finding a
//! live room does not go through the supervisor.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chat_cluster::{Key, Owner};
use chat_store::RoomId;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort,
    SupervisionEvent,
};

use super::{
    actor::{RoomActor, RoomArgs},
    ops::RoomMessage,
};
use crate::{core::Core, error::ChatError, spawn::spawn_child};

/// The live room actors of this node.
pub(super) type RoomMap = Arc<RwLock<HashMap<RoomId, ActorRef<RoomMessage>>>>;

/// Messages to the room supervisor.
#[derive(ractor_cluster::RactorMessage)]
pub enum RoomSupervisorMessage {
    /// Find or activate the actor of a room.
    Get(
        RoomId,
        RpcReplyPort<Result<ActorRef<RoomMessage>, ChatError>>,
    ),
    /// Drain every room (shutdown); replies when all have stopped or the deadline passed.
    DrainAll(Duration, RpcReplyPort<()>),
    /// The cluster's members changed: rooms now owned elsewhere finish what they have in
    /// flight and stop (their next request activates them on the new owner).
    Handover,
}

/// The room supervisor (see the module docs).
pub struct RoomSupervisor;

/// Its state.
pub struct RoomSupervisorState {
    core: Arc<Core>,
    rooms: RoomMap,
    by_actor: HashMap<ActorId, RoomId>,
    /// Rooms whose last actor ended abnormally: the next one re-publishes its tail.
    needs_recovery: HashSet<RoomId>,
    /// Recent eager restarts per room: (window start, count), to stop restart loops.
    restarts: HashMap<RoomId, (Instant, u32)>,
}

/// At most this many eager restarts of one room per window; beyond, it restarts on demand.
const MAX_RESTARTS: u32 = 3;
const RESTART_WINDOW: Duration = Duration::from_secs(10);

impl RoomSupervisorState {
    /// Counts a restart of `room`; false when the room has crashed too often lately.
    fn allow_restart(&mut self, room: RoomId) -> bool {
        let now = Instant::now();
        let entry = self.restarts.entry(room).or_insert((now, 0));
        if now.duration_since(entry.0) > RESTART_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        self.restarts
            .retain(|_, (start, _)| now.duration_since(*start) <= RESTART_WINDOW);
        self.restarts
            .get(&room)
            .is_some_and(|(_, n)| *n <= MAX_RESTARTS)
    }
}

impl Actor for RoomSupervisor {
    type Msg = RoomSupervisorMessage;
    type State = RoomSupervisorState;
    type Arguments = (Arc<Core>, RoomMap);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (core, rooms): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RoomSupervisorState {
            core,
            rooms,
            by_actor: HashMap::new(),
            restarts: HashMap::new(),
            needs_recovery: HashSet::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RoomSupervisorMessage::Get(room, reply) => {
                let r = activate(&myself, state, room).await;
                let _ = reply.send(r);
            }
            RoomSupervisorMessage::Handover => {
                let placement = &state.core.placement;
                for (&room, actor) in read(&state.rooms).iter() {
                    if placement.owner(Key::Room(room)) != Owner::Local {
                        tracing::info!(room, "room moves to another node");
                        let (tx, _rx) = ractor::concurrency::oneshot();
                        let _ = actor.cast(RoomMessage::Drain(tx.into()));
                    }
                }
            }
            RoomSupervisorMessage::DrainAll(deadline, reply) => {
                let actors: Vec<ActorRef<RoomMessage>> =
                    read(&state.rooms).values().cloned().collect();
                tokio::spawn(async move {
                    let mut drains = tokio::task::JoinSet::new();
                    for actor in actors {
                        drains.spawn(async move {
                            let _ = actor.call(RoomMessage::Drain, Some(deadline)).await;
                        });
                    }
                    while drains.join_next().await.is_some() {}
                    let _ = reply.send(());
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                if let Some(room) = forget(state, &cell) {
                    let normal = matches!(reason.as_deref(), Some("idle" | "drained"));
                    if !normal {
                        state.needs_recovery.insert(room);
                    }
                }
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                if let Some(room) = forget(state, &cell) {
                    state.needs_recovery.insert(room);
                    if !state.allow_restart(room) {
                        tracing::error!(room, %error, "room actor crashed repeatedly; it restarts on demand");
                        return Ok(());
                    }
                    tracing::error!(room, %error, "room actor crashed; restarting from the store");
                    if let Err(e) = activate(&myself, state, room).await {
                        tracing::warn!(room, error = %e, "room restart failed; it restarts on demand");
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

pub(super) fn read(
    map: &RoomMap,
) -> std::sync::RwLockReadGuard<'_, HashMap<RoomId, ActorRef<RoomMessage>>> {
    map.read().unwrap_or_else(|p| p.into_inner())
}

fn forget(state: &mut RoomSupervisorState, cell: &ActorCell) -> Option<RoomId> {
    let room = state.by_actor.remove(&cell.get_id())?;
    let mut rooms = state.rooms.write().unwrap_or_else(|p| p.into_inner());
    if rooms
        .get(&room)
        .is_some_and(|a| a.get_id() == cell.get_id())
    {
        rooms.remove(&room);
    }
    Some(room)
}

async fn activate(
    myself: &ActorRef<RoomSupervisorMessage>,
    state: &mut RoomSupervisorState,
    room: RoomId,
) -> Result<ActorRef<RoomMessage>, ChatError> {
    if let Some(actor) = read(&state.rooms).get(&room)
        && is_alive(actor)
    {
        return Ok(actor.clone());
    }
    let record = state
        .core
        .store
        .room(room)
        .await?
        .ok_or_else(ChatError::room_not_found)?;
    let args = RoomArgs {
        record,
        core: state.core.clone(),
        recovering: state.needs_recovery.remove(&room),
    };
    let actor = spawn_child("room actor", RoomActor, args, Some(myself.get_cell())).await?;
    state.by_actor.insert(actor.get_id(), room);
    state
        .rooms
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(room, actor.clone());
    Ok(actor)
}

pub(super) fn is_alive<T>(actor: &ActorRef<T>) -> bool {
    matches!(
        actor.get_status(),
        ActorStatus::Running | ActorStatus::Starting | ActorStatus::Upgrading
    )
}
