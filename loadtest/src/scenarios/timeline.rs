//! `timeline`: members of small groups send messages mixed with replies, reactions and
//! edits, one entry at a time each, all with the room open. Every reader must receive every
//! entry once, in seq order, and the history read at the end must show each message as the
//! acked entries left it (its last edit, its reaction counts, its quote).

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use serde_json::json;

use super::{Receiver, Sender, call, connect, create_group, open, progress, users};
use crate::{
    cli::Cli,
    report::Report,
    stats::{Percentiles, histogram},
};

/// The scenario's shape.
#[derive(Debug, Clone)]
pub struct Params {
    /// Rooms.
    pub rooms: usize,
    /// Members per room; each sends and reads.
    pub members: usize,
    /// Entries each member sends.
    pub entries: usize,
    /// Percent of entries that are replies, reactions, edits (the rest: messages).
    pub mix: (u32, u32, u32),
}

/// As many as a member may put on one message by default (`chat.max_reactions_per_user`).
const EMOJI: [&str; 3] = ["👍", "❤️", "😂"];

/// What one member did and saw.
#[derive(Default)]
struct Member {
    /// Acked entries: seq -> the command that made it.
    acked: BTreeMap<u64, Command>,
    /// Entries received live: seq -> client_msg_id, in arrival order.
    log: Vec<(u64, String)>,
    /// Send-to-ack latencies, µs.
    acks_us: Vec<u64>,
    /// Refusals (none expected: the member only asks what the rules allow).
    errors: Vec<String>,
}

