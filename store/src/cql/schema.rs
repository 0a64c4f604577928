//! The CQL schema and its migrations: numbered, applied in order at start-up, each one
//! idempotent (`IF NOT EXISTS`) so nodes starting together cannot trip over each other. A
//! node that finds a newer schema than it knows refuses to start.
//!
//! Partition sizes: messages are partitioned by `(room_id, bucket)` (a time window), member
//! lists by room (bounded by `chat.max_room_members`), a user's rooms and relationships by user
//! (bounded by `chat.max_rooms_per_user` and `chat.max_contacts_per_user`), a room's bucket
//! index by room (one row per bucket width: 37 a year at 10 days), uploads waiting to be
//! attached by day, user search by node of a prefix tree whose nodes split
//! when full (see `search.rs`), the message index's postings by `(room_id, bucket, term)`
//! and its terms rows by `(room_id, bucket)` (see `message_index.rs`).

use scylla::client::session::Session;

use super::values::cql_error;
use crate::error::{StoreError, StoreResult};

/// The schema version this build writes and understands.
pub const LATEST: i32 = 9;

/// Keyspace replication, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// One replication factor for the whole cluster (development, single data centre).
    Simple(u32),
    /// Replication factor per data centre (production).
    NetworkTopology(Vec<(String, u32)>),
}

impl Replication {
    fn cql(&self) -> String {
        match self {
            Self::Simple(rf) => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}")
            }
            Self::NetworkTopology(dcs) => {
                let per_dc: Vec<String> =
                    dcs.iter().map(|(dc, rf)| format!("'{dc}': {rf}")).collect();
                format!(
                    "{{'class': 'NetworkTopologyStrategy', {}}}",
                    per_dc.join(", ")
                )
            }
        }
    }
}

/// Migration 1: every table.
fn v1(ks: &str) -> Vec<String> {
    [
        "CREATE TABLE IF NOT EXISTS {ks}.users (id bigint PRIMARY KEY, record text)",
        "CREATE TABLE IF NOT EXISTS {ks}.usernames (username text PRIMARY KEY, user_id bigint)",
        "CREATE TABLE IF NOT EXISTS {ks}.username_prefixes (prefix text, username text, \
         user_id bigint, PRIMARY KEY (prefix, username))",
        "CREATE TABLE IF NOT EXISTS {ks}.refresh_tokens (hash blob PRIMARY KEY, record text, \
         used boolean)",
        "CREATE TABLE IF NOT EXISTS {ks}.revoked_families (family_id bigint PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS {ks}.rooms (id bigint PRIMARY KEY, record text)",
        "CREATE TABLE IF NOT EXISTS {ks}.direct_rooms (low bigint, high bigint, room_id bigint, \
         PRIMARY KEY ((low, high)))",
        "CREATE TABLE IF NOT EXISTS {ks}.members (room_id bigint, user_id bigint, \
         PRIMARY KEY (room_id, user_id))",
        "CREATE TABLE IF NOT EXISTS {ks}.user_rooms (user_id bigint, room_id bigint, \
         PRIMARY KEY (user_id, room_id))",
        "CREATE TABLE IF NOT EXISTS {ks}.cursors (room_id bigint, user_id bigint, seq bigint, \
         PRIMARY KEY (room_id, user_id))",
        "CREATE TABLE IF NOT EXISTS {ks}.social (low bigint, high bigint, edge text, \
         PRIMARY KEY ((low, high)))",
        "CREATE TABLE IF NOT EXISTS {ks}.social_index (user_id bigint, other bigint, \
         PRIMARY KEY (user_id, other))",
        "CREATE TABLE IF NOT EXISTS {ks}.room_heads (room_id bigint PRIMARY KEY, epoch bigint, \
         last_seq bigint, last_message blob)",
        "CREATE TABLE IF NOT EXISTS {ks}.room_buckets (room_id bigint, bucket bigint, \
         first_seq bigint, PRIMARY KEY (room_id, bucket)) WITH CLUSTERING ORDER BY (bucket DESC)",
        "CREATE TABLE IF NOT EXISTS {ks}.messages (room_id bigint, bucket bigint, seq bigint, \
         record blob, PRIMARY KEY ((room_id, bucket), seq)) WITH CLUSTERING ORDER BY (seq DESC)",
        "CREATE TABLE IF NOT EXISTS {ks}.idempotency (room_id bigint, sender bigint, \
         client_msg_id text, bucket bigint, seq bigint, \
         PRIMARY KEY ((room_id, sender, client_msg_id)))",
        "CREATE TABLE IF NOT EXISTS {ks}.files (id bigint PRIMARY KEY, record text, \
         attached boolean, public boolean)",
        "CREATE TABLE IF NOT EXISTS {ks}.file_shares (file_id bigint, room_id bigint, \
         PRIMARY KEY (file_id, room_id))",
        "CREATE TABLE IF NOT EXISTS {ks}.pending_files (day bigint, created_at_ms bigint, \
         file_id bigint, PRIMARY KEY (day, created_at_ms, file_id))",
        "CREATE TABLE IF NOT EXISTS {ks}.pending_days (shard int, day bigint, \
         PRIMARY KEY (shard, day))",
    ]
    .iter()
    .map(|s| s.replace("{ks}", ks))
    .collect()
}

