//! A room actor's state, shared by its handlers (the sequencer, reads, membership).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::Arc,
    time::Instant,
};

use chat_proto::v1;
use chat_store::{
    HeadChange, MentionMark, MessageRecord, ReadCursor, RoomKind, RoomMeta, RoomRecord, Seq, UserId,
};
use ractor::RpcReplyPort;
use tokio::task::JoinHandle;

use super::{
    cursors::ReadCursors,
    idempotency::IdemCache,
    ops::{Reply, RoomSnapshot},
};
use crate::{
    convert,
    core::Core,
    error::{ChatError, Reason},
};

/// A sequenced entry waiting for durability.
pub(super) struct Pending {
    pub(super) record: MessageRecord,
    /// The earlier entry a change rewrites, as it leaves it.
    pub(super) rewrite: Option<MessageRecord>,
    /// The message a system entry is about (a pin), as the live event shows it; not written.
    pub(super) carries: Option<MessageRecord>,
    /// The files a delete for everyone takes off its target.
    pub(super) released: Vec<chat_store::FileId>,
    pub(super) replies: Vec<Reply>,
    /// What the replies get once the entry is durable.
    pub(super) answer: Answer,
    /// The room's settings as this entry leaves them, when it changes them.
    pub(super) meta: Option<RoomMeta>,
    /// When the send reached the room.
    pub(super) at: Instant,
}

/// What a durable entry's waiters are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Its ack (a send).
    Ack,
    /// The room as it is then (an invite, a rename, a removal, a hand-over).
    Snapshot,
    /// Nothing to say (a leave).
    Done,
}

/// What the store is writing right now.
#[derive(Default)]
pub(super) struct InFlight {
    pub(super) active: bool,
    pub(super) messages: Vec<Pending>,
    /// Mark-read callers waiting for this batch.
    pub(super) read_waiters: Vec<Reply>,
    /// The newest real message and the deleted list once this batch is durable.
    pub(super) next: HeadChange,
}

/// Whether an entry is in the view of a reader whose view starts after `from`: it came
/// later, and so did the message it changes.
pub(super) fn visible_after(m: &MessageRecord, from: Seq) -> bool {
    m.seq > from && (m.target_seq == 0 || m.target_seq > from)
}

/// The room actor's state.
pub struct RoomState {
    pub(super) core: Arc<Core>,
    pub(super) record: RoomRecord,
    pub(super) members: BTreeSet<UserId>,
    pub(super) cursors: ReadCursors,
    /// Cursor moves not yet handed to the store.
    pub(super) dirty_cursors: BTreeMap<UserId, ReadCursor>,
    /// Mark-read callers waiting for the next batch.
    pub(super) read_waiters: Vec<Reply>,
    /// Public profiles of members, loaded on first open.
    pub(super) profiles: HashMap<UserId, v1::User>,
    pub(super) last_typing: HashMap<UserId, Instant>,
    /// This incarnation's fencing epoch (claimed at start; every append carries it).
    pub(super) epoch: u64,
    /// Highest seq assigned (durable or not).
    pub(super) last_seq: Seq,
    /// Highest seq durable in the store.
    pub(super) durable_seq: Seq,
    /// Real messages assigned (the ordinal of the newest entry, durable or not).
    pub(super) ordinal: u64,
    /// Real messages durable.
    pub(super) durable_ordinal: u64,
    /// The newest real message as the store has it (chat lists).
    pub(super) durable_preview: Option<MessageRecord>,
    /// Deleted real messages some member may count unread, as the store has them (see
    /// `RoomHead::deleted`).
    pub(super) durable_deleted: Vec<Seq>,
    /// Messages with mentions some member may not have read, as the store has them (see
    /// `RoomHead::mentions`).
    pub(super) durable_mentions: Vec<MentionMark>,
    /// The room's settings as sequenced (durable or not), and as the store has them.
    pub(super) meta: RoomMeta,
    pub(super) durable_meta: RoomMeta,
    /// The entries members hid from their own view, for those read so far (`hidden.rs`).
    pub(super) hidden: HashMap<UserId, Arc<Vec<Seq>>>,
    /// The seq each member joined at (see `RoomStore::member_joins`).
    pub(super) joined: HashMap<UserId, Seq>,
    /// The room's log has changes: every append writes the head's preview and deleted list.
    pub(super) timeline: bool,
    /// Entries rewritten by changes not yet durable, newest version per seq.
    pub(super) overlay: HashMap<Seq, MessageRecord>,
    pub(super) last_ts: i64,
    pub(super) pending: Vec<Pending>,
    pub(super) in_flight: InFlight,
    pub(super) recent: VecDeque<MessageRecord>,
    pub(super) idem: IdemCache,
    pub(super) last_activity: Instant,
    pub(super) draining: Option<Vec<RpcReplyPort<()>>>,
    pub(super) ticker: Option<JoinHandle<()>>,
    pub(super) recovering: bool,
    /// A direct room whose pair has a block (see [`RoomState::require_unblocked`]).
    pub(super) blocked: bool,
}

