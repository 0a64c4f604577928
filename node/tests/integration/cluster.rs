//! The cluster (issue 8): three real `chatnode` processes on loopback, sharing the CQL
//! server, the S3 server and the NATS server that `scripts/test.sh` starts. Each test gets
//! its own keyspace and NATS subject prefix, so tests run side by side.

use std::{net::SocketAddr, time::Duration};

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use serde_json::Value;

use crate::common::*;

/// The shared services, or `None` when skipping cluster tests was asked for knowingly.
struct Services {
    cql: String,
    nats: String,
    s3: [String; 4],
}

fn services() -> Option<Services> {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let (cql, nats) = (var("CHAT_TEST_CQL_URI"), var("CHAT_TEST_NATS_URL"));
    let s3 = [
        var("CHAT_TEST_S3_ENDPOINT"),
        var("CHAT_TEST_S3_BUCKET"),
        var("CHAT_TEST_S3_ACCESS_KEY"),
        var("CHAT_TEST_S3_SECRET_KEY"),
    ];
    if cql.is_empty() || nats.is_empty() || s3[0].is_empty() {
        assert_eq!(
            var("CHAT_SKIP_CLUSTER"),
            "1",
            "cluster tests need CHAT_TEST_CQL_URI, CHAT_TEST_NATS_URL and CHAT_TEST_S3_*: run \
             ./scripts/test.sh (it starts them), or set CHAT_SKIP_CLUSTER=1 to skip knowingly"
        );
        eprintln!("cluster test SKIPPED (CHAT_SKIP_CLUSTER=1)");
        return None;
    }
    Some(Services { cql, nats, s3 })
}

/// A free port for a cluster listener, below Linux's ephemeral range (32768-60999) so no
/// outgoing connection can take it between now and the node binding it, and never the same
/// twice in this process.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 500) as u16 * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32_000, "out of cluster test ports");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Three (or more) chatnode processes forming one cluster.
pub struct TestCluster {
    nodes: Vec<Option<NodeProcess>>,
    dirs: Vec<tempfile::TempDir>,
    ports: Vec<u16>,
    env: Vec<(String, String)>,
    cql: chat_store::CqlConfig,
}

impl TestCluster {
    /// Starts `n` nodes that all list each other as peers, and waits until each sees all.
    async fn start(n: usize) -> Option<Self> {
        Self::start_on(n, None, Vec::new()).await
    }

