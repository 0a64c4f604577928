//! What a room actor is asked and what it answers: one [`RoomOp`] per room command and one
//! [`RoomOutcome`] per kind of answer, the same values whether the room runs here or on
//! another node (`remote.rs` maps them to `chat.cluster.v1`), and how an outcome reads as a
//! client's reply. Adding a room command starts here (ARCHITECTURE.md lists the rest).

use chat_proto::v1::{self, server_frame::Payload};
use chat_store::{
    AttachmentRecord, EntryKind, MentionRecord, MessageRecord, RoomId, RoomMeta, RoomRecord, Seq,
    StoreResult, UserId,
};
use ractor::RpcReplyPort;

use crate::{convert, error::ChatError};

/// Where a room actor sends an operation's outcome.
pub type Reply = RpcReplyPort<Result<RoomOutcome, ChatError>>;

/// Everything a room actor handles: operations, and its own lifecycle.
#[derive(ractor_cluster::RactorMessage)]
pub enum RoomMessage {
    /// An operation, answered on the port.
    Op(RoomOp, Reply),
    /// The store finished the in-flight append.
    BatchDone(StoreResult<()>),
    /// Stop accepting sends, finish what is in flight, then stop (shutdown, hand-over).
    Drain(RpcReplyPort<()>),
    /// Periodic idle check.
    IdleTick,
    /// Test-only: fail the actor as a crash would (ignored unless fault injection is on).
    InjectFault,
}

/// What a room is asked to do.
#[derive(Debug, Clone)]
pub enum RoomOp {
    /// Sequence and persist a message, or a change to one (an edit, a delete for everyone);
    /// answers [`RoomOutcome::Ack`] once it is durable.
    Send(SendRequest),
    /// A member opens the room, recovering messages after `since` (0: none); answers
    /// [`RoomOutcome::Opened`].
    Open {
        /// Who.
        user: UserId,
        /// Last seq the client saw.
        since: Seq,
    },
    /// A page of history; answers [`RoomOutcome::History`].
    History {
        /// Who.
        user: UserId,
        /// Messages with seq below this (0: the newest).
        before: Seq,
        /// Page size (already bounded by the caller).
        limit: usize,
    },
    /// Move a member's read cursor forward; answers [`RoomOutcome::Done`] once durable.
    MarkRead {
        /// Who.
        user: UserId,
        /// Read through this seq.
        seq: Seq,
    },
    /// A member is typing; answers [`RoomOutcome::Done`].
    Typing {
        /// Who.
        user: UserId,
    },
    /// Add members (`by: None`: the system, re-joining a direct room); answers
    /// [`RoomOutcome::Snapshot`].
    Invite {
        /// The inviting member.
        by: Option<UserId>,
        /// Who joins.
        users: Vec<UserId>,
    },
    /// A member leaves; answers [`RoomOutcome::Done`].
    Leave {
        /// Who.
        user: UserId,
    },
    /// The members' relationship changed (a block or unblock in a direct room): the room
    /// re-reads it from the store; answers [`RoomOutcome::Done`].
    RelationshipChanged,
    /// Who reacted to a message with an emoji, a page after `after`; answers
    /// [`RoomOutcome::Reply`] with `ReactionUsers`.
    Reactions {
        /// Who asks.
        user: UserId,
        /// The message.
        seq: Seq,
        /// The emoji.
        emoji: String,
        /// The last user of the previous page (0: first page).
        after: UserId,
        /// Page size (already bounded by the caller).
        limit: usize,
    },
    /// The earlier bodies of an edited message; answers [`RoomOutcome::Reply`] with
    /// `MessageVersions`.
    Versions {
        /// Who asks.
        user: UserId,
        /// The message.
        seq: Seq,
    },
    /// The message at `seq` as `user` sees it, to forward it: a real message in their
    /// view, not deleted; answers [`RoomOutcome::Reply`] with `Message`.
    MessageAt {
        /// Who asks.
        user: UserId,
        /// The message.
        seq: Seq,
    },
    /// The owner renames a group; answers [`RoomOutcome::Snapshot`] once the system entry
    /// is durable.
    Rename {
        /// Who asks (must own the room).
        by: UserId,
        /// The new name, already trimmed and checked.
        name: String,
    },
    /// The owner removes a member; answers [`RoomOutcome::Snapshot`].
    Remove {
        /// Who asks (must own the room).
        by: UserId,
        /// The member to remove.
        user: UserId,
    },
    /// The owner sets the history visibility (true: `shared`); answers
    /// [`RoomOutcome::Snapshot`].
    SetHistoryVisibility {
        /// Who asks (must own the room).
        by: UserId,
        /// Members see what was said before they joined.
        shared: bool,
    },
    /// A member hides an entry from their own view ("delete for me"); answers
    /// [`RoomOutcome::Done`] once stored, and tells all their devices.
    Hide {
        /// Who.
        user: UserId,
        /// The entry.
        seq: Seq,
    },
    /// The owner hands the group to another member; answers [`RoomOutcome::Snapshot`].
    TransferOwnership {
        /// Who asks (must own the room).
        by: UserId,
        /// The new owner.
        to: UserId,
    },
    /// Sets the room's notice (empty: takes it down); answers [`RoomOutcome::Snapshot`].
    SetNotice {
        /// Who asks (the owner of a group, either member of a direct room).
        by: UserId,
        /// The text, as the client sent it (the room checks it).
        text: String,
    },
    /// Pins or unpins a message; answers [`RoomOutcome::Done`].
    Pin {
        /// Who asks (a member; the owner when pins are reserved).
        by: UserId,
        /// The message.
        seq: Seq,
        /// Pin (true) or unpin.
        pinned: bool,
    },
    /// The pinned messages `user` may see; answers [`RoomOutcome::Reply`] with
    /// `PinnedMessages`.
    Pins {
        /// Who asks.
        user: UserId,
    },
    /// The owner reserves inviting and pinning to themself (or opens them to every
    /// member); answers [`RoomOutcome::Snapshot`].
    SetPermissions {
        /// Who asks (must own the room).
        by: UserId,
        /// Only the owner may invite.
        invite_owner_only: bool,
        /// Only the owner may pin and unpin.
        pins_owner_only: bool,
    },
}

