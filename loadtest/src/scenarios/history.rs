//! `history`: rooms with long histories, scrolled back page by page.

use std::time::Instant;

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};
use serde_json::json;

use super::{call, connect, create_group, progress, users};
use crate::{
    cli::Cli,
    report::Report,
    stats::{Percentiles, Series, histogram},
};

/// Finds a room named `name` with at least `messages` messages, from an earlier run.
async fn reusable_room(
    tx: &mut super::Sender,
    rx: &mut super::Receiver,
    name: &str,
    messages: usize,
) -> anyhow::Result<Option<(u64, u64)>> {
    let Payload::RoomList(list) = call(
        tx,
        rx,
        Command::ListRooms(v1::ListRoomsRequest { limit: 500 }),
    )
    .await?
    else {
        anyhow::bail!("list rooms failed");
    };
    Ok(list
        .rooms
        .iter()
        .filter_map(|s| s.room.as_ref())
        .find(|r| r.name == name && r.last_seq as usize >= messages)
        .map(|r| (r.id, r.last_seq)))
}

/// Sends `messages` into `room`, pipelined in windows of 256 so filling is quick; records
/// each window's time in `fill`.
async fn fill_room(
    cli: &Cli,
    (tx, rx): (&mut super::Sender, &mut super::Receiver),
    room: u64,
    r: usize,
    messages: usize,
    fill: &mut hdrhistogram::Histogram<u64>,
) -> anyhow::Result<()> {
    let bar = progress(cli, messages as u64, "filling");
    let mut n = 0;
    while n < messages {
        let window = (messages - n).min(256);
        let t = Instant::now();
        let mut last = 0;
        for k in 0..window {
            let body = format!("history message {} of room {r}", n + k);
            let cmd = Command::SendMessage(v1::SendMessageRequest {
                room_id: room,
                client_msg_id: format!("h{}", n + k),
                body,
                file_ids: Vec::new(),
                ..Default::default()
            });
            last = tx.send(cmd).await?;
        }
        rx.reply(last).await?;
        let _ = fill.record((t.elapsed().as_micros() as u64).max(1));
        n += window;
        bar.set_position(n as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The next page's `before_seq` in a room of `last` messages: a xorshift walk.
fn page_end(x: &mut u64, last: u64, page_size: u32) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    let size = u64::from(page_size);
    1 + size + *x % last.saturating_sub(size).max(1)
}

pub async fn run(
    cli: &Cli,
    rooms: usize,
    messages: usize,
    pages: usize,
    page_size: u32,
) -> anyhow::Result<Report> {
    let accounts = users(cli, 1).await?;
    let (mut tx, mut rx) = connect(cli, 0, &accounts[0]).await?;
    let mut targets = Vec::new();
    let mut fill = histogram();
    for r in 0..rooms {
        let name = format!("chatload history {r} x{messages}");
        match reusable_room(&mut tx, &mut rx, &name, messages).await? {
            Some(found) => targets.push(found),
            None => {
                let room = create_group(&mut tx, &mut rx, &name, Vec::new()).await?.id;
                fill_room(cli, (&mut tx, &mut rx), room, r, messages, &mut fill).await?;
                targets.push((room, messages as u64));
            }
        }
    }

    let series = Series::new();
    let mut latency = histogram();
    let mut errors = 0u64;
    let bar = progress(cli, pages as u64, "pages");
    // A fixed pseudo-random walk over page positions: reproducible, and it defeats caches.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let started = Instant::now();
    for i in 0..pages {
        let (room, last) = targets[i % targets.len()];
        let before = page_end(&mut x, last, page_size);
        let t = Instant::now();
        let reply = call(
            &mut tx,
            &mut rx,
            Command::GetHistory(v1::GetHistoryRequest {
                room_id: room,
                before_seq: before,
                limit: page_size,
            }),
        )
        .await?;
        let us = (t.elapsed().as_micros() as u64).max(1);
        match reply {
            Payload::History(h) if !h.messages.is_empty() => {
                let _ = latency.record(us);
                series.add(1, Some(us));
            }
            _ => errors += 1,
        }
        bar.inc(1);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let mut report = Report::new(
        "history",
        json!({"rooms": rooms, "messages": messages, "pages": pages, "page_size": page_size, "targets": cli.target}),
        "pages",
    );
    report.figure("pages read", latency.len() as f64, "");
    report.figure(
        "pages per second (one client)",
        latency.len() as f64 / elapsed.as_secs_f64(),
        "page/s",
    );
    report.figure("errors", errors as f64, "");
    report
        .latencies
        .push(("page".into(), Percentiles::of(&latency)));
    if !fill.is_empty() {
        report
            .latencies
            .push(("fill 256 msgs".into(), Percentiles::of(&fill)));
    }
    report.series = series.points();
    Ok(report)
}
