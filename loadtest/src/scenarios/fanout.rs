//! `fanout` and `mixed`: rooms of members, senders at a target rate. Every message carries
//! its send time; receivers measure send-to-deliver latency and check that seqs arrive with
//! no gap, duplicate or reordering. `mixed` adds members that follow the room only through
//! chat-list updates, readers that mark the room read as they go, typing, and idle sockets.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use hdrhistogram::Histogram;
use serde_json::json;

use super::{connect, create_group, open, progress, users, users_after};
use crate::{
    cli::Cli,
    report::Report,
    scenarios::{Receiver, Sender},
    stats::{Percentiles, Series, histogram, now_micros},
};

/// What to run.
pub struct Params {
    pub rooms: usize,
    pub members: usize,
    pub senders: usize,
    pub rate: u32,
    pub duration: Duration,
    pub body_bytes: usize,
    /// Of each room's members that do not send, the share (0-100) that open the room; the
    /// others follow it through chat-list updates.
    pub open_percent: u8,
    /// Members with the room open mark it read every this many messages (0: never).
    pub read_every: u64,
    /// Senders announce typing before every this many messages (0: never).
    pub typing_every: u64,
    /// Extra idle connections held during the run.
    pub idle: usize,
}

impl Params {
    /// Plain fan-out: everyone has the room open, nobody reads or types.
    pub fn fanout(
        rooms: usize,
        members: usize,
        senders: usize,
        rate: u32,
        duration: Duration,
        body_bytes: usize,
    ) -> Self {
        Self {
            rooms,
            members,
            senders,
            rate,
            duration,
            body_bytes,
            open_percent: 100,
            read_every: 0,
            typing_every: 0,
            idle: 0,
        }
    }

    fn is_mixed(&self) -> bool {
        self.open_percent < 100 || self.read_every > 0 || self.typing_every > 0 || self.idle > 0
    }

    /// Whether member `m` of room `r` sends: the first `senders` round-robin over rooms.
    fn is_sender(&self, r: usize, m: usize) -> bool {
        m * self.rooms + r < self.senders
    }

    /// Whether member `m` (a non-sender) opens its room.
    fn opens(&self, m: usize) -> bool {
        m * 100 < self.members * usize::from(self.open_percent)
    }
}

/// What one member connection saw.
#[derive(Default)]
struct Seen {
    delivery: Option<Histogram<u64>>,
    ack: Option<Histogram<u64>>,
    deliveries: u64,
    acks: u64,
    room_updates: u64,
    reads: u64,
    errors: u64,
    gaps: u64,
    duplicates: u64,
    reorders: u64,
}

/// How one member connection behaves.
struct Member {
    rx: Receiver,
    /// The sending half and room, kept by members that mark the room read.
    reader: Option<(Sender, u64)>,
    /// Last seq at open; None when the member did not open the room.
    opened_at: Option<u64>,
    read_every: u64,
}

/// The send time (µs) a body or client message id starts with: `<micros>;...`.
fn sent_at(text: &str) -> Option<u64> {
    text.split(';').next()?.parse().ok()
}

/// Shared counters of a run.
#[derive(Clone)]
struct Shared {
    /// Flips to true when the run ends (a watch, so waiting on it costs no timer per frame).
    stop: tokio::sync::watch::Receiver<bool>,
    delivered: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    series: Arc<Series>,
}

async fn receive(member: Member, shared: Shared) -> Seen {
    let Member {
        mut rx,
        mut reader,
        opened_at,
        read_every,
    } = member;
    let mut delivery = histogram();
    let mut ack = histogram();
    let mut seen = Seen::default();
    let mut last = opened_at.unwrap_or(0);
    let mut pending = 0u64;
    let mut last_flush = Instant::now();
    let mut sample: Option<u64> = None;
    let mut stop = shared.stop.clone();
    loop {
        let frame = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            next = rx.next() => match next {
                Ok(Some(f)) => f,
                _ => break,
            },
        };
        match frame.payload {
            Some(Payload::Message(m)) => {
                if let Some(t) = sent_at(&m.body) {
                    let us = now_micros().saturating_sub(t).max(1);
                    let _ = delivery.record(us);
                    sample = Some(us);
                }
                match m.seq.cmp(&(last + 1)) {
                    std::cmp::Ordering::Equal => {}
                    std::cmp::Ordering::Greater => seen.gaps += 1,
                    std::cmp::Ordering::Less if m.seq == last => seen.duplicates += 1,
                    std::cmp::Ordering::Less => seen.reorders += 1,
                }
                last = last.max(m.seq);
                seen.deliveries += 1;
                pending += 1;
                if read_every > 0
                    && seen.deliveries.is_multiple_of(read_every)
                    && let Some((tx, room)) = reader.as_mut()
                {
                    let read = Command::MarkRead(v1::MarkReadRequest {
                        room_id: *room,
                        seq: last,
                    });
                    if tx.send(read).await.is_ok() {
                        seen.reads += 1;
                    }
                }
            }
            Some(Payload::SendAck(a)) => {
                if let Some(t) = sent_at(&a.client_msg_id) {
                    let _ = ack.record(now_micros().saturating_sub(t).max(1));
                }
                seen.acks += 1;
            }
            Some(Payload::RoomUpdate(_)) => seen.room_updates += 1,
            Some(Payload::Error(_)) => seen.errors += 1,
            _ => {}
        }
        if pending >= 64 || (pending > 0 && last_flush.elapsed() >= Duration::from_millis(100)) {
            shared.series.add(pending, sample.take());
            shared.delivered.fetch_add(pending, Ordering::Relaxed);
            pending = 0;
            last_flush = Instant::now();
        }
    }
    shared.series.add(pending, sample);
    shared.delivered.fetch_add(pending, Ordering::Relaxed);
    seen.delivery = Some(delivery);
    seen.ack = Some(ack);
    seen
}

