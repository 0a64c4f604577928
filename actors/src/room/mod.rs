//! `RoomActor`: the one sequencer of a room. It checks membership, de-duplicates by client
//! message id, assigns the next dense seq, hands batches to the store (one append in flight
//! at a time, so seq order is log order), and once a batch is durable acks the senders and
//! publishes the messages, in seq order. It owns the member set and a cache of recent
//! messages. Activated on demand, stopped when idle, restarted from the store after a crash.

mod idempotency;
mod supervisor;

use std::{
    collections::{BTreeSet, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use chat_proto::v1::{self, MembersChanged, ServerFrame, server_frame::Payload};
use chat_store::{MessageRecord, RoomId, RoomKind, RoomRecord, Seq, StoreResult, UserId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

pub use supervisor::{RoomDirectory, RoomSupervisor, RoomSupervisorMessage};

use self::idempotency::{IdemCache, IdemState};
use crate::{
    convert,
    core::Core,
    error::{ChatError, Reason},
    hub::{Event, Topic},
    ids::now_ms,
    outbound::EncodedFrame,
};

/// A reply port carrying a result.
pub type Reply<T> = RpcReplyPort<Result<T, ChatError>>;

/// A message to send, already validated for shape by the caller.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// Author.
    pub sender: UserId,
    /// The sender's idempotency key.
    pub client_msg_id: String,
    /// Text.
    pub body: String,
}

/// The acknowledgement of a durable message (identical for retries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Room.
    pub room_id: RoomId,
    /// The sender's idempotency key.
    pub client_msg_id: String,
    /// Assigned seq.
    pub seq: Seq,
    /// Assigned message id.
    pub message_id: u64,
    /// Sequencing time.
    pub sent_at_ms: i64,
}

impl Ack {
    fn of(m: &MessageRecord) -> Self {
        Self {
            room_id: m.room_id,
            client_msg_id: m.client_msg_id.clone(),
            seq: m.seq,
            message_id: m.id,
            sent_at_ms: m.sent_at_ms,
        }
    }
}

/// A room's state as a member sees it.
#[derive(Debug, Clone)]
pub struct RoomSnapshot {
    /// Metadata.
    pub record: RoomRecord,
    /// Current members, ascending.
    pub members: Vec<UserId>,
    /// Newest durable seq.
    pub last_seq: Seq,
}

/// One page of history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// Messages, newest first.
    pub messages: Vec<MessageRecord>,
    /// Whether older messages exist.
    pub has_more: bool,
}

/// Everything a room actor does.
// Local-only today; variants become RactorClusterMessage when they cross nodes.
#[derive(ractor_cluster::RactorMessage)]
pub enum RoomMessage {
    /// Sequence and persist a message.
    Send(SendRequest, Reply<Ack>),
    /// A member opens the room: membership check and snapshot.
    Open {
        /// Who.
        user: UserId,
        /// Snapshot.
        reply: Reply<RoomSnapshot>,
    },
    /// A page of history for a member.
    History {
        /// Who.
        user: UserId,
        /// Messages with seq below this; 0 for the newest.
        before: Seq,
        /// Page size (already bounded by the caller).
        limit: usize,
        /// The page.
        reply: Reply<HistoryPage>,
    },
    /// Add members. `by: None` is the system (re-joining a direct room).
    Invite {
        /// The inviting member.
        by: Option<UserId>,
        /// Users to add.
        users: Vec<UserId>,
        /// Snapshot after the change.
        reply: Reply<RoomSnapshot>,
    },
    /// A member leaves.
    Leave {
        /// Who.
        user: UserId,
        /// Done.
        reply: Reply<()>,
    },
    /// The store finished the in-flight append.
    BatchDone(StoreResult<()>),
    /// Stop accepting sends, finish what is in flight, then stop (shutdown).
    Drain(RpcReplyPort<()>),
    /// Periodic idle check.
    IdleTick,
    /// Test-only: fail the actor as a crash would (ignored unless fault injection is on).
    InjectFault,
}

/// Start-up arguments.
pub struct RoomArgs {
    /// The room's metadata (the supervisor checked it exists).
    pub record: RoomRecord,
    /// Shared wiring.
    pub core: Arc<Core>,
    /// The previous incarnation crashed: re-publish the recent tail so live subscribers
    /// fill any gap (each subscription delivers a seq at most once).
    pub recovering: bool,
}

/// A sequenced message waiting for durability.
struct Pending {
    record: MessageRecord,
    replies: Vec<Reply<Ack>>,
}

