//! The messenger behaviour: read counts, chat-list push, invitations, presence, typing,
//! long polling, recovery and several devices.

use std::collections::BTreeMap;

use chat_proto::v1::{self, ErrorCode, client_frame::Command, server_frame::Payload};
use serde_json::json;

use crate::common::*;

fn room_update(p: Payload) -> Option<v1::RoomUpdate> {
    match p {
        Payload::RoomUpdate(u) => Some(u),
        _ => None,
    }
}

fn room_added(p: Payload) -> Option<v1::RoomAdded> {
    match p {
        Payload::RoomAdded(a) => Some(a),
        _ => None,
    }
}

fn presence(p: Payload) -> Option<v1::PresenceChanged> {
    match p {
        Payload::PresenceChanged(c) => Some(c),
        _ => None,
    }
}

fn mark_read(room: u64, seq: u64) -> Command {
    Command::MarkRead(v1::MarkRead { room_id: room, seq })
}

/// The test's own model of read cursors: unread(seq) = members whose cursor is below seq.
struct Model(BTreeMap<u64, u64>);

impl Model {
    fn unread(&self, seq: u64) -> u32 {
        self.0.values().filter(|&&c| c < seq).count() as u32
    }
    fn read(&mut self, user: u64, seq: u64) {
        let c = self.0.get_mut(&user).unwrap();
        *c = (*c).max(seq);
    }
}

