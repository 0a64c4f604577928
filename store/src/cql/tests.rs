//! The conformance suite against a real CQL server: the one `scripts/test.sh` starts
//! (Cassandra), or a ScyllaDB named by `SCYLLA_URI`. Each check gets a keyspace of its own.
//! A missing server fails these tests unless `CHAT_SKIP_CQL=1` says to skip them knowingly.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::{
    CqlConfig, CqlStore, SCHEMA_VERSION,
    schema::applied_version,
    search,
    values::{now_ms, rows, to_cql},
};
use crate::{
    AccountStore, AppendBatch, MessageLog, MessageRecord, RoomId, StoreError, UserRecord, codec,
    conformance,
};

const WIDTH: i64 = 1_000;

/// The server's address, or `None` when skipping was asked for.
fn server() -> Option<String> {
    let uri = std::env::var("CHAT_TEST_CQL_URI")
        .or_else(|_| std::env::var("SCYLLA_URI"))
        .unwrap_or_default();
    if uri.is_empty() {
        assert_eq!(
            std::env::var("CHAT_SKIP_CQL").unwrap_or_default(),
            "1",
            "no CQL server: run ./scripts/test.sh (it starts one), set SCYLLA_URI, \
             or set CHAT_SKIP_CQL=1 to skip the CQL tests knowingly"
        );
        eprintln!("CQL tests SKIPPED (CHAT_SKIP_CQL=1)");
        return None;
    }
    Some(uri)
}

fn fresh_keyspace() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "chat_test_{}_{}_{}",
        std::process::id(),
        now_ms() % 1_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on a fresh keyspace, dropped again when the test is done with it.
struct TestStore {
    store: CqlStore,
    config: CqlConfig,
}

impl TestStore {
    async fn done(self) {
        CqlStore::drop_keyspace(&self.config).await.unwrap();
    }
}

impl std::ops::Deref for TestStore {
    type Target = CqlStore;
    fn deref(&self) -> &CqlStore {
        &self.store
    }
}

async fn open() -> Option<TestStore> {
    let uri = server()?;
    let config = CqlConfig {
        contact_points: vec![uri],
        keyspace: fresh_keyspace(),
        ..CqlConfig::default()
    };
    let store = CqlStore::connect(&config, WIDTH).await.unwrap();
    Some(TestStore { store, config })
}

macro_rules! conformance_tests {
    ($($name:ident),*) => {$(
        #[tokio::test]
        async fn $name() {
            let Some(store) = open().await else { return };
            conformance::$name(&*store).await;
            store.done().await;
        }
    )*};
}

conformance_tests!(
    users,
    refresh_tokens,
    passwords,
    rooms_and_members,
    muted_rooms,
    member_joins,
    hidden_messages,
    direct_rooms,
    conditional_append,
    read_cursors,
    profiles_and_search,
    social_edges,
    files,
    file_refs_and_release,
    membership_and_attachments,
    search_index
);

#[tokio::test]
async fn room_settings() {
    let Some(store) = open().await else { return };
    conformance::room_settings(&*store, WIDTH).await;
    store.done().await;
}

#[tokio::test]
async fn timeline_changes() {
    let Some(store) = open().await else { return };
    conformance::timeline_changes(&*store, WIDTH).await;
    store.done().await;
}

#[tokio::test]
async fn history_across_buckets() {
    let Some(store) = open().await else { return };
    conformance::history_across_buckets(&*store, WIDTH).await;
    store.done().await;
}

#[tokio::test]
async fn concurrent_appends() {
    let Some(store) = open().await else { return };
    conformance::concurrent_appends(Arc::new(store.store.clone())).await;
    store.done().await;
}

#[tokio::test]
async fn racing_owners() {
    let Some(store) = open().await else { return };
    conformance::racing_owners(Arc::new(store.store.clone())).await;
    store.done().await;
}

#[tokio::test]
async fn migrations_are_idempotent_and_refuse_a_newer_schema() {
    let Some(uri) = server() else { return };
    let config = CqlConfig {
        contact_points: vec![uri],
        keyspace: fresh_keyspace(),
        ..CqlConfig::default()
    };
    let store = CqlStore::connect(&config, WIDTH).await.unwrap();
    // A second node starting on the same keyspace finds it current.
    let again = CqlStore::connect(&config, WIDTH).await.unwrap();
    let ks = &config.keyspace;
    assert_eq!(
        applied_version(again.session(), ks).await.unwrap(),
        SCHEMA_VERSION
    );
    // A schema from the future: this build refuses to run on it.
    store
        .session()
        .query_unpaged(
            format!("INSERT INTO {ks}.schema_migrations (version, applied_at_ms) VALUES (?, 0)"),
            (SCHEMA_VERSION + 1,),
        )
        .await
        .unwrap();
    let refused = CqlStore::connect(&config, WIDTH).await.err().unwrap();
    assert!(
        matches!(&refused, StoreError::Invalid(m) if m.contains("newer")),
        "{refused}"
    );
    CqlStore::drop_keyspace(&config).await.unwrap();
}

