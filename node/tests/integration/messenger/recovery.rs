//! Recovery by seq: reconnects under traffic, expired poll cursors, cut-off readers, truncated recoveries.

use super::*;

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
        .call(Command::OpenRoom(v1::OpenRoomRequest {
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
        b.call(Command::Ping(v1::PingRequest {})).await,
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
        .call(Command::OpenRoom(v1::OpenRoomRequest {
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
