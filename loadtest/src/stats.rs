//! Measurements: latency histograms (HdrHistogram) and per-second series.

use std::{
    sync::Mutex,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Microseconds since the Unix epoch (the clock messages carry).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A latency histogram in microseconds, 1 µs to 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: h.max() as f64 / 1000.0,
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SecondPoint {
    pub second: u64,
    /// Events (deliveries, pages, connections) in this second.
    pub count: u64,
    /// p99 latency in this second (ms), from a sample.
    pub p99_ms: f64,
}

/// Per-second counts and a sampled latency histogram per second, shared by many tasks.
pub struct Series {
    start: Instant,
    seconds: Mutex<Vec<(u64, Histogram<u64>)>>,
}

impl Series {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            seconds: Mutex::new(Vec::new()),
        }
    }

    fn slot(v: &mut Vec<(u64, Histogram<u64>)>, second: usize) -> &mut (u64, Histogram<u64>) {
        while v.len() <= second {
            v.push((0, histogram()));
        }
        &mut v[second]
    }

    /// Adds `count` events in the current second, with a latency sample (µs) if given.
    pub fn add(&self, count: u64, sample_us: Option<u64>) {
        let second = self.start.elapsed().as_secs() as usize;
        let mut v = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        let slot = Self::slot(&mut v, second);
        slot.0 += count;
        if let Some(us) = sample_us {
            let _ = slot.1.record(us.max(1));
        }
    }

    pub fn points(&self) -> Vec<SecondPoint> {
        let v = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        v.iter()
            .enumerate()
            .map(|(i, (count, h))| SecondPoint {
                second: i as u64,
                count: *count,
                p99_ms: if h.is_empty() {
                    0.0
                } else {
                    h.value_at_quantile(0.99) as f64 / 1000.0
                },
            })
            .collect()
    }
}

/// Resident memory of a process in bytes, from /proc.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
