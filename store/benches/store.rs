//! The embedded store's hot paths: group-committed appends (fsync on), idempotency lookups
//! and history pages. Run: `cargo bench -p chat-store --bench store`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use chat_store::{AppendBatch, EmbeddedConfig, EmbeddedStore, MessageLog, MessageRecord};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn open(dir: &std::path::Path, fsync: bool) -> EmbeddedStore {
    EmbeddedStore::open(EmbeddedConfig {
        path: dir.to_path_buf(),
        bucket_width_ms: 864_000_000,
        fsync,
        max_batch: 1024,
    })
    .unwrap()
}

fn message(room: u64, seq: u64) -> MessageRecord {
    MessageRecord {
        room_id: room,
        seq,
        id: seq,
        sender_id: 7,
        client_msg_id: format!("c{seq}"),
        body: "x".repeat(100),
        sent_at_ms: 1_795_615_254_300 + seq as i64,
        attachments: Vec::new(),
        ordinal: seq,
        ..MessageRecord::default()
    }
}

/// `rooms` rooms each appending one message at a time, concurrently: the committer folds
/// them into group commits. Measures one round (one message per room).
#[divan::bench(args = [1, 16, 64], sample_count = 20, sample_size = 5)]
fn durable_append_round(bencher: Bencher, rooms: u64) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path(), true));
    let mut seq = 0u64;
    bencher
        .counter(divan::counter::ItemsCount::new(rooms))
        .bench_local(|| {
            seq += 1;
            let s = seq;
            rt.block_on(async {
                let mut tasks = Vec::new();
                for room in 0..rooms {
                    let store = store.clone();
                    tasks.push(tokio::spawn(async move {
                        store
                            .append(
                                room,
                                0,
                                s - 1,
                                AppendBatch::messages(vec![message(room, s)]),
                            )
                            .await
                            .unwrap();
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
        });
}

#[divan::bench(sample_count = 50)]
fn history_page_of_50_in_a_100k_room(bencher: Bencher) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), false);
    rt.block_on(async {
        for chunk in 0..100u64 {
            let batch = (1..=1000).map(|i| message(1, chunk * 1000 + i)).collect();
            store
                .append(1, 0, chunk * 1000, AppendBatch::messages(batch))
                .await
                .unwrap();
        }
    });
    let mut x = 12_345u64;
    bencher.bench_local(|| {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let before = 51 + x % 99_900;
        rt.block_on(store.history(1, black_box(before), 50))
            .unwrap()
    });
}

#[divan::bench]
fn idempotency_lookup_miss(bencher: Bencher) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), false);
    rt.block_on(async {
        let batch = (1..=1000).map(|i| message(1, i)).collect();
        store
            .append(1, 0, 0, AppendBatch::messages(batch))
            .await
            .unwrap();
    });
    bencher.bench_local(|| {
        rt.block_on(store.find_client_message(1, 7, black_box("never sent")))
            .unwrap()
    });
}
