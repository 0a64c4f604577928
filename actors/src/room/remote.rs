//! Room operations across nodes: the wire mapping of [`RoomOp`] and [`RoomOutcome`] to
//! `chat.cluster.v1`, a [`Peer`] as a room [`Shard`], and serving the requests peers send.
//! Decoding never panics: a malformed request from a peer is an `INTERNAL` error answered
//! to that peer.

use chat_cluster::PendingReply;
use chat_proto::{cluster as pb, v1};
use chat_store::{
    AttachmentRecord, EntryKind, MentionRecord, RoomId, RoomKind, RoomMeta, RoomRecord,
};
use futures::future::BoxFuture;

use super::{
    directory::RoomDirectory,
    ops::{Ack, HistoryPage, Opened, RoomOp, RoomOutcome, RoomSnapshot, SendRequest},
    remote_settings::{self, garbled},
};
use crate::{
    error::ChatError,
    route::{Peer, Pending, Shard},
};

impl Shard<RoomOp, RoomOutcome> for Peer {
    fn submit(
        &self,
        room: RoomId,
        op: RoomOp,
        hops: u32,
    ) -> BoxFuture<'_, Result<Pending<RoomOutcome>, ChatError>> {
        let sent = request(room, &op, hops).and_then(|r| self.call(&r));
        Box::pin(async move {
            let reply = sent?;
            let answer: Pending<RoomOutcome> = Box::pin(async move { outcome(reply.await?) });
            Ok(answer)
        })
    }
}

/// Serves a room request from a peer: handed to the room's owner here, in arrival order (a
/// node whose view differs passes it on once more); the reply is awaited apart.
pub(crate) async fn serve(
    rooms: &RoomDirectory,
    request: pb::RoomRequest,
    hops: u32,
) -> PendingReply {
    let submitted = match decode_op(request) {
        Ok((room, op)) => rooms.forward(room, op, hops + 1).await,
        Err(e) => Err(e),
    };
    match submitted {
        Ok(pending) => Box::pin(async move { reply(pending.await) }),
        Err(e) => {
            let answer = reply(Err(e));
            Box::pin(async move { answer })
        }
    }
}

/// Encodes a request for a room's owner.
fn request(room: RoomId, op: &RoomOp, hops: u32) -> Result<pb::PeerRequest, ChatError> {
    use pb::room_request::Op;
    let op = match op {
        RoomOp::Send(s) => Op::Send(send_to_pb(s)),
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
        RoomOp::RelationshipChanged => Op::RelationshipChanged(pb::RelationshipChanged {}),
        RoomOp::Reactions {
            user,
            seq,
            emoji,
            after,
            limit,
        } => Op::Reactions(pb::Reactions {
            user: *user,
            seq: *seq,
            emoji: emoji.clone(),
            after: *after,
            limit: u32::try_from(*limit).unwrap_or(u32::MAX),
        }),
        RoomOp::Versions { user, seq } => Op::Versions(pb::Versions {
            user: *user,
            seq: *seq,
        }),
        RoomOp::MessageAt { user, seq } => Op::MessageAt(pb::MessageAt {
            user: *user,
            seq: *seq,
        }),
        RoomOp::Hide { user, seq } => Op::Hide(pb::Hide {
            user: *user,
            seq: *seq,
        }),
        RoomOp::Rename { .. }
        | RoomOp::Remove { .. }
        | RoomOp::TransferOwnership { .. }
        | RoomOp::SetHistoryVisibility { .. }
        | RoomOp::SetNotice { .. }
        | RoomOp::Pin { .. }
        | RoomOp::Pins { .. }
        | RoomOp::SetPermissions { .. } => remote_settings::to_pb(op)
            .ok_or_else(|| ChatError::Internal("cluster: unmapped room op".into()))?,
    };
    Ok(pb::PeerRequest {
        hops,
        kind: Some(pb::peer_request::Kind::Room(pb::RoomRequest {
            room_id: room,
            op: Some(op),
        })),
    })
}

fn send_to_pb(s: &SendRequest) -> pb::Send {
    pb::Send {
        sender: s.sender,
        client_msg_id: s.client_msg_id.clone(),
        body: s.body.clone(),
        attachments: s.attachments.iter().map(attachment_to_pb).collect(),
        reply_to: s.reply_to,
        kind: u32::from(s.kind.code()),
        target: s.target,
        mentions: s
            .mentions
            .iter()
            .map(|m| pb::Mention {
                user: m.user_id,
                offset: m.offset,
                length: m.length,
            })
            .collect(),
        forwarded: s.forwarded,
    }
}