/// A xorshift step: a reproducible choice per member.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// The member's next entry: its messages so far (all members'), its own messages, and the
/// reactions it has on.
fn choose(
    p: &Params,
    x: &mut u64,
    (room, k, me): (u64, usize, usize),
    known: &[u64],
    own: &[u64],
    mine: &mut HashMap<(u64, &'static str), bool>,
) -> Command {
    let id = format!("t{me}-{k}");
    let (reply, react, edit) = p.mix;
    let roll = (next(x) % 100) as u32;
    let pick = |x: &mut u64, from: &[u64]| from[(next(x) % from.len() as u64) as usize];
    if roll < reply && !known.is_empty() {
        return Command::SendMessage(v1::SendMessageRequest {
            room_id: room,
            client_msg_id: id,
            body: format!("reply {k} of member {me}"),
            reply_to_seq: pick(x, known),
            ..Default::default()
        });
    }
    if roll < reply + react && !known.is_empty() {
        let seq = pick(x, known);
        let emoji = EMOJI[(next(x) % EMOJI.len() as u64) as usize];
        let on = mine.entry((seq, emoji)).or_default();
        *on = !*on;
        let (seq, client_msg_id, emoji) = (seq, id, emoji.to_owned());
        return if *on {
            Command::AddReaction(v1::AddReactionRequest {
                room_id: room,
                seq,
                client_msg_id,
                emoji,
            })
        } else {
            Command::RemoveReaction(v1::RemoveReactionRequest {
                room_id: room,
                seq,
                client_msg_id,
                emoji,
            })
        };
    }
    if roll < reply + react + edit && !own.is_empty() {
        return Command::EditMessage(v1::EditMessageRequest {
            room_id: room,
            seq: pick(x, own),
            client_msg_id: id,
            body: format!("edit {k} of member {me}"),
            mentions: Vec::new(),
        });
    }
    // Every tenth message mentions everyone (the head then tracks mention counts).
    let (body, mentions) = if k % 10 == 0 {
        let all = v1::Mention {
            offset: 0,
            length: 4,
            all: true,
            ..Default::default()
        };
        (format!("@all message {k} of member {me}"), vec![all])
    } else {
        (format!("message {k} of member {me}"), Vec::new())
    };
    Command::SendMessage(v1::SendMessageRequest {
        room_id: room,
        client_msg_id: id,
        body,
        mentions,
        ..Default::default()
    })
}

/// Records a live entry; returns it when it is a message (others may reply to it).
fn record(m: &mut Member, frame: &v1::ServerFrame) -> Option<u64> {
    if let Some(Payload::Message(msg)) = &frame.payload
        && frame.request_id == 0
    {
        m.log.push((msg.seq, msg.client_msg_id.clone()));
        return (msg.kind() == v1::MessageKind::Unspecified).then_some(msg.seq);
    }
    None
}

/// One member: sends its entries one at a time (retrying a retryable refusal with the same
/// client_msg_id) while recording every live entry.
async fn member(
    p: Params,
    (mut tx, mut rx): (Sender, Receiver),
    room: u64,
    me: usize,
) -> anyhow::Result<(Sender, Receiver, Member)> {
    let mut m = Member::default();
    let mut x = 0x9E37_79B9_7F4A_7C15 ^ (me as u64 + 1);
    let (mut known, mut own) = (Vec::new(), Vec::new());
    let mut mine = HashMap::new();
    for k in 0..p.entries {
        let command = choose(&p, &mut x, (room, k, me), &known, &own, &mut mine);
        let started = Instant::now();
        loop {
            let id = tx.send(command.clone()).await?;
            let reply = loop {
                let Some(frame) = rx.next().await? else {
                    anyhow::bail!("member {me}: connection closed");
                };
                if frame.request_id == id {
                    break frame.payload;
                }
                known.extend(record(&mut m, &frame));
            };
            match reply {
                Some(Payload::SendAck(a)) => {
                    m.acks_us.push(started.elapsed().as_micros() as u64);
                    if matches!(&command, Command::SendMessage(_)) {
                        own.push(a.seq);
                    }
                    m.acked.insert(a.seq, command.clone());
                    break;
                }
                Some(Payload::Error(e)) if e.retryable => {
                    let wait = u64::from(e.retry_after_ms).max(20);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                other => {
                    m.errors
                        .push(format!("member {me}: {command:?} -> {other:?}"));
                    break;
                }
            }
        }
    }
    Ok((tx, rx, m))
}

/// Reads live entries until the log reaches `last` (or `drain` passes).
async fn drain(rx: &mut Receiver, m: &mut Member, last: u64, drain: Duration) {
    let deadline = tokio::time::Instant::now() + drain;
    while m.log.last().is_none_or(|(s, _)| *s < last) {
        match tokio::time::timeout_at(deadline, rx.next()).await {
            Ok(Ok(Some(frame))) => {
                record(m, &frame);
            }
            _ => return,
        }
    }
}

/// Every page of a room's history, oldest first.
async fn all_history(
    tx: &mut Sender,
    rx: &mut Receiver,
    room: u64,
) -> anyhow::Result<Vec<v1::Message>> {
    let mut out = Vec::new();
    let mut before = 0;
    loop {
        let command = Command::GetHistory(v1::GetHistoryRequest {
            room_id: room,
            before_seq: before,
            limit: 100,
        });
        let Payload::History(h) = call(tx, rx, command).await? else {
            anyhow::bail!("history failed");
        };
        out.extend(h.messages);
        if h.next_before_seq == 0 {
            break;
        }
        before = h.next_before_seq;
    }
    out.reverse();
    Ok(out)
}

/// What the acked entries should have left: per message seq, its body, quote and reaction
/// counts by emoji.
type Expected = BTreeMap<u64, (String, u64, BTreeMap<String, u32>)>;

fn expected(acked: &BTreeMap<u64, Command>) -> Expected {
    let mut out: Expected = BTreeMap::new();
    for (&seq, command) in acked {
        match command {
            Command::SendMessage(s) => {
                out.insert(seq, (s.body.clone(), s.reply_to_seq, BTreeMap::new()));
            }
            Command::EditMessage(e) => {
                if let Some(m) = out.get_mut(&e.seq) {
                    m.0 = e.body.clone();
                }
            }
            Command::AddReaction(r) => {
                if let Some(m) = out.get_mut(&r.seq) {
                    *m.2.entry(r.emoji.clone()).or_default() += 1;
                }
            }
            Command::RemoveReaction(r) => {
                if let Some(m) = out.get_mut(&r.seq)
                    && let Some(n) = m.2.get_mut(&r.emoji)
                {
                    *n -= 1;
                    if *n == 0 {
                        m.2.remove(&r.emoji);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Problems in one room: readers' logs that are not 1..=last once each with the acked ids,
/// and history that does not show what the acks did.
fn check_room(room: usize, members: &[Member], history: &[v1::Message]) -> Vec<String> {
    let mut problems = Vec::new();
    let acked: BTreeMap<u64, Command> = members.iter().flat_map(|m| m.acked.clone()).collect();
    let last = acked.keys().last().copied().unwrap_or(0);
    for (i, m) in members.iter().enumerate() {
        let seqs: Vec<u64> = m.log.iter().map(|(s, _)| *s).collect();
        if seqs != (1..=last).collect::<Vec<_>>() {
            problems.push(format!(
                "room {room} reader {i}: {} entries, not 1..={last} once each",
                seqs.len()
            ));
        }
    }
    let model = expected(&acked);
    let shown: HashMap<u64, &v1::Message> = history.iter().map(|m| (m.seq, m)).collect();
    if history.len() as u64 != last {
        problems.push(format!(
            "room {room}: history has {} entries, {last} acked",
            history.len()
        ));
    }
    for (seq, (body, reply_to, reactions)) in &model {
        let Some(m) = shown.get(seq) else {
            problems.push(format!("room {room}: message {seq} missing from history"));
            continue;
        };
        let got: BTreeMap<String, u32> = m
            .reactions
            .iter()
            .map(|r| (r.emoji.clone(), r.count))
            .collect();
        let quote = m.reply_to.as_ref().map_or(0, |q| q.seq);
        if &m.body != body || &got != reactions || quote != *reply_to {
            problems.push(format!(
                "room {room} seq {seq}: history shows {:?} {got:?} quoting {quote}, the acks say {body:?} {reactions:?} quoting {reply_to}",
                m.body
            ));
        }
    }
    problems
}

/// A member's connection and what it did, once it has sent everything.
type Finished = (Sender, Receiver, Member);

/// Rooms and their members, each member sending in a task of its own.
type Running = Vec<(
    usize,
    u64,
    tokio::task::JoinHandle<anyhow::Result<Finished>>,
)>;

async fn start(cli: &Cli, p: &Params) -> anyhow::Result<Running> {
    let accounts = users(cli, p.rooms * p.members).await?;
    let mut opened = Vec::new();
    for r in 0..p.rooms {
        let team = &accounts[r * p.members..(r + 1) * p.members];
        let (mut tx, mut rx) = connect(cli, r * p.members, &team[0]).await?;
        let others = team[1..].iter().map(|a| a.id).collect();
        let name = format!("chatload timeline {r}");
        let room = create_group(&mut tx, &mut rx, &name, others).await?.id;
        for (j, account) in team.iter().enumerate() {
            let i = r * p.members + j;
            let (mut tx, mut rx) = connect(cli, i, account).await?;
            open(&mut tx, &mut rx, room).await?;
            opened.push((r, room, i, tx, rx));
        }
    }
    // Everyone has the room open before anyone sends: each reader must see every entry.
    let tasks = opened
        .into_iter()
        .map(|(r, room, i, tx, rx)| (r, room, tokio::spawn(member(p.clone(), (tx, rx), room, i))))
        .collect();
    Ok(tasks)
}

/// Drains every reader of a room, reads its history and checks it; adds the latencies.
async fn finish_room(
    r: usize,
    room: u64,
    mut members: Vec<Finished>,
    latency: &mut hdrhistogram::Histogram<u64>,
) -> anyhow::Result<(u64, Vec<String>)> {
    let last = members
        .iter()
        .filter_map(|(_, _, m)| m.acked.keys().last().copied())
        .max()
        .unwrap_or(0);
    for (_, rx, m) in &mut members {
        drain(rx, m, last, Duration::from_secs(30)).await;
    }
    let (tx, rx, _) = &mut members[0];
    let history = all_history(tx, rx, room).await?;
    let logs: Vec<Member> = members.into_iter().map(|(_, _, m)| m).collect();
    let mut problems = Vec::new();
    let mut acked = 0;
    for m in &logs {
        for us in &m.acks_us {
            let _ = latency.record((*us).max(1));
        }
        problems.extend(m.errors.iter().cloned());
        acked += m.acked.len() as u64;
    }
    problems.extend(check_room(r, &logs, &history));
    Ok((acked, problems))
}

pub async fn run(cli: &Cli, p: Params) -> anyhow::Result<Report> {
    let tasks = start(cli, &p).await?;
    let bar = progress(cli, tasks.len() as u64, "members done");
    let started = Instant::now();
    let mut by_room: BTreeMap<usize, (u64, Vec<Finished>)> = BTreeMap::new();
    for (r, room, task) in tasks {
        let done = task.await??;
        by_room
            .entry(r)
            .or_insert_with(|| (room, Vec::new()))
            .1
            .push(done);
        bar.inc(1);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let mut latency = histogram();
    let (mut total, mut problems) = (0, Vec::new());
    for (r, (room, members)) in by_room {
        let (acked, found) = finish_room(r, room, members, &mut latency).await?;
        total += acked;
        problems.extend(found);
    }
    let mut report = Report::new(
        "timeline",
        json!({"rooms": p.rooms, "members": p.members, "entries": p.entries,
               "reply_react_edit_percent": [p.mix.0, p.mix.1, p.mix.2], "targets": cli.target}),
        "entries",
    );
    report.figure("acked entries", total as f64, "entries");
    report.figure(
        "acked entries per second",
        total as f64 / elapsed.as_secs_f64(),
        "entries/s",
    );
    report.figure("violations", problems.len() as f64, "problems");
    report
        .latencies
        .push(("send->ack".into(), Percentiles::of(&latency)));
    report.failures = problems;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_follows_edits_and_reactions_in_seq_order() {
        let send = |body: &str, reply_to_seq| {
            Command::SendMessage(v1::SendMessageRequest {
                body: body.into(),
                reply_to_seq,
                ..Default::default()
            })
        };
        let react = |seq, add| {
            let (room_id, client_msg_id, emoji) = (1, String::new(), "👍".to_owned());
            if add {
                Command::AddReaction(v1::AddReactionRequest {
                    room_id,
                    seq,
                    client_msg_id,
                    emoji,
                })
            } else {
                Command::RemoveReaction(v1::RemoveReactionRequest {
                    room_id,
                    seq,
                    client_msg_id,
                    emoji,
                })
            }
        };
        let edit = Command::EditMessage(v1::EditMessageRequest {
            seq: 1,
            body: "fixed".into(),
            ..Default::default()
        });
        let acked: BTreeMap<u64, Command> = [
            (1, send("a", 0)),
            (2, react(1, true)),
            (3, send("b", 1)),
            (4, edit),
            (5, react(1, true)),
            (6, react(1, false)),
        ]
        .into();
        let model = expected(&acked);
        assert_eq!(model[&1].0, "fixed");
        assert_eq!(model[&1].2.get("👍"), Some(&1));
        assert_eq!(model[&3].1, 1);
    }
}
