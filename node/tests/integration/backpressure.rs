//! Backpressure (issue 11): a client that stops reading is cut off once its bounded queue
//! overflows, recovers by seq when it returns, and never delays anyone else.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chat_proto::v1::{self, server_frame::Payload};
use futures::StreamExt as _;
use prost::Message as _;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::common::*;

/// Members of the room: one sender, `READERS` readers, one stuck client.
const READERS: usize = 48;
/// Messages sent before the stuck client connects: the baseline latency.
const BASELINE: usize = 150;
/// Most messages sent while the stuck client is connected before the test gives up waiting
/// for the node to cut it off.
const MAX_STUCK_PHASE: usize = 4000;
/// Body size: large enough to fill socket buffers quickly.
const BODY_BYTES: usize = 3000;

/// Opens a WebSocket (binary protobuf) with a tiny receive buffer, authenticates, opens
/// `room`, and is then left unread.
async fn stuck_client(
    addr: SocketAddr,
    token: &str,
    room: u64,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/v1/ws?access_token={token}")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("chat.v1.proto"),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let open = v1::ClientFrame {
        request_id: 1,
        command: Some(v1::client_frame::Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room,
            since_seq: 0,
        })),
    };
    futures::SinkExt::send(&mut ws, Message::Binary(open.encode_to_vec().into()))
        .await
        .unwrap();
    // Read up to the reply, then never again (until the test says so).
    loop {
        let Some(Ok(Message::Binary(b))) = ws.next().await else {
            panic!("the stuck client's socket ended before it opened the room");
        };
        if v1::ServerFrame::decode(b.as_ref()).unwrap().request_id == 1 {
            return ws;
        }
    }
}

/// When each message (by its index in the body) was sent.
type SentAt = Arc<Mutex<Vec<Option<Instant>>>>;

fn body(index: usize) -> String {
    let head = format!("{index}:");
    format!("{head}{}", "x".repeat(BODY_BYTES - head.len()))
}

fn index_of(m: &v1::Message) -> usize {
    m.body.split(':').next().unwrap().parse().unwrap()
}

