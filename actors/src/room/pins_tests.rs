//! The notice, pins and the owner's reservations at the actor level: who may set them, the
//! limits and no-op cases, what the timeline and an open show, a delete for everyone
//! unpinning, newcomers seeing only pins in their view, and all of it surviving a restart.

#![allow(clippy::unwrap_used)]

use chat_proto::v1::server_frame::Payload;
use chat_store::{EntryKind, Seq, SystemEvent, UserId};

use super::{
    RoomOp, RoomOutcome, RoomSnapshot, SendRequest,
    tests::{ack, group, reason, send},
};
use crate::{
    ChatConfig, ChatSystem, Reason,
    testing::{signup, system_with},
};

/// The room's answer, retrying while it restarts (after an injected fault), as a client does.
async fn request(sys: &ChatSystem, room: u64, op: RoomOp) -> RoomOutcome {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sys.services.rooms.request(room, op.clone()).await {
            Ok(outcome) => return outcome,
            // Each attempt waits for the room's reactivation itself: no pause needed.
            Err(e) if e.retryable() && tokio::time::Instant::now() < deadline => {}
            Err(e) => panic!("{e:?}"),
        }
    }
}

async fn snapshot(sys: &ChatSystem, room: u64, op: RoomOp) -> RoomSnapshot {
    match request(sys, room, op).await {
        RoomOutcome::Snapshot(s) => s,
        other => panic!("{other:?}"),
    }
}

fn notice(by: UserId, text: &str) -> RoomOp {
    RoomOp::SetNotice {
        by,
        text: text.into(),
    }
}

fn pin(by: UserId, seq: Seq, pinned: bool) -> RoomOp {
    RoomOp::Pin { by, seq, pinned }
}

async fn done(sys: &ChatSystem, room: u64, op: RoomOp) {
    match request(sys, room, op).await {
        RoomOutcome::Done => {}
        other => panic!("{other:?}"),
    }
}

