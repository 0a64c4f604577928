//! `fanout`: rooms of members, senders at a target rate. Every message carries its send time;
//! receivers measure send-to-deliver latency and check that seqs arrive with no gap,
//! duplicate or reordering.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use hdrhistogram::Histogram;
use serde_json::json;

use super::{connect, create_group, open, progress, users};
use crate::{
    cli::Cli,
    client::{Receiver, Sender},
    report::Report,
    stats::{Percentiles, Series, histogram, now_micros},
};

pub struct Params {
    pub rooms: usize,
    pub members: usize,
    pub senders: usize,
    pub rate: u32,
    pub duration: Duration,
    pub body_bytes: usize,
}

/// What one receiving connection saw.
struct Seen {
    delivery: Histogram<u64>,
    ack: Histogram<u64>,
    deliveries: u64,
    acks: u64,
    errors: u64,
    gaps: u64,
    duplicates: u64,
    reorders: u64,
}

/// The send time (µs) a body or client message id starts with: `<micros>;...`.
fn sent_at(text: &str) -> Option<u64> {
    text.split(';').next()?.parse().ok()
}

async fn receive(
    mut rx: Receiver,
    last_seq: u64,
    stop: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
    series: Arc<Series>,
) -> Seen {
    let mut seen = Seen {
        delivery: histogram(),
        ack: histogram(),
        deliveries: 0,
        acks: 0,
        errors: 0,
        gaps: 0,
        duplicates: 0,
        reorders: 0,
    };
    let mut last = last_seq;
    let mut pending = 0u64;
    let mut last_flush = Instant::now();
    let mut sample: Option<u64> = None;
    while !stop.load(Ordering::Relaxed) {
        let frame = match tokio::time::timeout(Duration::from_millis(200), rx.next()).await {
            Ok(Ok(Some(f))) => f,
            Ok(_) => break,
            Err(_) => continue,
        };
        match frame.payload {
            Some(Payload::Message(m)) => {
                let now = now_micros();
                if let Some(t) = sent_at(&m.body) {
                    let us = now.saturating_sub(t).max(1);
                    let _ = seen.delivery.record(us);
                    sample = Some(us);
                }
                if m.seq == last + 1 {
                } else if m.seq > last + 1 {
                    seen.gaps += 1;
                } else if m.seq == last {
                    seen.duplicates += 1;
                } else {
                    seen.reorders += 1;
                }
                last = last.max(m.seq);
                seen.deliveries += 1;
                pending += 1;
            }
            Some(Payload::SendAck(a)) => {
                if let Some(t) = sent_at(&a.client_msg_id) {
                    let _ = seen.ack.record(now_micros().saturating_sub(t).max(1));
                }
                seen.acks += 1;
            }
            Some(Payload::Error(_)) => seen.errors += 1,
            _ => {}
        }
        if pending >= 64 || (pending > 0 && last_flush.elapsed() >= Duration::from_millis(100)) {
            series.add(pending, sample.take());
            delivered.fetch_add(pending, Ordering::Relaxed);
            pending = 0;
            last_flush = Instant::now();
        }
    }
    series.add(pending, sample);
    delivered.fetch_add(pending, Ordering::Relaxed);
    seen
}

