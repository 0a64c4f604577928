//! Replies, edits and deletes at the actor level, on the embedded store: the rules (who,
//! until when, on what), what pages show, and unread counts that skip changes.

#![allow(clippy::unwrap_used)]

use chat_proto::v1;
use chat_store::{EntryKind, UserId};

use super::{
    RoomOp, RoomOutcome, SendRequest,
    tests::{ack, group, reason, send},
};
use crate::{
    ChatConfig, ChatSystem, Reason,
    testing::{signup, system, system_with},
};

pub(super) fn change(sender: UserId, id: &str, kind: EntryKind, target: u64, body: &str) -> RoomOp {
    RoomOp::Send(SendRequest {
        sender,
        client_msg_id: id.into(),
        body: body.into(),
        kind,
        target,
        ..SendRequest::default()
    })
}

fn reply(sender: UserId, id: &str, to: u64) -> RoomOp {
    RoomOp::Send(SendRequest {
        sender,
        client_msg_id: id.into(),
        body: format!("re: {id}"),
        reply_to: to,
        ..SendRequest::default()
    })
}

pub(super) async fn history(sys: &ChatSystem, room: u64, user: UserId) -> Vec<v1::Message> {
    let op = RoomOp::History {
        user,
        before: 0,
        limit: 50,
    };
    match sys.services.rooms.request(room, op).await {
        Ok(RoomOutcome::History(p)) => p.messages,
        other => panic!("{other:?}"),
    }
}

pub(super) fn at(page: &[v1::Message], seq: u64) -> v1::Message {
    page.iter().find(|m| m.seq == seq).cloned().unwrap()
}

pub(super) async fn users(sys: &ChatSystem, names: &[&str]) -> Vec<UserId> {
    let mut ids = Vec::new();
    for name in names {
        ids.push(signup(sys, name).await.user.id);
    }
    ids
}

#[tokio::test]
async fn edits_deletes_and_replies_follow_the_rules_and_show_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let ids = users(&sys, &["ann", "ben", "cat"]).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let room = group(&sys, &ids).await;
    let rooms = &sys.services.rooms;
    assert_eq!(ack(&sys, room, send(a, "1")).await.seq, 1);
    assert_eq!(ack(&sys, room, reply(b, "2", 1)).await.seq, 2);
    // Only the sender edits; a change is not a message; unknown seqs are not found.
    let denied = rooms.request(room, change(b, "e0", EntryKind::Edit, 1, "x"));
    assert_eq!(reason(denied.await), Reason::NotYourMessage);
    assert_eq!(
        ack(&sys, room, change(a, "e1", EntryKind::Edit, 1, "fixed"))
            .await
            .seq,
        3
    );
    let on_change = rooms.request(room, change(a, "e2", EntryKind::Edit, 3, "x"));
    assert_eq!(reason(on_change.await), Reason::NotAMessage);
    let missing = rooms.request(room, change(a, "e3", EntryKind::Edit, 99, "x"));
    assert_eq!(reason(missing.await), Reason::MessageNotFound);
    let page = history(&sys, room, c).await;
    let edited = at(&page, 1);
    assert_eq!(edited.body, "fixed");
    let versions = RoomOp::Versions { user: c, seq: 1 };
    let Ok(RoomOutcome::Reply(v)) = rooms.request(room, versions).await else {
        panic!("versions")
    };
    let v1::server_frame::Payload::MessageVersions(v) = *v else {
        panic!("versions")
    };
    let bodies: Vec<&str> = v.versions.iter().map(|x| x.body.as_str()).collect();
    assert_eq!(bodies, ["body of 1"]);
    assert!(edited.edited_at_ms > 0 && edited.changed_seq == 3);
    // The reply's quote shows the edit.
    assert_eq!(at(&page, 2).reply_to.unwrap().preview, "fixed");
    let edit = at(&page, 3);
    assert_eq!(
        (edit.kind, edit.target_seq),
        (v1::MessageKind::Edit as i32, 1)
    );
    // A retry of the edit gets the first ack; nothing new is sequenced.
    assert_eq!(
        ack(&sys, room, change(a, "e1", EntryKind::Edit, 1, "fixed"))
            .await
            .seq,
        3
    );
    // The sender deletes their reply; someone else's message only the owner may delete.
    let not_theirs = rooms.request(room, change(b, "d0", EntryKind::Delete, 1, ""));
    assert_eq!(reason(not_theirs.await), Reason::NotYourMessage);
    assert_eq!(
        ack(&sys, room, change(b, "d1", EntryKind::Delete, 2, ""))
            .await
            .seq,
        4
    );
    let page = history(&sys, room, c).await;
    let gone = at(&page, 2);
    assert!(gone.deleted && gone.body.is_empty() && gone.reply_to.is_none());
    assert_eq!(gone.deleted_by, b);
    for (op, why) in [
        (reply(c, "r", 2), Reason::MessageDeleted),
        (
            change(b, "d2", EntryKind::Delete, 2, ""),
            Reason::MessageDeleted,
        ),
        (
            change(b, "e4", EntryKind::Edit, 2, "x"),
            Reason::MessageDeleted,
        ),
    ] {
        assert_eq!(reason(rooms.request(room, op).await), why);
    }
    recovery_returns_the_changes(&sys, room, a, c).await;
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

