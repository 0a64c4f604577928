//! System entries and the owner's controls at the actor level: who may rename, remove and
//! hand over; what each records in the timeline; the longest member inheriting a group; and
//! all of it surviving a restart from the store.

#![allow(clippy::unwrap_used)]

use chat_store::{EntryKind, SystemEvent, UserId};

use super::{
    RoomOp, RoomOutcome, RoomSnapshot,
    tests::{ack, ack_retrying, group, reason, send},
};
use crate::{
    ChatSystem, Reason,
    testing::{signup, system},
};

async fn snapshot(sys: &ChatSystem, room: u64, op: RoomOp) -> RoomSnapshot {
    match sys.services.rooms.request(room, op).await {
        Ok(RoomOutcome::Snapshot(s)) => s,
        other => panic!("{other:?}"),
    }
}

/// The room's system entries, oldest first: (sender, event, users, body).
async fn system_lines(
    sys: &ChatSystem,
    room: u64,
) -> Vec<(UserId, SystemEvent, Vec<UserId>, String)> {
    let page = sys.services.core.store.history(room, 0, 100).await.unwrap();
    page.into_iter()
        .rev()
        .filter(|m| m.kind == EntryKind::System)
        .map(|m| {
            let s = m.system.unwrap();
            (m.sender_id, s.event, s.users, m.body)
        })
        .collect()
}

