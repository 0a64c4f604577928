//! NATS restarted mid-traffic: delivery resumes and readers recover by seq.

use super::*;

/// A NATS server of one test's own, which it may stop and start again on the same port.
struct PrivateNats {
    bin: String,
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateNats {
    fn start() -> Self {
        let bin = std::env::var("CHAT_TEST_NATS_SERVER")
            .expect("CHAT_TEST_NATS_SERVER: run ./scripts/test.sh, which installs nats-server");
        let mut nats = Self {
            bin,
            port: free_port(),
            child: None,
        };
        nats.up();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = std::process::Command::new(&self.bin)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.down();
    }
}

/// Reads a room through a node, and when the node closes the socket (a resync, a drain) or
/// goes away, reconnects to any live node and recovers by seq. Stops once it has `want`.
async fn recovering_reader(
    live: LiveAddrs,
    token: String,
    room: u64,
    want: std::sync::Arc<std::sync::atomic::AtomicU64>,
    seen_tx: tokio::sync::mpsc::UnboundedSender<u64>,
) -> (Vec<u64>, Vec<u16>) {
    use std::sync::atomic::Ordering;
    let mut seen: Vec<u64> = Vec::new();
    let mut closes = Vec::new();
    let mut turn = 0;
    loop {
        let addrs = live.lock().unwrap().clone();
        turn += 1;
        let Some(mut c) = Client::try_connect(addrs[turn % addrs.len()], &token, Wire::Json).await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let since = seen.last().copied().unwrap_or(0);
        let request = c
            .send(Command::OpenRoom(v1::OpenRoomRequest {
                room_id: room,
                since_seq: since,
            }))
            .await;
        loop {
            let target = want.load(Ordering::Relaxed);
            if target > 0 && seen.len() as u64 >= target {
                return (seen, closes);
            }
            // Poll briefly so a newly set target is noticed without a message arriving.
            let frame = tokio::time::timeout(Duration::from_millis(200), c.next_frame()).await;
            match frame {
                Err(_) => continue,
                Ok(None) => {
                    closes.extend(c.closed.as_ref().map(|(code, _)| *code));
                    break;
                }
                Ok(Some(f)) => match f.payload {
                    Some(Payload::Message(m)) => {
                        seen.push(m.seq);
                        let _ = seen_tx.send(m.seq);
                    }
                    Some(Payload::Error(e)) if f.request_id == request => {
                        assert!(e.retryable, "open failed: {e:?}");
                        break;
                    }
                    _ => {}
                },
            }
        }
    }
}

#[tokio::test]
async fn nats_restarted_mid_traffic_delivery_resumes_and_readers_recover() {
    if services().is_none() {
        return;
    }
    let mut nats = PrivateNats::start();
    let Some(cluster) = TestCluster::start_on(3, Some(nats.url()), Vec::new()).await else {
        return;
    };
    let http = Http::new(cluster.addr(0));
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let room = a.create_group("bus outage", &[ben.id]).await;
    drop(a);
    let live: LiveAddrs = std::sync::Arc::new(std::sync::Mutex::new(cluster.live_addrs()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let want = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(recovering_reader(
        live.clone(),
        ben.access_token.clone(),
        room.id,
        want.clone(),
        seen_tx,
    ));
    let sender = tokio::spawn(roaming_sender(
        live.clone(),
        ann.access_token.clone(),
        room.id,
        "ann",
        stop.clone(),
    ));
    // Traffic flows to the reader; then NATS goes away while sends go on (acks need only
    // the store); then it comes back.
    let mut last = 0;
    while last < 20 {
        last = seen_rx.recv().await.unwrap();
    }
    nats.down();
    let mut check = Client::connect(cluster.addr(2), &ben.access_token, Wire::Json).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    while check.all_messages(room.id).await.len() < last as usize + 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "sends stopped while NATS was down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nats.up();
    // Every node reconnects by itself (and tells its clients to resync as it does).
    for addr in cluster.live_addrs() {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let (_, metrics) = Http::new(addr).get("/metrics").await;
            if metrics.lines().any(|l| l == "chat_bus_up 1") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{addr} never reconnected to NATS"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Delivery resumes: the reader gets messages sent after NATS is back (which it can only
    // have through a fresh subscription, after the resync). The checking connection was told
    // to resync too: a new one.
    let mut check = Client::connect(cluster.addr(2), &ben.access_token, Wire::Json).await;
    let resumed_from = check.all_messages(room.id).await.len() as u64;
    while last <= resumed_from + 5 {
        last = seen_rx.recv().await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acks = sender.await.unwrap();
    want.store(acks.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let (seen, closes) = reader.await.unwrap();
    // Everything exactly once, in order, although the bus lost some events: the reader was
    // told to resync (4003) and recovered the rest by seq.
    assert_eq!(seen, (1..=acks.len() as u64).collect::<Vec<_>>());
    assert!(
        closes.contains(&4003),
        "the reader was never told to resync: {closes:?}"
    );
    // (The checking connection was told to resync too.)
    let mut check = Client::connect(cluster.addr(2), &ben.access_token, Wire::Json).await;
    check_log(&mut check, room.id, &acks).await;
    cluster.stop().await;
}
