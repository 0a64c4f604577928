//! Crash tests against real `chatnode` processes.

use std::collections::BTreeMap;

use chat_proto::v1::server_frame::Payload;

use crate::common::*;

#[tokio::test]
async fn acked_messages_survive_sigkill_and_seq_continues() {
    let (_dir, data) = temp_dir();
    let node = NodeProcess::start(&data, &[]);
    let http = Http::new(node.addr);
    let [alice, bob] = http.signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Proto).await;
    let room = a.create_direct(bob.id).await;

    // Pipeline many sends; collect the acks that arrive, then kill the node mid-stream.
    let mut ids = BTreeMap::new();
    for n in 0..300 {
        let rid = a
            .send(send_cmd(room.id, &format!("m{n}"), &format!("message {n}")))
            .await;
        ids.insert(rid, format!("m{n}"));
    }
    let mut acked = BTreeMap::new();
    while acked.len() < 150 {
        let f = a.next_frame().await.unwrap();
        if let Some(Payload::SendAck(ack)) = f.payload {
            acked.insert(ack.seq, ack.client_msg_id);
        }
    }
    node.kill9();
    // Anything else that reached the socket before the kill also counts as acked.
    while let Some(f) = a.next_frame().await {
        if let Some(Payload::SendAck(ack)) = f.payload {
            acked.insert(ack.seq, ack.client_msg_id);
        }
    }
    assert!(acked.len() >= 150);

    let node = NodeProcess::start(&data, &[]);
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let stored = a.all_messages(room.id).await;
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "gap in the stored log"
    );
    let by_seq: BTreeMap<u64, String> = stored
        .into_iter()
        .map(|m| (m.seq, m.client_msg_id))
        .collect();
    for (seq, id) in &acked {
        assert_eq!(
            by_seq.get(seq),
            Some(id),
            "acked message {seq} lost or changed"
        );
    }
    // New messages continue the log with no gap and no reuse.
    let last = by_seq.len() as u64;
    assert_eq!(
        a.say_ok(room.id, "after-crash", "still here").await.seq,
        last + 1
    );
    // Retrying an acked message after the crash returns its original ack.
    let (seq, id) = acked.iter().next_back().unwrap();
    assert_eq!(a.say_ok(room.id, id, "retry").await.seq, *seq);
    assert!(node.terminate().success());
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let (_dir, data) = temp_dir();
    let node = NodeProcess::start(&data, &[]);
    let http = Http::new(node.addr);
    let [alice, bob] = http.signups(["alice", "bob"]).await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await;
    for n in 0..20 {
        a.say_ok(room.id, &format!("m{n}"), "hello").await;
    }
    let status = node.terminate();
    assert!(status.success(), "{status:?}");
    // The client was told to reconnect elsewhere.
    assert_eq!(a.closed_code().await, Some(4000));
    let node = NodeProcess::start(&data, &[]);
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    assert_eq!(a.all_messages(room.id).await.len(), 20);
    node.kill9();
}