impl RoomState {
    /// A room not loaded yet: `post_start` fills it from the store.
    pub(super) fn new(core: Arc<Core>, record: RoomRecord, recovering: bool) -> Self {
        Self {
            idem: IdemCache::new(core.config.idempotency_cache),
            record,
            members: BTreeSet::new(),
            cursors: ReadCursors::default(),
            dirty_cursors: BTreeMap::new(),
            read_waiters: Vec::new(),
            profiles: HashMap::new(),
            last_typing: HashMap::new(),
            epoch: 0,
            last_seq: 0,
            durable_seq: 0,
            ordinal: 0,
            durable_ordinal: 0,
            durable_preview: None,
            durable_deleted: Vec::new(),
            durable_mentions: Vec::new(),
            meta: RoomMeta::default(),
            durable_meta: RoomMeta::default(),
            joined: HashMap::new(),
            hidden: HashMap::new(),
            timeline: false,
            overlay: HashMap::new(),
            last_ts: 0,
            pending: Vec::new(),
            in_flight: InFlight::default(),
            recent: VecDeque::new(),
            last_activity: Instant::now(),
            draining: None,
            ticker: None,
            recovering,
            blocked: false,
            core,
        }
    }

    pub(super) fn require_member(&self, user: UserId) -> Result<(), ChatError> {
        if self.members.contains(&user) {
            Ok(())
        } else {
            Err(ChatError::not_a_member())
        }
    }

    /// Fails with `BLOCKED` in a direct room whose pair has a block: nothing new is said,
    /// typed or read there until it is lifted (history stays readable).
    pub(super) fn require_unblocked(&self) -> Result<(), ChatError> {
        if self.blocked {
            Err(ChatError::PermissionDenied(
                Reason::Blocked,
                "one of you has blocked the other".into(),
            ))
        } else {
            Ok(())
        }
    }

    pub(super) fn snapshot(&self) -> RoomSnapshot {
        RoomSnapshot {
            record: self.record.clone(),
            members: self.members.iter().copied().collect(),
            last_seq: self.durable_seq,
            owner: self.owner(),
            meta: self.meta.clone(),
        }
    }

    /// A group's owner: who the log made owner (its creator until then) while a member,
    /// else the longest member (rooms whose creator left before owners were kept); 0 for
    /// direct rooms and empty groups.
    pub(super) fn owner(&self) -> UserId {
        if self.record.kind != RoomKind::Group {
            return 0;
        }
        let owner = self.meta.owner_or(self.record.created_by);
        if self.members.contains(&owner) {
            owner
        } else {
            self.longest_member(owner).unwrap_or(0)
        }
    }

    /// The seq after which `user` sees the room's log: 0 in a room with shared history,
    /// else where they joined.
    pub(super) fn visible_from(&self, user: UserId) -> Seq {
        self.record
            .visible_from(self.joined.get(&user).copied().unwrap_or(0))
    }

    /// Members who may not see a change to the message at `target` (they joined after it).
    pub(super) fn hidden_from(&self, target: Seq) -> Vec<UserId> {
        self.members
            .iter()
            .copied()
            .filter(|&u| self.visible_from(u) >= target)
            .collect()
    }

    /// The member who joined first (the lowest id among equals), other than `except`.
    pub(super) fn longest_member(&self, except: UserId) -> Option<UserId> {
        self.members
            .iter()
            .copied()
            .filter(|&m| m != except)
            .min_by_key(|m| (self.joined.get(m).copied().unwrap_or(0), *m))
    }

    /// Nothing waits for the store.
    pub(super) fn is_quiet(&self) -> bool {
        self.pending.is_empty()
            && !self.in_flight.active
            && self.dirty_cursors.is_empty()
            && self.read_waiters.is_empty()
    }

    /// A member's unread messages in this room (real ones only, deleted ones not).
    pub(super) fn unread_for(&self, user: UserId) -> u32 {
        let cursor = self.cursors.cursor(user).unwrap_or_default();
        let n = chat_store::unread_count(self.durable_ordinal, &self.durable_deleted, cursor);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A member's unread messages that mention them (by name or `@all`).
    pub(super) fn mentions_for(&self, user: UserId) -> u32 {
        let cursor = self.cursors.cursor(user).unwrap_or_default();
        let n = chat_store::mention_count(&self.durable_mentions, user, cursor);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A cursor at the durable end of the log (where newcomers start).
    pub(super) fn durable_cursor(&self) -> ReadCursor {
        ReadCursor {
            seq: self.durable_seq,
            ordinal: self.durable_ordinal,
        }
    }

    /// A durable entry as it is now, from memory when it is recent.
    pub(super) fn recent_entry(&self, seq: Seq) -> Option<&MessageRecord> {
        let i = self.recent.binary_search_by_key(&seq, |m| m.seq).ok()?;
        self.recent.get(i)
    }

    /// The protocol form of a message with its current unread count.
    pub(super) fn message_proto(&self, m: &MessageRecord) -> v1::Message {
        convert::message(m, self.cursors.unread(m.seq))
    }

    /// The same, as one member sees it (their own reactions marked).
    pub(super) fn message_proto_for(&self, m: &MessageRecord, viewer: UserId) -> v1::Message {
        convert::message_for(m, self.cursors.unread(m.seq), viewer)
    }
}
