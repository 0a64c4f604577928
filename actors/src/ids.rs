//! Time-sortable 64-bit ids (snowflake layout) and the wall clock.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// 2024-01-01T00:00:00Z in ms: ids count from here so 41 bits last until 2093.
const EPOCH_MS: u64 = 1_704_067_200_000;
const NODE_BITS: u32 = 10;
const SEQ_BITS: u32 = 12;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Generates ids `ms(41) | node(10) | sequence(12)`: unique per node, increasing per node.
#[derive(Debug)]
pub struct IdGenerator {
    node: u64,
    /// `(ms - EPOCH) << SEQ_BITS | sequence` of the last id handed out.
    last: AtomicU64,
}

impl IdGenerator {
    /// A generator for node number `node` (0..1024).
    pub fn new(node: u16) -> Self {
        Self {
            node: u64::from(node) & ((1 << NODE_BITS) - 1),
            last: AtomicU64::new(0),
        }
    }

    /// The next id. Never repeats on this node, even if the clock steps back.
    pub fn next_id(&self) -> u64 {
        let now = u64::try_from(now_ms())
            .unwrap_or(0)
            .saturating_sub(EPOCH_MS);
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let candidate = (now << SEQ_BITS).max(prev + 1);
            match self.last.compare_exchange_weak(
                prev,
                candidate,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let ms = candidate >> SEQ_BITS;
                    let seq = candidate & SEQ_MASK;
                    return (ms << (NODE_BITS + SEQ_BITS)) | (self.node << SEQ_BITS) | seq;
                }
                Err(actual) => prev = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_never_repeat() {
        let g = IdGenerator::new(3);
        let mut last = 0;
        for _ in 0..20_000 {
            let id = g.next_id();
            assert!(id > last);
            last = id;
        }
        assert_eq!((last >> SEQ_BITS) & ((1 << NODE_BITS) - 1), 3);
    }
}
