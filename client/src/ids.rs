//! Client-chosen ids and jitter, without a random-number crate: uniqueness comes from the
//! process, the clock and a counter; jitter needs only to differ between clients.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A new client_msg_id: unique per process run, at most 64 characters.
pub fn client_msg_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{:x}-{n:x}", std::process::id(), nanos())
}

/// A number in [0, 1), different per call and per process.
pub fn jitter() -> f64 {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64 of the clock, the counter and the process id.
    let mut z = nanos() ^ n.rotate_left(32) ^ u64::from(std::process::id());
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