async fn recovery_returns_the_changes(sys: &ChatSystem, room: u64, a: UserId, c: UserId) {
    let rooms = &sys.services.rooms;
    assert_eq!(ack(sys, room, send(c, "5")).await.seq, 5);
    assert_eq!(
        ack(sys, room, change(a, "d3", EntryKind::Delete, 5, ""))
            .await
            .seq,
        6
    );
    // Recovery returns the changes made meanwhile, in seq order.
    let open = RoomOp::Open { user: c, since: 2 };
    let Ok(RoomOutcome::Opened(o)) = rooms.request(room, open).await else {
        panic!("open")
    };
    let kinds: Vec<i32> = o.missed.iter().map(|m| m.kind).collect();
    let (e, d, m) = (
        v1::MessageKind::Edit as i32,
        v1::MessageKind::Delete as i32,
        v1::MessageKind::Unspecified as i32,
    );
    assert_eq!(kinds, [e, d, m, d]);
}

#[tokio::test]
async fn the_unsend_window_binds_senders_but_not_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let config = ChatConfig {
        unsend_window_secs: 0,
        edit_window_secs: 0,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), config).await;
    let ids = users(&sys, &["ann", "ben"]).await;
    let (a, b) = (ids[0], ids[1]);
    let room = group(&sys, &ids).await;
    let rooms = &sys.services.rooms;
    let sent = ack(&sys, room, send(b, "1")).await.sent_at_ms;
    // A zero window closes as soon as the clock moves past the send.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while crate::ids::now_ms() <= sent {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock did not move"
        );
        tokio::task::yield_now().await;
    }
    let late = rooms.request(room, change(b, "d", EntryKind::Delete, 1, ""));
    assert_eq!(reason(late.await), Reason::UnsendWindowClosed);
    let late = rooms.request(room, change(b, "e", EntryKind::Edit, 1, "x"));
    assert_eq!(reason(late.await), Reason::EditWindowClosed);
    // Refusals sequence nothing; the owner deletes at any time.
    assert_eq!(
        ack(&sys, room, change(a, "d", EntryKind::Delete, 1, ""))
            .await
            .seq,
        2
    );
}

/// `(unread in the caller's room list, unread as the store's head and cursor count it)`.
async fn unread(sys: &ChatSystem, room: u64, user: UserId) -> (u32, u64) {
    let store = &sys.services.core.store;
    let head = store.room_head(room).await.unwrap();
    let cursor = store.read_cursor(room, user).await.unwrap();
    (room_unread(sys, room, user).await, head.unread(cursor))
}

async fn room_unread(sys: &ChatSystem, room: u64, user: UserId) -> u32 {
    let list = crate::connection::unary(
        &sys.services,
        &sys.services
            .core
            .store
            .user_by_id(user)
            .await
            .unwrap()
            .unwrap(),
        v1::client_frame::Command::ListRooms(v1::ListRoomsRequest { limit: 0 }),
    )
    .await
    .unwrap();
    let v1::server_frame::Payload::RoomList(list) = list else {
        panic!("room list")
    };
    list.rooms
        .iter()
        .find(|r| r.room.as_ref().is_some_and(|x| x.id == room))
        .unwrap()
        .unread
}

