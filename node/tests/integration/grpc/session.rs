//! A `Session` stream's lifetime: half-closed, cancelled, a reader that stops reading.

use super::*;

#[tokio::test]
async fn a_half_closed_session_lives_on_and_a_cancelled_one_is_freed() {
    let node = TestNode::start().await;
    let ch = channel(&node).await;
    let [ann, ben] = node.http().signups(["ann", "ben"]).await;
    let mut watcher = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = watcher.create_group("presence", &[ben.id]).await.id;
    watcher.open(room).await;
    let mut session = GrpcSession::open(&ch, &ben.access_token).await;
    session.open_room(room).await;
    let online = |want: bool| {
        move |p: Payload| match p {
            Payload::PresenceChanged(c) if c.online == want => Some(c.user_id),
            _ => None,
        }
    };
    assert_eq!(watcher.next_where(online(true)).await, ben.id);
    // Half-closing (no more commands) keeps the session and its events, like a socket.
    session.tx.close_channel();
    watcher.say_ok(room, "m1", "still there?").await;
    let m = session
        .next_where(|p| match p {
            Payload::Message(m) => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(m.body, "still there?");
    // Cancelling the call ends it.
    drop(session);
    // Ben's only connection is gone: the node noticed and let his session go.
    assert_eq!(watcher.next_where(online(false)).await, ben.id);
    node.stop().await;
}

#[tokio::test]
async fn a_grpc_reader_that_stops_reading_is_cut_off_like_a_socket() {
    let node = TestNode::start_with(|c| {
        c.chat.max_append_batch = 32;
        c.chat.max_inflight_per_connection = 32;
        c.chat.outbound_queue = 64;
    })
    .await;
    let ch = channel(&node).await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Proto).await;
    let room = a.create_group("flood", &[ben.id, cat.id]).await.id;
    let mut stuck = GrpcSession::open(&ch, &ben.access_token).await;
    stuck.open_room(room).await;
    let mut reader = GrpcSession::open(&ch, &cat.access_token).await;
    reader.open_room(room).await;

    // Enough to fill the stuck stream's HTTP/2 windows and buffers, then its queue.
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
        while next <= sent {
            let m = reader
                .next_where(|p| match p {
                    Payload::Message(m) => Some(m),
                    _ => None,
                })
                .await;
            assert_eq!(m.seq, next, "the reader keeps up, in order");
            next += 1;
        }
    }
    // The stuck reader finds, after what was already on the wire, a status saying why.
    let end = loop {
        match stuck.next_frame().await {
            Ok(_) => continue,
            Err(s) => break s,
        }
    };
    assert_eq!(end.code(), Code::ResourceExhausted, "{end:?}");
    let close = end
        .metadata()
        .get("chat-close-code")
        .and_then(|v| v.to_str().ok());
    assert_eq!(close, Some("4001"));
    node.stop().await;
}
