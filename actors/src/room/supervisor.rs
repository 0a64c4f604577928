//! `RoomSupervisor`: activates room actors on demand (one per room on this node), restarts
//! them after a crash, and drains them at shutdown. `RoomDirectory` is the handle others
//! use: a shared read-mostly map so finding a live room does not go through the supervisor.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chat_store::RoomId;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort,
    SupervisionEvent,
};

use super::{RoomActor, RoomArgs, RoomMessage};
use crate::{core::Core, error::ChatError};

type RoomMap = Arc<RwLock<HashMap<RoomId, ActorRef<RoomMessage>>>>;

/// Messages to the room supervisor.
// Local-only today; variants become RactorClusterMessage when they cross nodes.
#[derive(ractor_cluster::RactorMessage)]
pub enum RoomSupervisorMessage {
    /// Find or activate the actor of a room.
    Get(
        RoomId,
        RpcReplyPort<Result<ActorRef<RoomMessage>, ChatError>>,
    ),
    /// Drain every room (shutdown); replies when all have stopped or the deadline passed.
    DrainAll(Duration, RpcReplyPort<()>),
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

fn read(map: &RoomMap) -> std::sync::RwLockReadGuard<'_, HashMap<RoomId, ActorRef<RoomMessage>>> {
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
    let actor = crate::spawn_child("room actor", RoomActor, args, Some(myself.get_cell())).await?;
    state.by_actor.insert(actor.get_id(), room);
    state
        .rooms
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(room, actor.clone());
    Ok(actor)
}

fn is_alive<T>(actor: &ActorRef<T>) -> bool {
    matches!(
        actor.get_status(),
        ActorStatus::Running | ActorStatus::Starting | ActorStatus::Upgrading
    )
}

/// Finds room actors, activating them through the supervisor when needed. Cheap to clone.
#[derive(Clone)]
pub struct RoomDirectory {
    supervisor: ActorRef<RoomSupervisorMessage>,
    rooms: RoomMap,
    timeout: Duration,
}

impl RoomDirectory {
    /// Starts the room supervisor under `parent` and returns the directory.
    pub async fn start(core: Arc<Core>, parent: Option<ActorCell>) -> Result<Self, ChatError> {
        let rooms: RoomMap = Arc::default();
        let timeout = Duration::from_millis(core.config.call_timeout_ms);
        let supervisor = crate::spawn_child(
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
    pub async fn get(&self, room: RoomId) -> Result<ActorRef<RoomMessage>, ChatError> {
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

    /// Calls a room actor, activating it if needed; a room that died mid-call is retried once
    /// after re-activation. Timeouts and crashes become a retryable `UNAVAILABLE`.
    pub async fn call<T: Send + 'static>(
        &self,
        room: RoomId,
        build: impl Fn(RpcReplyPort<Result<T, ChatError>>) -> RoomMessage,
    ) -> Result<T, ChatError> {
        for attempt in 0..2 {
            let actor = self.get(room).await?;
            match actor.call(&build, Some(self.timeout)).await {
                Ok(ractor::rpc::CallResult::Success(r)) => return r,
                Ok(ractor::rpc::CallResult::Timeout) => return Err(ChatError::room_unavailable()),
                // The actor stopped before it could receive the message: nothing was done,
                // so asking its successor is safe.
                Err(ractor::MessagingErr::SendErr(_)) if attempt == 0 => continue,
                Ok(ractor::rpc::CallResult::SenderError) | Err(_) => {
                    return Err(ChatError::room_unavailable());
                }
            }
        }
        Err(ChatError::room_unavailable())
    }

    /// Number of active room actors on this node.
    pub fn active(&self) -> usize {
        read(&self.rooms).len()
    }

    /// Sends a test-only fault to a room's actor (ignored unless fault injection is on).
    pub async fn inject_fault(&self, room: RoomId) -> Result<(), ChatError> {
        let actor = self.get(room).await?;
        actor
            .cast(RoomMessage::InjectFault)
            .map_err(|_| ChatError::room_unavailable())
    }

    /// Drains every active room within `deadline` (shutdown).
    pub async fn drain_all(&self, deadline: Duration) {
        let _ = self
            .supervisor
            .call(
                |r| RoomSupervisorMessage::DrainAll(deadline, r),
                Some(deadline + Duration::from_secs(1)),
            )
            .await;
    }

    /// The supervisor actor.
    pub fn supervisor(&self) -> &ActorRef<RoomSupervisorMessage> {
        &self.supervisor
    }
}
