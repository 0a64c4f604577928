//! The managed client against real nodes (in-process, port 0): chatting over each transport,
//! the outbox, a restart, a network gone silent, a truncated recovery, token expiry,
//! revocation and refused connections. A small TCP proxy stands for the network.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chat_client::{
    Client, ConnectionState, Dial, Event, HttpApi, Options, OutboxState, Session, Transport, Wire,
    v1::{self, client_frame::Command, server_frame::Payload},
};
use tokio::sync::mpsc::UnboundedReceiver;

mod proxy;
use proxy::Proxy;

struct Node {
    running: Option<chat_node::RunningNode>,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    adjust: Arc<dyn Fn(&mut chat_node::NodeConfig) + Send + Sync>,
}

impl Node {
    async fn start(adjust: impl Fn(&mut chat_node::NodeConfig) + Send + Sync + 'static) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut node = Self {
            running: None,
            dir,
            addr: "127.0.0.1:0".parse().unwrap(),
            adjust: Arc::new(adjust),
        };
        node.launch().await;
        node
    }

    async fn launch(&mut self) {
        let mut c = chat_node::NodeConfig::default();
        c.node.data_dir = self.dir.path().to_path_buf();
        c.http.listen = self.addr.to_string();
        c.auth.tokens.argon2_memory_kib = 1024;
        c.auth.tokens.argon2_iterations = 1;
        c.node.shutdown_timeout_secs = 5;
        c.limits = chat_actors::limits::LimitsConfig::unlimited();
        (self.adjust)(&mut c);
        let running = chat_node::start(c).await.unwrap();
        self.addr = running.http_addr;
        self.running = Some(running);
    }

    async fn stop(&mut self) {
        if let Some(n) = self.running.take() {
            n.shutdown().await;
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

struct User {
    id: u64,
    session: Session,
    client: Client,
    events: UnboundedReceiver<Event>,
}

async fn user(base: &str, name: &str, options: Options) -> User {
    let http = HttpApi::new(base);
    let tokens = http
        .signup(name, name, "correct horse battery")
        .await
        .unwrap();
    let id = tokens.user.as_ref().unwrap().id;
    let session = Session::new(http, tokens);
    let (client, events) = Client::connect(options, session.clone());
    let mut u = User {
        id,
        session,
        client,
        events,
    };
    u.until(|e| matches!(e, Event::Ready(_)).then_some(()))
        .await;
    u
}

impl User {
    /// The first event `f` picks, within a generous bound (a condition, not a sleep).
    async fn until<T>(&mut self, mut f: impl FnMut(&Event) -> Option<T>) -> T {
        let wait = async {
            loop {
                let e = self.events.recv().await.expect("events end");
                if let Some(t) = f(&e) {
                    return t;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("the event did not come")
    }

    /// Messages until `n` arrived; returns their seqs.
    async fn messages(&mut self, n: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        while seqs.len() < n {
            seqs.push(
                self.until(|e| match e {
                    Event::Message(m) => Some(m.seq),
                    _ => None,
                })
                .await,
            );
        }
        seqs
    }

    async fn group_with(&self, others: &[&User]) -> u64 {
        let command = Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
            name: "room".into(),
            member_ids: others.iter().map(|u| u.id).collect(),
            ..Default::default()
        });
        match self.client.request(command).await.unwrap() {
            Payload::Room(r) => r.id,
            other => panic!("{other:?}"),
        }
    }

    /// Sends through the outbox and waits for the ack; returns the seq.
    async fn say(&mut self, room: u64, body: &str) -> u64 {
        let id = self.client.send(room, body, vec![]).unwrap();
        self.until(|e| match e {
            Event::Outbox(u) if u.client_msg_id == id => match &u.state {
                OutboxState::Sent(ack) => Some(ack.seq),
                OutboxState::Failed(e) => panic!("send failed: {e}"),
                _ => None,
            },
            _ => None,
        })
        .await
    }
}

fn options(base: &str, transport: Transport, wire: Wire) -> Options {
    let mut o = Options::new(base);
    o.dial = Dial {
        transport,
        wire,
        source: None,
    };
    o.reconnect_delay = Duration::from_millis(50);
    o.reconnect_max_delay = Duration::from_millis(400);
    o
}

#[tokio::test]
async fn two_people_chat_over_each_transport() {
    let node = Node::start(|_| {}).await;
    for (i, (transport, wire)) in [
        (Transport::WebSocket, Wire::Binary),
        (Transport::WebSocket, Wire::Json),
        (Transport::Grpc, Wire::Binary),
    ]
    .into_iter()
    .enumerate()
    {
        let o = options(&node.base(), transport, wire);
        let mut a = user(&node.base(), &format!("alice{i}"), o.clone()).await;
        let mut b = user(&node.base(), &format!("bob{i}"), o).await;
        let room = a.group_with(&[&b]).await;
        b.until(|e| matches!(e, Event::Server(Payload::RoomAdded(_))).then_some(()))
            .await;
        b.client.open_room(room).await.unwrap();
        assert_eq!(a.say(room, "안녕").await, 1);
        assert_eq!(b.messages(1).await, [1]);
        // Typed events: the read receipt reaches the sender's open room.
        a.client.open_room(room).await.unwrap();
        let read = Command::MarkRead(v1::MarkReadRequest {
            room_id: room,
            seq: 1,
        });
        b.client.request(read).await.unwrap();
        let to = a
            .until(|e| match e {
                Event::Server(Payload::ReadReceipt(r)) => Some(r.to_seq),
                _ => None,
            })
            .await;
        assert_eq!(to, 1);
        // Typed errors.
        let missing = Command::GetUser(v1::GetUserRequest {
            username: "nobody_here".into(),
            user_id: 0,
        });
        let e = a.client.request(missing).await.unwrap_err();
        assert_eq!((e.reason(), e.retryable()), ("USER_NOT_FOUND", false));
        // The outbox: a refusal fails visibly.
        let id = a.client.send(room, &"x".repeat(5000), vec![]).unwrap();
        let failed = a
            .until(|e| match e {
                Event::Outbox(u) if u.client_msg_id == id => match &u.state {
                    OutboxState::Failed(e) => Some(e.reason().to_owned()),
                    _ => None,
                },
                _ => None,
            })
            .await;
        assert_eq!(failed, "MESSAGE_TOO_LONG");
        assert_eq!(a.client.unsent().await.unwrap().len(), 1);
        a.client.discard_send(&id).unwrap();
        assert!(a.client.unsent().await.unwrap().is_empty());
        let page = a.client.history(room, 0, 10).await.unwrap();
        assert_eq!(page.messages.len(), 1);
        a.client.close();
        b.client.close();
    }
}

#[tokio::test]
async fn a_restart_loses_nothing_and_sends_what_was_queued() {
    let mut node = Node::start(|_| {}).await;
    let o = options(&node.base(), Transport::WebSocket, Wire::Binary);
    let mut a = user(&node.base(), "alice", o.clone()).await;
    let mut b = user(&node.base(), "bob", o).await;
    let room = a.group_with(&[&b]).await;
    b.client.open_room(room).await.unwrap();
    for i in 1..=3 {
        a.say(room, &format!("before {i}")).await;
    }
    assert_eq!(b.messages(3).await, [1, 2, 3]);

    node.stop().await;
    a.until(|e| matches!(e, Event::State(ConnectionState::Offline)).then_some(()))
        .await;
    let ids: Vec<String> = (1..=3)
        .map(|i| a.client.send(room, &format!("during {i}"), vec![]).unwrap())
        .collect();
    node.launch().await;
    let mut acked = Vec::new();
    while acked.len() < 3 {
        let seq = a
            .until(|e| match e {
                Event::Outbox(u) if ids.contains(&u.client_msg_id) => match &u.state {
                    OutboxState::Sent(ack) => Some(ack.seq),
                    _ => None,
                },
                _ => None,
            })
            .await;
        acked.push(seq);
    }
    assert_eq!(acked, [4, 5, 6]);
    assert_eq!(b.messages(3).await, [4, 5, 6]);
    node.stop().await;
}

#[tokio::test]
async fn a_silent_network_is_noticed_and_a_truncated_recovery_filled() {
    let node = Node::start(|_| {}).await;
    let proxy = Proxy::start(node.addr).await;
    let mut o = options(
        &format!("http://{}", proxy.addr),
        Transport::WebSocket,
        Wire::Binary,
    );
    o.heartbeat_interval = Duration::from_millis(400);
    o.heartbeat_timeout = Duration::from_millis(800);
    let mut a = user(
        &node.base(),
        "alice",
        options(&node.base(), Transport::WebSocket, Wire::Binary),
    )
    .await;
    let mut b = user(&node.base(), "bob", o).await;
    let room = a.group_with(&[&b]).await;
    b.client.open_room(room).await.unwrap();
    a.say(room, "first").await;
    assert_eq!(b.messages(1).await, [1]);

    // Bob's connection goes silent (nothing closes); more than a re-open recovers is sent.
    proxy.freeze();
    for i in 2..=620 {
        a.client.send(room, &format!("m{i}"), vec![]).unwrap();
    }
    b.until(|e| matches!(e, Event::State(ConnectionState::Offline)).then_some(()))
        .await;
    let truncated = b
        .until(|e| match e {
            Event::RoomOpened(o) => Some(o.recovery_truncated),
            _ => None,
        })
        .await;
    assert!(truncated, "more than the recovery limit was missed");
    assert_eq!(b.messages(619).await, (2..=620).collect::<Vec<_>>());
    assert_eq!(b.client.last_seq(room).await.unwrap(), 620);
}

#[tokio::test]
async fn tokens_are_renewed_in_place_and_revocation_signs_out() {
    let node = Node::start(|c| {
        c.auth.tokens.access_ttl_secs = 3;
        c.limits.connections_per_user = 1;
    })
    .await;
    let mut o = options(&node.base(), Transport::WebSocket, Wire::Binary);
    o.reauth_margin = Duration::from_millis(1500);
    let mut a = user(&node.base(), "alice", o.clone()).await;
    let first = a.session.tokens().await.access_token;
    // Three token lifetimes on one connection.
    let room = a.group_with(&[]).await;
    let mut n = 0;
    let until = std::time::Instant::now() + Duration::from_secs(8);
    while std::time::Instant::now() < until {
        n += 1;
        assert_eq!(a.say(room, &format!("m{n}")).await, n);
    }
    assert_ne!(a.session.tokens().await.access_token, first);
    while let Ok(e) = a.events.try_recv() {
        assert!(
            !matches!(e, Event::State(_)),
            "the connection dropped: {e:?}"
        );
    }

    // A second connection of the user is refused for good.
    let (second, mut events) = Client::connect(o, a.session.clone());
    let refused = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(Event::Closed(e)) = events.recv().await {
                return e;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(refused.reason(), "TOO_MANY_CONNECTIONS");
    second.close();

    let token = a.session.tokens().await.access_token;
    HttpApi::new(&node.base())
        .logout_everywhere(&token)
        .await
        .unwrap();
    let reason = a
        .until(|e| match e {
            Event::SignedOut(e) => Some(e.reason().to_owned()),
            _ => None,
        })
        .await;
    assert_eq!(reason, "AUTH_REVOKED");
}

/// `target/<profile>/examples/<name>`, next to this test's own binary.
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile.join("examples").join(name)
}

#[tokio::test]
async fn the_terminal_chat_example_works() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let node = Node::start(|_| {}).await;
    let o = options(&node.base(), Transport::WebSocket, Wire::Binary);
    let mut bob = user(&node.base(), "bob", o).await;
    let mut cli = tokio::process::Command::new(example("chat"))
        .args([
            "--url",
            &node.base(),
            "--signup",
            "alice",
            "alice password",
            "--with",
            "bob",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the example is built with the tests");
    let mut stderr = tokio::io::BufReader::new(cli.stderr.take().unwrap()).lines();
    let room: u64 = loop {
        let line = stderr.next_line().await.unwrap().expect("the chat started");
        if let Some(rest) = line.strip_prefix("[room ") {
            break rest.split(':').next().unwrap().parse().unwrap();
        }
    };
    bob.client.open_room(room).await.unwrap();
    let mut stdin = cli.stdin.take().unwrap();
    stdin.write_all(b"hello from a terminal\n").await.unwrap();
    let body = bob
        .until(|e| match e {
            Event::Message(m) => Some(m.body.clone()),
            _ => None,
        })
        .await;
    assert_eq!(body, "hello from a terminal");
    bob.say(room, "hello back").await;
    let mut stdout = tokio::io::BufReader::new(cli.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line.as_deref(), Some("bob: hello back"));
    drop(stdin);
    assert!(cli.wait().await.unwrap().success());
}
