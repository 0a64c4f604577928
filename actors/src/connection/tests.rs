//! The dispatcher without any socket: frames in through the actor, frames out of the
//! outbound queue, as a transport would see them.

use std::time::Duration;

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};

use crate::{
    ChatConfig,
    testing::{Conn, signup, system, system_with, wait_until},
};

#[tokio::test]
async fn frames_in_frames_out() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let s = &sys.services;
    let (alice, bob) = (signup(&sys, "alice").await, signup(&sys, "bob").await);

    let (mut a, mut b) = (Conn::open(&sys).await, Conn::open(&sys).await);
    let p = a.call(Command::Ping(v1::PingRequest {})).await;
    assert_eq!(
        p,
        Payload::Error(
            crate::ChatError::Unauthenticated(
                crate::Reason::NotAuthenticated,
                "authenticate first".into()
            )
            .to_proto()
        )
    );
    for (conn, tokens) in [(&mut a, &alice), (&mut b, &bob)] {
        let p = conn
            .call(Command::Authenticate(v1::AuthenticateRequest {
                access_token: tokens.access_token.clone(),
            }))
            .await;
        assert!(matches!(p, Payload::Authenticated(_)), "{p:?}");
    }
    assert_eq!(sys.connections.len(), 2);
    assert!(s.users.is_online(alice.user.id).await);

    let Payload::Room(room) = a
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: bob.user.id,
        }))
        .await
    else {
        panic!()
    };
    assert!(matches!(
        b.call(Command::OpenRoom(v1::OpenRoomRequest {
            room_id: room.id,
            since_seq: 0
        }))
        .await,
        Payload::RoomOpened(_)
    ));
    let send = v1::SendMessageRequest {
        room_id: room.id,
        client_msg_id: "x".into(),
        body: "hello".into(),
        file_ids: Vec::new(),
        ..Default::default()
    };
    let Payload::SendAck(ack) = a.call(Command::SendMessage(send)).await else {
        panic!()
    };
    assert_eq!(ack.seq, 1);
    let event = b.next().await;
    let Some(Payload::Message(m)) = event.payload else {
        panic!("{event:?}")
    };
    assert_eq!(
        (m.seq, m.body.as_str(), m.sender_id),
        (1, "hello", alice.user.id)
    );

    // The transport going away stops the actor and frees its subscriptions.
    b.0.slot.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sys.connections.len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection not removed"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(s.core.hub.subscribers(crate::hub::Topic::Room(room.id)), 0);
    sys.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_idle_connection_hibernates_keeps_receiving_and_wakes_on_its_next_frame() {
    let dir = tempfile::tempdir().unwrap();
    let chat = ChatConfig {
        connection_idle_secs: 1,
        ..ChatConfig::default()
    };
    let sys = system_with(dir.path(), chat).await;
    let s = &sys.services;
    let (alice, bob) = (signup(&sys, "alice").await, signup(&sys, "bob").await);
    let (mut a, mut b) = (Conn::open(&sys).await, Conn::open(&sys).await);
    for (conn, tokens) in [(&mut a, &alice), (&mut b, &bob)] {
        let auth = v1::AuthenticateRequest {
            access_token: tokens.access_token.clone(),
        };
        assert!(matches!(
            conn.call(Command::Authenticate(auth)).await,
            Payload::Authenticated(_)
        ));
    }
    let open = |room_id| {
        Command::OpenRoom(v1::OpenRoomRequest {
            room_id,
            since_seq: 0,
        })
    };
    let Payload::Room(room) = a
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: bob.user.id,
        }))
        .await
    else {
        panic!()
    };
    assert!(matches!(
        b.call(open(room.id)).await,
        Payload::RoomOpened(_)
    ));

    // Bob goes quiet: his actor is released, his connection stays.
    let (registry, bob_conn) = (sys.connections.clone(), b.0.conn_id);
    wait_until("bob's actor to hibernate", || !registry.is_awake(bob_conn)).await;
    assert_eq!(sys.connections.len(), 2);
    assert!(s.users.is_online(bob.user.id).await);

    // Live messages still reach him, and not as chat-list updates (the room is still open).
    let send = v1::SendMessageRequest {
        room_id: room.id,
        client_msg_id: "1".into(),
        body: "hi".into(),
        file_ids: Vec::new(),
        ..Default::default()
    };
    assert!(matches!(
        a.call(Command::SendMessage(send)).await,
        Payload::SendAck(_)
    ));
    let event = b.next().await;
    assert!(
        matches!(event.payload, Some(Payload::Message(ref m)) if m.body == "hi"),
        "{event:?}"
    );

    // His next frame wakes a fresh actor that remembers who he is and what he has open.
    let reply = v1::SendMessageRequest {
        room_id: room.id,
        client_msg_id: "2".into(),
        body: "hello".into(),
        file_ids: Vec::new(),
        ..Default::default()
    };
    let Payload::SendAck(ack) = b.call(Command::SendMessage(reply)).await else {
        panic!()
    };
    assert_eq!(ack.seq, 2);
    assert!(sys.connections.is_awake(bob_conn));

    // Closing a hibernating connection cleans up without waking it.
    wait_until("bob's actor to hibernate again", || {
        !registry.is_awake(bob_conn)
    })
    .await;
    b.0.slot.close().await;
    wait_until("bob's connection to be gone", || registry.len() == 1).await;
    assert_eq!(s.core.hub.subscribers(crate::hub::Topic::Room(room.id)), 0);
    sys.shutdown(Duration::from_secs(5)).await;
}

