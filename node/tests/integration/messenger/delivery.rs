//! What reaches whom: chat-list updates, invitations, long polling and sockets alike, several devices, presence and typing.

use super::*;

#[tokio::test]
async fn rooms_not_open_get_compact_updates_over_socket_and_long_poll() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let mut bp = PollClient::open(node.addr, &ben.access_token).await;
    let direct = a.create_direct(ben.id).await.id;
    let group = a.create_group("g", &[ben.id]).await.id;

    a.say_ok(direct, "1", "hello there").await;
    a.say_ok(direct, "2", &"long ".repeat(50)).await;
    a.say_ok(group, "3", "group news").await;
    for updates in [
        vec![
            b.next_where(room_update).await,
            b.next_where(room_update).await,
            b.next_where(room_update).await,
        ],
        vec![
            bp.next_where(room_update).await,
            bp.next_where(room_update).await,
            bp.next_where(room_update).await,
        ],
    ] {
        assert_eq!(
            (
                updates[0].room_id,
                updates[0].unread,
                updates[0].preview.as_str()
            ),
            (direct, 1, "hello there")
        );
        assert_eq!(
            (updates[1].room_id, updates[1].unread, updates[1].last_seq),
            (direct, 2, 2)
        );
        assert_eq!(updates[1].preview.chars().count(), 100);
        assert_eq!(
            (updates[2].room_id, updates[2].unread, updates[2].sender_id),
            (group, 1, ann.id)
        );
    }
    // The room list agrees, newest activity first, with the total.
    let Payload::RoomList(list) = b
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await
    else {
        panic!()
    };
    let rows: Vec<(u64, u32)> = list
        .rooms
        .iter()
        .map(|r| (r.room.as_ref().unwrap().id, r.unread))
        .collect();
    assert_eq!(rows, vec![(group, 1), (direct, 2)]);
    assert_eq!(list.total_unread, 3);
    let Payload::UnreadTotal(t) = bp
        .call(Command::GetUnreadTotal(v1::GetUnreadTotalRequest {}))
        .await
    else {
        panic!()
    };
    assert_eq!(t.total, 3);

    // Once the socket opens the room it gets full messages there, and no room updates for it.
    b.open(direct).await;
    a.say_ok(direct, "4", "now open").await;
    let m = b.next_message().await;
    assert_eq!((m.seq, m.body.as_str()), (3, "now open"));
    let ping = b.send(Command::Ping(v1::PingRequest {})).await;
    loop {
        let f = b.next_any().await;
        if f.request_id == ping {
            break;
        }
        assert!(
            !matches!(&f.payload, Some(Payload::RoomUpdate(u)) if u.room_id == direct),
            "a connection with the room open got a chat-list update for it: {f:?}"
        );
    }
    // The poll client (room not open) still gets the compact update.
    let u = bp.next_where(room_update).await;
    assert_eq!((u.room_id, u.unread), (direct, 3));
    // Reading clears the count for every device of the reader.
    assert!(matches!(b.call(mark_read(direct, 3)).await, Payload::Ok(_)));
    let u = bp.next_where(room_update).await;
    assert_eq!((u.room_id, u.unread), (direct, 0));
    let Payload::UnreadTotal(t) = b
        .call(Command::GetUnreadTotal(v1::GetUnreadTotalRequest {}))
        .await
    else {
        panic!()
    };
    assert_eq!(t.total, 1);
    node.stop().await;
}

#[tokio::test]
async fn invitations_arrive_live_without_subscribing() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let mut c = Client::connect(node.addr, &cat.access_token, Wire::Json).await;
    let room = a.create_group("party", &[ben.id]).await;
    let added = b.next_where(room_added).await;
    assert_eq!(
        (
            added.room.as_ref().unwrap().room.as_ref().unwrap().id,
            added.added_by
        ),
        (room.id, ann.id)
    );
    a.say_ok(room.id, "1", "before cat").await;
    a.call(Command::InviteMembers(v1::InviteMembersRequest {
        room_id: room.id,
        user_ids: vec![cat.id],
    }))
    .await;
    let added = c.next_where(room_added).await;
    let summary = added.room.unwrap();
    assert_eq!(summary.room.unwrap().member_ids.len(), 3);
    assert!(
        summary.last_message.is_none(),
        "a newcomer is not shown what was said before they joined"
    );
    assert_eq!(
        summary.unread, 0,
        "a newcomer has nothing unread from before"
    );
    let direct = c.create_direct(ben.id).await;
    assert_eq!(
        b.next_where(room_added)
            .await
            .room
            .unwrap()
            .room
            .unwrap()
            .id,
        direct.id
    );
    // The new rooms are in the lists.
    let Payload::RoomList(list) = c
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await
    else {
        panic!()
    };
    assert_eq!(list.rooms.len(), 2);
    node.stop().await;
}