    /// Like [`TestCluster::start`], on the NATS server at `nats` instead of the shared one,
    /// and with `extra` settings for every node.
    async fn start_on(
        n: usize,
        nats: Option<String>,
        extra: Vec<(String, String)>,
    ) -> Option<Self> {
        let mut s = services()?;
        if let Some(url) = nats {
            s.nats = url;
        }
        // Unique per cluster: the keyspace and the NATS subjects are its own.
        static CLUSTERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let tag = format!(
            "c{}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                % 1_000_000_000,
            CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let keyspace = format!("chat_cluster_{tag}");
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peers: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
        let env = vec![
            ("CHAT__CLUSTER__ENABLED", "true".to_owned()),
            (
                "CHAT__CLUSTER__COOKIE",
                "test-cluster-cookie-0123".to_owned(),
            ),
            ("CHAT__CLUSTER__PEERS", format!("[{}]", peers.join(","))),
            ("CHAT__CLUSTER__HEARTBEAT_MS", "200".to_owned()),
            ("CHAT__CLUSTER__PEER_TIMEOUT_MS", "1500".to_owned()),
            ("CHAT__CLUSTER__MAX_BACKOFF_MS", "1000".to_owned()),
            ("CHAT__BUS__BACKEND", "nats".to_owned()),
            ("CHAT__BUS__NATS__URL", s.nats.clone()),
            ("CHAT__BUS__NATS__SUBJECT_PREFIX", tag.clone()),
            ("CHAT__STORE__BACKEND", "cql".to_owned()),
            (
                "CHAT__STORE__CQL__CONTACT_POINTS",
                format!("[\"{}\"]", s.cql),
            ),
            ("CHAT__STORE__CQL__KEYSPACE", keyspace.clone()),
            ("CHAT__FILES__BACKEND", "s3".to_owned()),
            ("CHAT__FILES__S3__ENDPOINT", s.s3[0].clone()),
            ("CHAT__FILES__S3__BUCKET", s.s3[1].clone()),
            ("CHAT__FILES__S3__ACCESS_KEY_ID", s.s3[2].clone()),
            ("CHAT__FILES__S3__SECRET_ACCESS_KEY", s.s3[3].clone()),
            ("CHAT__FILES__S3__ALLOW_HTTP", "true".to_owned()),
            ("CHAT__NODE__SHUTDOWN_TIMEOUT_SECS", "10".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(extra)
        .collect();
        let cql = chat_store::CqlConfig {
            contact_points: vec![s.cql],
            keyspace,
            ..chat_store::CqlConfig::default()
        };
        let mut cluster = Self {
            nodes: Vec::new(),
            dirs: Vec::new(),
            ports,
            env,
            cql,
        };
        for i in 0..n {
            cluster.dirs.push(tempfile::tempdir().unwrap());
            let node = cluster.spawn(i, &[]);
            cluster.nodes.push(Some(node));
        }
        cluster.wait_for_members(n).await;
        Some(cluster)
    }

    fn spawn(&self, i: usize, extra: &[(&str, &str)]) -> NodeProcess {
        let name = format!("n{i}");
        let index = (i + 1).to_string();
        let listen = format!("127.0.0.1:{}", self.ports[i]);
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.extend([
            ("CHAT__NODE__NODE_ID", name.as_str()),
            ("CHAT__NODE__NODE_INDEX", index.as_str()),
            ("CHAT__CLUSTER__LISTEN", listen.as_str()),
        ]);
        env.extend_from_slice(extra);
        NodeProcess::start(self.dirs[i].path(), &env)
    }

    /// The HTTP address of node `i`.
    fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].as_ref().expect("node is running").addr
    }

    /// The members node `i` sees.
    async fn members(&self, i: usize) -> Vec<String> {
        let (status, body) = Http::new(self.addr(i)).get("/v1/cluster").await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until every running node sees exactly the running nodes.
    async fn wait_for_members(&self, n: usize) {
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_some())
            .collect();
        assert_eq!(running.len(), n);
        let want: Vec<String> = running.iter().map(|i| format!("n{i}")).collect();
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let mut all = true;
            for &i in &running {
                if self.members(i).await != want {
                    all = false;
                }
            }
            if all {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the nodes never agreed on {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill9(&mut self, i: usize) {
        self.nodes[i].take().expect("running").kill9();
    }

    fn terminate(&mut self, i: usize) -> std::process::ExitStatus {
        self.nodes[i].take().expect("running").terminate()
    }

    fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none());
        self.nodes[i] = Some(self.spawn(i, &[]));
    }

    async fn stop(mut self) {
        for i in 0..self.nodes.len() {
            if let Some(n) = self.nodes[i].take() {
                n.kill9();
            }
        }
        chat_store::CqlStore::drop_keyspace(&self.cql)
            .await
            .unwrap();
    }
}

/// The next `n` messages a client receives, skipping everything else (acks included).
async fn collect_messages(client: &mut Client, n: usize) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let frame = client.next_frame().await.expect("connection open");
        if let Some(Payload::Message(m)) = frame.payload {
            got.push((m.seq, m.body));
        }
    }
    got
}

fn messages_of(history: &v1::History) -> Vec<(u64, String)> {
    let mut m: Vec<(u64, String)> = history
        .messages
        .iter()
        .map(|m| (m.seq, m.body.clone()))
        .collect();
    m.sort();
    m
}

