//! Room and user-session requests as they cross nodes: the Rust values the actors use,
//! converted to and from `chat.cluster.v1` (protobuf). Decoding never panics: a malformed
//! request from a peer is an `INTERNAL` error answered to that peer.

use chat_proto::{cluster as pb, v1};
use chat_store::{AttachmentRecord, RoomKind, RoomRecord, UserId};
use prost::Message as _;

use crate::{
    error::{ChatError, Reason},
    room::{Ack, HistoryPage, Opened, RoomSnapshot, SendRequest},
};

/// What a room is asked to do.
#[derive(Debug, Clone)]
pub enum RoomOp {
    /// Sequence a message.
    Send(SendRequest),
    /// A member opens the room.
    Open {
        /// Who.
        user: UserId,
        /// Last seq the client saw.
        since: u64,
    },
    /// A page of history.
    History {
        /// Who.
        user: UserId,
        /// Before this seq (0: newest).
        before: u64,
        /// Page size.
        limit: usize,
    },
    /// Move a read cursor.
    MarkRead {
        /// Who.
        user: UserId,
        /// Through this seq.
        seq: u64,
    },
    /// A member is typing.
    Typing {
        /// Who.
        user: UserId,
    },
    /// Add members (`by: None`: the system).
    Invite {
        /// The inviting member.
        by: Option<UserId>,
        /// Who joins.
        users: Vec<UserId>,
    },
    /// A member leaves.
    Leave {
        /// Who.
        user: UserId,
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
}

/// An error for a peer that sent something undecodable or unexpected.
fn garbled(what: &str) -> ChatError {
    ChatError::Internal(format!("cluster: malformed {what}"))
}

/// Encodes a request for a room's owner.
pub fn room_request(room: u64, op: &RoomOp, hops: u32) -> Vec<u8> {
    use pb::room_request::Op;
    let op = match op {
        RoomOp::Send(s) => Op::Send(pb::Send {
            sender: s.sender,
            client_msg_id: s.client_msg_id.clone(),
            body: s.body.clone(),
            attachments: s.attachments.iter().map(attachment_to_pb).collect(),
        }),
        RoomOp::Open { user, since } => Op::Open(pb::Open {
            user: *user,
            since: *since,
        }),
        RoomOp::History {
            user,
            before,
            limit,
        } => Op::History(pb::History {
            user: *user,
            before: *before,
            limit: u32::try_from(*limit).unwrap_or(u32::MAX),
        }),
        RoomOp::MarkRead { user, seq } => Op::MarkRead(pb::MarkRead {
            user: *user,
            seq: *seq,
        }),
        RoomOp::Typing { user } => Op::Typing(pb::Typing { user: *user }),
        RoomOp::Invite { by, users } => Op::Invite(pb::Invite {
            by: by.unwrap_or(0),
            users: users.clone(),
        }),
        RoomOp::Leave { user } => Op::Leave(pb::Leave { user: *user }),
    };
    pb::PeerRequest {
        hops,
        kind: Some(pb::peer_request::Kind::Room(pb::RoomRequest {
            room_id: room,
            op: Some(op),
        })),
    }
    .encode_to_vec()
}

/// Decodes a room request's operation.
pub fn room_op(r: pb::RoomRequest) -> Result<(u64, RoomOp), ChatError> {
    use pb::room_request::Op;
    let op = match r.op.ok_or_else(|| garbled("room request"))? {
        Op::Send(s) => RoomOp::Send(SendRequest {
            sender: s.sender,
            client_msg_id: s.client_msg_id,
            body: s.body,
            attachments: s.attachments.into_iter().map(attachment_from_pb).collect(),
        }),
        Op::Open(o) => RoomOp::Open {
            user: o.user,
            since: o.since,
        },
        Op::History(h) => RoomOp::History {
            user: h.user,
            before: h.before,
            limit: usize::try_from(h.limit).unwrap_or(usize::MAX),
        },
        Op::MarkRead(m) => RoomOp::MarkRead {
            user: m.user,
            seq: m.seq,
        },
        Op::Typing(t) => RoomOp::Typing { user: t.user },
        Op::Invite(i) => RoomOp::Invite {
            by: (i.by != 0).then_some(i.by),
            users: i.users,
        },
        Op::Leave(l) => RoomOp::Leave { user: l.user },
    };
    Ok((r.room_id, op))
}

/// Encodes a room's answer (or error) for the asking peer.
pub fn room_reply(result: &Result<RoomOutcome, ChatError>) -> Vec<u8> {
    use pb::peer_reply::Kind;
    let kind = match result {
        Err(e) => Kind::Error(e.to_wire()),
        Ok(RoomOutcome::Ack(a)) => Kind::Ack(pb::Ack {
            room_id: a.room_id,
            client_msg_id: a.client_msg_id.clone(),
            seq: a.seq,
            message_id: a.message_id,
            sent_at_ms: a.sent_at_ms,
        }),
        Ok(RoomOutcome::Opened(o)) => Kind::Opened(pb::Opened {
            snapshot: Some(snapshot_to_pb(&o.snapshot)),
            members: o.members.clone(),
            missed: o.missed.clone(),
            truncated: o.truncated,
        }),
        Ok(RoomOutcome::History(h)) => Kind::History(pb::HistoryPage {
            messages: h.messages.clone(),
            has_more: h.has_more,
        }),
        Ok(RoomOutcome::Snapshot(s)) => Kind::Snapshot(snapshot_to_pb(s)),
        Ok(RoomOutcome::Done) => Kind::Done(pb::Done {}),
    };
    pb::PeerReply { kind: Some(kind) }.encode_to_vec()
}

/// Decodes a peer's answer to a room request.
pub fn room_outcome(bytes: &[u8]) -> Result<RoomOutcome, ChatError> {
    use pb::peer_reply::Kind;
    let reply = pb::PeerReply::decode(bytes).map_err(|_| garbled("reply"))?;
    match reply.kind.ok_or_else(|| garbled("reply"))? {
        Kind::Error(e) => Err(ChatError::from_wire(&e)),
        Kind::Ack(a) => Ok(RoomOutcome::Ack(Ack {
            room_id: a.room_id,
            client_msg_id: a.client_msg_id,
            seq: a.seq,
            message_id: a.message_id,
            sent_at_ms: a.sent_at_ms,
        })),
        Kind::Opened(o) => Ok(RoomOutcome::Opened(Opened {
            snapshot: snapshot_from_pb(o.snapshot.ok_or_else(|| garbled("opened"))?)?,
            members: o.members,
            missed: o.missed,
            truncated: o.truncated,
        })),
        Kind::History(h) => Ok(RoomOutcome::History(HistoryPage {
            messages: h.messages,
            has_more: h.has_more,
        })),
        Kind::Snapshot(s) => Ok(RoomOutcome::Snapshot(snapshot_from_pb(s)?)),
        Kind::Done(_) => Ok(RoomOutcome::Done),
        Kind::Pong(_) | Kind::Online(_) => Err(garbled("room reply")),
    }
}

/// Encodes any reply kind (pings, user sessions).
pub fn reply(kind: pb::peer_reply::Kind) -> Vec<u8> {
    pb::PeerReply { kind: Some(kind) }.encode_to_vec()
}

/// Encodes an error reply.
pub fn error_reply(e: &ChatError) -> Vec<u8> {
    reply(pb::peer_reply::Kind::Error(e.to_wire()))
}

/// Decodes any reply: its kind, or the error it carries.
pub fn reply_kind(bytes: &[u8]) -> Result<pb::peer_reply::Kind, ChatError> {
    let reply = pb::PeerReply::decode(bytes).map_err(|_| garbled("reply"))?;
    match reply.kind.ok_or_else(|| garbled("reply"))? {
        pb::peer_reply::Kind::Error(e) => Err(ChatError::from_wire(&e)),
        kind => Ok(kind),
    }
}

fn attachment_to_pb(a: &AttachmentRecord) -> pb::Attachment {
    pb::Attachment {
        file_id: a.file_id,
        name: a.name.clone(),
        size: a.size,
        content_type: a.content_type.clone(),
        width: a.width,
        height: a.height,
    }
}

fn attachment_from_pb(a: pb::Attachment) -> AttachmentRecord {
    AttachmentRecord {
        file_id: a.file_id,
        name: a.name,
        size: a.size,
        content_type: a.content_type,
        width: a.width,
        height: a.height,
    }
}

fn snapshot_to_pb(s: &RoomSnapshot) -> pb::RoomSnapshot {
    pb::RoomSnapshot {
        record: Some(pb::RoomRecord {
            id: s.record.id,
            kind: match s.record.kind {
                RoomKind::Direct => 1,
                RoomKind::Group => 2,
            },
            name: s.record.name.clone(),
            created_by: s.record.created_by,
            created_at_ms: s.record.created_at_ms,
        }),
        members: s.members.clone(),
        last_seq: s.last_seq,
    }
}

fn snapshot_from_pb(s: pb::RoomSnapshot) -> Result<RoomSnapshot, ChatError> {
    let r = s.record.ok_or_else(|| garbled("snapshot"))?;
    let kind = match r.kind {
        1 => RoomKind::Direct,
        2 => RoomKind::Group,
        _ => return Err(garbled("room kind")),
    };
    Ok(RoomSnapshot {
        record: RoomRecord {
            id: r.id,
            kind,
            name: r.name,
            created_by: r.created_by,
            created_at_ms: r.created_at_ms,
        },
        members: s.members,
        last_seq: s.last_seq,
    })
}

impl ChatError {
    /// The error as it crosses to a peer: like the client's, but an internal error keeps
    /// its detail (peers log it; clients never see it).
    pub fn to_wire(&self) -> v1::Error {
        let mut e = self.to_proto();
        if let Self::Internal(detail) = self {
            e.message = detail.clone();
        }
        e
    }