/// Property (proptest): through the real dispatcher, over any interleaving of sends, read
/// marks, history pages and re-opens by four members, every message's unread count is the
/// number of members whose read cursor is below it, and a re-open from any seq recovers
/// exactly the messages after it (the newest ones, flagged, when there are too many).
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Members of the room.
    const MEMBERS: usize = 4;

    #[derive(Debug, Clone)]
    enum Op {
        Send(usize),
        /// Mark read up to this share (0-100 %) of the last seq.
        MarkRead(usize, u64),
        /// A history page ending before this share of the last seq (0: the newest).
        History(usize, u64, u32),
        /// Open again from this share of the last seq.
        Reopen(usize, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let who = 0..MEMBERS;
        prop_oneof![
            4 => who.clone().prop_map(Op::Send),
            2 => (who.clone(), 0..=100u64).prop_map(|(w, p)| Op::MarkRead(w, p)),
            2 => (who.clone(), 0..=100u64, 1..12u32).prop_map(|(w, p, l)| Op::History(w, p, l)),
            1 => (who, 0..=100u64).prop_map(|(w, p)| Op::Reopen(w, p)),
        ]
    }

    /// What the room must be: each message's sender, and each member's read cursor.
    #[derive(Default)]
    struct Model {
        senders: Vec<usize>,
        cursors: [u64; MEMBERS],
    }

    impl Model {
        fn last(&self) -> u64 {
            self.senders.len() as u64
        }
        fn unread(&self, seq: u64) -> u32 {
            self.cursors.iter().filter(|&&c| c < seq).count() as u32
        }
        fn share(&self, percent: u64) -> u64 {
            self.last() * percent / 100
        }
    }

    /// Frames already queued on `c` (events), without waiting: the queue stays short.
    fn drain(c: &mut Conn) {
        while let Some(Some(_)) = futures::FutureExt::now_or_never(c.0.outbound.next()) {}
    }

    async fn run(ops: Vec<Op>) {
        let dir = tempfile::tempdir().unwrap();
        // A tiny cache and queue, so history comes from the store and recovery truncates.
        let chat = ChatConfig {
            recent_cache: 3,
            max_append_batch: 8,
            max_inflight_per_connection: 8,
            outbound_queue: 16,
            ..ChatConfig::default()
        };
        let sys = system_with(dir.path(), chat).await;
        let mut conns = Vec::new();
        let mut ids = Vec::new();
        for i in 0..MEMBERS {
            let t = signup(&sys, &format!("prop{i}")).await;
            ids.push(t.user.id);
            conns.push(Conn::of(&sys, &t).await);
        }
        let room = match conns[0]
            .call(Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
                name: "props".into(),
                member_ids: ids[1..].to_vec(),
            }))
            .await
        {
            Payload::Room(r) => r.id,
            other => panic!("{other:?}"),
        };
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Send(w) => {
                    let n = model.last() + 1;
                    let p = conns[w]
                        .call(Command::SendMessage(v1::SendMessageRequest {
                            room_id: room,
                            client_msg_id: format!("m{n}"),
                            body: format!("{w}:{n}"),
                            file_ids: Vec::new(),
                            ..Default::default()
                        }))
                        .await;
                    let Payload::SendAck(ack) = p else {
                        panic!("send: {p:?}")
                    };
                    assert_eq!(ack.seq, n, "seqs are dense in send order");
                    model.senders.push(w);
                    model.cursors[w] = n;
                }
                Op::MarkRead(w, share) => {
                    let seq = model.share(share);
                    let p = conns[w]
                        .call(Command::MarkRead(v1::MarkReadRequest {
                            room_id: room,
                            seq,
                        }))
                        .await;
                    assert!(!matches!(p, Payload::Error(_)), "mark_read {seq}: {p:?}");
                    model.cursors[w] = model.cursors[w].max(seq);
                }
                Op::History(w, share, limit) => {
                    let before = model.share(share);
                    let p = conns[w]
                        .call(Command::GetHistory(v1::GetHistoryRequest {
                            room_id: room,
                            before_seq: before,
                            limit,
                        }))
                        .await;
                    let Payload::History(page) = p else {
                        panic!("history: {p:?}")
                    };
                    let end = if before == 0 {
                        model.last() + 1
                    } else {
                        before
                    };
                    let want: Vec<u64> = (1..end).rev().take(limit as usize).collect();
                    let got: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
                    assert_eq!(got, want, "history before {before} limit {limit}");
                    for m in &page.messages {
                        let sender = model.senders[(m.seq - 1) as usize];
                        assert_eq!(m.body, format!("{sender}:{}", m.seq));
                        assert_eq!(m.unread, model.unread(m.seq), "unread of seq {}", m.seq);
                    }
                }
                Op::Reopen(w, share) => {
                    let since = model.share(share);
                    let p = conns[w]
                        .call(Command::OpenRoom(v1::OpenRoomRequest {
                            room_id: room,
                            since_seq: since,
                        }))
                        .await;
                    let Payload::RoomOpened(o) = p else {
                        panic!("open: {p:?}")
                    };
                    let behind = if since == 0 { 0 } else { model.last() - since };
                    let limit = 8; // half the queue
                    let n = behind.min(limit);
                    assert_eq!(o.recovered as u64, n, "recovered from {since}");
                    assert_eq!(o.recovery_truncated, behind > limit);
                    let mut got = Vec::new();
                    while got.len() < n as usize {
                        if let Some(Payload::Message(m)) = conns[w].next().await.payload {
                            got.push(m.seq);
                        }
                    }
                    let want: Vec<u64> = (model.last() - n + 1..=model.last()).collect();
                    assert_eq!(got, want, "recovery from {since}");
                }
            }
            for c in &mut conns {
                drain(c);
            }
        }
        sys.shutdown(Duration::from_secs(5)).await;
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn unread_counts_and_recovery_follow_the_model(
            ops in proptest::collection::vec(op(), 1..60)
        ) {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(run(ops));
        }
    }
}

