//! The dispatcher without any socket: frames in through the actor, frames out of the
//! outbound queue, as a transport would see them.

use std::{sync::Arc, time::Duration};

use chat_proto::v1::{
    self, ClientFrame, ServerFrame, client_frame::Command, server_frame::Payload,
};
use chat_store::{EmbeddedConfig, EmbeddedStore};

use super::{ConnectionHandle, ConnectionMessage};
use crate::{AuthConfig, ChatConfig, ChatSystem, SystemConfig, TokenSigner, outbound::Outbound};

async fn system(dir: &std::path::Path) -> ChatSystem {
    system_with(dir, ChatConfig::default()).await
}

async fn system_with(dir: &std::path::Path, chat: ChatConfig) -> ChatSystem {
    let store = EmbeddedStore::open(EmbeddedConfig {
        path: dir.to_path_buf(),
        bucket_width_ms: 1000,
        fsync: false,
        max_batch: 16,
    })
    .unwrap();
    let auth = AuthConfig {
        argon2_memory_kib: 256,
        argon2_iterations: 1,
        ..AuthConfig::default()
    };
    ChatSystem::start(
        SystemConfig {
            chat,
            auth,
            signer: TokenSigner::new("k", vec![9; 32]),
            node_id: "test".into(),
            node_index: 1,
            fault_injection: false,
            files: crate::FilesConfig::default(),
            blobs: chat_store::Blobs::open(&chat_store::BlobConfig::Local {
                root: dir.join("files"),
            })
            .unwrap(),
            cluster: Default::default(),
            bus: Default::default(),
            limits: crate::limits::LimitsConfig::unlimited(),
        },
        Arc::new(store),
    )
    .await
    .unwrap()
}

struct Conn(ConnectionHandle, u32);

impl Conn {
    async fn send(&mut self, command: Command) -> u32 {
        self.1 += 1;
        let frame = ClientFrame {
            request_id: self.1,
            command: Some(command),
        };
        let permit = self.0.permits.clone().acquire_owned().await.unwrap();
        self.0
            .slot
            .dispatch(ConnectionMessage::Frame(frame, Some(permit)))
            .await
            .unwrap();
        self.1
    }

