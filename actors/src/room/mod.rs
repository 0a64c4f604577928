//! `RoomActor`: the one sequencer of a room. It checks membership, de-duplicates by client
//! message id, assigns the next dense seq, hands batches to the store (one append in flight
//! at a time, so seq order is log order), and once a batch is durable acks the senders and
//! publishes the messages, in seq order. It owns the member set, the members' read cursors
//! (for unread counts) and a cache of recent messages. Activated on demand, stopped when
//! idle, restarted from the store after a crash.

pub mod cursors;
mod events;
mod idempotency;
mod membership;
pub(crate) use membership::require_room_capacity;
mod reads;
mod sequencer;
mod supervisor;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use chat_proto::v1;
use chat_store::{MessageRecord, RoomId, RoomRecord, Seq, StoreResult, UserId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

pub use reads::opened_to_proto;
pub use supervisor::{RoomDirectory, RoomSupervisor, RoomSupervisorMessage};

use self::{
    cursors::ReadCursors,
    idempotency::{IdemCache, IdemState},
};
use crate::{convert, core::Core, error::ChatError};

/// A reply port carrying a result.
pub type Reply<T> = RpcReplyPort<Result<T, ChatError>>;

/// Most missed messages an `open_room` with `since_seq` delivers (well inside the default
/// outbound queue, so a recovery never trips the slow-consumer cut-off by itself).
pub const MAX_RECOVERY: u64 = 500;

/// A message to send, already validated for shape by the caller.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// Author.
    pub sender: UserId,
    /// The sender's idempotency key.
    pub client_msg_id: String,
    /// Text.
    pub body: String,
    /// Files, already shared in the room.
    pub attachments: Vec<chat_store::AttachmentRecord>,
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

/// What a member gets when opening a room.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The room.
    pub snapshot: RoomSnapshot,
    /// Members with names, presence and read cursors.
    pub members: Vec<v1::Member>,
    /// Messages after the requested `since_seq`, oldest first, with unread counts.
    pub missed: Vec<v1::Message>,
    /// More were missed than delivered.
    pub truncated: bool,
}

/// One page of history, newest first, with unread counts.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// Messages, newest first.
    pub messages: Vec<v1::Message>,
    /// Whether older messages exist.
    pub has_more: bool,
}

/// Everything a room actor does.
// Local-only today; variants become RactorClusterMessage when they cross nodes.
#[derive(ractor_cluster::RactorMessage)]
pub enum RoomMessage {
    /// Sequence and persist a message.
    Send(SendRequest, Reply<Ack>),
    /// A member opens the room (optionally recovering messages after `since`).
    Open {
        /// Who.
        user: UserId,
        /// Last seq the client saw; 0 for none.
        since: Seq,
        /// Snapshot, members, missed messages.
        reply: Reply<Opened>,
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
    /// Move a member's read cursor forward; replies once it is durable.
    MarkRead {
        /// Who.
        user: UserId,
        /// Read through this seq.
        seq: Seq,
        /// Done.
        reply: Reply<()>,
    },
    /// A member is typing.
    Typing {
        /// Who.
        user: UserId,
        /// Done.
        reply: Reply<()>,
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
    /// When the send reached the room.
    at: Instant,
}

/// What the store is writing right now.
#[derive(Default)]
struct InFlight {
    active: bool,
    messages: Vec<Pending>,
    /// Mark-read callers waiting for this batch.
    read_waiters: Vec<Reply<()>>,
}

/// The room actor's state.
pub struct RoomState {
    core: Arc<Core>,
    record: RoomRecord,
    members: BTreeSet<UserId>,
    cursors: ReadCursors,
    /// Cursor moves not yet handed to the store.
    dirty_cursors: BTreeMap<UserId, Seq>,
    /// Mark-read callers waiting for the next batch.
    read_waiters: Vec<Reply<()>>,
    /// Public profiles of members, loaded on first open.
    profiles: HashMap<UserId, v1::User>,
    last_typing: HashMap<UserId, Instant>,
    /// This incarnation's fencing epoch (claimed at start; every append carries it).
    epoch: u64,
    /// Highest seq assigned (durable or not).
    last_seq: Seq,
    /// Highest seq durable in the store.
    durable_seq: Seq,
    last_ts: i64,
    pending: Vec<Pending>,
    in_flight: InFlight,
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
            cursors: ReadCursors::default(),
            dirty_cursors: BTreeMap::new(),
            read_waiters: Vec::new(),
            profiles: HashMap::new(),
            last_typing: HashMap::new(),
            epoch: 0,
            last_seq: 0,
            durable_seq: 0,
            last_ts: 0,
            pending: Vec::new(),
            in_flight: InFlight::default(),
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
        // From here on this incarnation is the room's only writer; an older one (a crashed
        // actor's late append, another node during a failover) is fenced off.
        state.epoch = store.claim_room(room).await?;
        state.members = store.members(room).await?.into_iter().collect();
        let stored: HashMap<UserId, Seq> = store.read_cursors(room).await?.into_iter().collect();
        state.cursors = ReadCursors::new(state.members.iter().copied(), &stored);
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
                events::publish_message(state, m);
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
        sequencer::fail_all(state, &ChatError::room_unavailable());
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
        if !matches!(message, RoomMessage::BatchDone(_) | RoomMessage::IdleTick) {
            state.last_activity = Instant::now();
        }
        match message {
            RoomMessage::Send(req, reply) => sequencer::on_send(&myself, state, req, reply).await,
            RoomMessage::Open { user, since, reply } => {
                let r = reads::on_open(state, user, since).await;
                let _ = reply.send(r);
            }
            RoomMessage::History {
                user,
                before,
                limit,
                reply,
            } => {
                reads::on_history(state, user, before, limit, reply);
            }
            RoomMessage::MarkRead { user, seq, reply } => {
                reads::on_mark_read(&myself, state, user, seq, reply);
            }
            RoomMessage::Typing { user, reply } => {
                let _ = reply.send(reads::on_typing(state, user));
            }
            RoomMessage::Invite { by, users, reply } => {
                let r = membership::on_invite(state, by, users).await;
                let _ = reply.send(r);
            }
            RoomMessage::Leave { user, reply } => {
                let r = membership::on_leave(state, user).await;
                let _ = reply.send(r);
            }
            RoomMessage::BatchDone(result) => sequencer::on_batch_done(&myself, state, result),
            RoomMessage::Drain(reply) => {
                state.draining.get_or_insert_with(Vec::new).push(reply);
                sequencer::finish_drain_if_idle(&myself, state);
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
        self.pending.is_empty()
            && !self.in_flight.active
            && self.dirty_cursors.is_empty()
            && self.read_waiters.is_empty()
    }

    /// A member's unread messages in this room.
    fn unread_for(&self, user: UserId) -> u32 {
        let cursor = self.cursors.get(user).unwrap_or(0);
        u32::try_from(self.durable_seq.saturating_sub(cursor)).unwrap_or(u32::MAX)
    }

    /// The protocol form of a message with its current unread count.
    fn message_proto(&self, m: &MessageRecord) -> v1::Message {
        convert::message(m, self.cursors.unread(m.seq))
    }
}

/// The protocol form of a snapshot.
pub fn snapshot_to_proto(s: &RoomSnapshot) -> v1::Room {
    convert::room(&s.record, &s.members, s.last_seq)
}
