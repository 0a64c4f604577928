//! The store conformance suite: every backend must pass every check here. Each check takes
//! a fresh, empty store and a bucket width (ms) matching the store's configuration.
#![allow(clippy::unwrap_used, missing_docs)]

use crate::{
    AppendBatch, AttachmentRecord, FileRecord, FileUse, MessageRecord, RefreshOutcome,
    RefreshRecord, Revocation, RoomKind, RoomRecord, SessionRecord, SocialEdge, Store, StoreError,
    ThumbnailRecord, UserRecord, records::now_ms,
};

fn user(id: u64, name: &str) -> UserRecord {
    UserRecord {
        id,
        username: name.into(),
        display_name: name.to_uppercase(),
        password_hash: "$argon2id$fake".into(),
        created_at_ms: 1,
        status_message: String::new(),
        avatar_file_id: 0,
    }
}

fn room(id: u64, kind: RoomKind) -> RoomRecord {
    RoomRecord {
        id,
        kind,
        name: if kind == RoomKind::Group {
            "g".into()
        } else {
            String::new()
        },
        created_by: 1,
        created_at_ms: 1,
    }
}

fn msg(room_id: u64, seq: u64, at: i64) -> MessageRecord {
    MessageRecord {
        room_id,
        seq,
        id: 1000 + seq,
        sender_id: 1,
        client_msg_id: format!("c{seq}"),
        body: format!("m{seq}"),
        sent_at_ms: at,
        attachments: Vec::new(),
    }
}

pub async fn users(store: &dyn Store) {
    store.create_user(user(1, "alice")).await.unwrap();
    assert_eq!(
        store.create_user(user(2, "alice")).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(store.user_by_id(1).await.unwrap(), Some(user(1, "alice")));
    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(user(1, "alice"))
    );
    assert_eq!(store.user_by_id(2).await.unwrap(), None);
    assert_eq!(store.user_by_username("bob").await.unwrap(), None);
}

pub async fn refresh_tokens(store: &dyn Store) {
    let rec = RefreshRecord {
        user_id: 1,
        family_id: 7,
        expires_at_ms: 99,
        logged_in_at_ms: 1,
    };
    store.put_refresh_token([1; 32], rec.clone()).await.unwrap();
    assert_eq!(
        store.consume_refresh_token([1; 32]).await.unwrap(),
        RefreshOutcome::Fresh(rec.clone())
    );
    assert_eq!(
        store.consume_refresh_token([1; 32]).await.unwrap(),
        RefreshOutcome::Reused(rec.clone())
    );
    assert_eq!(
        store.consume_refresh_token([2; 32]).await.unwrap(),
        RefreshOutcome::Unknown
    );
    store.put_refresh_token([3; 32], rec).await.unwrap();
    let now = now_ms();
    let session = |family_id| SessionRecord {
        user_id: 1,
        family_id,
        created_at_ms: now,
        expires_at_ms: now + 3_600_000,
    };
    store.put_session(session(7)).await.unwrap();
    store.put_session(session(8)).await.unwrap();
    // Re-recording a log-in (a refresh) replaces it.
    store.put_session(session(8)).await.unwrap();
    let families = |v: Vec<SessionRecord>| v.iter().map(|s| s.family_id).collect::<Vec<_>>();
    assert_eq!(families(store.user_sessions(1).await.unwrap()), vec![7, 8]);
    assert!(store.user_sessions(2).await.unwrap().is_empty());
    let revocation = |family_id, until_ms| Revocation {
        user_id: 1,
        family_id,
        until_ms,
    };
    store
        .revoke_session(revocation(7, now + 60_000))
        .await
        .unwrap();
    store.revoke_session(revocation(9, now - 1)).await.unwrap();
    assert_eq!(
        store.consume_refresh_token([3; 32]).await.unwrap(),
        RefreshOutcome::Revoked
    );
    assert_eq!(families(store.user_sessions(1).await.unwrap()), vec![8]);
    // Only revocations still in force come back.
    assert_eq!(
        store.revocations(now, now + 3_600_000).await.unwrap(),
        vec![revocation(7, now + 60_000)]
    );
}