#[tokio::test]
async fn long_poll_and_socket_clients_see_the_same_events() {
    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = a.create_group("mixed", &[ben.id, cat.id]).await.id;
    let mut sock = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let mut poll = PollClient::open(node.addr, &cat.access_token).await;
    sock.open(room).await;
    let opened = poll
        .call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room,
            since_seq: 0,
        }))
        .await;
    assert!(matches!(opened, Payload::RoomOpened(_)), "{opened:?}");

    for n in 0..5 {
        a.say_ok(room, &format!("{n}"), &format!("hi {n}")).await;
    }
    a.call(mark_read(room, 5)).await;
    a.call(Command::Typing(v1::TypingRequest { room_id: room }))
        .await;
    a.say_ok(room, "last", "bye").await;

    let pick = |p: Payload| match p {
        Payload::Message(m) => Some(format!("message {} {} {}", m.seq, m.body, m.unread)),
        Payload::ReadReceipt(r) => Some(format!("read {} {} {}", r.user_id, r.from_seq, r.to_seq)),
        Payload::TypingStarted(t) => Some(format!("typing {}", t.user_id)),
        _ => None,
    };
    let mut from_socket = Vec::new();
    let mut from_poll = Vec::new();
    while from_socket.len() < 7 {
        from_socket.push(sock.next_where(pick).await);
    }
    while from_poll.len() < 7 {
        from_poll.push(poll.next_where(pick).await);
    }
    assert_eq!(from_socket, from_poll);
    assert!(
        from_socket[0].starts_with("message 1 hi 0 2"),
        "{from_socket:?}"
    );
    node.stop().await;
}

#[tokio::test]
async fn two_devices_of_one_user_stay_consistent() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben] = http.signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut phone = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let mut laptop = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let room = a.create_direct(ben.id).await.id;
    phone.next_where(room_added).await;
    laptop.next_where(room_added).await;
    a.say_ok(room, "1", "one").await;
    a.say_ok(room, "2", "two").await;
    for d in [&mut phone, &mut laptop] {
        assert_eq!(d.next_where(room_update).await.unread, 1);
        assert_eq!(d.next_where(room_update).await.unread, 2);
    }
    // The laptop opens the room and reads; the phone's count drops to 0.
    laptop.open(room).await;
    laptop.call(mark_read(room, 2)).await;
    let u = phone.next_where(room_update).await;
    assert_eq!((u.room_id, u.unread), (room, 0));
    // Ben writes from the phone: the laptop (room open) sees the message, Ann too.
    phone.say_ok(room, "b1", "from my phone").await;
    assert_eq!(laptop.next_message().await.body, "from my phone");
    let u = a
        .next_where(|p| room_update(p).filter(|u| u.last_seq == 3))
        .await;
    assert_eq!((u.unread, u.sender_id), (1, ben.id));
    node.stop().await;
}

#[tokio::test]
async fn presence_and_typing_reach_members_with_the_room_open() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben, eve] = http.signups(["ann", "ben", "eve"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = a.create_direct(ben.id).await.id;
    let opened = a.open(room).await;
    assert_eq!(opened.member_ids.len(), 2);

    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let p = a.next_where(presence).await;
    assert_eq!((p.room_id, p.user_id, p.online), (room, ben.id, true));
    // Typing: forwarded once per second at most, never stored.
    for _ in 0..3 {
        assert!(matches!(
            b.call(Command::Typing(v1::TypingRequest { room_id: room }))
                .await,
            Payload::Ok(_)
        ));
    }
    b.say_ok(room, "m", "done typing").await;
    let mut typing = 0;
    loop {
        match a.next_event().await.payload {
            Some(Payload::TypingStarted(t)) => {
                assert_eq!((t.user_id, t.ttl_ms), (ben.id, 5000));
                typing += 1;
            }
            Some(Payload::Message(m)) => {
                assert_eq!(m.body, "done typing");
                break;
            }
            _ => {}
        }
    }
    assert_eq!(typing, 1);
    assert_eq!(a.all_messages(room).await.len(), 1);
    drop(b);
    let p = a.next_where(presence).await;
    assert_eq!((p.user_id, p.online), (ben.id, false));

    let mut e = Client::connect(node.addr, &eve.access_token, Wire::Json).await;
    let p = e
        .call(Command::Typing(v1::TypingRequest { room_id: room }))
        .await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    node.stop().await;
}
