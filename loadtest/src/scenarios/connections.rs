//! `connections`: many idle authenticated sockets; connect rate and server memory per socket.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use tokio::sync::Mutex;

use super::{progress, users};
use crate::{
    cli::Cli,
    report::Report,
    scenarios::{Receiver, Sender},
    stats::{Percentiles, Series, histogram, rss_bytes},
};

fn fd_soft_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// What dialling produced: the open connections and how connecting went.
struct Dialed {
    held: Mutex<Vec<(Sender, Receiver)>>,
    latencies: std::sync::Mutex<hdrhistogram::Histogram<u64>>,
    errors: std::sync::atomic::AtomicU64,
    series: Series,
}

pub async fn run(
    cli: &Cli,
    count: usize,
    ramp_per_sec: u32,
    hold: Duration,
    user_count: usize,
) -> anyhow::Result<Report> {
    if let Some(limit) = fd_soft_limit()
        && count + 64 > limit
    {
        anyhow::bail!(
            "{count} connections need more open files than this process may have ({limit}): raise `ulimit -n`"
        );
    }
    let accounts = users(cli, user_count).await?;
    let rss_before = cli.node_pid.and_then(rss_bytes);
    let dialed = Arc::new(Dialed {
        held: Mutex::default(),
        latencies: std::sync::Mutex::new(histogram()),
        errors: std::sync::atomic::AtomicU64::new(0),
        series: Series::new(),
    });
    let started = std::time::Instant::now();
    dial(cli, count, ramp_per_sec, &accounts, &dialed).await?;
    let ramp = started.elapsed();
    let open = dialed.held.lock().await.len();
    // Let the server settle (session actors, buffers) before reading its memory.
    tokio::time::sleep(hold).await;
    let rss_after = cli.node_pid.and_then(rss_bytes);

    let mut report = Report::new(
        "connections",
        json!({"count": count, "ramp_per_sec": ramp_per_sec, "hold_secs": hold.as_secs(), "users": user_count, "targets": cli.target}),
        "connections",
    );
    report.figure("connections open", open as f64, "");
    report.figure(
        "connection errors",
        dialed.errors.load(std::sync::atomic::Ordering::Relaxed) as f64,
        "",
    );
    report.figure("connect rate", open as f64 / ramp.as_secs_f64(), "conn/s");
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        memory_figures(&mut report, before, after, open);
    }
    let h = dialed
        .latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    report
        .latencies
        .push(("connect+auth".into(), Percentiles::of(&h)));
    report.series = dialed.series.points();
    Ok(report)
}

/// Opens `count` connections at `ramp_per_sec`, at most 512 handshakes at once.
async fn dial(
    cli: &Cli,
    count: usize,
    ramp_per_sec: u32,
    accounts: &[crate::accounts::Account],
    dialed: &Arc<Dialed>,
) -> anyhow::Result<()> {
    let bar = progress(cli, count as u64, "connecting");
    let interval = Duration::from_secs_f64(1.0 / f64::from(ramp_per_sec));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let limit = Arc::new(tokio::sync::Semaphore::new(512));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        ticker.tick().await;
        let permit = limit.clone().acquire_owned().await?;
        let account = accounts[i % accounts.len()].clone();
        let (dialed, bar) = (dialed.clone(), bar.clone());
        let target = super::target(cli, i).to_owned();
        let how = super::dial(cli, i);
        tasks.spawn(async move {
            let t = std::time::Instant::now();
            match chat_client::conn::connect(&target, &account.access_token, how).await {
                Ok((tx, rx, _)) => {
                    let halves = (tx, rx);
                    let us = t.elapsed().as_micros() as u64;
                    let _ = dialed
                        .latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(us.max(1));
                    dialed.series.add(1, Some(us));
                    dialed.held.lock().await.push(halves);
                }
                Err(_) => {
                    dialed
                        .errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            bar.inc(1);
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    bar.finish_and_clear();
    Ok(())
}

/// What the node's memory says about the cost of a connection.
fn memory_figures(report: &mut Report, before: u64, after: u64, open: usize) {
    let per_conn = after.saturating_sub(before) as f64 / open.max(1) as f64;
    report.figure("node RSS before", before as f64 / 1048576.0, "MiB");
    report.figure("node RSS with connections", after as f64 / 1048576.0, "MiB");
    report.figure("server memory per connection", per_conn / 1024.0, "KiB");
    report.figure(
        "projected RSS for 1M connections",
        per_conn * 1e6 / 1073741824.0,
        "GiB",
    );
    report.figure(
        "connections per 64 GiB host",
        64.0 * 1073741824.0 / per_conn.max(1.0),
        "",
    );
}
