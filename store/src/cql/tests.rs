//! The conformance suite against a real CQL server: the one `scripts/test.sh` starts
//! (Cassandra), or a ScyllaDB named by `SCYLLA_URI`. Each check gets a keyspace of its own.
//! A missing server fails these tests unless `CHAT_SKIP_CQL=1` says to skip them knowingly.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::*;
use crate::conformance;

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
    rooms_and_members,
    direct_rooms,
    conditional_append,
    read_cursors,
    profiles_and_search,
    social_edges,
    files,
    membership_and_attachments
);

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
