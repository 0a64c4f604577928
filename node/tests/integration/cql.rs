//! The node on the CQL backend (the Cassandra `scripts/test.sh` starts, or `SCYLLA_URI`):
//! chat end to end, and a restart of the node finding everything and continuing the seqs.

use chat_proto::v1::server_frame::Payload;
use chat_store::CqlConfig;

use crate::common::*;

/// Tests share the CQL server; the one that restarts it takes it for itself.
static SERVER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A CQL config on a keyspace of its own, or `None` when skipping was asked for.
fn cql(name: &str) -> Option<CqlConfig> {
    let uri = std::env::var("CHAT_TEST_CQL_URI")
        .or_else(|_| std::env::var("SCYLLA_URI"))
        .unwrap_or_default();
    if uri.is_empty() {
        assert_eq!(
            std::env::var("CHAT_SKIP_CQL").unwrap_or_default(),
            "1",
            "no CQL server: run ./scripts/test.sh (it starts one), set SCYLLA_URI, \
             or set CHAT_SKIP_CQL=1 to skip the CQL tests knowingly"
        );
        return None;
    }
    Some(CqlConfig {
        contact_points: vec![uri],
        keyspace: format!("chat_node_{name}_{}", std::process::id()),
        ..CqlConfig::default()
    })
}

#[tokio::test]
async fn chat_on_the_cql_backend_survives_a_node_restart() {
    let Some(store) = cql("restart") else { return };
    let _server = SERVER.read().await;
    let on_cql = |c: &mut chat_node::NodeConfig| {
        c.store.backend = "cql".into();
        c.store.cql = store.clone();
    };
    let node = TestNode::start_with(on_cql).await;
    let [alice, bob] = node.http().signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Proto).await;
    let room = a.create_direct(bob.id).await.id;
    b.open(room).await;
    for n in 1..=5 {
        let ack = a
            .say_ok(room, &format!("c{n}"), &format!("hello {n}"))
            .await;
        assert_eq!(ack.seq, n);
        assert_eq!(b.next_message().await.seq, n);
    }
    // A retry is the same message.
    assert_eq!(a.say_ok(room, "c3", "hello 3").await.seq, 3);
    drop((a, b));
    node.stop().await;

    // Another node on the same database: accounts, rooms and history are all there, and
    // the room's log continues where it ended.
    let node = TestNode::start_with(on_cql).await;
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Json).await;
    let all = b.all_messages(room).await;
    assert_eq!(
        all.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["hello 1", "hello 2", "hello 3", "hello 4", "hello 5"]
    );
    let ack = b.say_ok(room, "b1", "back").await;
    assert_eq!(ack.seq, 6);
    let (status, _) = node
        .http()
        .post(
            "/v1/auth/login",
            &serde_json::json!({"username": "alice", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 200);
    node.stop().await;
    chat_store::CqlStore::drop_keyspace(&store).await.unwrap();
}

#[tokio::test]
async fn every_acked_message_survives_a_cql_server_restart() {
    let Some(store) = cql("outage") else { return };
    // Nobody else may use the server while it goes down and comes back.
    let _server = SERVER.write().await;
    let Ok(restart) = std::env::var("CHAT_TEST_CQL_RESTART") else {
        // Only an external ScyllaDB (SCYLLA_URI) comes without a restart script.
        assert!(
            std::env::var("SCYLLA_URI").is_ok(),
            "CHAT_TEST_CQL_RESTART is not set: run ./scripts/test.sh"
        );
        eprintln!("restart test SKIPPED: the ScyllaDB at SCYLLA_URI cannot be restarted here");
        return;
    };
    let node = TestNode::start_with(|c| {
        c.store.backend = "cql".into();
        c.store.cql = store.clone();
        c.store.cql.request_timeout_ms = 2000;
    })
    .await;
    let [alice, bob] = node.http().signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await.id;

    // Sends with retries (same client_msg_id) until acked, as a client would.
    let mut acked = Vec::new();
    let mut failures = 0;
    let mut restarting = None;
    for n in 1..=30u64 {
        if n == 11 {
            let script = restart.clone();
            restarting = Some(tokio::task::spawn_blocking(move || {
                std::process::Command::new("bash")
                    .arg(script)
                    .status()
                    .expect("run the restart script")
            }));
        }
        if n == 21 {
            // The server is back before the last third.
            let status = restarting.take().unwrap().await.unwrap();
            assert!(status.success(), "restart failed");
        }
        let id = format!("m{n}");
        let deadline = tokio::time::Instant::now() + PATIENCE * 6;
        loop {
            match a.say(room, &id, &format!("message {n}")).await {
                Payload::SendAck(ack) => {
                    acked.push((ack.seq, id.clone()));
                    break;
                }
                Payload::Error(e) => {
                    assert!(e.retryable, "an outage must look retryable: {e:?}");
                    failures += 1;
                    assert!(tokio::time::Instant::now() < deadline, "never recovered");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(failures > 0, "the restart was not noticed at all");
    // Exactly the acked messages, each once, in a dense log.
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Json).await;
    let all = b.all_messages(room).await;
    let log: Vec<(u64, String)> = all
        .iter()
        .map(|m| (m.seq, m.client_msg_id.clone()))
        .collect();
    assert_eq!(log, acked);
    assert_eq!(
        log.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    node.stop().await;
    chat_store::CqlStore::drop_keyspace(&store).await.unwrap();
}

#[tokio::test]
async fn a_node_waits_for_an_unreachable_cql_server_and_says_it_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: the store cannot be reached.
    let mut node = NodeProcess::start_listening(
        dir.path(),
        &[
            ("CHAT__STORE__BACKEND", "cql"),
            ("CHAT__STORE__CQL__CONTACT_POINTS", "[\"127.0.0.1:1\"]"),
            ("CHAT__STORE__CQL__CONNECT_TIMEOUT_MS", "200"),
        ],
    );
    let http = Http::new(node.addr);
    assert_eq!(http.get("/healthz").await, (200, "ok".to_string()));
    assert_eq!(http.get("/readyz").await, (503, "starting".to_string()));
    let (status, body) = http
        .post(
            "/v1/auth/login",
            &serde_json::json!({"username": "a", "password": "b"}),
        )
        .await;
    assert_eq!((status, reason(&body)), (503, "STARTING"));
    // It keeps trying instead of exiting (a crash loop helps nobody): two more failed
    // attempts, and it is still there.
    // (Blocking here is fine: the node is another process.)
    node.wait_for_log("CQL store unreachable", 2);
    assert!(node.child.try_wait().unwrap().is_none(), "the node exited");
    assert_eq!(http.get("/readyz").await.0, 503);
    node.kill9();
}