/// What a room answered.
#[derive(Debug, Clone)]
pub enum RoomOutcome {
    /// A durable message.
    Ack(Ack),
    /// The room, opened.
    Opened(Opened),
    /// A page of history.
    History(HistoryPage),
    /// The room after a change.
    Snapshot(RoomSnapshot),
    /// Done, nothing to say.
    Done,
    /// An answer already in the client's terms.
    Reply(Box<Payload>),
}

impl RoomOutcome {
    /// The outcome as the reply to a client's command on `room`.
    pub fn into_payload(self, room: RoomId) -> Payload {
        match self {
            Self::Ack(a) => Payload::SendAck(ack_to_proto(&a)),
            Self::Opened(o) => Payload::RoomOpened(opened_to_proto(&o)),
            Self::History(h) => {
                // Keyset paging: the next page starts below the oldest entry this one read
                // (entries the reader may not see were left out of it).
                let next_before_seq = match h.messages.last() {
                    _ if !h.has_more => 0,
                    _ if h.next_before > 0 => h.next_before,
                    Some(oldest) => oldest.seq,
                    None => 0,
                };
                Payload::History(v1::History {
                    room_id: room,
                    messages: h.messages,
                    has_more: h.has_more,
                    next_before_seq,
                })
            }
            Self::Snapshot(s) => Payload::Room(snapshot_to_proto(&s)),
            Self::Done => Payload::Ok(v1::Ok {}),
            Self::Reply(p) => *p,
        }
    }
}

/// A new timeline entry, already validated for shape by the caller: a message (maybe a
/// reply), or a change to an earlier message, which the room checks against its rules.
#[derive(Debug, Clone, Default)]
pub struct SendRequest {
    /// Author.
    pub sender: UserId,
    /// The sender's idempotency key.
    pub client_msg_id: String,
    /// Text (an edit's new text).
    pub body: String,
    /// Files, already shared in the room.
    pub attachments: Vec<AttachmentRecord>,
    /// A message: the seq of the message it replies to (0: none).
    pub reply_to: Seq,
    /// A message, or a change to `target`.
    pub kind: EntryKind,
    /// The message a change applies to.
    pub target: Seq,
    /// A message's or an edit's mentions (ranges of `body`).
    pub mentions: Vec<MentionRecord>,
    /// A message forwarded from another.
    pub forwarded: bool,
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
    /// The ack of a stored message.
    pub fn of(m: &MessageRecord) -> Self {
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
    /// A group's owner (0 for direct rooms).
    pub owner: UserId,
    /// The settings the log left: notice, pins, permissions.
    pub meta: RoomMeta,
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
    /// The pinned messages the member may see, newest pin first.
    pub pinned: Vec<v1::Message>,
}

/// One page of history, newest first, with unread counts.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    /// Messages, newest first.
    pub messages: Vec<v1::Message>,
    /// Whether older messages exist.
    pub has_more: bool,
    /// The seq the next page ends below (0: the oldest of `messages`).
    pub next_before: Seq,
}

/// The protocol form of an ack.
pub fn ack_to_proto(a: &Ack) -> v1::SendAck {
    v1::SendAck {
        room_id: a.room_id,
        client_msg_id: a.client_msg_id.clone(),
        seq: a.seq,
        message_id: a.message_id,
        sent_at_ms: a.sent_at_ms,
    }
}

/// The protocol form of a snapshot.
pub fn snapshot_to_proto(s: &RoomSnapshot) -> v1::Room {
    convert::with_meta(
        v1::Room {
            owner_id: s.owner,
            ..convert::room(&s.record, &s.members, s.last_seq)
        },
        &s.meta,
    )
}

/// The protocol form of an opened room.
pub fn opened_to_proto(o: &Opened) -> v1::RoomOpened {
    v1::RoomOpened {
        room: Some(snapshot_to_proto(&o.snapshot)),
        members: o.members.clone(),
        recovered: u32::try_from(o.missed.len()).unwrap_or(u32::MAX),
        recovery_truncated: o.truncated,
        pinned: o.pinned.clone(),
    }
}
