//! Unread counts as members read, and bad reads that change nothing.

use super::*;

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
    let ping = clients[4].send(Command::Ping(v1::PingRequest {})).await;
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
        .call(Command::OpenRoom(v1::OpenRoomRequest {
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
        .call(Command::LeaveRoom(v1::LeaveRoomRequest { room_id: room }))
        .await;
    model.0.remove(&ids[4]);
    let history = clients[0].history_ok(room, 0, 50).await;
    let (left, messages): (Vec<_>, Vec<_>) =
        history.messages.iter().partition(|m| m.system.is_some());
    assert_eq!(
        left.len(),
        1,
        "the leave is a line in the timeline, unread by nobody"
    );
    assert_eq!(left[0].unread, 0);
    for m in messages {
        assert_eq!(m.unread, model.unread(m.seq), "after leave, seq {}", m.seq);
    }
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
        .call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room,
            since_seq: 5,
        }))
        .await;
    assert_error(p, ErrorCode::InvalidArgument, "SEQ_IN_FUTURE");
    // Ben's cursor did not move: one unread.
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let Payload::UnreadTotal(t) = b
        .call(Command::GetUnreadTotal(v1::GetUnreadTotalRequest {}))
        .await
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