async fn send(
    mut tx: Sender,
    room: u64,
    rate_per_sender: f64,
    duration: Duration,
    body_bytes: usize,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<Sender> {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let mut n = 0u64;
    let padding = "x".repeat(body_bytes);
    while start.elapsed() < duration {
        ticker.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate_per_sender) as u64;
        while n < due {
            let t = now_micros();
            let mut body = format!("{t};");
            body.push_str(&padding[..body_bytes.saturating_sub(body.len())]);
            let command = Command::SendMessage(v1::SendMessage {
                room_id: room,
                client_msg_id: format!("{t};{n}"),
                body,
            });
            tx.send(command).await?;
            n += 1;
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(tx)
}

pub async fn run(cli: &Cli, p: Params) -> anyhow::Result<Report> {
    let accounts = users(cli, p.rooms * p.members).await?;
    // One room per group of `members` users, created by its first member.
    let bar = progress(cli, (p.rooms * p.members) as u64, "connecting");
    let mut connections = Vec::with_capacity(p.rooms * p.members);
    let mut room_ids = Vec::with_capacity(p.rooms);
    for r in 0..p.rooms {
        let group = &accounts[r * p.members..(r + 1) * p.members];
        for (m, account) in group.iter().enumerate() {
            let i = r * p.members + m;
            let (mut tx, mut rx) = connect(cli, i, account).await?;
            if m == 0 {
                let others = group[1..].iter().map(|a| a.id).collect();
                room_ids.push(
                    create_group(&mut tx, &mut rx, &format!("chatload fanout {r}"), others)
                        .await?
                        .id,
                );
            }
            let last = open(&mut tx, &mut rx, room_ids[r]).await?;
            connections.push((r, tx, rx, last));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let series = Arc::new(Series::new());
    let rate_per_sender = f64::from(p.rate) / p.senders as f64;
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for (i, (r, tx, rx, last)) in connections.into_iter().enumerate() {
        receivers.push(tokio::spawn(receive(
            rx,
            last,
            stop.clone(),
            delivered.clone(),
            series.clone(),
        )));
        // Senders: the first `senders` connections in round-robin over rooms.
        let member = i % p.members;
        let is_sender = member * p.rooms + r < p.senders;
        if is_sender {
            senders.push(tokio::spawn(send(
                tx,
                room_ids[r],
                rate_per_sender,
                p.duration,
                p.body_bytes,
                sent.clone(),
            )));
        } else {
            drop(tx);
        }
    }
    let bar = progress(cli, p.duration.as_secs(), "sending");
    let started = Instant::now();
    while started.elapsed() < p.duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.set_position(started.elapsed().as_secs());
        bar.set_message(format!("{} delivered", delivered.load(Ordering::Relaxed)));
    }
    let mut send_errors = 0;
    let mut kept = Vec::new();
    for s in senders {
        match s.await? {
            Ok(tx) => kept.push(tx),
            Err(_) => send_errors += 1,
        }
    }
    let send_window = started.elapsed();
    // Drain: wait until deliveries stop growing (bounded).
    let expected = sent.load(Ordering::Relaxed) * p.members as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    let mut previous = u64::MAX;
    while Instant::now() < drain_deadline {
        let now = delivered.load(Ordering::Relaxed);
        if now >= expected || now == previous {
            break;
        }
        previous = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let total_window = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    bar.finish_and_clear();
    let mut delivery = histogram();
    let mut ack = histogram();
    let (mut deliveries, mut acks, mut errors, mut gaps, mut dups, mut reorders) =
        (0, 0, 0, 0, 0, 0);
    for r in receivers {
        let s = r.await?;
        delivery.add(&s.delivery)?;
        ack.add(&s.ack)?;
        deliveries += s.deliveries;
        acks += s.acks;
        errors += s.errors;
        gaps += s.gaps;
        dups += s.duplicates;
        reorders += s.reorders;
    }
    drop(kept);
    let sent = sent.load(Ordering::Relaxed);
    let mut report = Report::new(
        "fanout",
        json!({"rooms": p.rooms, "members": p.members, "senders": p.senders, "rate": p.rate,
               "duration_secs": p.duration.as_secs(), "body_bytes": p.body_bytes,
               "codec": format!("{:?}", cli.codec), "targets": cli.target}),
        "deliveries",
    );
    report.figure("messages sent", sent as f64, "");
    report.figure(
        "send rate achieved",
        sent as f64 / send_window.as_secs_f64(),
        "msg/s",
    );
    report.figure("acks", acks as f64, "");
    report.figure(
        "acks per second",
        acks as f64 / send_window.as_secs_f64(),
        "ack/s",
    );
    report.figure("deliveries", deliveries as f64, "");
    report.figure("deliveries expected", expected as f64, "");
    report.figure(
        "delivery rate",
        deliveries as f64 / total_window.as_secs_f64(),
        "msg/s",
    );
    report.figure("error replies", errors as f64, "");
    report.figure("sender failures", f64::from(send_errors), "");
    report.figure("seq gaps", gaps as f64, "");
    report.figure("seq duplicates", dups as f64, "");
    report.figure("seq reorderings", reorders as f64, "");
    report
        .latencies
        .push(("send->deliver".into(), Percentiles::of(&delivery)));
    report
        .latencies
        .push(("send->ack".into(), Percentiles::of(&ack)));
    report.series = series.points();
    Ok(report)
}