#[tokio::test]
async fn users_on_three_nodes_chat_in_one_room_in_one_order() {
    let Some(cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(0));
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    // Each on a different node; tokens from node 0 work everywhere (one signing key).
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(cluster.addr(1), &ben.access_token, Wire::Proto).await;
    let mut c = Client::connect(cluster.addr(2), &cat.access_token, Wire::Json).await;
    let room = a.create_group("across", &[ben.id, cat.id]).await;
    for client in [&mut a, &mut b, &mut c] {
        client.open(room.id).await;
    }
    // Everyone sends at once; whichever node owns the room sequences all of it.
    let sends = 10;
    for i in 0..sends {
        for (client, who) in [(&mut a, "a"), (&mut b, "b"), (&mut c, "c")] {
            client
                .send(send_cmd(
                    room.id,
                    &format!("{who}{i}"),
                    &format!("{who} {i}"),
                ))
                .await;
        }
    }
    let total = 3 * sends;
    let mut seen = Vec::new();
    for client in [&mut a, &mut b, &mut c] {
        seen.push(collect_messages(client, total).await);
    }
    // The same messages in the same order everywhere, seqs 1..=30 without a gap.
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    let seqs: Vec<u64> = seen[0].iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<u64>>());
    // And the store agrees, read through yet another node.
    let mut reading = Client::connect(cluster.addr(1), &ben.access_token, Wire::Json).await;
    let history = reading.history_ok(room.id, 0, 100).await;
    assert_eq!(messages_of(&history), seen[0]);
    cluster.stop().await;
}

#[tokio::test]
async fn read_counts_invitations_room_lists_and_presence_cross_nodes() {
    let Some(cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(1));
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(cluster.addr(1), &ben.access_token, Wire::Json).await;
    let room = a.create_group("reads", &[ben.id]).await;
    a.open(room.id).await;
    let sent = a.say_ok(room.id, "m1", "unread by ben").await;
    // Ann sees her message with one reader missing; Ben (node 1) reads it; Ann (node 0)
    // sees the count drop.
    let m = a.next_message().await;
    assert_eq!((m.seq, m.unread), (sent.seq, 1));
    b.open(room.id).await;
    ok_payload(
        b.call(Command::MarkRead(v1::MarkRead {
            room_id: room.id,
            seq: sent.seq,
        }))
        .await,
    );
    let read = a
        .next_where(|p| match p {
            Payload::ReadReceipt(r) => Some(r),
            _ => None,
        })
        .await;
    assert_eq!((read.user_id, read.to_seq), (ben.id, sent.seq));

    // An invitation made on node 0 reaches Cat on node 2 as a new room in her list.
    let mut c = Client::connect(cluster.addr(2), &cat.access_token, Wire::Proto).await;
    ok_payload_room(
        a.call(Command::InviteMembers(v1::InviteMembers {
            room_id: room.id,
            user_ids: vec![cat.id],
        }))
        .await,
    );
    let added = c
        .next_where(|p| match p {
            Payload::RoomAdded(r) => Some(r),
            _ => None,
        })
        .await;
    assert_eq!(added.room.unwrap().room.unwrap().id, room.id);
    // A message while Cat has the room closed updates her room list (node 2).
    a.say_ok(room.id, "m2", "for the list").await;
    let update = c
        .next_where(|p| match p {
            Payload::RoomUpdate(u) => Some(u),
            _ => None,
        })
        .await;
    assert_eq!(update.room_id, room.id);

    // Presence: Cat's connection on node 2 makes her online for Ann on node 0, and
    // closing it makes her offline.
    c.open(room.id).await;
    drop(c);
    let gone = a
        .next_where(|p| match p {
            Payload::PresenceChanged(p) if p.user_id == cat.id => Some(p),
            _ => None,
        })
        .await;
    assert!(!gone.online);
    let _c2 = Client::connect(cluster.addr(2), &cat.access_token, Wire::Json).await;
    let back = a
        .next_where(|p| match p {
            Payload::PresenceChanged(p) if p.user_id == cat.id => Some(p),
            _ => None,
        })
        .await;
    assert!(back.online);
    cluster.stop().await;
}

