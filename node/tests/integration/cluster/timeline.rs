//! Replies, edits and deletes in a room owned by another node, and after its owner moved.

use super::*;

fn change(room: u64, seq: u64, id: &str, body: Option<&str>) -> Command {
    match body {
        Some(body) => Command::EditMessage(v1::EditMessageRequest {
            room_id: room,
            seq,
            client_msg_id: id.into(),
            body: body.into(),
            mentions: vec![],
        }),
        None => Command::DeleteMessage(v1::DeleteMessageRequest {
            room_id: room,
            seq,
            client_msg_id: id.into(),
        }),
    }
}

/// The reply `pick` accepts to `command`, the command repeated (same client_msg_id) while
/// the room moves, as long as the server asks (`retry_after_ms`) and at most 30 s.
async fn retried<T>(
    client: &mut Client,
    command: Command,
    pick: impl Fn(&Payload) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client.call(command.clone()).await {
            Payload::Error(e) if e.retryable && tokio::time::Instant::now() < deadline => {
                let wait = u64::from(e.retry_after_ms).max(50);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            other => match pick(&other) {
                Some(t) => return t,
                None => panic!("no answer to {command:?}: {other:?}"),
            },
        }
    }
}

/// The two nodes of the three that do not own a room owned by `owner`.
fn other_nodes(owner: usize) -> (usize, usize) {
    match owner {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    }
}

/// The ack of a command, retried while the room moves.
async fn acked(client: &mut Client, command: Command) -> v1::SendAck {
    retried(client, command, |p| match p {
        Payload::SendAck(a) => Some(a.clone()),
        _ => None,
    })
    .await
}