/// Decodes a room request's operation.
fn decode_op(r: pb::RoomRequest) -> Result<(RoomId, RoomOp), ChatError> {
    use pb::room_request::Op;
    let op = match r.op.ok_or_else(|| garbled("room request"))? {
        Op::Send(s) => RoomOp::Send(SendRequest {
            sender: s.sender,
            client_msg_id: s.client_msg_id,
            body: s.body,
            attachments: s.attachments.into_iter().map(attachment_from_pb).collect(),
            reply_to: s.reply_to,
            kind: u8::try_from(s.kind)
                .ok()
                .and_then(EntryKind::from_code)
                .ok_or_else(|| garbled("entry kind"))?,
            target: s.target,
            mentions: s
                .mentions
                .into_iter()
                .map(|m| MentionRecord {
                    user_id: m.user,
                    offset: m.offset,
                    length: m.length,
                })
                .collect(),
            forwarded: s.forwarded,
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
        Op::RelationshipChanged(_) => RoomOp::RelationshipChanged,
        Op::Reactions(r) => RoomOp::Reactions {
            user: r.user,
            seq: r.seq,
            emoji: r.emoji,
            after: r.after,
            limit: usize::try_from(r.limit).unwrap_or(usize::MAX),
        },
        Op::Versions(v) => RoomOp::Versions {
            user: v.user,
            seq: v.seq,
        },
        Op::MessageAt(m) => RoomOp::MessageAt {
            user: m.user,
            seq: m.seq,
        },
        Op::Hide(h) => RoomOp::Hide {
            user: h.user,
            seq: h.seq,
        },
        op @ (Op::Rename(_)
        | Op::RemoveMember(_)
        | Op::TransferOwnership(_)
        | Op::SetHistoryVisibility(_)
        | Op::SetNotice(_)
        | Op::Pin(_)
        | Op::Pins(_)
        | Op::SetPermissions(_)) => remote_settings::from_pb(op)?,
    };
    Ok((r.room_id, op))
}

/// Encodes a room's answer (or error) for the asking peer.
fn reply(result: Result<RoomOutcome, ChatError>) -> pb::PeerReply {
    use pb::peer_reply::Kind;
    let kind = match result {
        Err(e) => Kind::Error(e.to_wire()),
        Ok(RoomOutcome::Ack(a)) => Kind::Ack(pb::Ack {
            room_id: a.room_id,
            client_msg_id: a.client_msg_id,
            seq: a.seq,
            message_id: a.message_id,
            sent_at_ms: a.sent_at_ms,
        }),
        Ok(RoomOutcome::Opened(o)) => Kind::Opened(pb::Opened {
            snapshot: Some(snapshot_to_pb(&o.snapshot)),
            members: o.members,
            missed: o.missed,
            truncated: o.truncated,
            pinned: o.pinned,
        }),
        Ok(RoomOutcome::History(h)) => Kind::History(pb::HistoryPage {
            messages: h.messages,
            has_more: h.has_more,
            next_before: h.next_before,
        }),
        Ok(RoomOutcome::Snapshot(s)) => Kind::Snapshot(snapshot_to_pb(&s)),
        Ok(RoomOutcome::Done) => Kind::Done(pb::Done {}),
        Ok(RoomOutcome::Reply(payload)) => Kind::Frame(v1::ServerFrame {
            request_id: 0,
            payload: Some(*payload),
        }),
    };
    pb::PeerReply { kind: Some(kind) }
}

/// Decodes a peer's answer to a room request.
fn outcome(kind: pb::peer_reply::Kind) -> Result<RoomOutcome, ChatError> {
    use pb::peer_reply::Kind;
    match kind {
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
            pinned: o.pinned,
        })),
        Kind::History(h) => Ok(RoomOutcome::History(HistoryPage {
            messages: h.messages,
            has_more: h.has_more,
            next_before: h.next_before,
        })),
        Kind::Snapshot(s) => Ok(RoomOutcome::Snapshot(snapshot_from_pb(s)?)),
        Kind::Done(_) => Ok(RoomOutcome::Done),
        Kind::Frame(f) => Ok(RoomOutcome::Reply(Box::new(
            f.payload.ok_or_else(|| garbled("room reply"))?,
        ))),
        Kind::Pong(_) | Kind::Online(_) => Err(garbled("room reply")),
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
            shared_history: s.record.shared_history,
        }),
        members: s.members.clone(),
        last_seq: s.last_seq,
        owner: s.owner,
        meta: s.meta.encode(),
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
            shared_history: r.shared_history,
        },
        members: s.members,
        last_seq: s.last_seq,
        owner: s.owner,
        meta: if s.meta.is_empty() {
            RoomMeta::default()
        } else {
            RoomMeta::decode(&s.meta).ok_or_else(|| garbled("room meta"))?
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chat_proto::v1;

    use super::*;
    use crate::error::Reason;

    /// What the other node decodes: the reply's kind.
    fn across(reply: pb::PeerReply) -> Result<RoomOutcome, ChatError> {
        outcome(reply.kind.unwrap())
    }

    #[test]
    fn requests_round_trip() {
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
            ..Default::default()
        });
        let req = request(42, &op, 1).unwrap();
        assert_eq!(req.hops, 1);
        let Some(pb::peer_request::Kind::Room(r)) = req.kind else {
            panic!("not a room request")
        };
        let (room, back) = decode_op(r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(room, 42);
        assert_eq!(format!("{back:?}"), format!("{op:?}"));
        // A change and a read of the timeline cross the wire the same way.
        for op in [
            RoomOp::Send(SendRequest {
                sender: 7,
                client_msg_id: "r1".into(),
                body: "👍".into(),
                reply_to: 0,
                kind: EntryKind::ReactionRemove,
                target: 3,
                ..Default::default()
            }),
            RoomOp::Versions { user: 7, seq: 3 },
            RoomOp::MessageAt { user: 7, seq: 3 },
            RoomOp::Rename {
                by: 7,
                name: "새 방".into(),
            },
            RoomOp::Remove { by: 7, user: 8 },
            RoomOp::TransferOwnership { by: 7, to: 8 },
            RoomOp::Hide { user: 7, seq: 3 },
            RoomOp::SetHistoryVisibility {
                by: 7,
                shared: true,
            },
            RoomOp::SetNotice {
                by: 7,
                text: "공지: 금요일 회식".into(),
            },
            RoomOp::Pin {
                by: 7,
                seq: 3,
                pinned: true,
            },
            RoomOp::Pins { user: 8 },
            RoomOp::SetPermissions {
                by: 7,
                invite_owner_only: true,
                pins_owner_only: false,
            },
        ] {
            let Some(pb::peer_request::Kind::Room(r)) = request(42, &op, 0).unwrap().kind else {
                panic!("not a room request")
            };
            let (_, back) = decode_op(r).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(format!("{back:?}"), format!("{op:?}"));
        }
    }

    #[test]
    fn replies_round_trip() {
        let snapshot = RoomSnapshot {
            record: RoomRecord {
                id: 42,
                kind: RoomKind::Group,
                name: "g".into(),
                created_by: 7,
                created_at_ms: 5,
                shared_history: false,
            },
            members: vec![7, 8],
            last_seq: 9,
            owner: 8,
            meta: RoomMeta {
                notice: Some(chat_store::NoticeRecord {
                    text: "n".into(),
                    by: 8,
                    at_ms: 6,
                    seq: 9,
                }),
                pins: vec![4, 2],
                pins_owner_only: true,
                ..RoomMeta::default()
            },
        };
        match across(reply(Ok(RoomOutcome::Snapshot(snapshot.clone())))) {
            Ok(RoomOutcome::Snapshot(s)) => assert_eq!(format!("{s:?}"), format!("{snapshot:?}")),
            other => panic!("{other:?}"),
        }
        let err = ChatError::ResourceExhausted(Reason::RoomFull, "full".into(), 0);
        match across(reply(Err(err.clone()))) {
            Err(e) => assert_eq!(e, err),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_from_a_peer_is_an_error_not_a_panic() {
        assert!(outcome(pb::peer_reply::Kind::Pong(pb::Pong::default())).is_err());
        let no_snapshot = pb::peer_reply::Kind::Opened(pb::Opened::default());
        assert!(outcome(no_snapshot).is_err());
        assert!(decode_op(pb::RoomRequest::default()).is_err());
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
