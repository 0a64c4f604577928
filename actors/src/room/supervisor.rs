//! `RoomSupervisor`: activates room actors on demand (one per room on this node), restarts
//! them after a crash, and drains them at shutdown. `RoomDirectory` is the handle others
//! use: a shared read-mostly map so finding a live room does not go through the supervisor.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chat_store::{RoomId, UserId};
use futures::future::BoxFuture;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort,
    SupervisionEvent,
};

use super::{
    Ack, HistoryPage, Opened, RoomActor, RoomArgs, RoomMessage, RoomSnapshot, SendRequest,
};
use crate::{
    cluster::{
        Key, MAX_HOPS, Owner,
        codec::{self, RoomOp, RoomOutcome},
        endpoint,
    },
    core::Core,
    error::ChatError,
};

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
    core: Arc<Core>,
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
            (core.clone(), rooms.clone()),
            parent,
        )
        .await?;
        Ok(Self {
            core,
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

    /// Hands `op` to the room's owner (this node, or a peer) now, so operations submitted
    /// one after another reach the room in that order, and returns the wait for its answer.
    /// `hops` counts how often the request was passed on already (0 from a client).
    pub async fn submit(
        &self,
        room: RoomId,
        op: RoomOp,
        hops: u32,
    ) -> Result<BoxFuture<'static, Result<RoomOutcome, ChatError>>, ChatError> {
        match self.core.placement.owner(Key::Room(room)) {
            Owner::Local => self.submit_local(room, op).await,
            Owner::Remote(_) if hops >= MAX_HOPS => Err(ChatError::room_unavailable()),
            Owner::Remote(node) => {
                self.core.metrics.forwarded.inc();
                let request = codec::room_request(room, &op, hops);
                let reply = endpoint::call(&node, request, self.timeout)?;
                Ok(Box::pin(async move { codec::room_outcome(&reply.await?) }))
            }
        }
    }

    async fn submit_local(
        &self,
        room: RoomId,
        op: RoomOp,
    ) -> Result<BoxFuture<'static, Result<RoomOutcome, ChatError>>, ChatError> {
        let (mut message, answer) = to_message(op, self.timeout);
        for attempt in 0..2 {
            let actor = self.get(room).await?;
            match actor.cast(message) {
                Ok(()) => return Ok(answer),
                // The actor stopped before it could receive the message: nothing was done,
                // so its successor may have it.
                Err(ractor::MessagingErr::SendErr(m)) if attempt == 0 => message = m,
                Err(_) => break,
            }
        }
        Err(ChatError::room_unavailable())
    }

    /// Submits `op` and waits for the answer.
    pub async fn request(&self, room: RoomId, op: RoomOp) -> Result<RoomOutcome, ChatError> {
        self.submit(room, op, 0).await?.await
    }

    /// Starts sequencing a message; the future resolves to its ack once it is durable.
    pub async fn start_send(
        &self,
        room: RoomId,
        send: SendRequest,
    ) -> Result<impl Future<Output = Result<Ack, ChatError>> + use<>, ChatError> {
        let answer = self.submit(room, RoomOp::Send(send), 0).await?;
        Ok(async move {
            match answer.await? {
                RoomOutcome::Ack(ack) => Ok(ack),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// Opens the room for `user`, recovering messages after `since`.
    pub async fn open(&self, room: RoomId, user: UserId, since: u64) -> Result<Opened, ChatError> {
        match self.request(room, RoomOp::Open { user, since }).await? {
            RoomOutcome::Opened(o) => Ok(o),
            other => Err(unexpected(&other)),
        }
    }

    /// A page of history for `user`.
    pub async fn history(
        &self,
        room: RoomId,
        user: UserId,
        before: u64,
        limit: usize,
    ) -> Result<HistoryPage, ChatError> {
        let op = RoomOp::History {
            user,
            before,
            limit,
        };
        match self.request(room, op).await? {
            RoomOutcome::History(h) => Ok(h),
            other => Err(unexpected(&other)),
        }
    }

    /// Adds members (`by: None`: the system) and returns the room after the change.
    pub async fn invite(
        &self,
        room: RoomId,
        by: Option<UserId>,
        users: Vec<UserId>,
    ) -> Result<RoomSnapshot, ChatError> {
        match self.request(room, RoomOp::Invite { by, users }).await? {
            RoomOutcome::Snapshot(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// Runs an operation that answers nothing (mark read, typing, leave).
    pub async fn act(&self, room: RoomId, op: RoomOp) -> Result<(), ChatError> {
        match self.request(room, op).await? {
            RoomOutcome::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Tells the rooms of this node that the members changed (see `Handover`).
    pub fn view_changed(&self) {
        let _ = self.supervisor.cast(RoomSupervisorMessage::Handover);
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

fn unexpected(outcome: &RoomOutcome) -> ChatError {
    ChatError::Internal(format!("room answered {outcome:?} to another question"))
}

/// The local message for `op` and the wait for its reply.
fn to_message(
    op: RoomOp,
    timeout: Duration,
) -> (
    RoomMessage,
    BoxFuture<'static, Result<RoomOutcome, ChatError>>,
) {
    fn wait<T: Send + 'static>(
        rx: ractor::concurrency::OneshotReceiver<Result<T, ChatError>>,
        timeout: Duration,
        wrap: fn(T) -> RoomOutcome,
    ) -> BoxFuture<'static, Result<RoomOutcome, ChatError>> {
        Box::pin(async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(result)) => result.map(wrap),
                // Dropped reply (the room crashed) or timeout: the outcome is unknown, and a
                // retry (sends carry their client_msg_id) is safe.
                _ => Err(ChatError::room_unavailable()),
            }
        })
    }
    let done = |()| RoomOutcome::Done;
    match op {
        RoomOp::Send(request) => {
            let (tx, rx) = ractor::concurrency::oneshot();
            let msg = RoomMessage::Send(request, tx.into());
            (msg, wait(rx, timeout, RoomOutcome::Ack))
        }
        RoomOp::Open { user, since } => {
            let (tx, rx) = ractor::concurrency::oneshot();
            let msg = RoomMessage::Open {
                user,
                since,
                reply: tx.into(),
            };
            (msg, wait(rx, timeout, RoomOutcome::Opened))
        }
        RoomOp::History {
            user,
            before,
            limit,
        } => {
            let (tx, rx) = ractor::concurrency::oneshot();
            let msg = RoomMessage::History {
                user,
                before,
                limit,
                reply: tx.into(),
            };
            (msg, wait(rx, timeout, RoomOutcome::History))
        }
        RoomOp::MarkRead { user, seq } => {
            let (tx, rx) = ractor::concurrency::oneshot();
            let msg = RoomMessage::MarkRead {
                user,
                seq,
                reply: tx.into(),
            };
            (msg, wait(rx, timeout, done))
        }
        RoomOp::Typing { user } => {
            let (tx, rx) = ractor::concurrency::oneshot();
            let msg = RoomMessage::Typing {
                user,
                reply: tx.into(),
            };
            (msg, wait(rx, timeout, done))
        }
        RoomOp::Invite { by, users } => {
            let (tx, rx) = ractor::concurrency::oneshot();
            let msg = RoomMessage::Invite {
                by,
                users,
                reply: tx.into(),
            };
            (msg, wait(rx, timeout, RoomOutcome::Snapshot))
        }
        RoomOp::Leave { user } => {
            let (tx, rx) = ractor::concurrency::oneshot();
            let msg = RoomMessage::Leave {
                user,
                reply: tx.into(),
            };
            (msg, wait(rx, timeout, done))
        }
    }
}