#[tokio::test]
async fn unread_counts_skip_changes_and_messages_deleted_while_unread() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let ids = users(&sys, &["ann", "ben", "cat"]).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let room = group(&sys, &ids).await;
    for id in ["1", "2", "3"] {
        ack(&sys, room, send(a, id)).await;
    }
    assert_eq!(unread(&sys, room, b).await, (3, 3));
    // Ben reads through 1; an edit counts for nobody; deleting 3 takes it off both counts.
    let mark = RoomOp::MarkRead { user: b, seq: 1 };
    sys.services.rooms.request(room, mark).await.unwrap();
    ack(&sys, room, change(a, "e", EntryKind::Edit, 2, "x")).await;
    assert_eq!(unread(&sys, room, b).await, (2, 2));
    ack(&sys, room, change(a, "d", EntryKind::Delete, 3, "")).await;
    assert_eq!(unread(&sys, room, b).await, (1, 1));
    assert_eq!(unread(&sys, room, c).await, (2, 2));
    // Deleting a message everyone has read changes nobody's count and is not remembered.
    let mark = RoomOp::MarkRead { user: c, seq: 5 };
    sys.services.rooms.request(room, mark).await.unwrap();
    let mark = RoomOp::MarkRead { user: b, seq: 5 };
    sys.services.rooms.request(room, mark).await.unwrap();
    ack(&sys, room, change(a, "d2", EntryKind::Delete, 1, "")).await;
    assert_eq!(unread(&sys, room, b).await, (0, 0));
    ack(&sys, room, send(a, "4")).await;
    let head = sys.services.core.store.room_head(room).await.unwrap();
    assert!(head.deleted.is_empty(), "{:?}", head.deleted);
    assert_eq!(head.newest_message().map(|m| m.seq), Some(7));
    assert_eq!(unread(&sys, room, c).await, (1, 1));
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_change_whose_rewrite_was_lost_is_applied_by_the_next_owner() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let ids = users(&sys, &["ann", "ben"]).await;
    let (a, b) = (ids[0], ids[1]);
    let room = group(&sys, &ids).await;
    ack(&sys, room, send(a, "1")).await;
    ack(&sys, room, change(a, "e1", EntryKind::Edit, 1, "first fix")).await;
    sys.shutdown(std::time::Duration::from_secs(5)).await;
    // What an owner that stopped between the commit and its rewrite leaves (the CQL store
    // writes rewrites after the commit): the change in the log, its target unchanged.
    let sys = system(dir.path()).await;
    let store = &sys.services.core.store;
    let epoch = store.claim_room(room).await.unwrap();
    let head = store.room_head(room).await.unwrap();
    let lost = chat_store::MessageRecord {
        room_id: room,
        seq: 3,
        id: 99,
        sender_id: a,
        client_msg_id: "e2".into(),
        body: "second fix".into(),
        sent_at_ms: head.last_message.as_ref().unwrap().sent_at_ms + 1,
        kind: EntryKind::Edit,
        target_seq: 1,
        ordinal: 1,
        ..Default::default()
    };
    let batch = chat_store::AppendBatch::messages(vec![lost]);
    store.append(room, epoch, 2, batch).await.unwrap();
    // The next owner finds it in the tail it loads and writes the target again.
    assert_eq!(ack(&sys, room, send(b, "2")).await.seq, 4);
    let page = history(&sys, room, b).await;
    let fixed = at(&page, 1);
    assert_eq!((fixed.body.as_str(), fixed.changed_seq), ("second fix", 3));
    let stored = store.message(room, 1).await.unwrap().unwrap();
    assert_eq!(stored.body, "second fix");
    assert_eq!(stored.state.versions.len(), 2);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

fn react(sender: UserId, id: &str, target: u64, emoji: &str, add: bool) -> RoomOp {
    let kind = if add {
        EntryKind::ReactionAdd
    } else {
        EntryKind::ReactionRemove
    };
    change(sender, id, kind, target, emoji)
}

/// `(emoji, count, mine)` of a message as `viewer` sees it in history.
async fn reactions_of(
    sys: &ChatSystem,
    room: u64,
    viewer: UserId,
    seq: u64,
) -> Vec<(String, u32, bool)> {
    let page = history(sys, room, viewer).await;
    at(&page, seq)
        .reactions
        .iter()
        .map(|r| (r.emoji.clone(), r.count, r.mine))
        .collect()
}