/// A reader: every message until the one with index `last`, with its arrival time.
async fn read_all(mut c: Client, last: Arc<Mutex<Option<usize>>>) -> Vec<(u64, usize, Instant)> {
    let mut seen = Vec::new();
    loop {
        let m = c.next_message().await;
        let index = index_of(&m);
        seen.push((m.seq, index, Instant::now()));
        if Some(index) == *last.lock().unwrap() {
            return seen;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn connections(http: &Http) -> u64 {
    let (_, text) = http.get("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix("chat_connections "))
        .and_then(|v| v.trim().parse().ok())
        .expect("chat_connections in /metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stuck_reader_in_a_room_of_fifty_delays_no_one_and_recovers_by_seq() {
    let node = TestNode::start_with(|c| {
        // A small queue so the stuck client overflows it after a few hundred messages.
        c.chat.max_append_batch = 32;
        c.chat.max_inflight_per_connection = 32;
        c.chat.outbound_queue = 64;
    })
    .await;
    let http = node.http();
    let mut accounts = Vec::new();
    for i in 0..READERS + 2 {
        accounts.push(http.signup(&format!("bp{i:02}")).await);
    }
    let (sender_account, stuck_account) = (&accounts[0], &accounts[READERS + 1]);
    let mut sender = Client::connect(node.addr, &sender_account.access_token, Wire::Proto).await;
    let others: Vec<u64> = accounts[1..].iter().map(|a| a.id).collect();
    let room = sender.create_group("fifty", &others).await;
    assert_eq!(room.member_ids.len(), READERS + 2);

    let last = Arc::new(Mutex::new(None));
    let mut readers = Vec::new();
    for a in &accounts[1..=READERS] {
        let mut c = Client::connect(node.addr, &a.access_token, Wire::Proto).await;
        c.open(room.id).await;
        readers.push(tokio::spawn(read_all(c, last.clone())));
    }
    let sent_at: SentAt = Arc::new(Mutex::new(Vec::new()));
    let mut next = 0usize;
    // Paced at one message every 4 ms: latency should measure delivery, not a queue the test
    // built itself.
    let pace = tokio::sync::Mutex::new(tokio::time::interval(Duration::from_millis(4)));
    let send = async |sender: &mut Client, next: &mut usize| {
        pace.lock().await.tick().await;
        sent_at.lock().unwrap().push(Some(Instant::now()));
        sender
            .say_ok(room.id, &format!("m{next}"), &body(*next))
            .await;
        *next += 1;
    };

    // Baseline: every member but the stuck one connected and reading.
    for _ in 0..BASELINE {
        send(&mut sender, &mut next).await;
    }
    let baseline_end = next;
    assert_eq!(connections(&http).await, READERS as u64 + 1);

    // The stuck client joins and stops reading; sending goes on until the node cuts it off.
    let mut stuck = stuck_client(node.addr, &stuck_account.access_token, room.id).await;
    assert_eq!(connections(&http).await, READERS as u64 + 2);
    let mut cut_at = None;
    while next < baseline_end + MAX_STUCK_PHASE {
        send(&mut sender, &mut next).await;
        if next.is_multiple_of(25) && connections(&http).await == READERS as u64 + 1 {
            cut_at = Some(next);
            break;
        }
    }
    let cut_at = cut_at.expect("the node never cut off a client that stopped reading");
    // A little more after the cut, then the end marker.
    for _ in 0..25 {
        send(&mut sender, &mut next).await;
    }
    let final_index = next;
    *last.lock().unwrap() = Some(final_index);
    send(&mut sender, &mut next).await;
    let total = next;

    // Every reader got every message once, in order, and how long each took.
    let sent: Vec<Instant> = sent_at.lock().unwrap().iter().map(|t| t.unwrap()).collect();
    let (mut before, mut during) = (Vec::new(), Vec::new());
    let mut last_seq = 0;
    for r in readers {
        let seen = r.await.unwrap();
        last_seq = seen.last().unwrap().0;
        let indexes: Vec<usize> = seen.iter().map(|s| s.1).collect();
        assert_eq!(
            indexes,
            (0..total).collect::<Vec<_>>(),
            "a reader lost or doubled"
        );
        let seqs: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "seqs not dense");
        for (_, index, at) in seen {
            let latency = at.saturating_duration_since(sent[index]);
            if index < baseline_end {
                before.push(latency);
            } else if index < cut_at {
                during.push(latency);
            }
        }
    }
    before.sort();
    during.sort();
    let (p50_before, p99_before) = (percentile(&before, 0.5), percentile(&before, 0.99));
    let (p50_during, p99_during) = (percentile(&during, 0.5), percentile(&during, 0.99));
    println!(
        "delivery to {READERS} readers: without the stuck client p50 {p50_before:?} p99 \
         {p99_before:?} ({} samples); with it, until it was cut after message {cut_at}: p50 \
         {p50_during:?} p99 {p99_during:?} ({} samples)",
        before.len(),
        during.len()
    );
    // The same run's baseline, with room for a shared, noisy machine: a stuck client that
    // held up the fan-out would add its whole wait to every delivery.
    assert!(
        p50_during <= p50_before * 3 + Duration::from_millis(20),
        "the stuck client slowed the others: p50 {p50_during:?} against {p50_before:?}"
    );

    // The stuck client reads again: what the node had written, in order, then the end.
    let mut got = Vec::new();
    let mut close = None;
    loop {
        match tokio::time::timeout(PATIENCE, stuck.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => {
                if let Some(Payload::Message(m)) =
                    v1::ServerFrame::decode(b.as_ref()).unwrap().payload
                {
                    got.push(m);
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                close = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break,
            Err(_) => panic!("the cut-off client's socket stayed open"),
        }
    }
    if let Some(code) = close {
        assert_eq!(code, 4001, "a slow consumer is closed with SLOW_CONSUMER");
    }
    assert!(
        got.len() < total - baseline_end,
        "the stuck client was never cut off"
    );
    let first = got.first().map_or(1, |m| m.seq);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, m)| m.seq == first + i as u64),
        "what reached the stuck client has a gap"
    );

    // It reconnects and recovers from the last seq it saw: every message once, in order.
    let mut back = Client::connect(node.addr, &stuck_account.access_token, Wire::Proto).await;
    let since = got.last().map_or(0, |m| m.seq);
    let opened = back
        .call(v1::client_frame::Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room.id,
            since_seq: since,
        }))
        .await;
    let Payload::RoomOpened(opened) = opened else {
        panic!("{opened:?}")
    };
    // The newest `recovered` come as events; a truncated recovery leaves the rest to history,
    // as a real client does it.
    let mut recovered = Vec::new();
    for _ in 0..opened.recovered {
        recovered.push(back.next_message().await.seq);
    }
    if opened.recovery_truncated {
        let mut before = recovered[0];
        while before > since + 1 {
            let page = back.history_ok(room.id, before, 100).await;
            let mut seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
            seqs.retain(|s| *s > since);
            seqs.sort();
            before = seqs[0];
            recovered.splice(0..0, seqs);
        }
    }
    // And live messages after the reconnect reach it as usual.
    while recovered.last().is_none_or(|s| *s < last_seq) {
        recovered.push(back.next_message().await.seq);
    }
    let mut all: Vec<u64> = got.iter().map(|m| m.seq).collect();
    all.extend(recovered);
    let first = all[0];
    assert_eq!(
        all,
        (first..=last_seq).collect::<Vec<_>>(),
        "recovery lost or doubled a message"
    );
    assert_eq!(*all.last().unwrap(), last_seq);
    node.stop().await;
}

/// Connections that never read, in a room flooded with messages, then a flood of idle
/// connections: the node's memory grows by a bounded amount per connection, never with
/// (connections x messages), because queued frames are shared and each queue is bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_a_flood_of_connections_and_messages() {
    const STUCK: usize = 200;
    const MESSAGES: usize = 1000;
    const IDLE: usize = 600;
    let (_dir, path) = temp_dir();
    let node = NodeProcess::start(
        &path,
        &[
            ("CHAT__CHAT__MAX_APPEND_BATCH", "32"),
            ("CHAT__CHAT__MAX_INFLIGHT_PER_CONNECTION", "32"),
            ("CHAT__CHAT__OUTBOUND_QUEUE", "64"),
            ("CHAT__LIMITS__CONNECTIONS_PER_USER", "100000"),
            ("CHAT__LIMITS__CONNECTIONS_PER_IP", "100000"),
        ],
    );
    let http = Http::new(node.addr);
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut sender = Client::connect(node.addr, &ann.access_token, Wire::Proto).await;
    let room = sender.create_group("flood", &[ben.id]).await;

    let before = node.rss_bytes();
    let mut stuck = Vec::new();
    for _ in 0..STUCK {
        stuck.push(stuck_client(node.addr, &ben.access_token, room.id).await);
    }
    for i in 0..MESSAGES {
        sender.say_ok(room.id, &format!("f{i}"), &body(i)).await;
        // Keep the sender's own event queue short.
        while sender.events_pop().is_some() {}
    }
    let after_messages = node.rss_bytes();
    let naive = (STUCK * MESSAGES * BODY_BYTES) as u64;
    let grown = after_messages.saturating_sub(before);
    println!(
        "{STUCK} connections that never read, {MESSAGES} messages of {BODY_BYTES} bytes: RSS \
         {} -> {} MiB (+{} MiB; a copy per connection would be {} MiB)",
        before >> 20,
        after_messages >> 20,
        grown >> 20,
        naive >> 20
    );
    assert!(
        grown < 256 << 20,
        "memory grew by {} MiB for {STUCK} stuck connections",
        grown >> 20
    );
    drop(stuck);

    let mut idle = Vec::new();
    let base = node.rss_bytes();
    for _ in 0..IDLE {
        idle.push(Client::connect(node.addr, &ben.access_token, Wire::Proto).await);
    }
    let per_connection = node.rss_bytes().saturating_sub(base) / IDLE as u64;
    println!("{IDLE} idle connections: {per_connection} bytes of RSS each");
    assert!(
        per_connection < 128 << 10,
        "{per_connection} bytes per idle connection"
    );
    node.kill9();
}