#[tokio::test]
async fn uncommitted_rows_past_the_head_stay_invisible() {
    let Some(store) = open().await else { return };
    let e = store.claim_room(5).await.unwrap();
    let msg = |seq: u64, body: &str| MessageRecord {
        room_id: 5,
        seq,
        id: seq,
        sender_id: 1,
        client_msg_id: format!("c{seq}-{body}"),
        body: body.into(),
        sent_at_ms: 10,
        attachments: Vec::new(),
        ordinal: seq,
        ..MessageRecord::default()
    };
    store
        .append(5, e, 0, AppendBatch::messages(vec![msg(1, "kept")]))
        .await
        .unwrap();
    // A stale owner's rows land (as after a crash between its writes and its commit)...
    let i = &store.inner;
    i.exec(
        &i.st.message_insert,
        (
            5i64,
            0i64,
            2i64,
            codec::encode_message(&msg(2, "ghost")).unwrap(),
            to_cql(e),
        ),
    )
    .await
    .unwrap();
    i.exec(
        &i.st.idem_insert,
        (5i64, 1i64, "c2-ghost", 0i64, 2i64, 60i32, to_cql(e)),
    )
    .await
    .unwrap();
    // ...but nothing past the head is read, and the ghost's idempotency key finds nothing.
    assert_eq!(store.history(5, 0, 10).await.unwrap(), vec![msg(1, "kept")]);
    assert_eq!(
        store.find_client_message(5, 1, "c2-ghost").await.unwrap(),
        None
    );
    // The next owner writes seq 2 for real, replacing the ghost whatever its timestamp.
    let e2 = store.claim_room(5).await.unwrap();
    store
        .append(5, e2, 1, AppendBatch::messages(vec![msg(2, "real")]))
        .await
        .unwrap();
    assert_eq!(
        store.history(5, 0, 10).await.unwrap(),
        vec![msg(2, "real"), msg(1, "kept")]
    );
    // A stale owner writing late cannot overwrite it either.
    i.exec(
        &i.st.message_insert,
        (
            5i64,
            0i64,
            2i64,
            codec::encode_message(&msg(2, "late")).unwrap(),
            to_cql(e),
        ),
    )
    .await
    .unwrap();
    assert_eq!(store.history(5, 0, 1).await.unwrap(), vec![msg(2, "real")]);
    store.done().await;
}

#[tokio::test]
async fn a_large_append_is_split_under_the_batch_limit() {
    let Some(store) = open().await else { return };
    let e = store.claim_room(8).await.unwrap();
    // 200 messages of 4000 bytes: 800 KB, far over Cassandra's 50 KiB batch limit.
    let batch: Vec<MessageRecord> = (1..=200u64)
        .map(|seq| MessageRecord {
            room_id: 8,
            seq,
            id: seq,
            sender_id: 1,
            client_msg_id: format!("c{seq}"),
            body: "x".repeat(4000),
            sent_at_ms: 10,
            attachments: Vec::new(),
            ordinal: seq,
            ..MessageRecord::default()
        })
        .collect();
    store
        .append(8, e, 0, AppendBatch::messages(batch))
        .await
        .unwrap();
    let page = store.history(8, 0, 100).await.unwrap();
    assert_eq!(page.len(), 100);
    assert_eq!(page[0].seq, 200);
    assert_eq!(store.room_head(8).await.unwrap().last_seq, 200);
    store.done().await;
}

