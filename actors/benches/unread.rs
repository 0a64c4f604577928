//! Unread counts for a page of history: the sorted-cursor binary search against a naive scan
//! of every member per message. Run: `cargo bench -p chat-actors --bench unread`.
#![allow(missing_docs)]

use std::collections::HashMap;

use chat_actors::room::cursors::ReadCursors;
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

/// `members` cursors spread over `0..last_seq` by a fixed pseudo-random sequence.
fn cursors(members: u64, last_seq: u64) -> (ReadCursors, Vec<u64>) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut stored = HashMap::new();
    let mut raw = Vec::new();
    for user in 0..members {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let seq = x % (last_seq + 1);
        stored.insert(user, chat_store::ReadCursor::legacy(seq));
        raw.push(seq);
    }
    (ReadCursors::new(0..members, &stored), raw)
}

const PAGE: u64 = 100;
const LAST: u64 = 1_000_000;

#[divan::bench(args = [100, 1_000, 10_000])]
fn page_of_counts_sorted(bencher: Bencher, members: u64) {
    let (c, _) = cursors(members, LAST);
    bencher.bench(|| {
        let mut sum = 0u64;
        for seq in (LAST - PAGE + 1)..=LAST {
            sum += u64::from(c.unread(black_box(seq)));
        }
        sum
    });
}

#[divan::bench(args = [100, 1_000, 10_000])]
fn page_of_counts_naive_scan(bencher: Bencher, members: u64) {
    let (_, raw) = cursors(members, LAST);
    bencher.bench(|| {
        let mut sum = 0u64;
        for seq in (LAST - PAGE + 1)..=LAST {
            sum += raw.iter().filter(|&&c| c < black_box(seq)).count() as u64;
        }
        sum
    });
}

#[divan::bench(args = [1_000, 10_000])]
fn advance_one_cursor(bencher: Bencher, members: u64) {
    let (c, _) = cursors(members, LAST);
    bencher
        .with_inputs(|| c.clone())
        .bench_local_values(|mut c| {
            c.advance(black_box(7), chat_store::ReadCursor::legacy(LAST));
            c
        });
}