#[tokio::test]
async fn a_mute_is_stored_listed_and_announced_to_the_users_other_connection() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let (alice, bob) = (signup(&sys, "alice").await, signup(&sys, "bob").await);
    let (mut phone, mut laptop) = (Conn::open(&sys).await, Conn::open(&sys).await);
    for conn in [&mut phone, &mut laptop] {
        let auth = v1::AuthenticateRequest {
            access_token: alice.access_token.clone(),
        };
        assert!(matches!(
            conn.call(Command::Authenticate(auth)).await,
            Payload::Authenticated(_)
        ));
    }
    let Payload::Room(room) = phone
        .call(Command::CreateDirectRoom(v1::CreateDirectRoomRequest {
            peer_id: bob.user.id,
        }))
        .await
    else {
        panic!("room")
    };
    let mute = |muted| {
        Command::SetRoomMuted(v1::SetRoomMutedRequest {
            room_id: room.id,
            muted,
        })
    };
    assert!(matches!(phone.call(mute(true)).await, Payload::Ok(_)));
    // The laptop hears it (after the room_added of the new room).
    let settings = loop {
        if let Some(Payload::RoomSettings(s)) = laptop.next().await.payload {
            break s;
        }
    };
    assert_eq!((settings.room_id, settings.muted), (room.id, true));
    let store = &sys.services.core.store;
    assert_eq!(store.muted_rooms(alice.user.id).await.unwrap(), [room.id]);
    assert!(store.muted_rooms(bob.user.id).await.unwrap().is_empty());
    let list = Command::ListRooms(v1::ListRoomsRequest { limit: 0 });
    let Payload::RoomList(list) = laptop.call(list).await else {
        panic!("room list")
    };
    assert!(list.rooms[0].muted);
    sys.shutdown(Duration::from_secs(5)).await;
}