fn ok_payload_room(p: Payload) {
    assert!(matches!(p, Payload::Room(_)), "{p:?}");
}

#[tokio::test]
async fn a_node_with_the_wrong_cookie_is_refused() {
    let Some(mut cluster) = TestCluster::start(2).await else {
        return;
    };
    // A third node with another cookie, listing both as peers.
    cluster.dirs.push(tempfile::tempdir().unwrap());
    cluster.ports.push(free_port());
    let intruder = cluster.spawn(2, &[("CHAT__CLUSTER__COOKIE", "not-the-cluster-cookie")]);
    cluster.nodes.push(Some(intruder));
    // Its handshakes fail (the cookie is checked by ractor_cluster's authentication), again
    // and again as it retries; nobody counts it, and it counts nobody.
    cluster.nodes[0]
        .as_ref()
        .unwrap()
        .wait_for_log("authentication failure", 3);
    assert_eq!(cluster.members(0).await, vec!["n0", "n1"]);
    assert_eq!(cluster.members(1).await, vec!["n0", "n1"]);
    assert_eq!(cluster.members(2).await, vec!["n2"]);
    cluster.stop().await;
}

impl TestCluster {
    /// The index of the node owning `room`, as node `asking` sees it.
    async fn owner_of(&self, asking: usize, room: u64) -> usize {
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

/// Checks a room's log against what senders were acked: every acked message exactly once at
/// its acked seq, seqs dense from 1.
async fn check_log(client: &mut Client, room: u64, acks: &[(u64, String)]) {
    let log = client.all_messages(room).await;
    let got: Vec<(u64, String)> = log
        .iter()
        .map(|m| (m.seq, m.client_msg_id.clone()))
        .collect();
    let mut want = acks.to_vec();
    want.sort();
    assert_eq!(got, want, "the log is not exactly the acked messages");
    let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=acks.len() as u64).collect::<Vec<_>>());
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
        .call(Command::OpenRoom(v1::OpenRoom {
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

/// The HTTP addresses of the nodes running now, shared with clients that must reconnect.
type LiveAddrs = std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>;

impl TestCluster {
    fn live_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().flatten().map(|n| n.addr).collect()
    }
}

/// Like [`steady_sender`], but sends until `stop` is set, and survives its node going away:
/// it reconnects to any live node and resends the unacked message (same client_msg_id).
async fn roaming_sender(
    live: LiveAddrs,
    token: String,
    room: u64,
    tag: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(u64, String)> {
    let mut acks = Vec::new();
    let mut client: Option<Client> = None;
    let mut turn = 0usize;
    let mut i = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let id = format!("{tag}-{i}");
        loop {
            let Some(c) = client.as_mut() else {
                let addrs = live.lock().unwrap().clone();
                turn += 1;
                let addr = addrs[turn % addrs.len()];
                client = Client::try_connect(addr, &token, Wire::Proto).await;
                if client.is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            };
            let request = c.send(send_cmd(room, &id, &id)).await;
            let answer = loop {
                match c.next_frame().await {
                    None => break None,
                    Some(f) if f.request_id == request => break f.payload,
                    Some(_) => {}
                }
            };
            match answer {
                Some(Payload::SendAck(a)) => {
                    acks.push((a.seq, id.clone()));
                    break;
                }
                Some(Payload::Error(e)) if e.retryable => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // The node went away (draining, or gone): reconnect elsewhere.
                None => client = None,
                other => panic!("send {id}: {other:?}"),
            }
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    acks
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
            .send(Command::OpenRoom(v1::OpenRoom {
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

/// The `chatload` binary, built beside `chatnode` (scripts/test.sh builds the workspace).
fn chatload_bin() -> std::path::PathBuf {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_chatnode")).with_file_name("chatload");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p chat-loadtest` (./scripts/test.sh does)",
        bin.display()
    );
    bin
}

#[tokio::test]
async fn chatload_runs_against_the_three_node_cluster() {
    let Some(cluster) = TestCluster::start(3).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = std::process::Command::new(chatload_bin());
    cmd.arg("--quiet");
    for addr in cluster.live_addrs() {
        cmd.args(["--target", &format!("http://{addr}")]);
    }
    // Members spread over the three nodes (clients go round-robin over the targets), so
    // most deliveries cross nodes.
    cmd.arg("--json").arg(&json).args([
        "fanout",
        "--rooms",
        "3",
        "--members",
        "6",
        "--senders",
        "3",
        "--rate",
        "150",
        "--duration-secs",
        "2",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let figure = |name: &str| {
        report["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f[0] == name)
            .and_then(|f| f[1].as_f64())
            .unwrap_or_else(|| panic!("no figure {name} in {report}"))
    };
    assert!(figure("deliveries") > 0.0, "{report}");
    assert_eq!(
        figure("deliveries"),
        figure("deliveries expected"),
        "{report}"
    );
    for bad in [
        "seq gaps",
        "seq duplicates",
        "seq reorderings",
        "error replies",
    ] {
        assert_eq!(figure(bad), 0.0, "{bad}: {report}");
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_node_that_knows_no_peer_finds_the_cluster_through_nats() {
    let Some(mut cluster) = TestCluster::start(2).await else {
        return;
    };
    cluster.dirs.push(tempfile::tempdir().unwrap());
    cluster.ports.push(free_port());
    let newcomer = cluster.spawn(2, &[("CHAT__CLUSTER__PEERS", "[]")]);
    cluster.nodes.push(Some(newcomer));
    // It announces itself and hears the others' announcements on the bus.
    cluster.wait_for_members(3).await;
    cluster.stop().await;
}

#[tokio::test]
async fn nodes_talk_over_mutual_tls_and_refuse_a_node_without_a_cluster_certificate() {
    if services().is_none() {
        return;
    }
    // A cluster CA, and one certificate for the nodes (all on 127.0.0.1 here).
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let node_key = rcgen::KeyPair::generate().unwrap();
    let node_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&node_key, &ca)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let tls = vec![
        (
            "CHAT__CLUSTER__TLS_CERT_FILE".to_owned(),
            write("node.pem", node_cert.pem()),
        ),
        (
            "CHAT__CLUSTER__TLS_KEY_FILE".to_owned(),
            write("node.key", node_key.serialize_pem()),
        ),
        (
            "CHAT__CLUSTER__TLS_CA_FILE".to_owned(),
            write("ca.pem", ca.pem()),
        ),
    ];
    let Some(mut cluster) = TestCluster::start_on(3, None, tls).await else {
        return;
    };
    // One cluster, and it chats.
    let http = Http::new(cluster.addr(0));
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(cluster.addr(1), &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(cluster.addr(2), &ben.access_token, Wire::Json).await;
    let room = a.create_group("encrypted", &[ben.id]).await;
    b.open(room.id).await;
    a.say_ok(room.id, "t1", "over TLS").await;
    assert_eq!(b.next_message().await.body, "over TLS");
    // A node with the right cookie but no certificate (plaintext) is not let in.
    cluster.dirs.push(tempfile::tempdir().unwrap());
    cluster.ports.push(free_port());
    let plain = cluster.spawn(
        3,
        &[
            ("CHAT__CLUSTER__TLS_CERT_FILE", ""),
            ("CHAT__CLUSTER__TLS_KEY_FILE", ""),
            ("CHAT__CLUSTER__TLS_CA_FILE", ""),
        ],
    );
    cluster.nodes.push(Some(plain));
    // Its sessions open and die at once (no TLS handshake), again and again.
    cluster.nodes[3]
        .as_ref()
        .unwrap()
        .wait_for_log("TCP Session closed", 2);
    assert_eq!(cluster.members(0).await, vec!["n0", "n1", "n2"]);
    assert_eq!(cluster.members(3).await, vec!["n3"]);
    cluster.stop().await;
}