#[tokio::test]
async fn unread_counts_follow_reads_in_any_order() {
    let node = TestNode::start().await;
    let http = node.http();
    let mut users = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        users.push(http.signup(name).await);
    }
    let mut clients = Vec::new();
    for u in &users {
        clients.push(Client::connect(node.addr, &u.access_token, Wire::Json).await);
    }
    let ids: Vec<u64> = users.iter().map(|u| u.id).collect();
    let room = clients[0].create_group("five", &ids[1..]).await.id;
    for c in &mut clients {
        c.open(room).await;
    }
    let mut model = Model(ids.iter().map(|&u| (u, 0)).collect());

    // Ann sends 3, Ben 2: a sender has read their own message (and everything before it).
    let senders = [0, 0, 1, 0, 1];
    let mut expected_at_delivery = BTreeMap::new();
    for (i, &who) in senders.iter().enumerate() {
        let ack = clients[who]
            .say_ok(room, &format!("m{i}"), &format!("message {i}"))
            .await;
        model.read(ids[who], ack.seq);
        expected_at_delivery.insert(ack.seq, model.unread(ack.seq));
    }

    // Reads in an arbitrary order; lower seqs are ignored, not errors.
    let reads = [(2, 3), (3, 5), (4, 1), (2, 2), (1, 5), (4, 4), (0, 2)];
    for (who, seq) in reads {
        assert!(matches!(
            clients[who].call(mark_read(room, seq)).await,
            Payload::Ok(_)
        ));
        model.read(ids[who], seq);
    }
    // Counts from history match the model exactly.
    let history = clients[0].history_ok(room, 0, 50).await;
    assert_eq!(history.messages.len(), 5);
    for m in &history.messages {
        assert_eq!(m.unread, model.unread(m.seq), "seq {}", m.seq);
    }
    // Eve's client takes the counts messages arrive with and applies every read receipt, in
    // stream order, up to the reply of a ping sent after all of the above: it reaches the
    // model's numbers without refetching.
    let mut eve_counts: BTreeMap<u64, u32> = BTreeMap::new();
    let ping = clients[4].send(Command::Ping(v1::Ping {})).await;
    loop {
        let f = clients[4].next_any().await;
        if f.request_id == ping {
            break;
        }
        match f.payload {
            Some(Payload::Message(m)) => {
                assert_eq!(
                    m.unread, expected_at_delivery[&m.seq],
                    "count at delivery of {}",
                    m.seq
                );
                eve_counts.insert(m.seq, m.unread);
            }
            Some(Payload::ReadReceipt(r)) => {
                for (seq, count) in eve_counts.iter_mut() {
                    if r.from_seq < *seq && *seq <= r.to_seq {
                        *count -= 1;
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(eve_counts.len(), 5);
    assert_eq!(expected_at_delivery[&1], 4);
    for (seq, count) in &eve_counts {
        assert_eq!(*count, model.unread(*seq), "client-side count of seq {seq}");
    }
    // Opening shows every member's cursor, name and presence.
    let Payload::RoomOpened(opened) = clients[3]
        .call(Command::OpenRoom(v1::OpenRoom {
            room_id: room,
            since_seq: 0,
        }))
        .await
    else {
        panic!()
    };
    for member in &opened.members {
        let user = member.user.as_ref().unwrap();
        assert_eq!(member.last_read_seq, model.0[&user.id]);
        assert!(member.online);
        assert_eq!(user.display_name, user.username.to_uppercase());
    }
    // A member who leaves stops counting.
    clients[4]
        .call(Command::LeaveRoom(v1::LeaveRoom { room_id: room }))
        .await;
    model.0.remove(&ids[4]);
    let history = clients[0].history_ok(room, 0, 50).await;
    for m in &history.messages {
        assert_eq!(m.unread, model.unread(m.seq), "after leave, seq {}", m.seq);
    }
    node.stop().await;
}

#[tokio::test]
async fn rooms_not_open_get_compact_updates_over_socket_and_long_poll() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let mut bp = PollClient::open(node.addr, &ben.access_token).await;
    let direct = a.create_direct(ben.id).await.id;
    let group = a.create_group("g", &[ben.id]).await.id;

    a.say_ok(direct, "1", "hello there").await;
    a.say_ok(direct, "2", &"long ".repeat(50)).await;
    a.say_ok(group, "3", "group news").await;
    for updates in [
        vec![
            b.next_where(room_update).await,
            b.next_where(room_update).await,
            b.next_where(room_update).await,
        ],
        vec![
            bp.next_where(room_update).await,
            bp.next_where(room_update).await,
            bp.next_where(room_update).await,
        ],
    ] {
        assert_eq!(
            (
                updates[0].room_id,
                updates[0].unread,
                updates[0].preview.as_str()
            ),
            (direct, 1, "hello there")
        );
        assert_eq!(
            (updates[1].room_id, updates[1].unread, updates[1].last_seq),
            (direct, 2, 2)
        );
        assert_eq!(updates[1].preview.chars().count(), 100);
        assert_eq!(
            (updates[2].room_id, updates[2].unread, updates[2].sender_id),
            (group, 1, ann.id)
        );
    }
    // The room list agrees, newest activity first, with the total.
    let Payload::RoomList(list) = b.call(Command::ListRooms(v1::ListRooms { limit: 0 })).await
    else {
        panic!()
    };
    let rows: Vec<(u64, u32)> = list
        .rooms
        .iter()
        .map(|r| (r.room.as_ref().unwrap().id, r.unread))
        .collect();
    assert_eq!(rows, vec![(group, 1), (direct, 2)]);
    assert_eq!(list.total_unread, 3);
    let Payload::UnreadTotal(t) = bp
        .call(Command::GetUnreadTotal(v1::GetUnreadTotal {}))
        .await
    else {
        panic!()
    };
    assert_eq!(t.total, 3);

    // Once the socket opens the room it gets full messages there, and no room updates for it.
    b.open(direct).await;
    a.say_ok(direct, "4", "now open").await;
    let m = b.next_message().await;
    assert_eq!((m.seq, m.body.as_str()), (3, "now open"));
    let ping = b.send(Command::Ping(v1::Ping {})).await;
    loop {
        let f = b.next_any().await;
        if f.request_id == ping {
            break;
        }
        assert!(
            !matches!(&f.payload, Some(Payload::RoomUpdate(u)) if u.room_id == direct),
            "a connection with the room open got a chat-list update for it: {f:?}"
        );
    }
    // The poll client (room not open) still gets the compact update.
    let u = bp.next_where(room_update).await;
    assert_eq!((u.room_id, u.unread), (direct, 3));
    // Reading clears the count for every device of the reader.
    assert!(matches!(b.call(mark_read(direct, 3)).await, Payload::Ok(_)));
    let u = bp.next_where(room_update).await;
    assert_eq!((u.room_id, u.unread), (direct, 0));
    let Payload::UnreadTotal(t) = b.call(Command::GetUnreadTotal(v1::GetUnreadTotal {})).await
    else {
        panic!()
    };
    assert_eq!(t.total, 1);
    node.stop().await;
}

#[tokio::test]
async fn invitations_arrive_live_without_subscribing() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let mut c = Client::connect(node.addr, &cat.access_token, Wire::Json).await;
    let room = a.create_group("party", &[ben.id]).await;
    let added = b.next_where(room_added).await;
    assert_eq!(
        (
            added.room.as_ref().unwrap().room.as_ref().unwrap().id,
            added.added_by
        ),
        (room.id, ann.id)
    );
    a.say_ok(room.id, "1", "before cat").await;
    a.call(Command::InviteMembers(v1::InviteMembers {
        room_id: room.id,
        user_ids: vec![cat.id],
    }))
    .await;
    let added = c.next_where(room_added).await;
    let summary = added.room.unwrap();
    assert_eq!(summary.room.unwrap().member_ids.len(), 3);
    assert_eq!(summary.last_message.unwrap().body, "before cat");
    assert_eq!(
        summary.unread, 0,
        "a newcomer has nothing unread from before"
    );
    let direct = c.create_direct(ben.id).await;
    assert_eq!(
        b.next_where(room_added)
            .await
            .room
            .unwrap()
            .room
            .unwrap()
            .id,
        direct.id
    );
    // The new rooms are in the lists.
    let Payload::RoomList(list) = c.call(Command::ListRooms(v1::ListRooms { limit: 0 })).await
    else {
        panic!()
    };
    assert_eq!(list.rooms.len(), 2);
    node.stop().await;
}

#[tokio::test]
async fn reconnect_recovers_exactly_the_missed_messages_under_concurrent_sends() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = a.create_direct(ben.id).await.id;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    b.open(room).await;
    for n in 0..10 {
        a.say_ok(room, &format!("pre{n}"), "x").await;
    }
    let mut last = 0;
    for _ in 0..10 {
        last = b.next_message().await.seq;
    }
    drop(b);

    // Ann keeps sending while Ben is away and while he reconnects.
    let addr = node.addr;
    let token = ann.access_token.clone();
    let sender = tokio::spawn(async move {
        let mut a = Client::connect(addr, &token, Wire::Proto).await;
        for n in 0..200 {
            a.say_ok(room, &format!("live{n}"), "y").await;
        }
    });
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let Payload::RoomOpened(opened) = b
        .call(Command::OpenRoom(v1::OpenRoom {
            room_id: room,
            since_seq: last,
        }))
        .await
    else {
        panic!()
    };
    assert!(!opened.recovery_truncated);
    sender.await.unwrap();
    let total = 210;
    while last < total {
        let m = b.next_message().await;
        assert_eq!(m.seq, last + 1, "gap or duplicate after recovery");
        last = m.seq;
    }
    // Nothing more arrives (no duplicates at the end either).
    assert!(matches!(
        b.call(Command::Ping(v1::Ping {})).await,
        Payload::Pong(_)
    ));
    while let Some(f) = b.events_pop() {
        assert!(
            !matches!(f.payload, Some(Payload::Message(_))),
            "duplicate {f:?}"
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn long_poll_and_socket_clients_see_the_same_events() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = a.create_group("mixed", &[ben.id, cat.id]).await.id;
    let mut sock = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let mut poll = PollClient::open(node.addr, &cat.access_token).await;
    sock.open(room).await;
    let opened = poll
        .call(Command::OpenRoom(v1::OpenRoom {
            room_id: room,
            since_seq: 0,
        }))
        .await;
    assert!(matches!(opened, Payload::RoomOpened(_)), "{opened:?}");

    for n in 0..5 {
        a.say_ok(room, &format!("{n}"), &format!("hi {n}")).await;
    }
    a.call(mark_read(room, 5)).await;
    a.call(Command::Typing(v1::Typing { room_id: room })).await;
    a.say_ok(room, "last", "bye").await;

    let pick = |p: Payload| match p {
        Payload::Message(m) => Some(format!("message {} {} {}", m.seq, m.body, m.unread)),
        Payload::ReadReceipt(r) => Some(format!("read {} {} {}", r.user_id, r.from_seq, r.to_seq)),
        Payload::TypingStarted(t) => Some(format!("typing {}", t.user_id)),
        _ => None,
    };
    let mut from_socket = Vec::new();
    let mut from_poll = Vec::new();
    while from_socket.len() < 7 {
        from_socket.push(sock.next_where(pick).await);
    }
    while from_poll.len() < 7 {
        from_poll.push(poll.next_where(pick).await);
    }
    assert_eq!(from_socket, from_poll);
    assert!(
        from_socket[0].starts_with("message 1 hi 0 2"),
        "{from_socket:?}"
    );
    node.stop().await;
}

#[tokio::test]
async fn two_devices_of_one_user_stay_consistent() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut phone = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let mut laptop = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let room = a.create_direct(ben.id).await.id;
    phone.next_where(room_added).await;
    laptop.next_where(room_added).await;
    a.say_ok(room, "1", "one").await;
    a.say_ok(room, "2", "two").await;
    for d in [&mut phone, &mut laptop] {
        assert_eq!(d.next_where(room_update).await.unread, 1);
        assert_eq!(d.next_where(room_update).await.unread, 2);
    }
    // The laptop opens the room and reads; the phone's count drops to 0.
    laptop.open(room).await;
    laptop.call(mark_read(room, 2)).await;
    let u = phone.next_where(room_update).await;
    assert_eq!((u.room_id, u.unread), (room, 0));
    // Ben writes from the phone: the laptop (room open) sees the message, Ann too.
    phone.say_ok(room, "b1", "from my phone").await;
    assert_eq!(laptop.next_message().await.body, "from my phone");
    let u = a
        .next_where(|p| room_update(p).filter(|u| u.last_seq == 3))
        .await;
    assert_eq!((u.unread, u.sender_id), (1, ben.id));
    node.stop().await;
}

#[tokio::test]
async fn presence_and_typing_reach_members_with_the_room_open() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben, eve] = http.signups(["ann", "ben", "eve"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = a.create_direct(ben.id).await.id;
    let opened = a.open(room).await;
    assert_eq!(opened.member_ids.len(), 2);

    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let p = a.next_where(presence).await;
    assert_eq!((p.room_id, p.user_id, p.online), (room, ben.id, true));
    // Typing: forwarded once per second at most, never stored.
    for _ in 0..3 {
        assert!(matches!(
            b.call(Command::Typing(v1::Typing { room_id: room })).await,
            Payload::Ok(_)
        ));
    }
    b.say_ok(room, "m", "done typing").await;
    let mut typing = 0;
    loop {
        match a.next_event().await.payload {
            Some(Payload::TypingStarted(t)) => {
                assert_eq!((t.user_id, t.ttl_ms), (ben.id, 5000));
                typing += 1;
            }
            Some(Payload::Message(m)) => {
                assert_eq!(m.body, "done typing");
                break;
            }
            _ => {}
        }
    }
    assert_eq!(typing, 1);
    assert_eq!(a.all_messages(room).await.len(), 1);
    drop(b);
    let p = a.next_where(presence).await;
    assert_eq!((p.user_id, p.online), (ben.id, false));

    let mut e = Client::connect(node.addr, &eve.access_token, Wire::Json).await;
    let p = e.call(Command::Typing(v1::Typing { room_id: room })).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    node.stop().await;
}

#[tokio::test]
async fn bad_reads_cursors_and_recoveries_change_nothing() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 200).await;
    let http = node.http();
    let [ann, ben, eve] = http.signups(["ann", "ben", "eve"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut e = Client::connect(node.addr, &eve.access_token, Wire::Json).await;
    let room = a.create_direct(ben.id).await.id;
    a.say_ok(room, "1", "one").await;

    assert_error(
        a.call(mark_read(room, 2)).await,
        ErrorCode::InvalidArgument,
        "SEQ_BEYOND_LAST",
    );
    assert_error(
        e.call(mark_read(room, 1)).await,
        ErrorCode::PermissionDenied,
        "NOT_A_MEMBER",
    );
    assert_error(
        e.call(mark_read(999, 1)).await,
        ErrorCode::NotFound,
        "ROOM_NOT_FOUND",
    );
    let p = a
        .call(Command::OpenRoom(v1::OpenRoom {
            room_id: room,
            since_seq: 5,
        }))
        .await;
    assert_error(p, ErrorCode::InvalidArgument, "SEQ_IN_FUTURE");
    // Ben's cursor did not move: one unread.
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let Payload::UnreadTotal(t) = b.call(Command::GetUnreadTotal(v1::GetUnreadTotal {})).await
    else {
        panic!()
    };
    assert_eq!(t.total, 1);

    // Long-poll cursors: forged, malformed, foreign, from the future.
    let ben_poll = PollClient::open(node.addr, &ben.access_token).await;
    let cases = [
        ("garbage", 400, "INVALID_CURSOR"),
        (
            "0123456789abcdef0123456789abcdef.0",
            404,
            "SESSION_NOT_FOUND",
        ),
        (&format!("{}.999", ben_poll.session), 400, "INVALID_CURSOR"),
    ];
    for (cursor, status, why) in cases {
        let (s, body) = ben_poll.poll_raw(&ben.access_token, cursor).await;
        assert_eq!((s, reason(&body)), (status, why), "{cursor}");
    }
    // Eve cannot read Ben's session, even with its real cursor.
    let (s, body) = ben_poll.poll_raw(&eve.access_token, &ben_poll.cursor).await;
    assert_eq!((s, reason(&body)), (404, "SESSION_NOT_FOUND"));
    let (s, body) = ben_poll.poll_raw("not a token", &ben_poll.cursor).await;
    assert_eq!((s, reason(&body)), (401, "TOKEN_INVALID"));
    // Without a token no session opens.
    let (s, body) = http.post("/v1/poll/sessions", &json!({})).await;
    assert_eq!((s, reason(&body)), (401, "TOKEN_MISSING"));
    node.stop().await;
}

#[tokio::test]
async fn a_cursor_past_the_buffer_must_resync() {
    let node = TestNode::start_with(|c| {
        c.http.poll_buffer = 4;
        c.http.poll_timeout_ms = 200;
    })
    .await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = a.create_direct(ben.id).await.id;
    let bp = PollClient::open(node.addr, &ben.access_token).await;
    let stale = bp.cursor.clone();
    for n in 0..10 {
        a.say_ok(room, &n.to_string(), "flood").await;
    }
    // Wait until the session has dropped frames from its buffer, then use the old cursor.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (s, body) = bp.poll_raw(&ben.access_token, &stale).await;
        if s == 400 {
            assert_eq!(reason(&body), "CURSOR_EXPIRED");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "buffer never overflowed"
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_others_are_not_slowed() {
    let node = TestNode::start_with(|c| {
        // The smallest queue the config accepts for these batch and in-flight limits.
        c.chat.max_append_batch = 32;
        c.chat.max_inflight_per_connection = 32;
        c.chat.outbound_queue = 64;
    })
    .await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Proto).await;
    let room = a.create_group("flood", &[ben.id, cat.id]).await.id;
    let mut stuck = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    stuck.open(room).await;
    let mut reader = Client::connect(node.addr, &cat.access_token, Wire::Proto).await;
    reader.open(room).await;

    // Enough data to fill the stuck client's socket buffers and then its queue.
    let body = "z".repeat(4000);
    let total = 3000u64;
    let mut sent = 0;
    let mut next = 1;
    while sent < total {
        let mut ids = Vec::new();
        for _ in 0..100 {
            ids.push(a.send(send_cmd(room, &format!("f{sent}"), &body)).await);
            sent += 1;
        }
        for id in ids {
            assert!(matches!(a.reply(id).await, Payload::SendAck(_)));
        }
        // The reader keeps up and sees every message in order.
        while next <= sent {
            assert_eq!(reader.next_message().await.seq, next);
            next += 1;
        }
    }
    // The stuck client finds, after what was already on the wire, the end of the
    // connection: a close saying why when the socket could still take it, or none when it
    // was too full (the node drops it 2 s after deciding to close).
    let code = stuck.closed_code().await;
    assert!(matches!(code, Some(4001) | None), "closed with {code:?}");
    node.stop().await;
}

#[tokio::test]
async fn recovery_beyond_the_limit_says_so_and_history_fills_the_rest() {
    let node = TestNode::start_with(|c| {
        c.chat.max_append_batch = 16;
        c.chat.max_inflight_per_connection = 16;
        c.chat.outbound_queue = 40;
    })
    .await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = a.create_direct(ben.id).await.id;
    for n in 1..=50 {
        a.say_ok(room, &n.to_string(), "m").await;
    }
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let p = b
        .call(Command::OpenRoom(v1::OpenRoom {
            room_id: room,
            since_seq: 5,
        }))
        .await;
    let Payload::RoomOpened(opened) = p else {
        panic!("{p:?}")
    };
    // Half of the 40-frame queue: the newest 20, flagged, the older ones left to history.
    assert_eq!((opened.recovered, opened.recovery_truncated), (20, true));
    for seq in 31..=50 {
        assert_eq!(b.next_message().await.seq, seq);
    }
    let older = b.history_ok(room, 31, 100).await;
    assert_eq!(older.messages.len(), 30);
    node.stop().await;
}