#[tokio::test]
async fn reactions_count_per_emoji_mark_mine_and_keep_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let config = ChatConfig {
        max_reactions_per_user: 2,
        max_reactions_per_message: 3,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), config).await;
    let ids = users(&sys, &["ann", "ben", "cat"]).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let room = group(&sys, &ids).await;
    let rooms = &sys.services.rooms;
    ack(&sys, room, send(c, "1")).await;
    ack(&sys, room, react(a, "r1", 1, "👍", true)).await;
    ack(&sys, room, react(b, "r2", 1, "👍", true)).await;
    ack(&sys, room, react(a, "r3", 1, "❤️", true)).await;
    let thumbs = |n, mine| ("👍".to_string(), n, mine);
    let heart = |mine| ("❤️".to_string(), 1, mine);
    assert_eq!(
        reactions_of(&sys, room, a, 1).await,
        [thumbs(2, true), heart(true)]
    );
    assert_eq!(
        reactions_of(&sys, room, c, 1).await,
        [thumbs(2, false), heart(false)]
    );
    // Twice the same, a third from one member, a fourth emoji: refused, nothing sequenced.
    for (op, why) in [
        (react(a, "x1", 1, "👍", true), Reason::AlreadyReacted),
        (react(a, "x2", 1, "😂", true), Reason::TooManyReactions),
        (react(c, "x3", 1, "👍", false), Reason::ReactionNotFound),
    ] {
        assert_eq!(reason(rooms.request(room, op).await), why);
    }
    ack(&sys, room, react(b, "r4", 1, "😂", true)).await;
    let fourth = rooms.request(room, react(c, "x4", 1, "🎉", true));
    assert_eq!(reason(fourth.await), Reason::TooManyReactions);
    ack(&sys, room, react(a, "r5", 1, "❤️", false)).await;
    assert_eq!(
        reactions_of(&sys, room, a, 1).await,
        [thumbs(2, true), ("😂".to_string(), 1, false)]
    );
    // Who reacted, paged.
    let list = |after| RoomOp::Reactions {
        user: c,
        seq: 1,
        emoji: "👍".into(),
        after,
        limit: 1,
    };
    let Ok(RoomOutcome::Reply(reply)) = rooms.request(room, list(0)).await else {
        panic!("reaction users")
    };
    let v1::server_frame::Payload::ReactionUsers(p) = *reply else {
        panic!("reaction users")
    };
    assert_eq!(
        (p.users[0].id, p.users[0].username.as_str(), p.next_after),
        (a, "ann", a)
    );
    let Ok(RoomOutcome::Reply(reply)) = rooms.request(room, list(a)).await else {
        panic!("reaction users")
    };
    let v1::server_frame::Payload::ReactionUsers(p) = *reply else {
        panic!("reaction users")
    };
    assert_eq!((p.users[0].id, p.next_after), (b, 0));
    // Others' reactions are nothing unread (reacting, like sending, reads what is before);
    // a deleted message takes none and loses its own.
    assert_eq!(unread(&sys, room, c).await, (0, 0));
    ack(&sys, room, change(c, "d", EntryKind::Delete, 1, "")).await;
    assert!(reactions_of(&sys, room, a, 1).await.is_empty());
    let late = rooms.request(room, react(a, "x5", 1, "👍", false));
    assert_eq!(reason(late.await), Reason::MessageDeleted);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// The message to forward: a real message in the asker's view, as it is now.
#[tokio::test]
async fn message_at_answers_only_what_a_member_may_forward() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let ids = users(&sys, &["ann", "ben", "cat"]).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let room = group(&sys, &[a, b]).await;
    let rooms = &sys.services.rooms;
    let first = ack(&sys, room, send(a, "1")).await.seq;
    let edit = ack(&sys, room, change(a, "e", EntryKind::Edit, first, "hello!"))
        .await
        .seq;
    let second = ack(&sys, room, send(a, "2")).await.seq;
    let at = |user, seq| rooms.request(room, RoomOp::MessageAt { user, seq });
    match at(b, first).await {
        Ok(RoomOutcome::Reply(p)) => match *p {
            v1::server_frame::Payload::Message(m) => assert_eq!(m.body, "hello!"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(reason(at(b, edit).await), Reason::NotAMessage);
    assert_eq!(reason(at(b, 99).await), Reason::MessageNotFound);
    assert_eq!(reason(at(c, first).await), Reason::NotAMember);
    ack(&sys, room, change(a, "d", EntryKind::Delete, second, "")).await;
    assert_eq!(reason(at(b, second).await), Reason::MessageDeleted);
}