/// The room actor's state.
pub struct RoomState {
    core: Arc<Core>,
    record: RoomRecord,
    members: BTreeSet<UserId>,
    /// Highest seq assigned (durable or not).
    last_seq: Seq,
    /// Highest seq durable in the store.
    durable_seq: Seq,
    last_ts: i64,
    pending: Vec<Pending>,
    in_flight: Vec<Pending>,
    recent: VecDeque<MessageRecord>,
    idem: IdemCache,
    last_activity: Instant,
    draining: Option<Vec<RpcReplyPort<()>>>,
    ticker: Option<JoinHandle<()>>,
    recovering: bool,
}

/// The room actor (see the module docs).
pub struct RoomActor;

impl Actor for RoomActor {
    type Msg = RoomMessage;
    type State = RoomState;
    type Arguments = RoomArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RoomArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let idem = IdemCache::new(args.core.config.idempotency_cache);
        Ok(RoomState {
            record: args.record,
            members: BTreeSet::new(),
            last_seq: 0,
            durable_seq: 0,
            last_ts: 0,
            pending: Vec::new(),
            in_flight: Vec::new(),
            recent: VecDeque::new(),
            idem,
            last_activity: Instant::now(),
            draining: None,
            ticker: None,
            recovering: args.recovering,
            core: args.core,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Loading here rather than in pre_start keeps the supervisor from waiting on the
        // store; messages queue in the mailbox until this is done.
        let store = &state.core.store;
        let room = state.record.id;
        state.members = store.members(room).await?.into_iter().collect();
        let head = store.room_head(room).await?;
        let recent = store
            .history(room, 0, state.core.config.recent_cache)
            .await?;
        state.last_seq = head.last_seq;
        state.durable_seq = head.last_seq;
        state.last_ts = head.last_message.as_ref().map_or(0, |m| m.sent_at_ms);
        for m in recent.into_iter().rev() {
            state
                .idem
                .insert(m.sender_id, &m.client_msg_id, IdemState::Done(Ack::of(&m)));
            state.recent.push_back(m);
        }
        if state.recovering {
            for m in &state.recent {
                publish_message(&state.core, m);
            }
        }
        let period = Duration::from_secs(state.core.config.room_idle_secs.clamp(1, 60));
        state.ticker = Some(myself.send_interval(period, || RoomMessage::IdleTick));
        tracing::debug!(room, last_seq = state.last_seq, "room activated");
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        fail_all(state, &ChatError::room_unavailable());
        if let Some(waiters) = state.draining.take() {
            for w in waiters {
                let _ = w.send(());
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RoomMessage::Send(req, reply) => {
                state.last_activity = Instant::now();
                on_send(&myself, state, req, reply).await;
            }
            RoomMessage::Open { user, reply } => {
                state.last_activity = Instant::now();
                let r = state.require_member(user).map(|()| state.snapshot());
                let _ = reply.send(r);
            }
            RoomMessage::History {
                user,
                before,
                limit,
                reply,
            } => {
                state.last_activity = Instant::now();
                on_history(state, user, before, limit, reply);
            }
            RoomMessage::Invite { by, users, reply } => {
                state.last_activity = Instant::now();
                let r = on_invite(state, by, users).await;
                let _ = reply.send(r);
            }
            RoomMessage::Leave { user, reply } => {
                state.last_activity = Instant::now();
                let r = on_leave(state, user).await;
                let _ = reply.send(r);
            }
            RoomMessage::BatchDone(result) => on_batch_done(&myself, state, result),
            RoomMessage::Drain(reply) => {
                state.draining.get_or_insert_with(Vec::new).push(reply);
                finish_drain_if_idle(&myself, state);
            }
            RoomMessage::IdleTick => {
                let idle = Duration::from_secs(state.core.config.room_idle_secs);
                if state.is_quiet() && state.last_activity.elapsed() >= idle {
                    myself.stop(Some("idle".into()));
                }
            }
            RoomMessage::InjectFault => {
                if state.core.fault_injection {
                    return Err("injected fault".into());
                }
            }
        }
        Ok(())
    }
}

impl RoomState {
    fn require_member(&self, user: UserId) -> Result<(), ChatError> {
        if self.members.contains(&user) {
            Ok(())
        } else {
            Err(ChatError::not_a_member())
        }
    }

    fn snapshot(&self) -> RoomSnapshot {
        RoomSnapshot {
            record: self.record.clone(),
            members: self.members.iter().copied().collect(),
            last_seq: self.durable_seq,
        }
    }

    fn is_quiet(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_empty()
    }

    fn attach_to_pending(&mut self, seq: Seq, reply: Reply<Ack>) {
        let slot = self
            .in_flight
            .iter_mut()
            .chain(self.pending.iter_mut())
            .find(|p| p.record.seq == seq);
        match slot {
            Some(p) => p.replies.push(reply),
            None => {
                let _ = reply.send(Err(ChatError::room_unavailable()));
            }
        }
    }
}

async fn on_send(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    req: SendRequest,
    reply: Reply<Ack>,
) {
    if state.draining.is_some() {
        let _ = reply.send(Err(ChatError::Unavailable(
            Reason::Draining,
            "node is shutting down, retry".into(),
        )));
        return;
    }
    if let Err(e) = state.require_member(req.sender) {
        let _ = reply.send(Err(e));
        return;
    }
    match state.idem.get(req.sender, &req.client_msg_id) {
        Some(IdemState::Done(ack)) => {
            let _ = reply.send(Ok(ack));
            return;
        }
        Some(IdemState::Pending(seq)) => {
            state.attach_to_pending(seq, reply);
            return;
        }
        None => {}
    }
    let room = state.record.id;
    match state
        .core
        .store
        .find_client_message(room, req.sender, &req.client_msg_id)
        .await
    {
        Ok(Some(m)) => {
            let ack = Ack::of(&m);
            state
                .idem
                .insert(req.sender, &req.client_msg_id, IdemState::Done(ack.clone()));
            let _ = reply.send(Ok(ack));
            return;
        }
        Ok(None) => {}
        Err(e) => {
            let _ = reply.send(Err(e.into()));
            return;
        }
    }
    let seq = state.last_seq + 1;
    let sent_at_ms = now_ms().max(state.last_ts);
    let record = MessageRecord {
        room_id: room,
        seq,
        id: state.core.ids.next_id(),
        sender_id: req.sender,
        client_msg_id: req.client_msg_id,
        body: req.body,
        sent_at_ms,
    };
    state.last_seq = seq;
    state.last_ts = sent_at_ms;
    state.idem.insert(
        record.sender_id,
        &record.client_msg_id,
        IdemState::Pending(seq),
    );
    state.pending.push(Pending {
        record,
        replies: vec![reply],
    });
    submit_next(myself, state);
}

/// Hands the next batch to the store unless one is already in flight.
fn submit_next(myself: &ActorRef<RoomMessage>, state: &mut RoomState) {
    if !state.in_flight.is_empty() || state.pending.is_empty() {
        return;
    }
    let n = state.pending.len().min(state.core.config.max_append_batch);
    state.in_flight = state.pending.drain(..n).collect();
    let records: Vec<MessageRecord> = state.in_flight.iter().map(|p| p.record.clone()).collect();
    let expected = state.durable_seq;
    let store = state.core.store.clone();
    let room = state.record.id;
    let me = myself.clone();
    tokio::spawn(async move {
        let result = store.append_messages(room, expected, records).await;
        // If the actor died meanwhile there is no one to tell; its successor reloads the
        // head from the store and re-publishes the tail.
        let _ = me.cast(RoomMessage::BatchDone(result));
    });
}

fn on_batch_done(myself: &ActorRef<RoomMessage>, state: &mut RoomState, result: StoreResult<()>) {
    match result {
        Ok(()) => {
            let batch = std::mem::take(&mut state.in_flight);
            for p in batch {
                let ack = Ack::of(&p.record);
                state.durable_seq = p.record.seq;
                state.idem.insert(
                    p.record.sender_id,
                    &p.record.client_msg_id,
                    IdemState::Done(ack.clone()),
                );
                publish_message(&state.core, &p.record);
                for r in p.replies {
                    let _ = r.send(Ok(ack.clone()));
                }
                state.recent.push_back(p.record);
                if state.recent.len() > state.core.config.recent_cache {
                    state.recent.pop_front();
                }
            }
            submit_next(myself, state);
            finish_drain_if_idle(myself, state);
        }
        Err(e) => {
            // Nothing of the batch was written (appends are atomic and conditional). The seqs
            // handed out after the durable end are void: fail every waiter with a retryable
            // error and restart from the store, which is the truth.
            tracing::warn!(room = state.record.id, error = %e, "append failed; room restarts");
            fail_all(state, &ChatError::room_unavailable());
            myself.stop(Some("append failed".into()));
        }
    }
}

fn fail_all(state: &mut RoomState, error: &ChatError) {
    for p in state.in_flight.drain(..).chain(state.pending.drain(..)) {
        for r in p.replies {
            let _ = r.send(Err(error.clone()));
        }
    }
}

fn finish_drain_if_idle(myself: &ActorRef<RoomMessage>, state: &mut RoomState) {
    if state.draining.is_some() && state.is_quiet() {
        myself.stop(Some("drained".into()));
    }
}

fn on_history(
    state: &RoomState,
    user: UserId,
    before: Seq,
    limit: usize,
    reply: Reply<HistoryPage>,
) {
    if let Err(e) = state.require_member(user) {
        let _ = reply.send(Err(e));
        return;
    }
    let end = if before == 0 || before > state.durable_seq + 1 {
        state.durable_seq + 1
    } else {
        before
    };
    let lo = end.saturating_sub(limit as u64).max(1);
    if end <= 1 || limit == 0 {
        let _ = reply.send(Ok(HistoryPage {
            messages: Vec::new(),
            has_more: end > 1,
        }));
        return;
    }
    if state.recent.front().is_some_and(|m| m.seq <= lo) {
        let messages: Vec<MessageRecord> = state
            .recent
            .iter()
            .rev()
            .filter(|m| m.seq < end && m.seq >= lo)
            .cloned()
            .collect();
        let _ = reply.send(Ok(HistoryPage {
            messages,
            has_more: lo > 1,
        }));
        return;
    }
    let store = state.core.store.clone();
    let room = state.record.id;
    tokio::spawn(async move {
        let r = store
            .history(room, end, limit)
            .await
            .map_err(ChatError::from)
            .map(|messages| {
                let has_more = messages.last().is_some_and(|m| m.seq > 1);
                HistoryPage { messages, has_more }
            });
        let _ = reply.send(r);
    });
}

async fn on_invite(
    state: &mut RoomState,
    by: Option<UserId>,
    users: Vec<UserId>,
) -> Result<RoomSnapshot, ChatError> {
    if let Some(by) = by {
        state.require_member(by)?;
        if state.record.kind == RoomKind::Direct {
            return Err(ChatError::FailedPrecondition(
                Reason::NotAGroupRoom,
                "members cannot be invited to a direct room".into(),
            ));
        }
    }
    let new: Vec<UserId> = users
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|u| !state.members.contains(u))
        .collect();
    if new.is_empty() {
        return Ok(state.snapshot());
    }
    if state.members.len() + new.len() > state.core.config.max_room_members {
        return Err(ChatError::ResourceExhausted(
            Reason::RoomFull,
            format!(
                "a room holds at most {} members",
                state.core.config.max_room_members
            ),
            0,
        ));
    }
    for &u in &new {
        if state.core.store.user_by_id(u).await?.is_none() {
            return Err(ChatError::NotFound(
                Reason::UserNotFound,
                format!("no user with id {u}"),
            ));
        }
    }
    state
        .core
        .store
        .add_members(state.record.id, new.clone())
        .await?;
    state.members.extend(new.iter().copied());
    publish_members(state, by.unwrap_or_default(), new, Vec::new());
    Ok(state.snapshot())
}

async fn on_leave(state: &mut RoomState, user: UserId) -> Result<(), ChatError> {
    state.require_member(user)?;
    state
        .core
        .store
        .remove_member(state.record.id, user)
        .await?;
    state.members.remove(&user);
    publish_members(state, user, Vec::new(), vec![user]);
    Ok(())
}

fn publish_message(core: &Core, m: &MessageRecord) {
    let frame = ServerFrame {
        request_id: 0,
        payload: Some(Payload::Message(convert::message(m))),
    };
    let event = Event {
        frame: EncodedFrame::new(frame),
        seq: Some(m.seq),
        remove_users: Vec::new(),
    };
    core.bus.publish(Topic::Room(m.room_id), Arc::new(event));
}

fn publish_members(state: &RoomState, actor_id: UserId, joined: Vec<UserId>, left: Vec<UserId>) {
    let room_id = state.record.id;
    let change = MembersChanged {
        room_id,
        joined,
        left: left.clone(),
        actor_id,
        member_ids: state.members.iter().copied().collect(),
    };
    let frame = ServerFrame {
        request_id: 0,
        payload: Some(Payload::MembersChanged(change)),
    };
    let event = Event {
        frame: EncodedFrame::new(frame),
        seq: None,
        remove_users: left,
    };
    state
        .core
        .bus
        .publish(Topic::Room(room_id), Arc::new(event));
}

/// The protocol form of a snapshot.
pub fn snapshot_to_proto(s: &RoomSnapshot) -> v1::Room {
    convert::room(&s.record, &s.members, s.last_seq)
}