/// Migration 2: user search moves from fixed 1-3 character prefix partitions (which grow
/// with the users sharing a prefix) to a prefix tree of bounded nodes.
fn v2(ks: &str) -> Vec<String> {
    [
        "CREATE TABLE IF NOT EXISTS {ks}.username_tree (node text, username text, \
         user_id bigint, PRIMARY KEY (node, username))",
        "CREATE TABLE IF NOT EXISTS {ks}.username_nodes (parent text, node text, \
         split boolean, PRIMARY KEY (parent, node))",
    ]
    .iter()
    .map(|s| s.replace("{ks}", ks))
    .collect()
}

/// Migration 3: each user's log-ins, and revoked log-ins by the hour their revocation
/// lapses (every row has a TTL; the short grace period keeps expired rows from piling up as
/// tombstones in the partitions a starting node reads).
fn v3(ks: &str) -> Vec<String> {
    [
        "CREATE TABLE IF NOT EXISTS {ks}.sessions (user_id bigint, family_id bigint, \
         record text, PRIMARY KEY (user_id, family_id))",
        "CREATE TABLE IF NOT EXISTS {ks}.revocations (hour bigint, family_id bigint, \
         user_id bigint, until_ms bigint, PRIMARY KEY (hour, family_id)) \
         WITH gc_grace_seconds = 3600",
    ]
    .iter()
    .map(|s| s.replace("{ks}", ks))
    .collect()
}

/// Migration 4: timeline changes (edits, deletes) take seqs, so unread counts need the
/// number of real messages at each read cursor, and the head keeps the newest real message
/// and the deleted ones still unread by someone (`codec::encode_head_timeline`).
fn v4(ks: &str) -> Vec<String> {
    [
        "ALTER TABLE {ks}.cursors ADD ordinal bigint",
        "ALTER TABLE {ks}.room_heads ADD timeline blob",
    ]
    .iter()
    .map(|s| s.replace("{ks}", ks))
    .collect()
}

/// Migration 5: the rooms each user muted (a table of its own rather than a column of
/// `user_rooms`: a mute written just after a leave can then leave a stale mute, never a
/// stale membership).
fn v5(ks: &str) -> Vec<String> {
    vec![format!(
        "CREATE TABLE IF NOT EXISTS {ks}.muted_rooms (user_id bigint, room_id bigint, \
         PRIMARY KEY (user_id, room_id))"
    )]
}

/// Migration 6: the seq each member joined at (the longest member inherits a room whose
/// owner leaves); members from before read as joined at the start.
fn v6(ks: &str) -> Vec<String> {
    vec![format!("ALTER TABLE {ks}.members ADD joined_seq bigint")]
}

/// Migration 7: the entries each user hid from their own view of a room ("delete for me"),
/// one partition per user and room.
fn v7(ks: &str) -> Vec<String> {
    vec![format!(
        "CREATE TABLE IF NOT EXISTS {ks}.hidden_messages (user_id bigint, room_id bigint, \
         seq bigint, PRIMARY KEY ((user_id, room_id), seq))"
    )]
}

/// Migration 8: the messages that hold each file (access follows the message, and a file
/// no message holds is erased), and the queue of files deletes for everyone released (one
/// partition: it is short-lived, drained as it fills).
fn v8(ks: &str) -> Vec<String> {
    [
        "CREATE TABLE IF NOT EXISTS {ks}.file_refs (file_id bigint, room_id bigint, \
         seq bigint, PRIMARY KEY (file_id, room_id, seq))",
        "CREATE TABLE IF NOT EXISTS {ks}.released_files (shard int, file_id bigint, \
         PRIMARY KEY (shard, file_id)) WITH gc_grace_seconds = 3600",
    ]
    .iter()
    .map(|s| s.replace("{ks}", ks))
    .collect()
}

