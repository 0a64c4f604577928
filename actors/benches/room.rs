//! The room actor's sequencing + fan-out step, in process: sends pipelined into one room
//! actor, sequenced, group-committed (fsync off, to isolate the actor path), acked and fanned
//! out through the hub into the outbound queue of every member's connection (each has the
//! room open, as a transport's would), which the bench drains.
//! Run: `cargo bench -p chat-actors --bench room`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use chat_actors::{
    AuthConfig, ChatConfig, ChatSystem, SystemConfig, TokenSigner,
    auth::Claims,
    connection::{ConnectionHandle, ConnectionMessage, SessionAuth},
    outbound::Outbound,
    room::{RoomOp, SendRequest},
};
use chat_proto::v1::{ClientFrame, OpenRoomRequest, client_frame::Command, server_frame::Payload};
use chat_store::{
    AccountStore, EmbeddedConfig, EmbeddedStore, RoomKind, RoomRecord, RoomStore, UserRecord,
};
use divan::Bencher;

fn main() {
    divan::main();
}

const BATCH: u64 = 256;

struct Setup {
    rt: tokio::runtime::Runtime,
    system: ChatSystem,
    room: u64,
    queues: Vec<ConnectionHandle>,
    _dir: tempfile::TempDir,
}

/// A connection of user `u` with room 1 open, its replies drained.
async fn member(system: &ChatSystem, u: u64) -> ConnectionHandle {
    let claims = Claims {
        sub: u.to_string(),
        iat: 0,
        exp: i64::MAX / 2,
        sid: u,
    };
    let token = signer().sign(&claims);
    let mut c = system
        .connections
        .open_session(SessionAuth::Upfront(token), None)
        .await
        .unwrap();
    let open = ClientFrame {
        request_id: 1,
        command: Some(Command::OpenRoom(OpenRoomRequest {
            room_id: 1,
            since_seq: 0,
        })),
    };
    c.slot
        .dispatch(ConnectionMessage::Frame(open, None))
        .await
        .unwrap();
    loop {
        match c.outbound.next().await {
            Some(Outbound::Frame(f))
                if matches!(f.frame().payload, Some(Payload::RoomOpened(_))) =>
            {
                return c;
            }
            Some(Outbound::Frame(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}

fn signer() -> TokenSigner {
    TokenSigner::new("k", vec![1; 32])
}

fn setup(members: u64) -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (system, queues) = rt.block_on(async {
        let store = Arc::new(
            EmbeddedStore::open(EmbeddedConfig {
                path: dir.path().to_path_buf(),
                bucket_width_ms: 864_000_000,
                fsync: false,
                max_batch: 1024,
            })
            .unwrap(),
        );
        for u in 1..=members {
            let user = UserRecord {
                id: u,
                username: format!("u{u}"),
                display_name: format!("U{u}"),
                password_hash: String::new(),
                created_at_ms: 0,
                status_message: String::new(),
                avatar_file_id: 0,
            };
            store.create_user(user).await.unwrap();
        }
        let room = RoomRecord {
            id: 1,
            kind: RoomKind::Group,
            name: "bench".into(),
            created_by: 1,
            created_at_ms: 0,
            shared_history: false,
        };
        store
            .create_room(room, (1..=members).collect())
            .await
            .unwrap();
        let config = ChatConfig {
            outbound_queue: 1 << 16,
            ..ChatConfig::default()
        };
        let system = ChatSystem::start(
            SystemConfig {
                chat: config,
                auth: AuthConfig::default(),
                signer: signer(),
                node_id: "bench".into(),
                node_index: 0,
                fault_injection: false,
                files: chat_actors::FilesConfig::default(),
                blobs: chat_store::Blobs::open(&chat_store::BlobConfig::Local {
                    root: std::env::temp_dir().join("chat-bench-files"),
                })
                .unwrap(),
                cluster: Default::default(),
                bus: Default::default(),
                limits: chat_actors::limits::LimitsConfig::unlimited(),
            },
            store,
        )
        .await
        .unwrap();
        let mut queues = Vec::new();
        for u in 1..=members {
            queues.push(member(&system, u).await);
        }
        (system, queues)
    });
    Setup {
        rt,
        system,
        room: 1,
        queues,
        _dir: dir,
    }
}

/// Sends `BATCH` messages pipelined, waits for every ack, drains every member's queue.
#[divan::bench(args = [1, 100, 1000], sample_count = 20, sample_size = 1)]
fn sequence_and_fan_out(bencher: Bencher, members: u64) {
    let mut s = setup(members);
    let mut n = 0u64;
    bencher
        .counter(divan::counter::ItemsCount::new(BATCH))
        .bench_local(|| {
            let rooms = s.system.services.rooms.clone();
            let room = s.room;
            let start = n;
            n += BATCH;
            s.rt.block_on(async move {
                let mut acks = Vec::with_capacity(BATCH as usize);
                for i in start..start + BATCH {
                    let req = SendRequest {
                        sender: 1,
                        client_msg_id: format!("m{i}"),
                        body: "x".repeat(100),
                        attachments: Vec::new(),
                        ..Default::default()
                    };
                    acks.push(rooms.submit(room, RoomOp::Send(req)).await.unwrap());
                }
                for ack in acks {
                    ack.await.unwrap();
                }
            });
            let mut delivered = 0u64;
            for q in &mut s.queues {
                while q.outbound.try_next_frame().is_some() {
                    delivered += 1;
                }
            }
            assert!(delivered >= BATCH * members);
        });
}