/// (unread, mention_count) of the room in the caller's list, retried while the room moves.
async fn cat_counts(client: &mut Client, room: u64) -> (u32, u32) {
    let list = Command::ListRooms(v1::ListRoomsRequest { limit: 0 });
    retried(client, list, |p| match p {
        Payload::RoomList(list) => {
            let s = list
                .rooms
                .iter()
                .find(|r| r.room.as_ref().unwrap().id == room);
            let s = s.expect("the room in the list");
            Some((s.unread, s.mention_count))
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn changes_cross_nodes_and_survive_the_owner_moving() {
    let Some(mut cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(0));
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let room = a.create_group("moving", &[ben.id, cat.id]).await.id;
    let owner = cluster.owner_of(0, room).await;
    // Ann and Ben both on nodes that do not own the room.
    let (na, nb) = other_nodes(owner);
    let mut a = Client::connect(cluster.addr(na), &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(cluster.addr(nb), &ben.access_token, Wire::Proto).await;
    b.open(room).await;
    assert_eq!(a.say_ok(room, "1", "meet at 6").await.seq, 1);
    let reply = Command::SendMessage(v1::SendMessageRequest {
        room_id: room,
        client_msg_id: "2".into(),
        body: "ok".into(),
        reply_to_seq: 1,
        ..Default::default()
    });
    assert_eq!(acked(&mut b, reply).await.seq, 2);
    // The first edit mentions Cat, who is not online.
    let Command::EditMessage(mut e1) = change(room, 1, "e1", Some("@cat meet at 7")) else {
        unreachable!()
    };
    e1.mentions = vec![v1::Mention {
        user_id: cat.id,
        offset: 0,
        length: 4,
        all: false,
    }];
    let e1 = Command::EditMessage(e1);
    assert_eq!(acked(&mut a, e1.clone()).await.seq, 3);
    let live = b.next_where(|p| match p {
        Payload::Message(m) if m.seq == 3 => Some(m),
        _ => None,
    });
    let live = live.await;
    assert_eq!(live.updated.unwrap().body, "@cat meet at 7");
    // The owner leaves (SIGTERM: hand-over); the next owner continues from the store.
    let status = cluster.terminate(owner);
    assert!(status.success(), "node {owner} exited with {status}");
    // The next owner counts Cat's mention from the stored head; an edit without it takes
    // it back.
    let mut c = Client::connect(cluster.addr(na), &cat.access_token, Wire::Proto).await;
    assert_eq!(cat_counts(&mut c, room).await, (2, 1));
    assert_eq!(
        acked(&mut a, change(room, 1, "e2", Some("meet at 8")))
            .await
            .seq,
        4
    );
    assert_eq!(cat_counts(&mut c, room).await, (2, 0));
    // A mute on one node reaches the user's device on another.
    let mut c2 = Client::connect(cluster.addr(nb), &cat.access_token, Wire::Json).await;
    let muted = c
        .call(Command::SetRoomMuted(v1::SetRoomMutedRequest {
            room_id: room,
            muted: true,
        }))
        .await;
    assert!(matches!(muted, Payload::Ok(_)), "{muted:?}");
    let settings = c2
        .next_where(|p| match p {
            Payload::RoomSettings(s) => Some(s),
            _ => None,
        })
        .await;
    assert!(settings.muted && settings.room_id == room);
    assert_eq!(acked(&mut b, change(room, 2, "d1", None)).await.seq, 5);
    // A retry of a change made before the move gets its first ack.
    assert_eq!(acked(&mut a, e1).await.seq, 3);
    let page = a.history_ok(room, 0, 10).await.messages;
    let by_seq = |s: u64| page.iter().find(|m| m.seq == s).unwrap().clone();
    assert_eq!(
        (by_seq(1).body.as_str(), by_seq(1).changed_seq),
        ("meet at 8", 4)
    );
    assert!(by_seq(2).deleted);
    assert_eq!(page.len(), 5);
    cluster.stop().await;
}

/// The room a command answers with, retried while the room moves (every command here is
/// safe to repeat: the same name or owner again changes nothing).
async fn room_reply(client: &mut Client, command: Command) -> v1::Room {
    retried(client, command, |p| match p {
        Payload::Room(r) => Some(r.clone()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn roles_and_system_lines_cross_nodes_and_survive_the_owner_moving() {
    let Some(mut cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(0));
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let room = a.create_group("first", &[ben.id, cat.id]).await.id;
    let owner = cluster.owner_of(0, room).await;
    let (na, nb) = other_nodes(owner);
    let mut a = Client::connect(cluster.addr(na), &ann.access_token, Wire::Proto).await;
    let mut b = Client::connect(cluster.addr(nb), &ben.access_token, Wire::Json).await;
    let mut c = Client::connect(cluster.addr(nb), &cat.access_token, Wire::Json).await;
    b.open(room).await;
    let rename = |name: &str| {
        Command::RenameRoom(v1::RenameRoomRequest {
            room_id: room,
            name: name.into(),
        })
    };
    assert_eq!(room_reply(&mut a, rename("second")).await.name, "second");
    let removed = room_reply(
        &mut a,
        Command::RemoveMember(v1::RemoveMemberRequest {
            room_id: room,
            user_id: cat.id,
        }),
    )
    .await;
    assert_eq!(removed.member_ids, vec![ann.id, ben.id]);
    // Cat, on another node with the room not open, hears it.
    let gone = c
        .next_where(|p| match p {
            Payload::MembersChanged(m) => Some(m),
            _ => None,
        })
        .await;
    assert_eq!(gone.left, vec![cat.id]);
    let (line, event) = b.next_system().await;
    assert_eq!(
        (line.body.as_str(), event.kind),
        ("second", v1::SystemEventKind::Renamed as i32)
    );
    // The owner node leaves; the next one reads the name and owner from the stored head.
    let status = cluster.terminate(owner);
    assert!(status.success(), "node {owner} exited with {status}");
    let denied = b.call(rename("ben's")).await;
    assert!(
        matches!(&denied, Payload::Error(e) if e.reason == "NOT_ROOM_OWNER" || e.retryable),
        "{denied:?}"
    );
    let handed = room_reply(
        &mut a,
        Command::TransferOwnership(v1::TransferOwnershipRequest {
            room_id: room,
            user_id: ben.id,
        }),
    )
    .await;
    assert_eq!((handed.name.as_str(), handed.owner_id), ("second", ben.id));
    assert_eq!(room_reply(&mut b, rename("third")).await.owner_id, ben.id);
    let lines: Vec<(u64, i32)> = a
        .all_messages(room)
        .await
        .iter()
        .filter_map(|m| m.system.as_ref().map(|s| (m.sender_id, s.kind)))
        .collect();
    use v1::SystemEventKind as K;
    assert_eq!(
        lines,
        vec![
            (ann.id, K::Renamed as i32),
            (ann.id, K::Removed as i32),
            (ann.id, K::OwnerChanged as i32),
            (ben.id, K::Renamed as i32),
        ]
    );
    cluster.stop().await;
}

#[tokio::test]
async fn the_notice_and_pins_cross_nodes_and_survive_the_owner_moving() {
    let Some(mut cluster) = TestCluster::start(3).await else {
        return;
    };
    let http = Http::new(cluster.addr(0));
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(cluster.addr(0), &ann.access_token, Wire::Json).await;
    let room = a.create_group("plans", &[ben.id]).await.id;
    let owner = cluster.owner_of(0, room).await;
    let (na, nb) = other_nodes(owner);
    let mut a = Client::connect(cluster.addr(na), &ann.access_token, Wire::Proto).await;
    let mut b = Client::connect(cluster.addr(nb), &ben.access_token, Wire::Json).await;
    b.open(room).await;
    let said = acked(&mut a, send_cmd(room, "m1", "meet at 6")).await.seq;
    let notice = Command::SetNotice(v1::SetNoticeRequest {
        room_id: room,
        text: "6시 강남역".into(),
    });
    let set = room_reply(&mut a, notice).await;
    assert_eq!(set.notice.unwrap().text, "6시 강남역");
    let pin = Command::PinMessage(v1::PinMessageRequest {
        room_id: room,
        seq: said,
    });
    retried(&mut b, pin, |p| matches!(p, Payload::Ok(_)).then_some(())).await;
    // Live on the other node: the notice, then the pin with the message it pins.
    let (line, event) = b.next_system().await;
    assert_eq!(
        (line.body.as_str(), event.kind),
        ("6시 강남역", v1::SystemEventKind::NoticeChanged as i32)
    );
    let (line, event) = b.next_system().await;
    assert_eq!(event.kind, v1::SystemEventKind::Pinned as i32);
    assert_eq!(line.updated.unwrap().body, "meet at 6");

    // The owner node leaves; the next one reads notice, pins and reservations from the head.
    let status = cluster.terminate(owner);
    assert!(status.success(), "node {owner} exited with {status}");
    let open = Command::OpenRoom(v1::OpenRoomRequest {
        room_id: room,
        since_seq: 0,
    });
    let opened = retried(&mut a, open, |p| match p {
        Payload::RoomOpened(o) => Some(o.clone()),
        _ => None,
    })
    .await;
    let seqs: Vec<u64> = opened.pinned.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![said]);
    assert_eq!(opened.room.unwrap().notice.unwrap().text, "6시 강남역");
    let reserve = Command::SetRoomPermissions(v1::SetRoomPermissionsRequest {
        room_id: room,
        invite_owner_only: false,
        pins_owner_only: true,
    });
    assert!(room_reply(&mut a, reserve).await.pins_owner_only);
    let unpin = Command::UnpinMessage(v1::UnpinMessageRequest {
        room_id: room,
        seq: said,
    });
    let refused = retried(&mut b, unpin.clone(), |p| match p {
        Payload::Error(e) => Some(e.reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(refused, "NOT_ROOM_OWNER");
    retried(&mut a, unpin, |p| matches!(p, Payload::Ok(_)).then_some(())).await;
    let list = Command::ListPins(v1::ListPinsRequest { room_id: room });
    let left = retried(&mut b, list, |p| match p {
        Payload::PinnedMessages(p) => Some(p.messages.len()),
        _ => None,
    })
    .await;
    assert_eq!(left, 0);
    cluster.stop().await;
}