/// Migration 9: the message search index (see `message_index.rs`). Postings and terms are
/// partitioned by the message buckets; postings are read newest first.
fn v9(ks: &str) -> Vec<String> {
    [
        "CREATE TABLE IF NOT EXISTS {ks}.search_postings (room_id bigint, bucket bigint, \
         term text, seq bigint, PRIMARY KEY ((room_id, bucket, term), seq)) \
         WITH CLUSTERING ORDER BY (seq DESC)",
        "CREATE TABLE IF NOT EXISTS {ks}.search_terms (room_id bigint, bucket bigint, \
         seq bigint, terms list<text>, PRIMARY KEY ((room_id, bucket), seq))",
        "CREATE TABLE IF NOT EXISTS {ks}.search_marks (room_id bigint PRIMARY KEY, seq bigint)",
    ]
    .iter()
    .map(|s| s.replace("{ks}", ks))
    .collect()
}

fn migration(version: i32, ks: &str) -> Vec<String> {
    match version {
        1 => v1(ks),
        2 => v2(ks),
        3 => v3(ks),
        4 => v4(ks),
        5 => v5(ks),
        6 => v6(ks),
        7 => v7(ks),
        8 => v8(ks),
        9 => v9(ks),
        _ => Vec::new(),
    }
}

/// The data a migration moves once its tables exist (re-run safely if a node stopped midway:
/// the version is recorded only after it).
async fn migrate_data(session: &Session, ks: &str, version: i32) -> StoreResult<()> {
    if version == 2 {
        super::search::backfill(session, ks).await?;
        session
            .query_unpaged(format!("DROP TABLE IF EXISTS {ks}.username_prefixes"), ())
            .await
            .map_err(|e| StoreError::Unavailable(format!("schema: {e}")))?;
    }
    Ok(())
}

/// Creates the keyspace and applies every migration not applied yet. Refuses a schema newer
/// than this build.
pub async fn migrate(session: &Session, ks: &str, replication: &Replication) -> StoreResult<i32> {
    let ddl = |cql: String| async move {
        match session.query_unpaged(cql.as_str(), ()).await {
            Ok(_) => Ok(()),
            // `ALTER TABLE ... ADD` has no IF NOT EXISTS: a node that stopped midway, or
            // another starting at the same time, may have added the column already.
            Err(e) if cql.starts_with("ALTER") && column_exists(&e.to_string()) => Ok(()),
            Err(e) => Err(StoreError::Unavailable(format!("schema: {e}"))),
        }
    };
    ddl(format!(
        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {}",
        replication.cql()
    ))
    .await?;
    ddl(format!(
        "CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (version int PRIMARY KEY, \
         applied_at_ms bigint)"
    ))
    .await?;
    let current = applied_version(session, ks).await?;
    if current > LATEST {
        return Err(StoreError::Invalid(format!(
            "the database schema is version {current}, newer than this build's {LATEST}: \
             upgrade this node"
        )));
    }
    for version in current + 1..=LATEST {
        for statement in migration(version, ks) {
            ddl(statement).await?;
        }
        session
            .await_schema_agreement()
            .await
            .map_err(|e| StoreError::Unavailable(format!("schema agreement: {e}")))?;
        migrate_data(session, ks, version).await?;
        session
            .query_unpaged(
                format!(
                    "INSERT INTO {ks}.schema_migrations (version, applied_at_ms) VALUES (?, ?)"
                ),
                (version, super::values::now_ms()),
            )
            .await
            .map_err(cql_error)?;
        tracing::info!(version, keyspace = ks, "schema migration applied");
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| StoreError::Unavailable(format!("schema agreement: {e}")))?;
    Ok(LATEST)
}

/// Whether an `ALTER TABLE ... ADD` failed because the column is there (Cassandra and
/// ScyllaDB word it differently).
fn column_exists(message: &str) -> bool {
    message.contains("already exists") || message.contains("conflicts with an existing column")
}

/// The highest migration recorded (0 for a new keyspace).
pub async fn applied_version(session: &Session, ks: &str) -> StoreResult<i32> {
    let rows = session
        .query_unpaged(format!("SELECT version FROM {ks}.schema_migrations"), ())
        .await
        .map_err(cql_error)?
        .into_rows_result()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut max = 0;
    for row in rows
        .rows::<(i32,)>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
    {
        let (v,) = row.map_err(|e| StoreError::Corrupt(e.to_string()))?;
        max = max.max(v);
    }
    Ok(max)
}