    async fn next(&mut self) -> ServerFrame {
        match tokio::time::timeout(Duration::from_secs(10), self.0.outbound.next()).await {
            Ok(Some(Outbound::Frame(f))) => f.frame().clone(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    async fn call(&mut self, command: Command) -> Payload {
        let id = self.send(command).await;
        loop {
            let f = self.next().await;
            if f.request_id == id {
                return f.payload.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn frames_in_frames_out() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let s = &sys.services;
    let alice = s.auth.signup("alice", "Alice", "password 1").await.unwrap();
    let bob = s.auth.signup("bob", "Bob", "password 2").await.unwrap();

    let mut a = Conn(s.connections.open(s).await.unwrap(), 0);
    let mut b = Conn(s.connections.open(s).await.unwrap(), 0);
    let p = a.call(Command::Ping(v1::Ping {})).await;
    assert_eq!(
        p,
        Payload::Error(
            crate::ChatError::Unauthenticated(
                crate::Reason::NotAuthenticated,
                "authenticate first".into()
            )
            .to_proto()
        )
    );
    for (conn, tokens) in [(&mut a, &alice), (&mut b, &bob)] {
        let p = conn
            .call(Command::Authenticate(v1::Authenticate {
                access_token: tokens.access_token.clone(),
            }))
            .await;
        assert!(matches!(p, Payload::Authenticated(_)), "{p:?}");
    }
    assert_eq!(s.connections.len(), 2);
    assert!(s.users.is_online(alice.user.id).await);

    let Payload::Room(room) = a
        .call(Command::CreateDirectRoom(v1::CreateDirectRoom {
            peer_id: bob.user.id,
        }))
        .await
    else {
        panic!()
    };
    assert!(matches!(
        b.call(Command::OpenRoom(v1::OpenRoom {
            room_id: room.id,
            since_seq: 0
        }))
        .await,
        Payload::RoomOpened(_)
    ));
    let send = v1::SendMessage {
        room_id: room.id,
        client_msg_id: "x".into(),
        body: "hello".into(),
        file_ids: Vec::new(),
    };
    let Payload::SendAck(ack) = a.call(Command::SendMessage(send)).await else {
        panic!()
    };
    assert_eq!(ack.seq, 1);
    let event = b.next().await;
    let Some(Payload::Message(m)) = event.payload else {
        panic!("{event:?}")
    };
    assert_eq!(
        (m.seq, m.body.as_str(), m.sender_id),
        (1, "hello", alice.user.id)
    );

    // The transport going away stops the actor and frees its subscriptions.
    b.0.slot.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.connections.len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection not removed"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(s.core.hub.subscribers(crate::hub::Topic::Room(room.id)), 0);
    sys.shutdown(Duration::from_secs(5)).await;
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_idle_connection_hibernates_keeps_receiving_and_wakes_on_its_next_frame() {
    let dir = tempfile::tempdir().unwrap();
    let chat = ChatConfig {
        connection_idle_secs: 1,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), chat).await;
    let s = &sys.services;
    let alice = s.auth.signup("alice", "Alice", "password 1").await.unwrap();
    let bob = s.auth.signup("bob", "Bob", "password 2").await.unwrap();
    let mut a = Conn(s.connections.open(s).await.unwrap(), 0);
    let mut b = Conn(s.connections.open(s).await.unwrap(), 0);
    for (conn, tokens) in [(&mut a, &alice), (&mut b, &bob)] {
        let auth = v1::Authenticate {
            access_token: tokens.access_token.clone(),
        };
        assert!(matches!(
            conn.call(Command::Authenticate(auth)).await,
            Payload::Authenticated(_)
        ));
    }
    let open = |room_id| {
        Command::OpenRoom(v1::OpenRoom {
            room_id,
            since_seq: 0,
        })
    };
    let Payload::Room(room) = a
        .call(Command::CreateDirectRoom(v1::CreateDirectRoom {
            peer_id: bob.user.id,
        }))
        .await
    else {
        panic!()
    };
    assert!(matches!(
        b.call(open(room.id)).await,
        Payload::RoomOpened(_)
    ));

    // Bob goes quiet: his actor is released, his connection stays.
    let (registry, bob_conn) = (s.connections.clone(), b.0.conn_id);
    wait_until("bob's actor to hibernate", || !registry.is_awake(bob_conn)).await;
    assert_eq!(s.connections.len(), 2);
    assert!(s.users.is_online(bob.user.id).await);

    // Live messages still reach him, and not as chat-list updates (the room is still open).
    let send = v1::SendMessage {
        room_id: room.id,
        client_msg_id: "1".into(),
        body: "hi".into(),
        file_ids: Vec::new(),
    };
    assert!(matches!(
        a.call(Command::SendMessage(send)).await,
        Payload::SendAck(_)
    ));
    let event = b.next().await;
    assert!(
        matches!(event.payload, Some(Payload::Message(ref m)) if m.body == "hi"),
        "{event:?}"
    );

    // His next frame wakes a fresh actor that remembers who he is and what he has open.
    let reply = v1::SendMessage {
        room_id: room.id,
        client_msg_id: "2".into(),
        body: "hello".into(),
        file_ids: Vec::new(),
    };
    let Payload::SendAck(ack) = b.call(Command::SendMessage(reply)).await else {
        panic!()
    };
    assert_eq!(ack.seq, 2);
    assert!(s.connections.is_awake(bob_conn));

    // Closing a hibernating connection cleans up without waking it.
    wait_until("bob's actor to hibernate again", || {
        !registry.is_awake(bob_conn)
    })
    .await;
    b.0.slot.close().await;
    wait_until("bob's connection to be gone", || registry.len() == 1).await;
    assert_eq!(s.core.hub.subscribers(crate::hub::Topic::Room(room.id)), 0);
    sys.shutdown(Duration::from_secs(5)).await;
}