pub async fn passwords(store: &dyn Store) {
    store.create_user(user(1, "alice")).await.unwrap();
    assert!(store.set_password_hash(1, "new".into()).await.unwrap());
    assert_eq!(
        store
            .user_by_username("alice")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new"
    );
    assert!(!store.set_password_hash(2, "new".into()).await.unwrap());
}

pub async fn rooms_and_members(store: &dyn Store) {
    store
        .create_room(room(10, RoomKind::Group), vec![1, 2, 3])
        .await
        .unwrap();
    assert_eq!(
        store.room(10).await.unwrap(),
        Some(room(10, RoomKind::Group))
    );
    assert_eq!(store.members(10).await.unwrap(), vec![1, 2, 3]);
    store.add_members(10, vec![4, 2], 0).await.unwrap();
    store.remove_member(10, 1).await.unwrap();
    store.remove_member(10, 1).await.unwrap();
    assert_eq!(store.members(10).await.unwrap(), vec![2, 3, 4]);
    assert_eq!(store.user_rooms(2).await.unwrap(), vec![10]);
    assert!(store.user_rooms(1).await.unwrap().is_empty());
    assert_eq!(store.room(11).await.unwrap(), None);
}

pub async fn direct_rooms(store: &dyn Store) {
    assert_eq!(store.direct_room(1, 2).await.unwrap(), None);
    assert_eq!(
        store
            .create_direct_room(room(20, RoomKind::Direct), 2, 1)
            .await
            .unwrap(),
        20
    );
    // A racing second creation returns the first room and creates nothing.
    assert_eq!(
        store
            .create_direct_room(room(21, RoomKind::Direct), 1, 2)
            .await
            .unwrap(),
        20
    );
    assert_eq!(store.direct_room(1, 2).await.unwrap(), Some(20));
    assert_eq!(store.room(21).await.unwrap(), None);
    assert_eq!(store.members(20).await.unwrap(), vec![1, 2]);
}

