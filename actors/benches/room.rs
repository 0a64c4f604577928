//! The room actor's sequencing + fan-out step, in process: sends pipelined into one room
//! actor, sequenced, group-committed (fsync off, to isolate the actor path), acked and fanned
//! out through the hub into every member's outbound queue, which the bench drains.
//! Run: `cargo bench -p chat-actors --bench room`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use chat_actors::{
    AuthConfig, ChatConfig, ChatSystem, SystemConfig, TokenSigner,
    hub::Topic,
    outbound::{OutboundReceiver, outbound_queue},
    room::{RoomMessage, SendRequest},
};
use chat_store::{EmbeddedConfig, EmbeddedStore, RoomKind, RoomRecord, Store, UserRecord};
use divan::Bencher;

fn main() {
    divan::main();
}

const BATCH: u64 = 256;

struct Setup {
    rt: tokio::runtime::Runtime,
    system: ChatSystem,
    room: u64,
    queues: Vec<OutboundReceiver>,
    _dir: tempfile::TempDir,
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
                signer: TokenSigner::new("k", vec![1; 32]),
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
            let (tx, rx) = outbound_queue(1 << 16);
            system
                .services
                .core
                .hub
                .subscribe(Topic::Room(1), u, u, tx, false);
            queues.push(rx);
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
                let actor = rooms.get(room).await.unwrap();
                let mut acks = Vec::with_capacity(BATCH as usize);
                for i in start..start + BATCH {
                    let (tx, rx) = ractor::concurrency::oneshot();
                    let req = SendRequest {
                        sender: 1,
                        client_msg_id: format!("m{i}"),
                        body: "x".repeat(100),
                        attachments: Vec::new(),
                    };
                    actor.cast(RoomMessage::Send(req, tx.into())).unwrap();
                    acks.push(rx);
                }
                for rx in acks {
                    rx.await.unwrap().unwrap();
                }
            });
            let mut delivered = 0u64;
            for q in &mut s.queues {
                while q.try_next_frame().is_some() {
                    delivered += 1;
                }
            }
            assert!(delivered >= BATCH * members);
        });
}
