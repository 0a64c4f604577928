//! The room's rules at the actor level, on the embedded store and the in-process bus: the
//! sequencer (dense seqs, idempotency, order, restart from the store), the reads (unread
//! counts, recovery, history pages) and membership (invitations, leaving, blocks).

#![allow(clippy::unwrap_used)]

use chat_store::{RoomKind, RoomRecord, SocialEdge, UserId};

use super::{Ack, RoomOp, RoomOutcome, SendRequest};
use crate::{
    ChatConfig, ChatError, ChatSystem, Reason,
    testing::{signup, system, system_with},
};

/// A group room of `members` (the first one created it), straight in the store.
pub(super) async fn group(sys: &ChatSystem, members: &[UserId]) -> u64 {
    let record = RoomRecord {
        id: sys.services.core.ids.next_id(),
        kind: RoomKind::Group,
        name: "g".into(),
        created_by: members[0],
        created_at_ms: 1,
        shared_history: false,
    };
    let id = record.id;
    sys.services
        .core
        .store
        .create_room(record, members.to_vec())
        .await
        .unwrap();
    id
}

pub(super) fn send(sender: UserId, id: &str) -> RoomOp {
    RoomOp::Send(SendRequest {
        sender,
        client_msg_id: id.into(),
        body: format!("body of {id}"),
        attachments: Vec::new(),
        ..Default::default()
    })
}

pub(super) async fn ack(sys: &ChatSystem, room: u64, op: RoomOp) -> Ack {
    match sys.services.rooms.request(room, op).await {
        Ok(RoomOutcome::Ack(a)) => a,
        other => panic!("{other:?}"),
    }
}

/// A history page for `user`: each message's `(seq, unread)`, and whether older ones exist.
async fn page(
    sys: &ChatSystem,
    room: u64,
    user: UserId,
    before: u64,
    limit: usize,
) -> (Vec<(u64, u32)>, bool) {
    let op = RoomOp::History {
        user,
        before,
        limit,
    };
    match sys.services.rooms.request(room, op).await {
        Ok(RoomOutcome::History(p)) => {
            let counts = p.messages.iter().map(|m| (m.seq, m.unread)).collect();
            (counts, p.has_more)
        }
        other => panic!("{other:?}"),
    }
}

async fn unread_counts(sys: &ChatSystem, room: u64, user: UserId) -> Vec<(u64, u32)> {
    page(sys, room, user, 0, 50).await.0
}

/// Like [`ack`], retrying while the room is unavailable (restarting), as a client does.
pub(super) async fn ack_retrying(sys: &ChatSystem, room: u64, op: RoomOp) -> Ack {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sys.services.rooms.request(room, op.clone()).await {
            Ok(RoomOutcome::Ack(a)) => return a,
            // Each attempt waits for the room's (re)activation itself: no pause needed.
            Err(e) if e.retryable() && tokio::time::Instant::now() < deadline => {}
            other => panic!("{other:?}"),
        }
    }
}

