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
        let s = services()?;
        let tag = format!(
            "c{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros()
                % 1_000_000_000
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
