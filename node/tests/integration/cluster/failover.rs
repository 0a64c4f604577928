//! Nodes going away under traffic: a SIGKILL of a busy room's owner, a rolling restart.

use super::*;

impl TestCluster {
    /// The index of the node owning `room`, as node `asking` sees it.
    pub(super) async fn owner_of(&self, asking: usize, room: u64) -> usize {
        let (status, body) = Http::new(self.addr(asking))
            .get(&format!("/v1/cluster/rooms/{room}"))
            .await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let owner = v["owner"].as_str().unwrap();
        owner.trim_start_matches('n').parse().unwrap()
    }
}

/// Sends `count` messages one after another through node `node`, retrying each (same
/// client_msg_id) until it is acked, reconnecting when the connection drops. Returns the acks
/// as (seq, client_msg_id).
async fn steady_sender(
    addr: SocketAddr,
    token: String,
    room: u64,
    tag: &'static str,
    count: usize,
    acked: tokio::sync::mpsc::UnboundedSender<usize>,
) -> Vec<(u64, String)> {
    let mut client = Client::connect(addr, &token, Wire::Proto).await;
    let mut acks = Vec::new();
    for i in 0..count {
        let id = format!("{tag}-{i}");
        loop {
            if client.closed.is_some() {
                client = Client::connect(addr, &token, Wire::Proto).await;
            }
            let request = client.send(send_cmd(room, &id, &id)).await;
            match client.reply(request).await {
                Payload::SendAck(a) => {
                    acks.push((a.seq, id.clone()));
                    let _ = acked.send(acks.len());
                    break;
                }
                Payload::Error(e) if e.retryable => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("send {id}: {other:?}"),
            }
        }
    }
    acks
}

#[tokio::test]
async fn sigkill_of_a_busy_rooms_owner_loses_no_acked_message() {
    let Some(mut cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(0));
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let room = a.create_group("busy", &[ben.id, cat.id]).await;
    let owner = cluster.owner_of(0, room.id).await;
    let others: Vec<usize> = (0..3).filter(|&i| i != owner).collect();
    // A reader connected to the owner itself, which is about to die.
    let mut reader = Client::connect(cluster.addr(owner), &cat.access_token, Wire::Json).await;
    reader.open(room.id).await;
    // Two senders on the surviving nodes, 60 messages each.
    let (tx, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let senders = [
        (others[0], "ann", ann.access_token.clone()),
        (others[1], "ben", ben.access_token.clone()),
    ]
    .map(|(node, tag, token)| {
        tokio::spawn(steady_sender(
            cluster.addr(node),
            token,
            room.id,
            tag,
            60,
            tx.clone(),
        ))
    });
    drop(tx);
    // Kill the owner once the room is busy (some messages acked on both senders' side).
    let mut acked = 0;
    while acked < 30 {
        acked += progress.recv().await.map_or(0, |_| 1);
    }
    cluster.kill9(owner);
    let mut acks = Vec::new();
    for s in senders {
        acks.extend(s.await.unwrap());
    }
    // Every acked message is in the log once, seqs dense: no gap, no reuse.
    let mut check = Client::connect(cluster.addr(others[0]), &ann.access_token, Wire::Json).await;
    check_log(&mut check, room.id, &acks).await;
    // The reader lost its node; it reconnects elsewhere and recovers what it missed.
    let mut seen = Vec::new();
    while let Some(frame) = reader.next_frame().await {
        if let Some(Payload::Message(m)) = frame.payload {
            seen.push(m.seq);
        }
    }
    // What it got before the crash was dense from 1.
    assert_eq!(seen, (1..=seen.len() as u64).collect::<Vec<_>>());
    let last = seen.len() as u64;
    let mut back = Client::connect(cluster.addr(others[1]), &cat.access_token, Wire::Json).await;
    let opened = back
        .call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room.id,
            since_seq: last,
        }))
        .await;
    assert!(matches!(opened, Payload::RoomOpened(_)), "{opened:?}");
    let missed = collect_messages(&mut back, acks.len() - last as usize).await;
    let seqs: Vec<u64> = missed.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (last + 1..=acks.len() as u64).collect::<Vec<_>>());
    cluster.stop().await;
}

#[tokio::test]
async fn a_rolling_restart_under_traffic_loses_nothing_and_leaves_no_gap() {
    let Some(mut cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(0));
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let room = a.create_group("rolling", &[ben.id]).await;
    drop(a);
    let live: LiveAddrs = std::sync::Arc::new(std::sync::Mutex::new(cluster.live_addrs()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders = [
        ("ann", ann.access_token.clone()),
        ("ben", ben.access_token.clone()),
    ]
    .map(|(tag, token)| {
        tokio::spawn(roaming_sender(
            live.clone(),
            token,
            room.id,
            tag,
            stop.clone(),
        ))
    });
    // One node after the other: SIGTERM (leave, hand over, drain), then start it again and
    // wait for the three to agree before the next.
    for i in 0..3 {
        let status = cluster.terminate(i);
        assert!(status.success(), "node {i} exited with {status}");
        *live.lock().unwrap() = cluster.live_addrs();
        cluster.restart(i);
        *live.lock().unwrap() = cluster.live_addrs();
        cluster.wait_for_members(3).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acks = Vec::new();
    for s in senders {
        acks.extend(s.await.unwrap());
    }
    eprintln!("{} messages acked across the rolling restart", acks.len());
    assert!(
        acks.len() > 10,
        "traffic was too thin to prove anything: {}",
        acks.len()
    );
    let mut check = Client::connect(cluster.addr(1), &ben.access_token, Wire::Json).await;
    check_log(&mut check, room.id, &acks).await;
    cluster.stop().await;
}
