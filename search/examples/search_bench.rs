//! Query latency and index size of message search on the embedded store, for
//! BENCHMARKS.md: fills rooms with generated chat (Korean and English words, Zipf-like),
//! indexes them with the indexer, then times queries of several shapes.
//!
//! `cargo run --release -p chat-search --example search_bench -- ROOMS MESSAGES_PER_ROOM`
//! (defaults 1 and 100000). Prints p50/p99/max per query shape and bytes per message.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::{sync::Arc, time::Instant};

use chat_search::{Filters, Query, RoomView, indexer, search};
use chat_store::{AppendBatch, EmbeddedConfig, EmbeddedStore, MessageRecord, SharedStore};

const WORDS: &[&str] = &[
    "친구에게",
    "오늘",
    "내일",
    "회의",
    "시간",
    "주소",
    "점심",
    "저녁",
    "같이",
    "먹자",
    "ㅋㅋㅋ",
    "사진",
    "보내줘",
    "어디야",
    "도착",
    "출발",
    "역삼동",
    "강남역",
    "카톡",
    "확인",
    "meeting",
    "tomorrow",
    "the",
    "report",
    "deadline",
    "lunch",
    "please",
    "check",
    "office",
    "station",
    "weekend",
    "movie",
    "ticket",
    "birthday",
    "cake",
    "coffee",
    "진짜",
    "대박",
    "고마워",
    "미안",
];

/// A deterministic xorshift generator (no dependency for a benchmark's data).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A word, the first ones far more often (roughly Zipf).
    fn word(&mut self) -> &'static str {
        let r = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        let i = ((WORDS.len() as f64).powf(r) - 1.0) as usize;
        WORDS[i.min(WORDS.len() - 1)]
    }

    fn body(&mut self, n: u64) -> String {
        let len = 3 + self.next() % 8;
        let mut words: Vec<String> = (0..len).map(|_| self.word().to_string()).collect();
        // One rare token per message: a needle for the rare-term queries.
        words.push(format!("code{}", n % 50_000));
        words.join(" ")
    }
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(path).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

async fn fill(store: &SharedStore, room: u64, count: u64, rng: &mut Rng) {
    let epoch = store.claim_room(room).await.unwrap();
    let mut last = 0;
    // A busy room over ~100 days: one message every 8.6 s.
    while last < count {
        let batch: Vec<MessageRecord> = (last + 1..=(last + 1000).min(count))
            .map(|seq| MessageRecord {
                room_id: room,
                seq,
                id: seq,
                sender_id: 1 + seq % 5,
                client_msg_id: format!("c{seq}"),
                body: rng.body(seq),
                sent_at_ms: 1_700_000_000_000 + i64::try_from(seq).unwrap() * 8_640,
                ordinal: seq,
                ..Default::default()
            })
            .collect();
        let n = batch.len() as u64;
        store
            .append(room, epoch, last, AppendBatch::messages(batch))
            .await
            .unwrap();
        last += n;
    }
}

async fn time(store: &SharedStore, views: &[RoomView], q: &str, runs: usize) {
    let query = Query::parse(q).unwrap();
    let mut took = Vec::with_capacity(runs);
    let mut hits = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let page = search(store, views, &query, &Filters::default(), None, 20)
            .await
            .unwrap();
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        hits = page.hits.len();
    }
    took.sort_by(f64::total_cmp);
    let at = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    println!(
        "{q:<24} hits {hits:>2}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        at(0.5),
        at(0.99),
        took[took.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let rooms = args.first().copied().unwrap_or(1);
    let per_room = args.get(1).copied().unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(
        EmbeddedStore::open(EmbeddedConfig {
            path: dir.path().to_path_buf(),
            bucket_width_ms: 10 * 86_400_000,
            fsync: false,
            max_batch: 64,
        })
        .unwrap(),
    );
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    for room in 1..=rooms {
        fill(&store, room, per_room, &mut rng).await;
    }
    store.flush().await.unwrap();
    let log_bytes = dir_bytes(dir.path());
    println!(
        "filled {rooms} x {per_room} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    for room in 1..=rooms {
        indexer::catch_up(&store, room, per_room).await.unwrap();
    }
    store.flush().await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let total = rooms * per_room;
    println!(
        "indexed in {secs:.1} s ({:.0} messages/s)",
        total as f64 / secs
    );
    let index_bytes = dir_bytes(dir.path()).saturating_sub(log_bytes);
    println!(
        "on disk: log {:.1} MB, index {:.1} MB = {:.0} bytes per message",
        log_bytes as f64 / 1e6,
        index_bytes as f64 / 1e6,
        index_bytes as f64 / total as f64
    );
    let views: Vec<RoomView> = (1..=rooms)
        .map(|room| RoomView {
            room,
            visible_after: 0,
            hidden: vec![],
        })
        .collect();
    for q in [
        "오늘",
        "친구",
        "meeting tomorrow",
        "code4242",
        "회의 code77",
        "\"lunch please\"",
        "케이크",
    ] {
        time(&store, &views, q, 200).await;
    }
}
