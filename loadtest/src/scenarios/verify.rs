//! `verify`: exactly-once delivery, checked from the clients' own records, while something
//! else (scripts/chaos.sh) kills nodes, restarts NATS and pauses the database.
//!
//! Senders roam over the targets: a send that fails or goes unanswered is sent again with the
//! same `client_msg_id` (on the same node after a retryable error, on the next one after a
//! lost connection) until it is acked. Readers roam too: after every reconnect they open the
//! room from the last seq they saw, fill a truncated recovery and any live gap from history,
//! as a real client does. When sending stops, readers read up to the last acked seq; then
//! every reader's log must hold every acked message exactly once, at its acked seq, in
//! order, with nothing else in between.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use hdrhistogram::Histogram;
use tokio::sync::watch;

use super::{connect, create_group, users};
use crate::{
    accounts::Account,
    cli::Cli,
    report::Report,
    scenarios::{Receiver, Sender},
    stats::{Percentiles, Series, histogram, now_micros},
};

/// The scenario's knobs.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Rooms.
    pub rooms: usize,
    /// Senders per room.
    pub senders: usize,
    /// Readers per room.
    pub readers: usize,
    /// Messages per second, all senders together.
    pub rate: u32,
    /// How long senders send.
    pub duration: Duration,
    /// How long readers may take to catch up once sending stops.
    pub drain: Duration,
}

/// How long a client waits for an answer before it gives up on the connection (longer than
/// any server-side timeout, so a slow answer is not mistaken for a lost one).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between connection attempts when no target answers.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// Counters every client adds to.
#[derive(Default)]
struct Tally {
    attempts: u64,
    retries: u64,
    reconnects: u64,
    gap_fills: u64,
    truncated_recoveries: u64,
    refused: Vec<String>,
}

type Shared<T> = Arc<Mutex<T>>;

/// A connection to one of the targets, re-established on the next target when lost.
struct Roaming {
    cli: Arc<Cli>,
    account: Account,
    turn: usize,
    conn: Option<(Sender, Receiver)>,
    tally: Shared<Tally>,
    /// Keep the message events that arrive while waiting for a reply (readers do).
    keep_messages: bool,
    /// Those messages, oldest first.
    messages: VecDeque<v1::Message>,
}

impl Roaming {
    fn new(cli: Arc<Cli>, account: Account, start: usize, tally: Shared<Tally>) -> Self {
        Self {
            cli,
            account,
            turn: start,
            conn: None,
            tally,
            keep_messages: false,
            messages: VecDeque::new(),
        }
    }

    fn keeping_messages(mut self) -> Self {
        self.keep_messages = true;
        self
    }

