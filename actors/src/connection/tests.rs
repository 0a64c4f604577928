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

/// Property (proptest): through the real dispatcher, over any interleaving of sends (some
/// mentioning a member), deletes for everyone, reactions, read marks, history pages, room
/// lists and re-opens by four members: every message's unread count is the number of members
/// whose read cursor is below it; a member's room unread and mention counts are their real,
/// not deleted messages after their cursor (mentioning them, by others); history shows each
/// entry as it is now; a re-open from any seq recovers exactly the entries after it (the
/// newest ones, flagged, when there are too many).
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Members of the room.
    const MEMBERS: usize = 4;

    #[derive(Debug, Clone)]
    enum Op {
        /// A message, mentioning this member when set.
        Send(usize, Option<usize>),
        /// Delete for everyone the sender's newest message at or before this share (0-100 %)
        /// of the last seq.
        Delete(usize, u64),
        /// React to (or, when already reacted, take back from) the message at or before it.
        React(usize, u64),
        /// Mark read up to this share of the last seq.
        MarkRead(usize, u64),
        /// A history page ending before this share of the last seq (0: the newest).
        History(usize, u64, u32),
        /// The member's room list.
        List(usize),
        /// Open again from this share of the last seq.
        Reopen(usize, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let who = 0..MEMBERS;
        let share = 0..=100u64;
        prop_oneof![
            4 => (who.clone(), proptest::option::of(who.clone())).prop_map(|(w, m)| Op::Send(w, m)),
            1 => (who.clone(), share.clone()).prop_map(|(w, p)| Op::Delete(w, p)),
            1 => (who.clone(), share.clone()).prop_map(|(w, p)| Op::React(w, p)),
            2 => (who.clone(), share.clone()).prop_map(|(w, p)| Op::MarkRead(w, p)),
            2 => (who.clone(), share.clone(), 1..12u32).prop_map(|(w, p, l)| Op::History(w, p, l)),
            1 => who.clone().prop_map(Op::List),
            1 => (who, share).prop_map(|(w, p)| Op::Reopen(w, p)),
        ]
    }

    /// One entry of the room's seq stream, as the model knows it.
    #[derive(Debug, Clone)]
    struct Entry {
        sender: usize,
        /// A real message (not a delete or a reaction).
        message: bool,
        mentions: Option<usize>,
        deleted: bool,
        reacted: [bool; MEMBERS],
    }

    /// What the room must be: its entries (seq = index + 1) and each member's read cursor.
    #[derive(Default)]
    struct Model {
        entries: Vec<Entry>,
        cursors: [u64; MEMBERS],
    }

    impl Model {
        fn last(&self) -> u64 {
            self.entries.len() as u64
        }
        fn unread(&self, seq: u64) -> u32 {
            self.cursors.iter().filter(|&&c| c < seq).count() as u32
        }
        fn share(&self, percent: u64) -> u64 {
            self.last() * percent / 100
        }
        /// An entry by `w` takes the next seq and reads everything up to it.
        fn push(&mut self, w: usize, e: Entry) -> u64 {
            self.entries.push(e);
            self.cursors[w] = self.last();
            self.last()
        }
        /// The newest live message at or before `seq` matching `pick`.
        fn message_before(&self, seq: u64, pick: impl Fn(&Entry) -> bool) -> Option<u64> {
            (1..=seq).rev().find(|&s| {
                let e = &self.entries[(s - 1) as usize];
                e.message && !e.deleted && pick(e)
            })
        }
        /// (unread messages, those mentioning `w`) after `w`'s cursor.
        fn counts(&self, w: usize) -> (u32, u32) {
            let after = self.entries.iter().skip(self.cursors[w] as usize);
            let live: Vec<&Entry> = after.filter(|e| e.message && !e.deleted).collect();
            let mentions = live
                .iter()
                .filter(|e| e.mentions == Some(w) && e.sender != w)
                .count();
            (live.len() as u32, mentions as u32)
        }
    }

    /// Frames already queued on `c` (events), without waiting: the queue stays short.
    fn drain(c: &mut Conn) {
        while let Some(Some(_)) = futures::FutureExt::now_or_never(c.0.outbound.next()) {}
    }

    fn acked(p: Payload) -> u64 {
        match p {
            Payload::SendAck(a) => a.seq,
            other => panic!("expected an ack: {other:?}"),
        }
    }

    fn entry(sender: usize, message: bool, mentions: Option<usize>) -> Entry {
        Entry {
            sender,
            message,
            mentions,
            deleted: false,
            reacted: [false; MEMBERS],
        }
    }

    async fn send(ctx: &mut Ctx, w: usize, mention: Option<usize>) {
        let n = ctx.model.last() + 1;
        let mentions = mention.map_or(Vec::new(), |m| {
            vec![v1::Mention {
                user_id: ctx.ids[m],
                offset: 0,
                length: 2,
                all: false,
            }]
        });
        let p = ctx.conns[w]
            .call(Command::SendMessage(v1::SendMessageRequest {
                room_id: ctx.room,
                client_msg_id: format!("m{n}"),
                body: format!("{w}:{n}"),
                mentions,
                ..Default::default()
            }))
            .await;
        let seq = ctx.model.push(w, entry(w, true, mention));
        assert_eq!(acked(p), seq, "seqs are dense in send order");
    }

    async fn change(ctx: &mut Ctx, w: usize, share: u64, delete: bool) {
        let upto = ctx.model.share(share);
        let target = if delete {
            ctx.model.message_before(upto, |e| e.sender == w)
        } else {
            ctx.model.message_before(upto, |_| true)
        };
        let Some(seq) = target else { return };
        let n = ctx.model.last() + 1;
        let (room_id, client_msg_id) = (ctx.room, format!("c{n}"));
        let t = (seq - 1) as usize;
        let undo = ctx.model.entries[t].reacted[w];
        let emoji = "👍".to_string();
        let command = match (delete, undo) {
            (true, _) => Command::DeleteMessage(v1::DeleteMessageRequest {
                room_id,
                seq,
                client_msg_id,
            }),
            (false, false) => Command::AddReaction(v1::AddReactionRequest {
                room_id,
                seq,
                client_msg_id,
                emoji,
            }),
            (false, true) => Command::RemoveReaction(v1::RemoveReactionRequest {
                room_id,
                seq,
                client_msg_id,
                emoji,
            }),
        };
        let p = ctx.conns[w].call(command).await;
        let target = &mut ctx.model.entries[t];
        if delete {
            target.deleted = true;
            target.reacted = [false; MEMBERS];
        } else {
            target.reacted[w] = !undo;
        }
        let seq = ctx.model.push(w, entry(w, false, None));
        assert_eq!(acked(p), seq);
    }

    async fn history(ctx: &mut Ctx, w: usize, share: u64, limit: u32) {
        let before = ctx.model.share(share);
        let p = ctx.conns[w]
            .call(Command::GetHistory(v1::GetHistoryRequest {
                room_id: ctx.room,
                before_seq: before,
                limit,
            }))
            .await;
        let Payload::History(page) = p else {
            panic!("history: {p:?}")
        };
        let end = if before == 0 {
            ctx.model.last() + 1
        } else {
            before
        };
        let want: Vec<u64> = (1..end).rev().take(limit as usize).collect();
        let got: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
        assert_eq!(got, want, "history before {before} limit {limit}");
        for m in &page.messages {
            let e = &ctx.model.entries[(m.seq - 1) as usize];
            if !e.message {
                assert_ne!(m.kind(), v1::MessageKind::Unspecified, "seq {}", m.seq);
                continue;
            }
            assert_eq!(m.deleted, e.deleted, "seq {}", m.seq);
            let body = if e.deleted {
                String::new()
            } else {
                format!("{}:{}", e.sender, m.seq)
            };
            assert_eq!(m.body, body);
            assert_eq!(m.unread, ctx.model.unread(m.seq), "unread of seq {}", m.seq);
            let reactions = e.reacted.iter().filter(|&&r| r).count() as u32;
            let shown = m.reactions.first().map_or(0, |r| r.count);
            assert_eq!(shown, reactions, "reactions on seq {}", m.seq);
            let mentioned = e.mentions.is_some() && !e.deleted;
            assert_eq!(m.mentions.len(), usize::from(mentioned), "seq {}", m.seq);
        }
    }

    async fn list(ctx: &mut Ctx, w: usize) {
        let p = ctx.conns[w]
            .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
            .await;
        let Payload::RoomList(list) = p else {
            panic!("list: {p:?}")
        };
        let s = &list.rooms[0];
        let got = (s.unread, s.mention_count);
        assert_eq!(got, ctx.model.counts(w), "member {w}");
    }

    async fn reopen(ctx: &mut Ctx, w: usize, share: u64) {
        let since = ctx.model.share(share);
        let p = ctx.conns[w]
            .call(Command::OpenRoom(v1::OpenRoomRequest {
                room_id: ctx.room,
                since_seq: since,
            }))
            .await;
        let Payload::RoomOpened(o) = p else {
            panic!("open: {p:?}")
        };
        let last = ctx.model.last();
        let behind = if since == 0 { 0 } else { last - since };
        let limit = 8; // half the queue
        let n = behind.min(limit);
        assert_eq!(o.recovered as u64, n, "recovered from {since}");
        assert_eq!(o.recovery_truncated, behind > limit);
        let mut got = Vec::new();
        while got.len() < n as usize {
            if let Some(Payload::Message(m)) = ctx.conns[w].next().await.payload {
                got.push(m.seq);
            }
        }
        let want: Vec<u64> = (last - n + 1..=last).collect();
        assert_eq!(got, want, "recovery from {since}");
    }

    async fn mark_read(ctx: &mut Ctx, w: usize, share: u64) {
        let seq = ctx.model.share(share);
        let p = ctx.conns[w]
            .call(Command::MarkRead(v1::MarkReadRequest {
                room_id: ctx.room,
                seq,
            }))
            .await;
        assert!(!matches!(p, Payload::Error(_)), "mark_read {seq}: {p:?}");
        ctx.model.cursors[w] = ctx.model.cursors[w].max(seq);
    }

    struct Ctx {
        conns: Vec<Conn>,
        ids: Vec<u64>,
        room: u64,
        model: Model,
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
                ..Default::default()
            }))
            .await
        {
            Payload::Room(r) => r.id,
            other => panic!("{other:?}"),
        };
        let model = Model::default();
        let mut ctx = Ctx {
            conns,
            ids,
            room,
            model,
        };
        for op in ops {
            match op {
                Op::Send(w, mention) => send(&mut ctx, w, mention).await,
                Op::Delete(w, share) => change(&mut ctx, w, share, true).await,
                Op::React(w, share) => change(&mut ctx, w, share, false).await,
                Op::MarkRead(w, share) => mark_read(&mut ctx, w, share).await,
                Op::History(w, share, limit) => history(&mut ctx, w, share, limit).await,
                Op::List(w) => list(&mut ctx, w).await,
                Op::Reopen(w, share) => reopen(&mut ctx, w, share).await,
            }
            for c in &mut ctx.conns {
                drain(c);
            }
        }
        for w in 0..MEMBERS {
            list(&mut ctx, w).await;
        }
        sys.shutdown(Duration::from_secs(5)).await;
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn unread_mention_counts_and_recovery_follow_the_model(
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
