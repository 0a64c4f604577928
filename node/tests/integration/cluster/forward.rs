//! Forwarding across nodes: the source and target rooms owned by other nodes than the
//! forwarder's, the file readable from every node through the copy, and erased on every
//! node once the last message holding it is unsent.

use super::*;

async fn upload(addr: SocketAddr, token: &str, bytes: &[u8]) -> u64 {
    let r = http_client()
        .post(format!("http://{addr}/v1/files"))
        .query(&[("name", "note.txt")])
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().parse().unwrap()
}

async fn status(addr: SocketAddr, token: &str, file: u64) -> u16 {
    let (status, _) = Http::new(addr)
        .get_authed(token, &format!("/v1/files/{file}/info"))
        .await;
    status
}

fn ack(p: Payload) -> v1::SendAck {
    match p {
        Payload::SendAck(a) => a,
        other => panic!("{other:?}"),
    }
}

fn unsend(room_id: u64, seq: u64, client_msg_id: &str) -> Command {
    Command::DeleteMessage(v1::DeleteMessageRequest {
        room_id,
        seq,
        client_msg_id: client_msg_id.into(),
    })
}

#[tokio::test]
async fn a_forward_crosses_nodes_and_its_file_is_erased_everywhere_after_the_last_unsend() {
    let Some(cluster) = TestCluster::start(3).await else {
        return;
    };
    let addrs: Vec<SocketAddr> = (0..3).map(|i| cluster.addr(i)).collect();
    let [ann, ben, cat] = Http::new(addrs[0]).signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(addrs[0], &ann.access_token, Wire::Json).await;
    let from = a.create_group("from", &[ben.id]).await.id;
    let mut b0 = Client::connect(addrs[0], &ben.access_token, Wire::Json).await;
    let to = b0.create_group("to", &[cat.id]).await.id;
    // Ben forwards from a node that owns neither room when there is one.
    let owners = [
        cluster.owner_of(0, from).await,
        cluster.owner_of(0, to).await,
    ];
    let nb = (0..3)
        .find(|n| !owners.contains(n))
        .unwrap_or((owners[0] + 1) % 3);
    let mut b = Client::connect(addrs[nb], &ben.access_token, Wire::Proto).await;
    let file = upload(addrs[owners[0]], &ann.access_token, b"see attached").await;
    let sent = ack(a
        .call(Command::SendMessage(v1::SendMessageRequest {
            room_id: from,
            client_msg_id: "s1".into(),
            body: "notes".into(),
            file_ids: vec![file],
            ..Default::default()
        }))
        .await);
    let forward = Command::ForwardMessage(v1::ForwardMessageRequest {
        from_room_id: from,
        seq: sent.seq,
        room_id: to,
        client_msg_id: "f1".into(),
    });
    let copy = ack(b.call(forward).await);
    let page = b.history_ok(to, 0, 10).await;
    let shown = page.messages.iter().find(|m| m.seq == copy.seq).unwrap();
    assert!(shown.forwarded && shown.body == "notes");
    for addr in &addrs {
        assert_eq!(status(*addr, &cat.access_token, file).await, 200);
    }
    // Unsending the original keeps the file for the copy; unsending the copy erases it.
    ack(a.call(unsend(from, sent.seq, "u1")).await);
    assert_eq!(status(addrs[2], &cat.access_token, file).await, 200);
    ack(b.call(unsend(to, copy.seq, "u2")).await);
    for addr in &addrs {
        for token in [&ann.access_token, &ben.access_token, &cat.access_token] {
            assert_eq!(status(*addr, token, file).await, 404);
        }
    }
    cluster.stop().await;
}