    /// The live connection, connecting (round robin over the targets) until one answers.
    async fn get(&mut self) -> &mut (Sender, Receiver) {
        while self.conn.is_none() {
            self.turn += 1;
            match connect(&self.cli, self.turn, &self.account).await {
                Ok(c) => self.conn = Some(c),
                Err(_) => tokio::time::sleep(RECONNECT_PAUSE).await,
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            unreachable!("connected above")
        };
        conn
    }

    fn lost(&mut self) {
        self.conn = None;
        lock(&self.tally).reconnects += 1;
    }

    /// Sends `command` and waits for its answer; `None` if the connection was lost (it is
    /// dropped, and the next call reconnects). Message events that arrive meanwhile are kept
    /// when `keep_messages`.
    async fn call(&mut self, command: Command) -> Option<Payload> {
        let keep = self.keep_messages;
        let (tx, rx) = self.get().await;
        let Ok(id) = tx.send(command).await else {
            return self.lost_none();
        };
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        let mut kept = Vec::new();
        let answer = loop {
            match tokio::time::timeout_at(deadline, rx.next()).await {
                Ok(Ok(Some(f))) if f.request_id == id => break f.payload,
                Ok(Ok(Some(f))) => {
                    if let (true, Some(Payload::Message(m))) = (keep, f.payload) {
                        kept.push(m);
                    }
                }
                _ => break None,
            }
        };
        self.messages.extend(kept);
        match answer {
            Some(p) => Some(p),
            None => self.lost_none(),
        }
    }

    fn lost_none<T>(&mut self) -> Option<T> {
        self.lost();
        None
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An acked send.
struct Ack {
    seq: u64,
    id: String,
}

/// Sends until `stop`, each message until it is acked; returns the acks.
async fn sender(
    mut conn: Roaming,
    room: u64,
    tag: String,
    interval: Duration,
    stop: watch::Receiver<bool>,
    (acked, latency): (Arc<Series>, Shared<Histogram<u64>>),
) -> Vec<Ack> {
    let mut acks = Vec::new();
    let mut next_at = tokio::time::Instant::now();
    for i in 0u64.. {
        if *stop.borrow() {
            break;
        }
        let id = format!("{tag}-{i}");
        let started = now_micros();
        loop {
            lock(&conn.tally).attempts += 1;
            let command = Command::SendMessage(v1::SendMessageRequest {
                room_id: room,
                client_msg_id: id.clone(),
                body: id.clone(),
                file_ids: Vec::new(),
                ..Default::default()
            });
            match conn.call(command).await {
                Some(Payload::SendAck(a)) => {
                    let took = now_micros().saturating_sub(started);
                    acks.push(Ack { seq: a.seq, id });
                    acked.add(1, Some(took));
                    let _ = lock(&latency).record(took.max(1));
                    break;
                }
                Some(Payload::Error(e)) if e.retryable => {
                    lock(&conn.tally).retries += 1;
                    let wait = u64::from(e.retry_after_ms).clamp(50, 2000);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Some(other) => {
                    lock(&conn.tally)
                        .refused
                        .push(format!("send {id} refused: {other:?}"));
                    break;
                }
                None => lock(&conn.tally).retries += 1,
            }
        }
        next_at += interval;
        tokio::time::sleep_until(next_at).await;
    }
    acks
}

/// What one reader saw: `(seq, client_msg_id)` in arrival order (history fills included).
type Log = Vec<(u64, String)>;

/// When sending stopped: the last acked seq of each room, and when readers give up.
type Finish = Option<(Arc<Vec<u64>>, Instant)>;

/// Reads room number `index` until it has seen its last acked seq (known once the senders
/// are done), or the deadline. Returns the log and the first seq it had to see.
async fn reader(
    mut conn: Roaming,
    (index, room): (usize, u64),
    opened_count: Arc<AtomicUsize>,
    finish: watch::Receiver<Finish>,
) -> (Log, u64) {
    let mut log: Log = Vec::new();
    let mut first_seq = None;
    'connection: loop {
        // Messages kept from the lost connection and not yet logged come again in recovery.
        conn.messages.clear();
        let since = log.last().map_or(0, |m| m.0);
        let opened = conn
            .call(Command::OpenRoom(v1::OpenRoomRequest {
                room_id: room,
                since_seq: since,
            }))
            .await;
        let opened = match opened {
            Some(Payload::RoomOpened(o)) => o,
            Some(Payload::Error(e)) if e.retryable => {
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
            Some(other) => {
                lock(&conn.tally)
                    .refused
                    .push(format!("open_room refused: {other:?}"));
                return (log, first_seq.unwrap_or(1));
            }
            None => continue,
        };
        if first_seq.is_none() {
            first_seq = Some(opened.room.as_ref().map_or(0, |r| r.last_seq) + 1);
            opened_count.fetch_add(1, Ordering::Relaxed);
        }
        if opened.recovery_truncated {
            lock(&conn.tally).truncated_recoveries += 1;
        }
        loop {
            let done = finish.borrow().as_ref().is_some_and(|(last, deadline)| {
                log.last().map_or(0, |m| m.0) >= last[index] || Instant::now() >= *deadline
            });
            if done {
                return (log, first_seq.unwrap_or(1));
            }
            let m = if let Some(m) = conn.messages.pop_front() {
                m
            } else {
                let Some((_, rx)) = conn.conn.as_mut() else {
                    continue 'connection;
                };
                let frame = match tokio::time::timeout(Duration::from_millis(250), rx.next()).await
                {
                    Err(_) => continue,
                    Ok(Ok(Some(f))) => f,
                    Ok(_) => {
                        conn.lost();
                        continue 'connection;
                    }
                };
                let Some(Payload::Message(m)) = frame.payload else {
                    continue;
                };
                m
            };
            let seen = log.last().map_or(first_seq.unwrap_or(1) - 1, |l| l.0);
            // A gap (a truncated recovery, or a live stream around a room owner's crash):
            // fill it from history, as the protocol tells clients to.
            if m.seq > seen + 1 {
                lock(&conn.tally).gap_fills += 1;
                match fill(&mut conn, room, seen, m.seq).await {
                    Some(mut missing) => log.append(&mut missing),
                    None => continue 'connection,
                }
            }
            log.push((m.seq, m.client_msg_id));
        }
    }
}

/// The messages strictly between `after` and `before`, oldest first, from history.
async fn fill(conn: &mut Roaming, room: u64, after: u64, before: u64) -> Option<Log> {
    let mut out: Log = Vec::new();
    let mut cursor = before;
    while cursor > after + 1 {
        let page = conn
            .call(Command::GetHistory(v1::GetHistoryRequest {
                room_id: room,
                before_seq: cursor,
                limit: 100,
            }))
            .await?;
        let Payload::History(page) = page else {
            return None;
        };
        let mut got: Log = page
            .messages
            .into_iter()
            .filter(|m| m.seq > after)
            .map(|m| (m.seq, m.client_msg_id))
            .collect();
        got.sort_by_key(|m| m.0);
        cursor = got.first().map(|m| m.0)?;
        got.append(&mut out);
        out = got;
    }
    Some(out)
}

/// Everything wrong with one room's logs, given its acks.
fn check_room(room: usize, acks: &[Ack], logs: &[(Log, u64)]) -> Vec<String> {
    let mut problems = Vec::new();
    let by_seq: HashMap<u64, &str> = acks.iter().map(|a| (a.seq, a.id.as_str())).collect();
    if by_seq.len() != acks.len() {
        problems.push(format!("room {room}: two sends were acked with one seq"));
    }
    let last = acks.iter().map(|a| a.seq).max().unwrap_or(0);
    for (r, (log, first)) in logs.iter().enumerate() {
        let seqs: Vec<u64> = log.iter().map(|m| m.0).collect();
        let expected: Vec<u64> = (*first..=last).collect();
        if seqs != expected {
            let doubled = seqs.windows(2).filter(|w| w[1] <= w[0]).count();
            let missing = expected.iter().filter(|s| !seqs.contains(s)).count();
            problems.push(format!(
                "room {room} reader {r}: saw {} messages for seqs {first}..={last}: {missing} \
                 missing, {doubled} doubled or out of order",
                seqs.len()
            ));
        }
        for (seq, id) in log {
            if let Some(acked) = by_seq.get(seq)
                && *acked != id
            {
                problems.push(format!(
                    "room {room} reader {r}: seq {seq} is {id:?}, acked as {acked:?}"
                ));
            }
        }
        let mut ids: Vec<&str> = log.iter().map(|m| m.1.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            problems.push(format!("room {room} reader {r}: one send stored twice"));
        }
    }
    problems
}

/// One group room per `p.rooms`, each with its senders and readers as members.
async fn create_rooms(
    cli: &Arc<Cli>,
    p: &Params,
    accounts: &[Account],
) -> anyhow::Result<Vec<u64>> {
    let per_room = p.senders + p.readers;
    let mut rooms = Vec::new();
    for r in 0..p.rooms {
        let members = &accounts[r * per_room..(r + 1) * per_room];
        let (mut tx, mut rx) = connect(cli, 0, &members[0]).await?;
        let ids = members[1..].iter().map(|a| a.id).collect();
        let room = create_group(&mut tx, &mut rx, &format!("verify {r}"), ids).await?;
        rooms.push(room.id);
    }
    Ok(rooms)
}

/// Starts every room's readers and waits until each has its room open (before the first
/// send), at most the drain time.
async fn start_readers(
    cli: &Arc<Cli>,
    p: &Params,
    accounts: &[Account],
    rooms: &[u64],
    tally: &Shared<Tally>,
    finish: watch::Receiver<Finish>,
) -> anyhow::Result<Vec<(usize, tokio::task::JoinHandle<(Log, u64)>)>> {
    let per_room = p.senders + p.readers;
    let opened = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for (r, room) in rooms.iter().enumerate() {
        for k in 0..p.readers {
            let account = accounts[r * per_room + p.senders + k].clone();
            let conn = Roaming::new(cli.clone(), account, r + k, tally.clone()).keeping_messages();
            let task = reader(conn, (r, *room), opened.clone(), finish.clone());
            readers.push((r, tokio::spawn(task)));
        }
    }
    let wait_until = Instant::now() + p.drain;
    while opened.load(Ordering::Relaxed) < readers.len() {
        anyhow::ensure!(
            Instant::now() < wait_until,
            "readers could not open their rooms"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(readers)
}

/// Runs the scenario.
pub async fn run(cli: &Cli, p: Params) -> anyhow::Result<Report> {
    let cli = Arc::new(cli.clone());
    let per_room = p.senders + p.readers;
    let accounts = users(&cli, p.rooms * per_room).await?;
    let rooms = create_rooms(&cli, &p, &accounts).await?;
    let tally: Shared<Tally> = Shared::default();
    let (finish_tx, finish_rx) = watch::channel(None);
    let readers = start_readers(&cli, &p, &accounts, &rooms, &tally, finish_rx).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let acked = Arc::new(Series::new());
    let ack_latency = Arc::new(Mutex::new(histogram()));
    let senders_total = (p.rooms * p.senders) as u32;
    let interval = Duration::from_secs_f64(f64::from(senders_total) / f64::from(p.rate));
    let mut senders = Vec::new();
    let run_tag = now_micros() % 1_000_000_000;
    for (r, room) in rooms.iter().enumerate() {
        for k in 0..p.senders {
            let account = accounts[r * per_room + k].clone();
            let conn = Roaming::new(cli.clone(), account, r * 7 + k, tally.clone());
            let tag = format!("v{run_tag}-r{r}-s{k}");
            let out = (acked.clone(), ack_latency.clone());
            let task = sender(conn, *room, tag, interval, stop_rx.clone(), out);
            senders.push((r, tokio::spawn(task)));
        }
    }
    eprintln!("chatload verify: traffic started");
    let started = Instant::now();
    tokio::time::sleep(p.duration).await;
    let _ = stop_tx.send(true);
    let mut problems = Vec::new();
    let mut acks: Vec<Vec<Ack>> = (0..p.rooms).map(|_| Vec::new()).collect();
    // A send in flight when sending stops still goes on until it is acked, within the drain.
    let drain_end = tokio::time::Instant::now() + p.drain;
    for (r, task) in senders {
        match tokio::time::timeout_at(drain_end, task).await {
            Ok(done) => acks[r].extend(done.context("sender task")?),
            Err(_) => problems.push(format!("room {r}: a send was never acked")),
        }
    }
    let sending = started.elapsed();
    eprintln!("chatload verify: sending stopped, readers catching up");
    let last: Vec<u64> = acks
        .iter()
        .map(|a| a.iter().map(|a| a.seq).max().unwrap_or(0))
        .collect();
    let _ = finish_tx.send(Some((Arc::new(last), Instant::now() + p.drain)));
    let mut logs: Vec<Vec<(Log, u64)>> = (0..p.rooms).map(|_| Vec::new()).collect();
    for (r, task) in readers {
        logs[r].push(task.await.context("reader task")?);
    }

    let t = lock(&tally);
    for r in 0..p.rooms {
        problems.extend(check_room(r, &acks[r], &logs[r]));
    }
    problems.extend(t.refused.iter().cloned());
    let mut report = report(&p, &t, &acks, &logs, sending, problems);
    report
        .latencies
        .push(("send→ack".into(), Percentiles::of(&lock(&ack_latency))));
    report.series = acked.points();
    Ok(report)
}

/// The report of a run: what was sent, delivered and retried, and every violation found.
fn report(
    p: &Params,
    t: &Tally,
    acks: &[Vec<Ack>],
    logs: &[Vec<(Log, u64)>],
    sending: Duration,
    problems: Vec<String>,
) -> Report {
    let mut report = Report::new(
        "verify",
        serde_json::json!({
            "rooms": p.rooms, "senders_per_room": p.senders, "readers_per_room": p.readers,
            "rate": p.rate, "duration_secs": p.duration.as_secs(), "drain_secs": p.drain.as_secs(),
        }),
        "acked sends",
    );
    let total_acked: usize = acks.iter().map(Vec::len).sum();
    let delivered: usize = logs.iter().flatten().map(|l| l.0.len()).sum();
    report.figure("acked sends", total_acked as f64, "messages");
    report.figure(
        "acked sends / s",
        total_acked as f64 / sending.as_secs_f64().max(0.001),
        "msg/s",
    );
    report.figure("send attempts", t.attempts as f64, "attempts");
    report.figure("retries (same client_msg_id)", t.retries as f64, "retries");
    report.figure("reconnects", t.reconnects as f64, "connections");
    report.figure("messages in reader logs", delivered as f64, "messages");
    report.figure("gaps filled from history", t.gap_fills as f64, "gaps");
    report.figure(
        "truncated recoveries",
        t.truncated_recoveries as f64,
        "opens",
    );
    report.figure("violations", problems.len() as f64, "problems");
    report.failures = problems;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acks(ids: &[(u64, &str)]) -> Vec<Ack> {
        ids.iter()
            .map(|(seq, id)| Ack {
                seq: *seq,
                id: (*id).to_owned(),
            })
            .collect()
    }

    fn log(entries: &[(u64, &str)]) -> (Log, u64) {
        let log = entries.iter().map(|(s, i)| (*s, (*i).to_owned())).collect();
        (log, 1)
    }

    #[test]
    fn the_check_finds_every_kind_of_violation() {
        let a = acks(&[(1, "a"), (2, "b"), (3, "c")]);
        let good = log(&[(1, "a"), (2, "b"), (3, "c")]);
        assert!(check_room(0, &a, std::slice::from_ref(&good)).is_empty());
        let lost = log(&[(1, "a"), (3, "c")]);
        let doubled = log(&[(1, "a"), (2, "b"), (2, "b"), (3, "c")]);
        let reordered = log(&[(2, "b"), (1, "a"), (3, "c")]);
        let swapped = log(&[(1, "a"), (2, "c"), (3, "b")]);
        let short = log(&[(1, "a"), (2, "b")]);
        for bad in [lost, doubled, reordered, swapped, short] {
            let problems = check_room(0, &a, &[good.clone(), bad.clone()]);
            assert!(!problems.is_empty(), "{bad:?} passed");
            assert!(
                problems.iter().all(|p| p.contains("reader 1")),
                "{problems:?}"
            );
        }
        // One send stored twice (two seqs, one client_msg_id), though acked once.
        let twice = log(&[(1, "a"), (2, "b"), (3, "b")]);
        let a2 = acks(&[(1, "a"), (2, "b")]);
        let extra = acks(&[(3, "c")]);
        let all: Vec<Ack> = a2.into_iter().chain(extra).collect();
        assert!(!check_room(0, &all, &[twice]).is_empty());
        // Two sends acked with one seq.
        let clash = acks(&[(1, "a"), (1, "b")]);
        assert!(!check_room(0, &clash, &[log(&[(1, "a")])]).is_empty());
    }
}
