//! One order across nodes, and reads, invitations, room lists and presence that cross them.

use super::*;

#[tokio::test]
async fn users_on_three_nodes_chat_in_one_room_in_one_order() {
    let Some(cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(0));
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    // Each on a different node; tokens from node 0 work everywhere (one signing key).
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(cluster.addr(1), &ben.access_token, Wire::Proto).await;
    let mut c = Client::connect(cluster.addr(2), &cat.access_token, Wire::Json).await;
    let room = a.create_group("across", &[ben.id, cat.id]).await;
    for client in [&mut a, &mut b, &mut c] {
        client.open(room.id).await;
    }
    // Everyone sends at once; whichever node owns the room sequences all of it.
    let sends = 10;
    for i in 0..sends {
        for (client, who) in [(&mut a, "a"), (&mut b, "b"), (&mut c, "c")] {
            client
                .send(send_cmd(
                    room.id,
                    &format!("{who}{i}"),
                    &format!("{who} {i}"),
                ))
                .await;
        }
    }
    let total = 3 * sends;
    let mut seen = Vec::new();
    for client in [&mut a, &mut b, &mut c] {
        seen.push(collect_messages(client, total).await);
    }
    // The same messages in the same order everywhere, seqs 1..=30 without a gap.
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    let seqs: Vec<u64> = seen[0].iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<u64>>());
    // And the store agrees, read through yet another node.
    let mut reading = Client::connect(cluster.addr(1), &ben.access_token, Wire::Json).await;
    let history = reading.history_ok(room.id, 0, 100).await;
    assert_eq!(messages_of(&history), seen[0]);
    cluster.stop().await;
}

#[tokio::test]
async fn read_counts_invitations_room_lists_and_presence_cross_nodes() {
    let Some(cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(1));
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(cluster.addr(1), &ben.access_token, Wire::Json).await;
    let room = a.create_group("reads", &[ben.id]).await;
    a.open(room.id).await;
    let sent = a.say_ok(room.id, "m1", "unread by ben").await;
    // Ann sees her message with one reader missing; Ben (node 1) reads it; Ann (node 0)
    // sees the count drop.
    let m = a.next_message().await;
    assert_eq!((m.seq, m.unread), (sent.seq, 1));
    b.open(room.id).await;
    ok_payload(
        b.call(Command::MarkRead(v1::MarkReadRequest {
            room_id: room.id,
            seq: sent.seq,
        }))
        .await,
    );
    let read = a
        .next_where(|p| match p {
            Payload::ReadReceipt(r) => Some(r),
            _ => None,
        })
        .await;
    assert_eq!((read.user_id, read.to_seq), (ben.id, sent.seq));

    // An invitation made on node 0 reaches Cat on node 2 as a new room in her list.
    let mut c = Client::connect(cluster.addr(2), &cat.access_token, Wire::Proto).await;
    ok_payload_room(
        a.call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room.id,
            user_ids: vec![cat.id],
        }))
        .await,
    );
    let added = c
        .next_where(|p| match p {
            Payload::RoomAdded(r) => Some(r),
            _ => None,
        })
        .await;
    assert_eq!(added.room.unwrap().room.unwrap().id, room.id);
    // A message while Cat has the room closed updates her room list (node 2).
    a.say_ok(room.id, "m2", "for the list").await;
    let update = c
        .next_where(|p| match p {
            Payload::RoomUpdate(u) => Some(u),
            _ => None,
        })
        .await;
    assert_eq!(update.room_id, room.id);

    // Presence: Cat's connection on node 2 makes her online for Ann on node 0, and
    // closing it makes her offline.
    c.open(room.id).await;
    drop(c);
    let gone = a
        .next_where(|p| match p {
            Payload::PresenceChanged(p) if p.user_id == cat.id => Some(p),
            _ => None,
        })
        .await;
    assert!(!gone.online);
    let _c2 = Client::connect(cluster.addr(2), &cat.access_token, Wire::Json).await;
    let back = a
        .next_where(|p| match p {
            Payload::PresenceChanged(p) if p.user_id == cat.id => Some(p),
            _ => None,
        })
        .await;
    assert!(back.online);
    cluster.stop().await;
}

fn ok_payload_room(p: Payload) {
    assert!(matches!(p, Payload::Room(_)), "{p:?}");
}