#[tokio::test]
async fn the_owner_renames_removes_and_hands_over_and_the_timeline_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        ids.push(signup(&sys, name).await.user.id);
    }
    let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3]);
    let room = group(&sys, &[a, b, c]).await;
    ack(&sys, room, send(b, "hello")).await;
    let rooms = &sys.services.rooms;
    let rename = |by, name: &str| RoomOp::Rename {
        by,
        name: name.into(),
    };
    // Only the owner (the creator, to begin with) controls the group.
    assert_eq!(
        reason(rooms.request(room, rename(b, "x")).await),
        Reason::NotRoomOwner
    );
    let remove = |by, user| RoomOp::Remove { by, user };
    assert_eq!(
        reason(rooms.request(room, remove(b, c)).await),
        Reason::NotRoomOwner
    );
    assert_eq!(
        reason(rooms.request(room, remove(d, c)).await),
        Reason::NotAMember
    );
    assert_eq!(
        reason(rooms.request(room, remove(a, d)).await),
        Reason::MemberNotFound
    );
    assert_eq!(
        reason(rooms.request(room, remove(a, a)).await),
        Reason::InvalidArgument
    );
    let s = snapshot(&sys, room, rename(a, "팀 채팅")).await;
    assert_eq!(
        (s.record.name.as_str(), s.owner, s.last_seq),
        ("팀 채팅", a, 2)
    );
    // The same name again changes nothing and records nothing.
    assert_eq!(snapshot(&sys, room, rename(a, "팀 채팅")).await.last_seq, 2);
    let s = snapshot(&sys, room, remove(a, c)).await;
    assert_eq!(s.members, vec![a, b]);
    assert_eq!(
        reason(rooms.request(room, send(c, "still here?")).await),
        Reason::NotAMember
    );
    let over = |by, to| RoomOp::TransferOwnership { by, to };
    assert_eq!(
        reason(rooms.request(room, over(a, c)).await),
        Reason::MemberNotFound
    );
    let s = snapshot(&sys, room, over(a, b)).await;
    assert_eq!(s.owner, b);
    assert_eq!(
        reason(rooms.request(room, rename(a, "mine")).await),
        Reason::NotRoomOwner
    );
    // The new owner invites; the old one leaves.
    let s = snapshot(
        &sys,
        room,
        RoomOp::Invite {
            by: Some(b),
            users: vec![d],
        },
    )
    .await;
    assert_eq!(s.members, vec![a, b, d]);
    let left = rooms.request(room, RoomOp::Leave { user: a }).await;
    assert!(matches!(left, Ok(RoomOutcome::Done)));
    assert_eq!(
        system_lines(&sys, room).await,
        vec![
            (a, SystemEvent::Renamed, vec![], "팀 채팅".to_owned()),
            (a, SystemEvent::Removed, vec![c], String::new()),
            (a, SystemEvent::OwnerChanged, vec![b], String::new()),
            (b, SystemEvent::Joined, vec![d], String::new()),
            (a, SystemEvent::Left, vec![a], String::new()),
        ]
    );
    // Settings live in the head, written with their entries: a restart keeps them.
    let head = sys.services.core.store.room_head(room).await.unwrap();
    assert_eq!(
        (head.meta.owner, head.meta.name.as_deref()),
        (b, Some("팀 채팅"))
    );
    assert_eq!(head.ordinal(), 1, "system entries are not messages");
    sys.services.rooms.inject_fault(room).await.unwrap();
    let s = snapshot_retrying(&sys, room, b).await;
    assert_eq!((s.record.name.as_str(), s.owner), ("팀 채팅", b));
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// Invites nobody new (a no-op that answers the room), retrying while it restarts.
async fn snapshot_retrying(sys: &ChatSystem, room: u64, by: UserId) -> RoomSnapshot {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let op = RoomOp::Invite {
            by: Some(by),
            users: Vec::new(),
        };
        match sys.services.rooms.request(room, op).await {
            Ok(RoomOutcome::Snapshot(s)) => return s,
            // Each attempt waits for the room's reactivation itself: no pause needed.
            Err(e) if e.retryable() && tokio::time::Instant::now() < deadline => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn an_owner_who_leaves_hands_the_group_to_its_longest_member() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        ids.push(signup(&sys, name).await.user.id);
    }
    let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3]);
    // Dan (the highest id) was there from the start; Ben and Cat came later, Cat first.
    let room = group(&sys, &[a, d]).await;
    ack(&sys, room, send(a, "1")).await;
    snapshot(
        &sys,
        room,
        RoomOp::Invite {
            by: Some(a),
            users: vec![c],
        },
    )
    .await;
    snapshot(
        &sys,
        room,
        RoomOp::Invite {
            by: Some(a),
            users: vec![b],
        },
    )
    .await;
    let rooms = &sys.services.rooms;
    rooms
        .request(room, RoomOp::Leave { user: a })
        .await
        .unwrap();
    let s = snapshot(
        &sys,
        room,
        RoomOp::Invite {
            by: Some(d),
            users: Vec::new(),
        },
    )
    .await;
    assert_eq!(s.owner, d);
    rooms
        .request(room, RoomOp::Leave { user: d })
        .await
        .unwrap();
    let s = snapshot(
        &sys,
        room,
        RoomOp::Invite {
            by: Some(c),
            users: Vec::new(),
        },
    )
    .await;
    assert_eq!(s.owner, c, "cat joined before ben");
    let lines = system_lines(&sys, room).await;
    assert_eq!(
        lines[lines.len() - 2..],
        [
            (d, SystemEvent::Left, vec![d], String::new()),
            (d, SystemEvent::OwnerChanged, vec![c], String::new()),
        ]
    );
    // A direct room has no owner to control it.
    let record = chat_store::RoomRecord {
        id: sys.services.core.ids.next_id(),
        kind: chat_store::RoomKind::Direct,
        name: String::new(),
        created_by: b,
        created_at_ms: 1,
        shared_history: false,
    };
    let store = &sys.services.core.store;
    let direct = store.create_direct_room(record, b, c).await.unwrap();
    let op = RoomOp::Rename {
        by: b,
        name: "x".into(),
    };
    assert_eq!(
        reason(rooms.request(direct, op).await),
        Reason::NotAGroupRoom
    );
    let op = RoomOp::Invite {
        by: Some(b),
        users: Vec::new(),
    };
    assert_eq!(
        reason(rooms.request(direct, op).await),
        Reason::NotAGroupRoom
    );
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn newcomers_see_from_their_joining_unless_the_owner_shares_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat"] {
        ids.push(signup(&sys, name).await.user.id);
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let room = group(&sys, &[a]).await;
    let before = ack(&sys, room, send(a, "before ben")).await.seq;
    snapshot(
        &sys,
        room,
        RoomOp::Invite {
            by: Some(a),
            users: vec![b],
        },
    )
    .await;
    let rooms = &sys.services.rooms;
    let history = |user| RoomOp::History {
        user,
        before: 0,
        limit: 50,
    };
    let seqs = |r: Result<RoomOutcome, crate::ChatError>| match r {
        Ok(RoomOutcome::History(p)) => p.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        seqs(rooms.request(room, history(b)).await),
        vec![2],
        "only the line of his joining"
    );
    // What he cannot see he cannot quote, react to, list or recover either.
    let reply = RoomOp::Send(super::SendRequest {
        sender: b,
        client_msg_id: "r".into(),
        body: "re".into(),
        reply_to: before,
        ..Default::default()
    });
    assert_eq!(
        reason(rooms.request(room, reply).await),
        Reason::MessageNotFound
    );
    let react = RoomOp::Send(super::SendRequest {
        sender: b,
        client_msg_id: "x".into(),
        body: "👍".into(),
        kind: EntryKind::ReactionAdd,
        target: before,
        ..Default::default()
    });
    assert_eq!(
        reason(rooms.request(room, react).await),
        Reason::MessageNotFound
    );
    let versions = RoomOp::Versions {
        user: b,
        seq: before,
    };
    assert_eq!(
        reason(rooms.request(room, versions).await),
        Reason::MessageNotFound
    );
    let open = rooms
        .request(room, RoomOp::Open { user: b, since: 0 })
        .await;
    assert!(matches!(open, Ok(RoomOutcome::Opened(_))));
    // The owner edits the old message: the edit is not Ben's to see either.
    let edit = RoomOp::Send(super::SendRequest {
        sender: a,
        client_msg_id: "e".into(),
        body: "edited before ben".into(),
        kind: EntryKind::Edit,
        target: before,
        ..Default::default()
    });
    let edit = ack(&sys, room, edit).await.seq;
    assert_eq!(seqs(rooms.request(room, history(b)).await), vec![2]);
    assert_eq!(
        seqs(rooms.request(room, history(a)).await),
        vec![edit, 2, 1]
    );
    // Shared: everyone sees everything, newcomers too.
    let op = RoomOp::SetHistoryVisibility {
        by: b,
        shared: true,
    };
    assert_eq!(reason(rooms.request(room, op).await), Reason::NotRoomOwner);
    let s = snapshot(
        &sys,
        room,
        RoomOp::SetHistoryVisibility {
            by: a,
            shared: true,
        },
    )
    .await;
    assert!(s.record.shared_history);
    snapshot(
        &sys,
        room,
        RoomOp::Invite {
            by: Some(a),
            users: vec![c],
        },
    )
    .await;
    let all = seqs(rooms.request(room, history(c)).await);
    assert_eq!(all.last(), Some(&1));
    assert_eq!(seqs(rooms.request(room, history(b)).await), all);
    let lines = system_lines(&sys, room).await;
    assert_eq!(
        lines[1],
        (
            a,
            SystemEvent::VisibilityChanged,
            vec![],
            "shared".to_owned()
        )
    );
    // Kept in the head: a restart keeps sharing.
    sys.services.rooms.inject_fault(room).await.unwrap();
    assert!(snapshot_retrying(&sys, room, a).await.record.shared_history);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_direct_room_brings_back_whoever_left_with_the_next_message() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let (a, b) = (
        signup(&sys, "ann").await.user.id,
        signup(&sys, "ben").await.user.id,
    );
    let record = chat_store::RoomRecord {
        id: sys.services.core.ids.next_id(),
        kind: chat_store::RoomKind::Direct,
        name: String::new(),
        created_by: a,
        created_at_ms: 1,
        shared_history: false,
    };
    let store = &sys.services.core.store;
    let room = store.create_direct_room(record, a, b).await.unwrap();
    ack(&sys, room, send(a, "1")).await;
    let rooms = &sys.services.rooms;
    rooms
        .request(room, RoomOp::Leave { user: b })
        .await
        .unwrap();
    assert_eq!(store.members(room).await.unwrap(), vec![a]);
    // A retry of a message sent before the leave brings nobody back.
    ack(&sys, room, send(a, "1")).await;
    assert_eq!(store.members(room).await.unwrap(), vec![a]);
    let sent = ack(&sys, room, send(a, "2")).await;
    assert_eq!(store.members(room).await.unwrap(), vec![a, b]);
    let lines = system_lines(&sys, room).await;
    assert_eq!(
        lines,
        vec![
            (b, SystemEvent::Left, vec![b], String::new()),
            (b, SystemEvent::Joined, vec![b], String::new()),
        ]
    );
    // Back from the line of his return: the new message is his to read, the old one not.
    let op = RoomOp::History {
        user: b,
        before: 0,
        limit: 10,
    };
    let Ok(RoomOutcome::History(page)) = rooms.request(room, op).await else {
        panic!()
    };
    let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![sent.seq, sent.seq - 1]);
    assert_eq!(page.messages[0].unread, 1);
    // Leaving again and a restart: the room still knows who is away.
    rooms
        .request(room, RoomOp::Leave { user: b })
        .await
        .unwrap();
    sys.services.rooms.inject_fault(room).await.unwrap();
    ack_retrying(&sys, room, send(a, "3")).await;
    assert_eq!(store.members(room).await.unwrap(), vec![a, b]);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}
