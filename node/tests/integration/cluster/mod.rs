//! The cluster (issue 8): three real `chatnode` processes on loopback, sharing the CQL
//! server, the S3 server and the NATS server that `scripts/test.sh` starts. Each test gets
//! its own keyspace and NATS subject prefix, so tests run side by side.

use std::{net::SocketAddr, time::Duration};

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use serde_json::Value;

use crate::common::*;

mod access;
mod bus;
mod chatload;
mod failover;
mod forward;
mod membership;
mod order;
mod timeline;

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
