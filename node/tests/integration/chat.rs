use std::collections::HashSet;

use chat_proto::v1::{self, ErrorCode, server_frame::Payload};

use crate::common::*;

#[tokio::test]
async fn direct_room_both_ways_across_codecs() {
    let node = TestNode::start().await;
    let http = node.http();
    let [alice, bob] = http.signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Proto).await;

    let room = a.create_direct(bob.id).await;
    assert_eq!(room.kind(), v1::RoomKind::Direct);
    assert_eq!(room.member_ids, {
        let mut m = vec![alice.id, bob.id];
        m.sort_unstable();
        m
    });
    // Asking again, from either side, gives the same room.
    assert_eq!(a.create_direct(bob.id).await.id, room.id);
    assert_eq!(b.create_direct(alice.id).await.id, room.id);

    a.open(room.id).await;
    b.open(room.id).await;
    let ack1 = a.say_ok(room.id, "a-1", "hi bob").await;
    let ack2 = b.say_ok(room.id, "b-1", "hi alice 👋").await;
    assert_eq!((ack1.seq, ack2.seq), (1, 2));
    assert!(ack2.sent_at_ms >= ack1.sent_at_ms);

    for client in [&mut a, &mut b] {
        let m1 = client.next_message().await;
        let m2 = client.next_message().await;
        assert_eq!(
            (m1.seq, m1.body.as_str(), m1.sender_id),
            (1, "hi bob", alice.id)
        );
        assert_eq!(
            (m2.seq, m2.body.as_str(), m2.sender_id),
            (2, "hi alice 👋", bob.id)
        );
        assert_eq!(m1.id, ack1.message_id);
    }
    node.stop().await;
}

#[tokio::test]
async fn group_members_see_one_order_under_concurrent_senders() {
    let node = TestNode::start().await;
    let http = node.http();
    let users = http.signups(["ann", "ben", "cat"]).await;
    let mut clients = Vec::new();
    for u in &users {
        clients.push(Client::connect(node.addr, &u.access_token, Wire::Json).await);
    }
    let room = clients[0]
        .create_group("trio", &[users[1].id, users[2].id])
        .await;
    assert_eq!(room.member_ids.len(), 3);
    for c in &mut clients {
        c.open(room.id).await;
    }

    const PER_SENDER: usize = 30;
    // Each member pipelines its sends on its own socket, all at once.
    let mut senders = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let addr = node.addr;
        let token = u.access_token.clone();
        let room_id = room.id;
        senders.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, &token, Wire::Proto).await;
            let mut ids = Vec::new();
            for n in 0..PER_SENDER {
                ids.push(
                    c.send(send_cmd(
                        room_id,
                        &format!("{i}-{n}"),
                        &format!("from {i} #{n}"),
                    ))
                    .await,
                );
            }
            let mut acks = Vec::new();
            for id in ids {
                match c.reply(id).await {
                    Payload::SendAck(a) => acks.push(a.seq),
                    other => panic!("{other:?}"),
                }
            }
            acks
        }));
    }
    let mut acked = HashSet::new();
    for s in senders {
        for seq in s.await.unwrap() {
            assert!(acked.insert(seq), "seq {seq} acked twice");
        }
    }
    let total = PER_SENDER * users.len();
    assert_eq!(acked, (1..=total as u64).collect());

    let mut orders = Vec::new();
    for c in &mut clients {
        let mut order = Vec::new();
        for expected in 1..=total as u64 {
            let m = c.next_message().await;
            assert_eq!(m.seq, expected, "gap, duplicate or reordering");
            order.push((m.seq, m.client_msg_id));
        }
        orders.push(order);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "members saw different orders"
    );
    // Per-sender order is preserved inside the total order.
    for i in 0..users.len() {
        let mine: Vec<usize> = orders[0]
            .iter()
            .filter_map(|(_, id)| {
                id.strip_prefix(&format!("{i}-"))
                    .map(|n| n.parse().unwrap())
            })
            .collect();
        assert_eq!(mine, (0..PER_SENDER).collect::<Vec<_>>());
    }
    node.stop().await;
}

#[tokio::test]
async fn retry_with_same_client_id_gets_the_first_ack() {
    let node = TestNode::start().await;
    let http = node.http();
    let [alice, bob] = http.signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await;
    let first = a.say_ok(room.id, "same", "hello").await;
    let again = a.say_ok(room.id, "same", "hello (retry)").await;
    assert_eq!(first, again);
    // Two in flight at once with one id: one message.
    let i1 = a.send(send_cmd(room.id, "twin", "x")).await;
    let i2 = a.send(send_cmd(room.id, "twin", "x")).await;
    let (p1, p2) = (a.reply(i1).await, a.reply(i2).await);
    assert_eq!(p1, p2);
    // The same id from another sender is a different message.
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Json).await;
    let theirs = b.say_ok(room.id, "same", "bob's").await;
    assert_ne!(theirs.seq, first.seq);
    let all = a.all_messages(room.id).await;
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(all[0].body, "hello");

    // After a restart the store remembers the key.
    node.stop().await;
    let _ = (alice, bob);
}

#[tokio::test]
async fn idempotency_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let node = chat_node::start(config.clone()).await.unwrap();
    let http = Http::new(node.http_addr);
    let [alice, bob] = http.signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.http_addr, &alice.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await;
    let first = a.say_ok(room.id, "k", "once").await;
    drop(a);
    node.shutdown().await;

    let node = chat_node::start(config).await.unwrap();
    let mut a = Client::connect(node.http_addr, &alice.access_token, Wire::Json).await;
    assert_eq!(a.say_ok(room.id, "k", "once").await, first);
    assert_eq!(a.say_ok(room.id, "k2", "twice").await.seq, 2);
    node.shutdown().await;
}