/// The seqs of the pinned messages `user` sees, newest pin first, from list_pins and from
/// an open (which must agree).
async fn pins(sys: &ChatSystem, room: u64, user: UserId) -> Vec<Seq> {
    let listed = match request(sys, room, RoomOp::Pins { user }).await {
        RoomOutcome::Reply(p) => match *p {
            Payload::PinnedMessages(p) => p.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let open = RoomOp::Open { user, since: 0 };
    match request(sys, room, open).await {
        RoomOutcome::Opened(o) => {
            assert_eq!(o.pinned.iter().map(|m| m.seq).collect::<Vec<_>>(), listed);
        }
        other => panic!("{other:?}"),
    }
    listed
}

/// The room's system entries, oldest first: (sender, event, target, body).
async fn system_lines(sys: &ChatSystem, room: u64) -> Vec<(UserId, SystemEvent, Seq, String)> {
    let page = sys.services.core.store.history(room, 0, 100).await.unwrap();
    page.into_iter()
        .rev()
        .filter(|m| m.kind == EntryKind::System)
        .map(|m| (m.sender_id, m.system.unwrap().event, m.target_seq, m.body))
        .collect()
}

async fn four_users(sys: &ChatSystem) -> (UserId, UserId, UserId, UserId) {
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        ids.push(signup(sys, name).await.user.id);
    }
    (ids[0], ids[1], ids[2], ids[3])
}

#[tokio::test]
async fn the_owner_sets_the_notice_and_it_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = ChatConfig {
        max_message_bytes: 32,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), config).await;
    let (a, b, _, _) = four_users(&sys).await;
    let room = group(&sys, &[a, b]).await;
    let rooms = &sys.services.rooms;
    assert_eq!(
        reason(rooms.request(room, notice(b, "mine")).await),
        Reason::NotRoomOwner
    );
    for bad in ["x".repeat(33), "bell\u{7}".into()] {
        assert_eq!(
            reason(rooms.request(room, notice(a, &bad)).await),
            Reason::InvalidNotice
        );
    }
    let s = snapshot(&sys, room, notice(a, "  금요일 회식\n7시  ")).await;
    let n = s.meta.notice.clone().unwrap();
    assert_eq!((n.text.as_str(), n.by, n.seq), ("금요일 회식\n7시", a, 1));
    assert!(n.at_ms > 0);
    // The same text changes nothing and records nothing.
    assert_eq!(
        snapshot(&sys, room, notice(a, "금요일 회식\n7시"))
            .await
            .last_seq,
        1
    );
    // Settings live in the head, written with their entries: a restart keeps them.
    rooms.inject_fault(room).await.unwrap();
    let s = snapshot(&sys, room, notice(a, "")).await;
    assert!(s.meta.notice.is_none(), "an empty text takes it down");
    assert_eq!(
        system_lines(&sys, room).await,
        vec![
            (
                a,
                SystemEvent::NoticeChanged,
                0,
                "금요일 회식\n7시".to_owned()
            ),
            (a, SystemEvent::NoticeChanged, 0, String::new()),
        ]
    );
    // Either member of a direct room sets its notice.
    let direct = sys.services.core.ids.next_id();
    let record = chat_store::RoomRecord {
        id: direct,
        kind: chat_store::RoomKind::Direct,
        name: String::new(),
        created_by: a,
        created_at_ms: 1,
        shared_history: false,
    };
    let store = &sys.services.core.store;
    store.create_room(record, vec![a, b]).await.unwrap();
    let s = snapshot(&sys, direct, notice(b, "우리 약속")).await;
    assert_eq!(s.meta.notice.unwrap().by, b);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn members_pin_within_the_limit_and_a_delete_unpins() {
    let dir = tempfile::tempdir().unwrap();
    let config = ChatConfig {
        max_pins_per_room: 2,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), config).await;
    let (a, b, c, _) = four_users(&sys).await;
    let room = group(&sys, &[a, b, c]).await;
    for id in ["1", "2", "3"] {
        ack(&sys, room, send(b, id)).await;
    }
    let rooms = &sys.services.rooms;
    done(&sys, room, pin(c, 1, true)).await;
    done(&sys, room, pin(b, 2, true)).await;
    // Again changes nothing; the list is full; seq 4 is the pin's own entry, not a message.
    done(&sys, room, pin(a, 2, true)).await;
    assert_eq!(
        reason(rooms.request(room, pin(a, 3, true)).await),
        Reason::PinListFull
    );
    assert_eq!(
        reason(rooms.request(room, pin(a, 4, true)).await),
        Reason::NotAMessage
    );
    assert_eq!(
        reason(rooms.request(room, pin(a, 99, true)).await),
        Reason::MessageNotFound
    );
    assert_eq!(pins(&sys, room, a).await, vec![2, 1]);
    // The sender deletes a pinned message for everyone: it leaves the list.
    let delete = RoomOp::Send(SendRequest {
        sender: b,
        client_msg_id: "del".into(),
        kind: EntryKind::Delete,
        target: 2,
        ..Default::default()
    });
    ack(&sys, room, delete).await;
    assert_eq!(pins(&sys, room, c).await, vec![1]);
    assert_eq!(
        reason(rooms.request(room, pin(a, 2, true)).await),
        Reason::MessageDeleted
    );
    done(&sys, room, pin(a, 3, true)).await;
    done(&sys, room, pin(a, 1, false)).await;
    done(&sys, room, pin(a, 1, false)).await;
    rooms.inject_fault(room).await.unwrap();
    assert_eq!(pins(&sys, room, b).await, vec![3]);
    let lines: Vec<(SystemEvent, Seq)> = system_lines(&sys, room)
        .await
        .into_iter()
        .map(|(_, e, t, _)| (e, t))
        .collect();
    assert_eq!(
        lines,
        vec![
            (SystemEvent::Pinned, 1),
            (SystemEvent::Pinned, 2),
            (SystemEvent::Pinned, 3),
            (SystemEvent::Unpinned, 1),
        ]
    );
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_owner_reserves_invites_and_pins_and_newcomers_see_only_their_pins() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system_with(dir.path(), ChatConfig::default()).await;
    let (a, b, c, d) = four_users(&sys).await;
    let room = group(&sys, &[a, b]).await;
    ack(&sys, room, send(a, "1")).await;
    done(&sys, room, pin(b, 1, true)).await;
    let rooms = &sys.services.rooms;
    let reserve = |by, invite_owner_only, pins_owner_only| RoomOp::SetPermissions {
        by,
        invite_owner_only,
        pins_owner_only,
    };
    assert_eq!(
        reason(rooms.request(room, reserve(b, true, true)).await),
        Reason::NotRoomOwner
    );
    let s = snapshot(&sys, room, reserve(a, true, true)).await;
    assert!(s.meta.invite_owner_only && s.meta.pins_owner_only);
    let invite = |by, user| RoomOp::Invite {
        by: Some(by),
        users: vec![user],
    };
    assert_eq!(
        reason(rooms.request(room, invite(b, c)).await),
        Reason::NotRoomOwner
    );
    assert_eq!(
        reason(rooms.request(room, pin(b, 1, false)).await),
        Reason::NotRoomOwner
    );
    // The owner still may; a newcomer (history from when they join) sees no older pin and
    // cannot pin what came before them.
    assert_eq!(
        snapshot(&sys, room, invite(a, c)).await.members,
        vec![a, b, c]
    );
    assert!(pins(&sys, room, c).await.is_empty());
    let s = snapshot(&sys, room, reserve(a, false, false)).await;
    assert!(!s.meta.invite_owner_only && !s.meta.pins_owner_only);
    assert_eq!(
        reason(rooms.request(room, pin(c, 1, true)).await),
        Reason::MessageNotFound
    );
    assert_eq!(snapshot(&sys, room, invite(b, d)).await.members.len(), 4);
    let seq = ack(&sys, room, send(c, "mine")).await.seq;
    done(&sys, room, pin(c, seq, true)).await;
    assert_eq!(pins(&sys, room, c).await, vec![seq]);
    assert_eq!(pins(&sys, room, b).await, vec![seq, 1]);
    let bodies: Vec<String> = system_lines(&sys, room)
        .await
        .into_iter()
        .filter(|(_, e, _, _)| *e == SystemEvent::PermissionsChanged)
        .map(|(_, _, _, body)| body)
        .collect();
    assert_eq!(bodies, vec!["invite,pins".to_owned(), String::new()]);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}
