//! Mentions at the actor level, on the embedded store: ranges checked against the body
//! (UTF-16 code units) and the room, and per-member mention counts that follow reads,
//! edits, deletes and a restart.

#![allow(clippy::unwrap_used)]

use chat_proto::v1;
use chat_store::{EntryKind, MentionRecord, RoomKind, RoomRecord, UserId};

use super::{
    RoomOp, SendRequest,
    tests::{ack, group, reason},
    timeline_tests::{at, change, history, users},
};
use crate::{
    ChatConfig, ChatSystem, Reason,
    testing::{system, system_with},
};

fn mention(user_id: UserId, offset: u32, length: u32) -> MentionRecord {
    MentionRecord {
        user_id,
        offset,
        length,
    }
}

fn mentioning(sender: UserId, id: &str, body: &str, mentions: Vec<MentionRecord>) -> RoomOp {
    RoomOp::Send(SendRequest {
        sender,
        client_msg_id: id.into(),
        body: body.into(),
        mentions,
        ..SendRequest::default()
    })
}

fn edit_mentioning(
    sender: UserId,
    id: &str,
    target: u64,
    body: &str,
    mentions: Vec<MentionRecord>,
) -> RoomOp {
    let RoomOp::Send(mut req) = change(sender, id, EntryKind::Edit, target, body) else {
        unreachable!()
    };
    req.mentions = mentions;
    RoomOp::Send(req)
}

#[tokio::test]
async fn mentions_are_ranges_of_whole_characters_naming_members() {
    let dir = tempfile::tempdir().unwrap();
    let config = ChatConfig {
        max_mentions_per_message: 2,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), config).await;
    let ids = users(&sys, &["ann", "ben", "cat", "dan"]).await;
    let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3]);
    let room = group(&sys, &ids[..3]).await;
    let rooms = &sys.services.rooms;
    // "😀" is two UTF-16 code units: "@ben" starts at 3, "@민지" (Hangul: one unit each) at 8.
    let body = "😀 @ben @민지";
    let ok = mentioning(a, "1", body, vec![mention(b, 3, 4), mention(c, 8, 3)]);
    assert_eq!(ack(&sys, room, ok).await.seq, 1);
    let refused = [
        (vec![mention(b, 3, 0)], Reason::InvalidMention),
        (vec![mention(b, 8, 4)], Reason::InvalidMention),
        (vec![mention(b, 1, 2)], Reason::InvalidMention),
        (vec![mention(b, u32::MAX, 2)], Reason::InvalidMention),
        (
            vec![mention(c, 8, 3), mention(b, 3, 4)],
            Reason::InvalidMention,
        ),
        (
            vec![mention(b, 3, 4), mention(c, 5, 2)],
            Reason::InvalidMention,
        ),
        (vec![mention(d, 3, 4)], Reason::InvalidMention),
        (
            vec![mention(b, 0, 1), mention(b, 3, 4), mention(c, 8, 3)],
            Reason::TooManyMentions,
        ),
    ];
    for (i, (mentions, why)) in refused.into_iter().enumerate() {
        let op = mentioning(a, &format!("bad{i}"), body, mentions.clone());
        assert_eq!(reason(rooms.request(room, op).await), why, "{mentions:?}");
    }
    // A reaction carries none; @all is for groups.
    let RoomOp::Send(mut react) = change(b, "r", EntryKind::ReactionAdd, 1, "👍") else {
        unreachable!()
    };
    react.mentions = vec![mention(0, 0, 1)];
    let refused = rooms.request(room, RoomOp::Send(react)).await;
    assert_eq!(reason(refused), Reason::InvalidMention);
    let direct = RoomRecord {
        id: sys.services.core.ids.next_id(),
        kind: RoomKind::Direct,
        name: String::new(),
        created_by: a,
        created_at_ms: 1,
        shared_history: false,
    };
    let direct = sys
        .services
        .core
        .store
        .create_direct_room(direct, a, b)
        .await
        .unwrap();
    let all = mentioning(a, "all", "@all hi", vec![mention(0, 0, 4)]);
    assert_eq!(
        reason(rooms.request(direct, all).await),
        Reason::InvalidMention
    );
    // Nothing refused was written; the page shows the mentions.
    let page = history(&sys, room, c).await;
    assert_eq!(page.len(), 1);
    let wire: Vec<(u64, u32, u32, bool)> = at(&page, 1)
        .mentions
        .iter()
        .map(|m| (m.user_id, m.offset, m.length, m.all))
        .collect();
    assert_eq!(wire, vec![(b, 3, 4, false), (c, 8, 3, false)]);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}