#[tokio::test]
async fn history_pages_backwards_across_buckets() {
    // 3 ms buckets: 60 messages span many of them.
    let node = TestNode::start_with(|c| c.store.bucket_width_ms = Some(3)).await;
    let http = node.http();
    let [alice, bob] = http.signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await;
    for n in 1..=60 {
        // Wait for the clock to move so messages spread over buckets (a condition, not a sleep).
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(1) {
            tokio::task::yield_now().await;
        }
        a.say_ok(room.id, &format!("m{n}"), &format!("message {n}"))
            .await;
    }
    let page = a.history_ok(room.id, 0, 25).await;
    assert_eq!(page.messages.first().unwrap().seq, 60);
    assert_eq!(page.messages.len(), 25);
    assert!(page.has_more);

    let all = a.all_messages(room.id).await;
    assert_eq!(
        all.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=60).collect::<Vec<_>>()
    );
    let buckets: HashSet<i64> = all.iter().map(|m| m.sent_at_ms / 3).collect();
    assert!(buckets.len() >= 3, "only {} buckets", buckets.len());

    // Older pages come from the store (the room's cache holds only the newest), with small
    // pages crossing bucket boundaries.
    // Paged by the key each page returns, as a client does.
    let mut seen = Vec::new();
    let mut before = 0;
    loop {
        let p = a.history_ok(room.id, before, 7).await;
        seen.extend(p.messages.iter().map(|m| m.seq));
        assert_eq!(p.has_more, p.next_before_seq != 0, "{p:?}");
        if !p.has_more {
            break;
        }
        assert_eq!(p.next_before_seq, p.messages.last().unwrap().seq);
        before = p.next_before_seq;
    }
    assert_eq!(seen, (1..=60).rev().collect::<Vec<_>>());
    let p = a.history_ok(room.id, 1, 10).await;
    assert!(p.messages.is_empty() && !p.has_more && p.next_before_seq == 0);
    node.stop().await;
}

#[tokio::test]
async fn history_beyond_the_room_cache_comes_from_the_store() {
    let node = TestNode::start_with(|c| c.chat.recent_cache = 5).await;
    let http = node.http();
    let [alice, bob] = http.signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await;
    for n in 1..=20 {
        a.say_ok(room.id, &format!("m{n}"), &format!("message {n}"))
            .await;
    }
    let page = a.history_ok(room.id, 12, 4).await;
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![11, 10, 9, 8]
    );
    assert!(page.has_more);
    let page = a.history_ok(room.id, 0, 3).await;
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![20, 19, 18]
    );
    node.stop().await;
}

#[tokio::test]
async fn crashed_room_restarts_from_the_store_and_loses_nothing() {
    let node = TestNode::start_with(|c| c.debug.fault_injection = true).await;
    let http = node.http();
    let [alice, bob] = http.signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await;
    b.open(room.id).await;

    let mut acked = Vec::new();
    for n in 1..=40 {
        if n % 10 == 0 {
            let (status, body) = http
                .post(
                    &format!("/debug/rooms/{}/fault", room.id),
                    &serde_json::json!({}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        // Pipeline a few sends around the fault; retry retryable failures with the same id.
        let id = format!("m{n}");
        loop {
            match a.say(room.id, &id, &format!("message {n}")).await {
                Payload::SendAck(ack) => {
                    acked.push((ack.seq, id.clone()));
                    break;
                }
                Payload::Error(e) => {
                    assert!(e.retryable, "non-retryable error after a crash: {e:?}");
                    assert_eq!(e.code(), ErrorCode::Unavailable);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let seqs: Vec<u64> = acked.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    let all = a.all_messages(room.id).await;
    let stored: Vec<(u64, String)> = all.into_iter().map(|m| (m.seq, m.client_msg_id)).collect();
    assert_eq!(stored, acked);
    // The open room kept receiving live messages across restarts, each once, in order.
    for expected in 1..=40 {
        assert_eq!(b.next_message().await.seq, expected);
    }
    node.stop().await;
}

#[tokio::test]
async fn fault_hook_is_absent_unless_enabled() {
    let node = TestNode::start().await;
    let (status, _) = node
        .http()
        .post("/debug/rooms/1/fault", &serde_json::json!({}))
        .await;
    assert_eq!(status, 404);
    node.stop().await;
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let room = a.create_group("metered", &[ben.id]).await;
    b.open(room.id).await;
    a.say_ok(room.id, "m1", "one").await;
    a.say_ok(room.id, "m2", "two").await;
    b.next_message().await;
    b.next_message().await;
    let (status, text) = http.get("/metrics").await;
    assert_eq!(status, 200);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert_eq!(value("chat_messages_sequenced_total"), 2.0);
    assert_eq!(value("chat_connections"), 2.0);
    assert_eq!(value("chat_room_actors"), 1.0);
    assert_eq!(value("chat_user_sessions"), 2.0);
    assert_eq!(value("chat_cluster_members"), 1.0);
    assert_eq!(value("chat_bus_up"), 1.0);
    assert_eq!(value("chat_store_ok"), 1.0);
    assert_eq!(value("chat_send_seconds_count"), 2.0);
    assert!(value("chat_deliveries_total") >= 2.0);
    assert!(value("chat_frames_in_total") >= 4.0);
    assert!(text.ends_with("# EOF\n"));
}