    /// The error a peer sent, as this node's own (the client sees exactly what the owner
    /// would have sent it). A reason this build does not know keeps its code.
    pub fn from_wire(e: &v1::Error) -> Self {
        use v1::ErrorCode as C;
        let reason: Reason = e.reason.parse().unwrap_or(Reason::Internal);
        let message = e.message.clone();
        match e.code() {
            C::InvalidArgument => Self::InvalidArgument(reason, message),
            C::NotFound => Self::NotFound(reason, message),
            C::AlreadyExists => Self::AlreadyExists(reason, message),
            C::PermissionDenied => Self::PermissionDenied(reason, message),
            C::ResourceExhausted => Self::ResourceExhausted(reason, message, e.retry_after_ms),
            C::FailedPrecondition => Self::FailedPrecondition(reason, message),
            C::Unauthenticated => Self::Unauthenticated(reason, message),
            C::Unavailable => Self::Unavailable(reason, message),
            _ => Self::Internal(format!("from a peer: {message}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let op = RoomOp::Send(SendRequest {
            sender: 7,
            client_msg_id: "c1".into(),
            body: "hi".into(),
            attachments: vec![AttachmentRecord {
                file_id: 3,
                name: "a.png".into(),
                size: 10,
                content_type: "image/png".into(),
                width: 2,
                height: 1,
            }],
        });
        let bytes = room_request(42, &op, 1);
        let req = pb::PeerRequest::decode(bytes.as_slice()).unwrap_or_default();
        assert_eq!(req.hops, 1);
        let Some(pb::peer_request::Kind::Room(r)) = req.kind else {
            panic!("not a room request")
        };
        let (room, back) = room_op(r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(room, 42);
        assert_eq!(format!("{back:?}"), format!("{op:?}"));

        let snapshot = RoomSnapshot {
            record: RoomRecord {
                id: 42,
                kind: RoomKind::Group,
                name: "g".into(),
                created_by: 7,
                created_at_ms: 5,
            },
            members: vec![7, 8],
            last_seq: 9,
        };
        let ok = room_reply(&Ok(RoomOutcome::Snapshot(snapshot.clone())));
        match room_outcome(&ok) {
            Ok(RoomOutcome::Snapshot(s)) => assert_eq!(format!("{s:?}"), format!("{snapshot:?}")),
            other => panic!("{other:?}"),
        }
        let err = ChatError::ResourceExhausted(Reason::RoomFull, "full".into(), 0);
        match room_outcome(&room_reply(&Err(err.clone()))) {
            Err(e) => assert_eq!(e, err),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_from_a_peer_is_an_error_not_a_panic() {
        assert!(room_outcome(&[0xff, 0x01, 0x02]).is_err());
        assert!(room_outcome(&[]).is_err());
        assert!(room_op(pb::RoomRequest::default()).is_err());
        let unknown = v1::Error {
            code: v1::ErrorCode::NotFound.into(),
            reason: "SOMETHING_NEWER".into(),
            message: "m".into(),
            retryable: false,
            retry_after_ms: 0,
        };
        assert_eq!(
            ChatError::from_wire(&unknown),
            ChatError::NotFound(Reason::Internal, "m".into())
        );
    }
}