#[tokio::test]
async fn connects_over_tls_when_given_the_servers_ca() {
    let Some(uri) = server() else { return };
    let Ok(ca) = std::env::var("CHAT_TEST_CQL_CA") else {
        assert!(
            std::env::var("SCYLLA_URI").is_ok(),
            "CHAT_TEST_CQL_CA is not set: run ./scripts/test.sh"
        );
        eprintln!("TLS test SKIPPED: no CA for the ScyllaDB at SCYLLA_URI");
        return;
    };
    let config = CqlConfig {
        contact_points: vec![uri],
        keyspace: fresh_keyspace(),
        tls_ca_file: ca,
        ..CqlConfig::default()
    };
    let store = CqlStore::connect(&config, WIDTH).await.unwrap();
    assert_eq!(store.claim_room(1).await.unwrap(), 1);
    // The server lists this session's connections as encrypted.
    let rows: Vec<(Option<bool>,)> = rows(
        store
            .session()
            .query_unpaged("SELECT ssl_enabled FROM system_views.clients", ())
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(rows.iter().any(|(ssl,)| *ssl == Some(true)), "{rows:?}");
    CqlStore::drop_keyspace(&config).await.unwrap();
    // A file with no certificate is a configuration error, not a silent plaintext session.
    let empty = std::env::temp_dir().join(format!("empty-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    let bad = CqlConfig {
        tls_ca_file: empty.display().to_string(),
        ..config
    };
    assert!(matches!(
        CqlStore::connect(&bad, WIDTH).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn timed_out_appends_are_never_sequenced_twice() {
    let Some(store) = open().await else { return };
    // A second node on the same keyspace whose requests time out after a fraction of a
    // millisecond to a few: its appends fail with the outcome unknown, some having been
    // written in full, some in part, some not at all.
    let hasty = CqlStore::connect(&store.config, WIDTH).await.unwrap();
    let mut handle = hasty
        .session()
        .get_default_execution_profile_handle()
        .clone();
    let base = handle.pointee_to_builder();
    let mut set_timeout = |micros: u64| {
        let profile = base
            .clone()
            .request_timeout(Some(std::time::Duration::from_micros(micros)))
            .build();
        handle.map_to_another_profile(profile);
    };
    const ROOM: RoomId = 11;
    const N: u64 = 40;
    let msg = |seq: u64, k: u64| MessageRecord {
        room_id: ROOM,
        seq,
        id: k,
        sender_id: 1,
        client_msg_id: format!("k{k}"),
        body: format!("message {k}"),
        sent_at_ms: 10 + i64::try_from(k).unwrap(),
        attachments: Vec::new(),
        ordinal: seq,
        ..MessageRecord::default()
    };
    let mut epoch = store.claim_room(ROOM).await.unwrap();
    let mut last = 0;
    let (mut timeouts, mut landed_anyway) = (0, 0);
    for k in 1..=N {
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            // The owner's retry, as the room actor does it: the third attempt goes through a
            // patient session so the test always progresses.
            let writer = if attempt < 3 {
                set_timeout(200 + (k * 137 + attempt * 311) % 3000);
                &hasty
            } else {
                &store.store
            };
            let sent = writer
                .append(
                    ROOM,
                    epoch,
                    last,
                    AppendBatch::messages(vec![msg(last + 1, k)]),
                )
                .await;
            if sent.is_ok() {
                last += 1;
                break;
            }
            timeouts += 1;
            // Unknown outcome: a new owner fences the old one off, then reads the truth.
            epoch = store.claim_room(ROOM).await.unwrap();
            last = store.room_head(ROOM).await.unwrap().last_seq;
            let key = format!("k{k}");
            if let Some(m) = store.find_client_message(ROOM, 1, &key).await.unwrap() {
                assert_eq!(m.seq, last, "a found message is the newest one");
                landed_anyway += 1;
                break;
            }
        }
    }
    eprintln!("{timeouts} appends timed out, {landed_anyway} of them had landed");
    assert!(timeouts > 0, "the hasty session never timed out");
    // Every message exactly once, seqs dense and in send order.
    let log = store.history(ROOM, 0, 1000).await.unwrap();
    let got: Vec<(u64, String)> = log
        .iter()
        .rev()
        .map(|m| (m.seq, m.client_msg_id.clone()))
        .collect();
    let want: Vec<(u64, String)> = (1..=N).map(|k| (k, format!("k{k}"))).collect();
    assert_eq!(got, want);
    assert_eq!(store.room_head(ROOM).await.unwrap().last_seq, N);
    store.done().await;
}

/// Every username starting with `prefix` after `after`, the slow way.
fn expected_search(names: &[String], prefix: &str, after: &str, limit: usize) -> Vec<String> {
    let mut hits: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with(prefix) && (after < prefix || n.as_str() > after))
        .cloned()
        .collect();
    hits.sort();
    hits.truncate(limit);
    hits
}

#[tokio::test]
async fn the_username_tree_splits_and_keeps_partitions_bounded() {
    let Some(store) = open().await else { return };
    let s = store.session();
    let ks = &store.config.keyspace;
    const SPLIT_AT: usize = 6;
    let tree = Arc::new(
        search::UsernameTree::prepare(s, ks, SPLIT_AT)
            .await
            .unwrap(),
    );
    // Skewed names (many share "kim"), some equal to what become split nodes ("k", "ki",
    // "kim"), some Korean; written by eight writers at once so splits race with inserts.
    let mut names: Vec<String> = ["k", "ki", "kim", "kimchi", "김", "김치", "lee", "l"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for n in 0..120 {
        names.push(format!("kim{}", n * 7 % 1000));
        names.push(format!("k{}x", n % 13));
        if n % 3 == 0 {
            names.push(format!("lee_{n}"));
            names.push(format!("김{n}"));
        }
    }
    names.sort();
    names.dedup();
    let mut writers = Vec::new();
    for w in 0..8usize {
        let tree = tree.clone();
        let store = store.store.clone();
        let mine: Vec<(usize, String)> = names
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| i % 8 == w)
            .collect();
        writers.push(tokio::spawn(async move {
            for (i, name) in mine {
                let id = u64::try_from(i).unwrap() + 1;
                tree.insert(store.session(), &name, id).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // Searches from a fresh tree (no memo of splits) agree with the slow way, page by page.
    let reader = search::UsernameTree::prepare(s, ks, SPLIT_AT)
        .await
        .unwrap();
    for prefix in [
        "k", "ki", "kim", "kim1", "kimchi", "k1", "l", "lee_", "김", "z", "kimz",
    ] {
        for limit in [1, 5, 50, 1000] {
            let mut after = String::new();
            let mut pages = Vec::new();
            loop {
                let page: Vec<String> = reader
                    .search(s, prefix, &after, limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
                assert_eq!(
                    page,
                    expected_search(&names, prefix, &after, limit),
                    "prefix {prefix} after {after} limit {limit}"
                );
                match page.last() {
                    Some(last) if page.len() == limit => after = last.clone(),
                    _ => {
                        pages.extend(page);
                        break;
                    }
                }
                pages.extend(page);
            }
            assert_eq!(pages, expected_search(&names, prefix, "", usize::MAX));
        }
    }
    // Every row is in exactly one place, and no partition is much over the split size.
    let all: Vec<(String, String)> = rows(
        s.query_unpaged(format!("SELECT node, username FROM {ks}.username_tree"), ())
            .await
            .unwrap(),
    )
    .unwrap();
    let mut per_node: std::collections::HashMap<&str, usize> = Default::default();
    for (node, _) in &all {
        *per_node.entry(node.as_str()).or_default() += 1;
    }
    let mut placed: Vec<&str> = all.iter().map(|(_, name)| name.as_str()).collect();
    placed.sort_unstable();
    assert_eq!(placed, names.iter().map(String::as_str).collect::<Vec<_>>());
    let biggest = per_node.values().max().copied().unwrap_or(0);
    assert!(
        biggest <= SPLIT_AT + 8,
        "a node holds {biggest} rows: {per_node:?}"
    );
    let splits = rows::<(String,)>(
        s.query_unpaged(
            format!("SELECT node FROM {ks}.username_nodes WHERE split = true ALLOW FILTERING"),
            (),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert!(splits.len() > 5, "{splits:?}");
    store.done().await;
}

#[tokio::test]
async fn migration_2_builds_the_search_tree_from_existing_users() {
    let Some(store) = open().await else { return };
    let ks = &store.config.keyspace;
    for (id, name) in [(1, "kim"), (2, "kimchi"), (3, "lee")] {
        store
            .create_user(UserRecord {
                id,
                username: name.into(),
                display_name: name.into(),
                password_hash: String::new(),
                created_at_ms: 1,
                status_message: String::new(),
                avatar_file_id: 0,
            })
            .await
            .unwrap();
    }
    // Back to a version-1 database: no tree, the old prefix table present.
    let s = store.session();
    for cql in [
        format!("TRUNCATE {ks}.username_tree"),
        format!("TRUNCATE {ks}.username_nodes"),
        format!(
            "DELETE FROM {ks}.schema_migrations WHERE version IN ({})",
            (2..=crate::SCHEMA_VERSION)
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "CREATE TABLE {ks}.username_prefixes (prefix text, username text, user_id bigint, \
             PRIMARY KEY (prefix, username))"
        ),
    ] {
        s.query_unpaged(cql, ()).await.unwrap();
    }
    assert!(store.search_users("kim", "", 10).await.unwrap().is_empty());
    let upgraded = CqlStore::connect(&store.config, WIDTH).await.unwrap();
    assert_eq!(applied_version(s, ks).await.unwrap(), crate::SCHEMA_VERSION);
    let found: Vec<String> = upgraded
        .search_users("kim", "", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(found, ["kim", "kimchi"]);
    let tables: Vec<(String,)> = rows(
        s.query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
            (ks.as_str(),),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert!(!tables.iter().any(|(t,)| t == "username_prefixes"));
    store.done().await;
}