/// `(mention count in the member's room list, the same from the store's head and cursor)`.
async fn mentions_of(sys: &ChatSystem, room: u64, user: UserId) -> (u32, u64) {
    let store = &sys.services.core.store;
    let head = store.room_head(room).await.unwrap();
    let cursor = store.read_cursor(room, user).await.unwrap();
    let me = store.user_by_id(user).await.unwrap().unwrap();
    let list = v1::client_frame::Command::ListRooms(v1::ListRoomsRequest { limit: 0 });
    let Ok(v1::server_frame::Payload::RoomList(list)) =
        crate::connection::unary(&sys.services, &me, list).await
    else {
        panic!("room list")
    };
    let listed = list
        .rooms
        .iter()
        .find(|r| r.room.as_ref().is_some_and(|x| x.id == room))
        .unwrap()
        .mention_count;
    (listed, head.mentions_of(user, cursor))
}

#[tokio::test]
async fn mention_counts_follow_reads_edits_deletes_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let ids = users(&sys, &["ann", "ben", "cat"]).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let room = group(&sys, &ids).await;
    let hi = mentioning(a, "1", "@ben hi", vec![mention(b, 0, 4)]);
    ack(&sys, room, hi).await;
    let all = mentioning(a, "2", "@all lunch", vec![mention(0, 0, 4)]);
    ack(&sys, room, all).await;
    // The sender's own @all does not count for them.
    assert_eq!(mentions_of(&sys, room, b).await, (2, 2));
    assert_eq!(mentions_of(&sys, room, c).await, (1, 1));
    assert_eq!(mentions_of(&sys, room, a).await, (0, 0));
    let mark = RoomOp::MarkRead { user: b, seq: 1 };
    sys.services.rooms.request(room, mark).await.unwrap();
    assert_eq!(mentions_of(&sys, room, b).await, (1, 1));
    // An edit replaces the mentions: @all becomes @cat.
    let edit = edit_mentioning(a, "e", 2, "@cat lunch", vec![mention(c, 0, 4)]);
    ack(&sys, room, edit).await;
    assert_eq!(mentions_of(&sys, room, b).await, (0, 0));
    assert_eq!(mentions_of(&sys, room, c).await, (1, 1));
    // Counted across a restart (the head keeps the marks); a delete takes it away.
    sys.shutdown(std::time::Duration::from_secs(5)).await;
    let sys = system(dir.path()).await;
    assert_eq!(mentions_of(&sys, room, c).await, (1, 1));
    let page = history(&sys, room, c).await;
    assert_eq!(at(&page, 2).mentions[0].user_id, c);
    ack(&sys, room, change(a, "d", EntryKind::Delete, 2, "")).await;
    assert_eq!(mentions_of(&sys, room, c).await, (0, 0));
    assert!(at(&history(&sys, room, c).await, 2).mentions.is_empty());
    // Marks everyone has read are forgotten.
    let hey = mentioning(b, "5", "@cat hey", vec![mention(c, 0, 4)]);
    let seq = ack(&sys, room, hey).await.seq;
    for user in [a, c] {
        let mark = RoomOp::MarkRead { user, seq };
        sys.services.rooms.request(room, mark).await.unwrap();
    }
    ack(&sys, room, mentioning(a, "6", "ok", Vec::new())).await;
    let head = sys.services.core.store.room_head(room).await.unwrap();
    assert!(head.mentions.is_empty(), "{:?}", head.mentions);
    sys.shutdown(std::time::Duration::from_secs(5)).await;
}