async fn send(
    mut tx: Sender,
    room: u64,
    rate: f64,
    p: &Params,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<Sender> {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let mut n = 0u64;
    let padding = "x".repeat(p.body_bytes);
    while start.elapsed() < p.duration {
        ticker.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while n < due {
            if p.typing_every > 0 && n.is_multiple_of(p.typing_every) {
                tx.send(Command::Typing(v1::TypingRequest { room_id: room }))
                    .await?;
            }
            let t = now_micros();
            let mut body = format!("{t};");
            body.push_str(&padding[..p.body_bytes.saturating_sub(body.len())]);
            let send = v1::SendMessageRequest {
                room_id: room,
                client_msg_id: format!("{t};{n}"),
                body,
                file_ids: Vec::new(),
                ..Default::default()
            };
            tx.send(Command::SendMessage(send)).await?;
            n += 1;
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(tx)
}

/// Connects every member; the first member of each room creates it.
async fn setup(
    cli: &Cli,
    p: &Params,
) -> anyhow::Result<(Vec<u64>, Vec<(usize, usize, Sender, Member)>)> {
    let accounts = users(cli, p.rooms * p.members).await?;
    let bar = progress(cli, (p.rooms * p.members) as u64, "connecting");
    let mut members = Vec::with_capacity(p.rooms * p.members);
    let mut room_ids = Vec::with_capacity(p.rooms);
    for r in 0..p.rooms {
        let group = &accounts[r * p.members..(r + 1) * p.members];
        for (m, account) in group.iter().enumerate() {
            let (mut tx, mut rx) = connect(cli, r * p.members + m, account).await?;
            if m == 0 {
                let others = group[1..].iter().map(|a| a.id).collect();
                let name = format!("chatload fanout {r}");
                room_ids.push(create_group(&mut tx, &mut rx, &name, others).await?.id);
            }
            let opened_at = if p.is_sender(r, m) || p.opens(m) {
                Some(open(&mut tx, &mut rx, room_ids[r]).await?)
            } else {
                None
            };
            members.push((
                r,
                m,
                tx,
                Member {
                    rx,
                    reader: None,
                    opened_at,
                    read_every: p.read_every,
                },
            ));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok((room_ids, members))
}

pub async fn run(cli: &Cli, p: Params) -> anyhow::Result<Report> {
    let (room_ids, members) = setup(cli, &p).await?;
    let opened = members
        .iter()
        .filter(|(_, _, _, m)| m.opened_at.is_some())
        .count() as u64;
    let idle = connect_idle(cli, &p).await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shared = Shared {
        stop: stop_rx,
        delivered: Arc::new(AtomicU64::new(0)),
        sent: Arc::new(AtomicU64::new(0)),
        series: Arc::new(Series::new()),
    };
    let p = Arc::new(p);
    let rate_per_sender = f64::from(p.rate) / p.senders as f64;
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for (r, m, tx, mut member) in members {
        if p.is_sender(r, m) {
            let (p, sent) = (p.clone(), shared.sent.clone());
            let room = room_ids[r];
            senders.push(tokio::spawn(async move {
                send(tx, room, rate_per_sender, &p, sent).await
            }));
        } else if member.opened_at.is_some() && p.read_every > 0 {
            member.reader = Some((tx, room_ids[r]));
        }
        receivers.push(tokio::spawn(receive(member, shared.clone())));
    }
    let bar = progress(cli, p.duration.as_secs(), "sending");
    let started = Instant::now();
    while started.elapsed() < p.duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.set_position(started.elapsed().as_secs());
        bar.set_message(format!(
            "{} delivered",
            shared.delivered.load(Ordering::Relaxed)
        ));
    }
    let mut send_errors = 0u32;
    let mut kept = Vec::new();
    for s in senders {
        match s.await? {
            Ok(tx) => kept.push(tx),
            Err(_) => send_errors += 1,
        }
    }
    let send_window = started.elapsed();
    // Drain: wait until every expected delivery arrived or deliveries stop growing (bounded).
    let sent = shared.sent.load(Ordering::Relaxed);
    let expected = sent * opened / p.rooms as u64;
    drain(&shared, expected).await;
    let total_window = started.elapsed();
    let _ = stop_tx.send(true);
    bar.finish_and_clear();
    let (total, delivery, ack) = collect(receivers).await?;
    drop(kept);
    drop(idle);
    Ok(report(
        cli,
        &p,
        &total,
        (sent, expected, send_errors),
        (send_window, total_window),
        &delivery,
        &ack,
        &shared,
    ))
}

/// The idle connections asked for (`--idle`), connected before the traffic starts.
async fn connect_idle(cli: &Cli, p: &Params) -> anyhow::Result<Vec<(Sender, Receiver)>> {
    if p.idle == 0 {
        return Ok(Vec::new());
    }
    let idle_users = users_after(cli, p.rooms * p.members, p.idle.min(50)).await?;
    let mut idle = Vec::with_capacity(p.idle);
    for i in 0..p.idle {
        let account = &idle_users[i % idle_users.len()];
        idle.push(connect(cli, p.rooms * p.members + i, account).await?);
    }
    Ok(idle)
}

/// Waits until every expected delivery arrived or deliveries stop growing (at most 10 s).
async fn drain(shared: &Shared, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut previous = u64::MAX;
    while Instant::now() < deadline {
        let now = shared.delivered.load(Ordering::Relaxed);
        if now >= expected || now == previous {
            break;
        }
        previous = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What every receiver saw, summed, with the delivery and ack latencies merged.
async fn collect(
    receivers: Vec<tokio::task::JoinHandle<Seen>>,
) -> anyhow::Result<(Seen, Histogram<u64>, Histogram<u64>)> {
    let mut delivery = histogram();
    let mut ack = histogram();
    let mut total = Seen::default();
    for r in receivers {
        let s = r.await?;
        if let Some(h) = &s.delivery {
            delivery.add(h)?;
        }
        if let Some(h) = &s.ack {
            ack.add(h)?;
        }
        total.deliveries += s.deliveries;
        total.acks += s.acks;
        total.room_updates += s.room_updates;
        total.reads += s.reads;
        total.errors += s.errors;
        total.gaps += s.gaps;
        total.duplicates += s.duplicates;
        total.reorders += s.reorders;
    }
    Ok((total, delivery, ack))
}

#[allow(clippy::too_many_arguments)]
fn report(
    cli: &Cli,
    p: &Params,
    t: &Seen,
    (sent, expected, send_errors): (u64, u64, u32),
    (send_window, total_window): (Duration, Duration),
    delivery: &Histogram<u64>,
    ack: &Histogram<u64>,
    shared: &Shared,
) -> Report {
    let mut report = Report::new(
        if p.is_mixed() { "mixed" } else { "fanout" },
        json!({"rooms": p.rooms, "members": p.members, "senders": p.senders, "rate": p.rate,
               "duration_secs": p.duration.as_secs(), "body_bytes": p.body_bytes,
               "open_percent": p.open_percent, "read_every": p.read_every,
               "typing_every": p.typing_every, "idle": p.idle,
               "codec": format!("{:?}", cli.codec), "transport": format!("{:?}", cli.transport),
               "targets": cli.target}),
        "deliveries",
    );
    let per_sec = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    report.figure("messages sent", sent as f64, "");
    report.figure("send rate achieved", per_sec(sent, send_window), "msg/s");
    report.figure("acks", t.acks as f64, "");
    report.figure("acks per second", per_sec(t.acks, send_window), "ack/s");
    report.figure("deliveries", t.deliveries as f64, "");
    report.figure("deliveries expected", expected as f64, "");
    report.figure(
        "delivery rate",
        per_sec(t.deliveries, total_window),
        "msg/s",
    );
    report.figure("error replies", t.errors as f64, "");
    report.figure("sender failures", f64::from(send_errors), "");
    report.figure("seq gaps", t.gaps as f64, "");
    report.figure("seq duplicates", t.duplicates as f64, "");
    report.figure("seq reorderings", t.reorders as f64, "");
    if p.is_mixed() {
        report.figure("chat-list updates received", t.room_updates as f64, "");
        report.figure("mark-read commands sent", t.reads as f64, "");
        report.figure("idle connections held", p.idle as f64, "");
    }
    report
        .latencies
        .push(("send->deliver".into(), Percentiles::of(delivery)));
    report
        .latencies
        .push(("send->ack".into(), Percentiles::of(ack)));
    report.series = shared.series.points();
    report
}