pub async fn conditional_append(store: &dyn Store) {
    assert_eq!(store.room_head(5).await.unwrap().last_seq, 0);
    let e = store.claim_room(5).await.unwrap();
    store
        .append(
            5,
            e,
            0,
            AppendBatch::messages(vec![msg(5, 1, 10), msg(5, 2, 11)]),
        )
        .await
        .unwrap();
    // A stale writer that also thinks the log ends at 0 loses, and writes nothing.
    let stale = store
        .append(5, e, 0, AppendBatch::messages(vec![msg(5, 1, 12)]))
        .await;
    assert_eq!(
        stale,
        Err(StoreError::Conflict {
            expected: 0,
            found: 2
        })
    );
    // Gaps and foreign rooms are refused.
    assert!(matches!(
        store
            .append(5, e, 2, AppendBatch::messages(vec![msg(5, 4, 12)]))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .append(5, e, 2, AppendBatch::messages(vec![msg(6, 3, 12)]))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let head = store.room_head(5).await.unwrap();
    assert_eq!(head.last_seq, 2);
    assert_eq!(head.last_message, Some(msg(5, 2, 11)));
    let found = store.find_client_message(5, 1, "c2").await.unwrap();
    assert_eq!(found, Some(msg(5, 2, 11)));
    assert_eq!(store.find_client_message(5, 1, "nope").await.unwrap(), None);
    assert_eq!(store.find_client_message(5, 2, "c2").await.unwrap(), None);

    // A new owner claims the room: the old one is fenced off, even with the right seq.
    let e2 = store.claim_room(5).await.unwrap();
    assert!(e2 > e);
    assert!(matches!(
        store
            .append(5, e, 2, AppendBatch::messages(vec![msg(5, 3, 13)]))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    store
        .append(5, e2, 2, AppendBatch::messages(vec![msg(5, 3, 14)]))
        .await
        .unwrap();
    let head = store.room_head(5).await.unwrap();
    assert_eq!((head.last_seq, head.epoch), (3, e2));
    assert_eq!(store.history(5, 0, 10).await.unwrap()[0], msg(5, 3, 14));
}

/// Two owners of one room (a failover race) append as fast as they can, each re-claiming
/// the room whenever it finds itself fenced off: every append that succeeded is in the log
/// exactly once, the log is dense, and no seq was written twice.
pub async fn racing_owners(store: std::sync::Arc<dyn Store>) {
    let room = 77;
    let mut tasks = Vec::new();
    for owner in 0..2u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut epoch = store.claim_room(room).await.unwrap();
            let mut n = 0;
            while acked.len() < 15 {
                n += 1;
                assert!(n < 10_000, "no progress");
                let head = store.room_head(room).await.unwrap();
                let mut m = msg(room, head.last_seq + 1, 1);
                m.id = owner * 1_000_000 + n;
                m.client_msg_id = format!("o{owner}-{n}");
                match store
                    .append(
                        room,
                        epoch,
                        head.last_seq,
                        AppendBatch::messages(vec![m.clone()]),
                    )
                    .await
                {
                    Ok(()) => acked.push(m),
                    Err(StoreError::Conflict { .. }) => {
                        // Fenced off or raced: become the owner again.
                        epoch = store.claim_room(room).await.unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
                tokio::task::yield_now().await;
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let log = store.history(room, 0, 1000).await.unwrap();
    assert_eq!(log.len(), 30);
    assert_eq!(
        log.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=30).rev().collect::<Vec<_>>()
    );
    acked.sort_by_key(|m| m.seq);
    let mut log = log;
    log.reverse();
    assert_eq!(log, acked, "the log is exactly the acked appends");
}

/// Appends 30 messages spread over at least 4 buckets, then pages backwards.
pub async fn history_across_buckets(store: &dyn Store, bucket_width_ms: i64) {
    let room = 9;
    let e = store.claim_room(room).await.unwrap();
    let mut last = 0;
    for chunk in 0..6u64 {
        let batch: Vec<_> = (1..=5u64)
            .map(|i| {
                let seq = chunk * 5 + i;
                // Every chunk lands in its own bucket, and skips one bucket in between.
                let at =
                    i64::try_from(chunk).unwrap() * 2 * bucket_width_ms + i64::try_from(i).unwrap();
                msg(room, seq, at)
            })
            .collect();
        store
            .append(room, e, last, AppendBatch::messages(batch))
            .await
            .unwrap();
        last += 5;
    }
    let newest = store.history(room, 0, 7).await.unwrap();
    assert_eq!(
        newest.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (24..=30).rev().collect::<Vec<_>>()
    );
    let mut seen = Vec::new();
    let mut before = 0;
    loop {
        let page = store.history(room, before, 4).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().unwrap().seq;
        seen.extend(page.into_iter().map(|m| m.seq));
    }
    assert_eq!(seen, (1..=30).rev().collect::<Vec<_>>());
    assert_eq!(store.history(room, 12, 100).await.unwrap().len(), 11);
    assert!(store.history(room, 1, 100).await.unwrap().is_empty());
    assert!(store.history(404, 0, 100).await.unwrap().is_empty());
}

/// Many rooms appending at once all succeed and each log stays dense.
pub async fn concurrent_appends(store: std::sync::Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for room in 100..120u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let e = store.claim_room(room).await.unwrap();
            for seq in 1..=20u64 {
                store
                    .append(
                        room,
                        e,
                        seq - 1,
                        AppendBatch::messages(vec![msg(room, seq, i64::try_from(seq).unwrap())]),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for room in 100..120u64 {
        let all = store.history(room, 0, 100).await.unwrap();
        assert_eq!(
            all.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=20).rev().collect::<Vec<_>>()
        );
    }
}

pub async fn read_cursors(store: &dyn Store) {
    store
        .create_room(room(30, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    assert!(store.read_cursors(30).await.unwrap().is_empty());
    let e = store.claim_room(30).await.unwrap();
    assert_eq!(store.read_cursor(30, 1).await.unwrap(), 0);
    let cursors = |c: Vec<(u64, u64)>| AppendBatch {
        messages: vec![],
        cursors: c,
    };
    store
        .append(30, e, 0, cursors(vec![(1, 5), (2, 3)]))
        .await
        .unwrap();
    store.append(30, e, 0, cursors(vec![(1, 7)])).await.unwrap();
    // Cursor moves are conditional like messages.
    assert!(matches!(
        store.append(30, e, 4, cursors(vec![(1, 9)])).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.read_cursors(30).await.unwrap(), vec![(1, 7), (2, 3)]);
    assert_eq!(store.read_cursor(30, 1).await.unwrap(), 7);
    // Messages and cursors commit together; newcomers start at the given cursor.
    store
        .append(
            30,
            e,
            0,
            AppendBatch {
                messages: vec![msg(30, 1, 5)],
                cursors: vec![(1, 1)],
            },
        )
        .await
        .unwrap();
    store.add_members(30, vec![3], 1).await.unwrap();
    assert_eq!(store.read_cursor(30, 3).await.unwrap(), 1);
    assert!(matches!(
        store.append(30, e, 1, AppendBatch::default()).await,
        Err(StoreError::Invalid(_))
    ));
    // Leaving forgets the cursor.
    store.remove_member(30, 2).await.unwrap();
    assert_eq!(store.read_cursors(30).await.unwrap(), vec![(1, 1), (3, 1)]);
}

pub async fn profiles_and_search(store: &dyn Store) {
    for (id, name) in [
        (1, "kim"),
        (2, "kimchi"),
        (3, "kite"),
        (4, "lee"),
        (5, "kimbap"),
    ] {
        store.create_user(user(id, name)).await.unwrap();
    }
    let found: Vec<String> = store
        .search_users("kim", "", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(found, vec!["kim", "kimbap", "kimchi"]);
    let page: Vec<String> = store
        .search_users("ki", "kimbap", 2)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(page, vec!["kimchi", "kite"]);
    assert!(store.search_users("zz", "", 10).await.unwrap().is_empty());
    let updated = store
        .update_profile(1, "Kim!".into(), "busy".into(), 77)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            updated.display_name.as_str(),
            updated.status_message.as_str()
        ),
        ("Kim!", "busy")
    );
    assert_eq!(updated.avatar_file_id, 77);
    assert_eq!(
        store.user_by_id(1).await.unwrap().unwrap().status_message,
        "busy"
    );
    assert!(
        store
            .update_profile(99, "x".into(), String::new(), 0)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn social_edges(store: &dyn Store) {
    let empty = SocialEdge::default();
    assert_eq!(store.social_edge(1, 2).await.unwrap(), empty);
    let requested = SocialEdge {
        request_from: Some(1),
        request_at_ms: 5,
        ..SocialEdge::default()
    };
    store
        .set_social_edge(1, 2, empty.clone(), requested.clone())
        .await
        .unwrap();
    // The pair is unordered, and a stale compare-and-set loses.
    assert_eq!(store.social_edge(2, 1).await.unwrap(), requested);
    assert!(matches!(
        store
            .set_social_edge(2, 1, empty.clone(), requested.clone())
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let friends = SocialEdge {
        friends_since_ms: Some(9),
        ..SocialEdge::default()
    };
    store
        .set_social_edge(2, 1, requested, friends.clone())
        .await
        .unwrap();
    assert_eq!(
        store.social_edges(1).await.unwrap(),
        vec![(2, friends.clone())]
    );
    assert_eq!(
        store.social_edges(2).await.unwrap(),
        vec![(1, friends.clone())]
    );
    // Back to nothing: the edge and its index entries go.
    store
        .set_social_edge(1, 2, friends, empty.clone())
        .await
        .unwrap();
    assert!(store.social_edges(1).await.unwrap().is_empty());
    assert_eq!(store.social_edge(1, 2).await.unwrap(), empty);
}

fn file(id: u64, created_at_ms: i64) -> FileRecord {
    FileRecord {
        id,
        owner_id: 1,
        name: format!("f{id}.png"),
        size: 10,
        content_type: "image/png".into(),
        sha256: [id as u8; 32],
        created_at_ms,
        width: 0,
        height: 0,
        thumbnail: None,
        attached: false,
        public: false,
    }
}

pub async fn files(store: &dyn Store) {
    for (id, at) in [(1, 100), (2, 200), (3, 300)] {
        store.put_file(file(id, at)).await.unwrap();
    }
    assert_eq!(store.file(1).await.unwrap(), Some(file(1, 100)));
    assert_eq!(store.file(9).await.unwrap(), None);
    // Orphan candidates: unattached, older than the cut-off, oldest first.
    let ids = |v: Vec<FileRecord>| v.into_iter().map(|f| f.id).collect::<Vec<_>>();
    assert_eq!(ids(store.unattached_files(250, 10).await.unwrap()), [1, 2]);
    assert_eq!(ids(store.unattached_files(1000, 1).await.unwrap()), [1]);
    // Attaching to rooms (idempotent) keeps a file forever and lists its rooms.
    store.attach_file(1, FileUse::Room(50)).await.unwrap();
    store.attach_file(1, FileUse::Room(50)).await.unwrap();
    store.attach_file(1, FileUse::Room(40)).await.unwrap();
    assert_eq!(store.file_rooms(1).await.unwrap(), [40, 50]);
    assert!(store.file(1).await.unwrap().unwrap().attached);
    assert_eq!(ids(store.unattached_files(1000, 10).await.unwrap()), [2, 3]);
    assert!(!store.delete_unattached_file(1).await.unwrap(), "attached");
    // An avatar is public.
    store.attach_file(2, FileUse::Avatar).await.unwrap();
    let avatar = store.file(2).await.unwrap().unwrap();
    assert!(avatar.attached && avatar.public);
    assert!(store.file_rooms(2).await.unwrap().is_empty());
    // Orphan deletion, then attaching the deleted file fails.
    assert!(store.delete_unattached_file(3).await.unwrap());
    assert!(
        !store.delete_unattached_file(3).await.unwrap(),
        "already gone"
    );
    assert_eq!(store.file(3).await.unwrap(), None);
    assert_eq!(
        store.attach_file(3, FileUse::Room(50)).await,
        Err(StoreError::NotFound)
    );
    assert!(store.unattached_files(1000, 10).await.unwrap().is_empty());
    // Image metadata arrives later.
    let thumb = ThumbnailRecord {
        size: 5,
        content_type: "image/jpeg".into(),
        width: 32,
        height: 24,
    };
    store
        .set_file_image(1, 640, 480, thumb.clone())
        .await
        .unwrap();
    let f = store.file(1).await.unwrap().unwrap();
    assert_eq!(
        (f.width, f.height, f.thumbnail),
        (640, 480, Some(thumb.clone()))
    );
    assert_eq!(
        store.set_file_image(3, 1, 1, thumb).await,
        Err(StoreError::NotFound)
    );
}

pub async fn membership_and_attachments(store: &dyn Store) {
    store
        .create_room(room(5, RoomKind::Group), vec![1, 2])
        .await
        .unwrap();
    let e = store.claim_room(5).await.unwrap();
    assert!(store.is_member(5, 1).await.unwrap());
    assert!(!store.is_member(5, 3).await.unwrap());
    store.remove_member(5, 2).await.unwrap();
    assert!(!store.is_member(5, 2).await.unwrap());
    let mut m = msg(5, 1, 10);
    m.attachments = vec![AttachmentRecord {
        file_id: 8,
        name: "a.png".into(),
        size: 3,
        content_type: "image/png".into(),
        width: 2,
        height: 1,
    }];
    store
        .append(5, e, 0, AppendBatch::messages(vec![m.clone()]))
        .await
        .unwrap();
    assert_eq!(store.history(5, 0, 10).await.unwrap(), vec![m.clone()]);
    assert_eq!(
        store.room_head(5).await.unwrap().last_message,
        Some(m.clone())
    );
    assert_eq!(
        store.find_client_message(5, 1, "c1").await.unwrap(),
        Some(m)
    );
}