pub(super) fn reason<T: std::fmt::Debug>(r: Result<T, ChatError>) -> Reason {
    match r {
        Err(e) => e.reason(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test]
async fn seqs_are_dense_in_submission_order_and_a_retry_gets_the_first_ack() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let (a, b) = (
        signup(&sys, "ann").await.user.id,
        signup(&sys, "ben").await.user.id,
    );
    let room = group(&sys, &[a, b]).await;
    // Submitted one after another without waiting: sequenced in that order.
    let mut pending = Vec::new();
    for i in 0..20 {
        let sender = if i % 2 == 0 { a } else { b };
        let op = send(sender, &format!("m{i}"));
        pending.push(sys.services.rooms.submit(room, op).await.unwrap());
    }
    let mut seqs = Vec::new();
    for p in pending {
        let RoomOutcome::Ack(ack) = p.await.unwrap() else {
            panic!()
        };
        seqs.push(ack.seq);
    }
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    // The same client message id again: the first ack, nothing new sequenced.
    let first = ack(&sys, room, send(a, "m0")).await;
    assert_eq!((first.seq, first.client_msg_id.as_str()), (1, "m0"));
    assert_eq!(ack(&sys, room, send(a, "new")).await.seq, 21);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn only_members_may_use_a_room_and_unknown_rooms_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let (a, x) = (
        signup(&sys, "ann").await.user.id,
        signup(&sys, "xen").await.user.id,
    );
    let room = group(&sys, &[a]).await;
    let rooms = &sys.services.rooms;
    for op in [
        send(x, "1"),
        RoomOp::Open { user: x, since: 0 },
        RoomOp::History {
            user: x,
            before: 0,
            limit: 10,
        },
        RoomOp::MarkRead { user: x, seq: 0 },
        RoomOp::Typing { user: x },
        RoomOp::Leave { user: x },
        RoomOp::Invite {
            by: Some(x),
            users: vec![x],
        },
    ] {
        let what = format!("{op:?}");
        assert_eq!(
            reason(rooms.request(room, op).await),
            Reason::NotAMember,
            "{what}"
        );
    }
    let unknown = rooms.request(12345, RoomOp::Typing { user: a }).await;
    assert_eq!(reason(unknown), Reason::RoomNotFound);
    // Nothing was sequenced by the refusals.
    assert_eq!(ack(&sys, room, send(a, "1")).await.seq, 1);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn unread_counts_follow_the_read_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat"] {
        ids.push(signup(&sys, name).await.user.id);
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let room = group(&sys, &ids).await;
    ack(&sys, room, send(a, "1")).await;
    ack(&sys, room, send(a, "2")).await;
    // The sender has read their own messages; the two others have not.
    assert_eq!(unread_counts(&sys, room, a).await, vec![(2, 2), (1, 2)]);
    let rooms = &sys.services.rooms;
    let mark = |user, seq| rooms.request(room, RoomOp::MarkRead { user, seq });
    assert!(matches!(mark(b, 1).await, Ok(RoomOutcome::Done)));
    assert_eq!(unread_counts(&sys, room, a).await, vec![(2, 2), (1, 1)]);
    // Backwards is ignored; beyond the last seq is refused.
    assert!(matches!(mark(b, 0).await, Ok(RoomOutcome::Done)));
    assert_eq!(reason(mark(b, 3).await), Reason::SeqBeyondLast);
    // Sending reads everything before.
    ack(&sys, room, send(c, "3")).await;
    assert_eq!(
        unread_counts(&sys, room, b).await,
        vec![(3, 2), (2, 1), (1, 0)]
    );
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn opening_recovers_exactly_the_missed_messages_and_history_pages_walk_back() {
    let dir = tempfile::tempdir().unwrap();
    // A cache of two: older pages come from the store.
    let chat = ChatConfig {
        recent_cache: 2,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), chat).await;
    let (a, b) = (
        signup(&sys, "ann").await.user.id,
        signup(&sys, "ben").await.user.id,
    );
    let room = group(&sys, &[a, b]).await;
    for i in 1..=5 {
        ack(&sys, room, send(a, &i.to_string())).await;
    }
    let rooms = &sys.services.rooms;
    let Ok(RoomOutcome::Opened(o)) = rooms
        .request(room, RoomOp::Open { user: b, since: 3 })
        .await
    else {
        panic!()
    };
    let missed: Vec<u64> = o.missed.iter().map(|m| m.seq).collect();
    assert_eq!(
        (missed, o.truncated, o.snapshot.last_seq),
        (vec![4, 5], false, 5)
    );
    assert_eq!(o.members.len(), 2);
    let future = rooms
        .request(room, RoomOp::Open { user: b, since: 6 })
        .await;
    assert_eq!(reason(future), Reason::SeqInFuture);
    let seqs = |(counts, more): (Vec<(u64, u32)>, bool)| {
        (counts.into_iter().map(|c| c.0).collect::<Vec<_>>(), more)
    };
    assert_eq!(seqs(page(&sys, room, b, 4, 2).await), (vec![3, 2], true));
    assert_eq!(seqs(page(&sys, room, b, 2, 2).await), (vec![1], false));
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn invitations_follow_the_rules_and_newcomers_have_nothing_unread() {
    let dir = tempfile::tempdir().unwrap();
    let chat = ChatConfig {
        max_room_members: 3,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), chat).await;
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        ids.push(signup(&sys, name).await.user.id);
    }
    let (a, b, c, d, e) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let room = group(&sys, &[a, b]).await;
    ack(&sys, room, send(a, "before")).await;
    let rooms = &sys.services.rooms;
    let invite = |by, users: Vec<UserId>| rooms.request(room, RoomOp::Invite { by, users });
    // Someone who blocked the inviter cannot be put in the room by them.
    let blocked = SocialEdge {
        blocked_by: vec![e],
        ..SocialEdge::default()
    };
    let store = &sys.services.core.store;
    store
        .set_social_edge(a, e, SocialEdge::default(), blocked)
        .await
        .unwrap();
    assert_eq!(reason(invite(Some(a), vec![e]).await), Reason::Blocked);
    assert_eq!(
        reason(invite(Some(a), vec![999]).await),
        Reason::UserNotFound
    );
    let Ok(RoomOutcome::Snapshot(s)) = invite(Some(a), vec![c]).await else {
        panic!()
    };
    assert!(s.members.contains(&c));
    assert_eq!(reason(invite(Some(a), vec![d]).await), Reason::RoomFull);
    // The newcomer joined after seq 1: they see from the line saying they joined (seq 2,
    // which counts for nobody), and seq 1 still waits for Ben alone.
    assert_eq!(unread_counts(&sys, room, c).await, vec![(2, 0)]);
    let counts = unread_counts(&sys, room, a).await;
    assert_eq!(counts, vec![(2, 0), (1, 1)], "only ben has not read seq 1");
    // Leaving: no longer a member, and no longer counted as a reader.
    let leave = rooms.request(room, RoomOp::Leave { user: b }).await;
    assert!(matches!(leave, Ok(RoomOutcome::Done)));
    assert_eq!(
        unread_counts(&sys, room, a).await,
        vec![(3, 0), (2, 0), (1, 0)]
    );
    let again = rooms.request(room, RoomOp::Leave { user: b }).await;
    assert_eq!(reason(again), Reason::NotAMember);
    // A direct room takes no invitations.
    let direct = RoomRecord {
        id: sys.services.core.ids.next_id(),
        kind: RoomKind::Direct,
        name: String::new(),
        created_by: a,
        created_at_ms: 1,
        shared_history: false,
    };
    let direct = store.create_direct_room(direct, a, b).await.unwrap();
    let op = RoomOp::Invite {
        by: Some(a),
        users: vec![c],
    };
    assert_eq!(
        reason(rooms.request(direct, op).await),
        Reason::NotAGroupRoom
    );
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_crashed_room_restarts_from_the_store_with_its_log_intact() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let (a, b) = (
        signup(&sys, "ann").await.user.id,
        signup(&sys, "ben").await.user.id,
    );
    let room = group(&sys, &[a, b]).await;
    ack(&sys, room, send(a, "1")).await;
    ack(&sys, room, send(b, "2")).await;
    sys.services.rooms.inject_fault(room).await.unwrap();
    // The new incarnation continues the log and still knows the old client message ids.
    assert_eq!(ack_retrying(&sys, room, send(a, "1")).await.seq, 1);
    assert_eq!(ack_retrying(&sys, room, send(a, "3")).await.seq, 3);
    assert_eq!(
        unread_counts(&sys, room, a).await,
        vec![(3, 1), (2, 0), (1, 0)]
    );
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}
