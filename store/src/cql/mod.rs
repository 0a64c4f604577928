//! The CQL backend (ScyllaDB, or Apache Cassandra which speaks the same protocol) through
//! the `scylla` driver: prepared statements only, token-aware routing (the driver's default
//! policy), configurable consistency (LOCAL_QUORUM by default; lightweight transactions at
//! LOCAL_SERIAL) and timeouts, credentials from configuration.
//!
//! **Fencing.** A room's head row holds its owner's epoch, advanced by a lightweight
//! transaction in [`Store::claim_room`]. An append writes the message rows first, with the
//! epoch as their write timestamp, then moves the head with a lightweight transaction that
//! requires the epoch and the expected end of the log. The head is the commit point: reads
//! never look past it, and because message rows carry their owner's epoch as timestamp, a
//! stale owner's late write can never replace a newer owner's row at the same seq
//! (last-write-wins), whatever order they arrive in. Rows a failed append left past the
//! head are invisible and overwritten by the next owner.

mod schema;
mod search;

use std::{collections::HashMap, time::Duration};

use scylla::{
    client::{
        execution_profile::ExecutionProfile, session::Session, session_builder::SessionBuilder,
    },
    frame::types::{Consistency, SerialConsistency},
    response::query_result::QueryResult,
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
    value::CqlValue,
};
use serde::{Deserialize, Serialize};

#[cfg(test)]
use schema::applied_version;
pub use schema::{LATEST as SCHEMA_VERSION, Replication};

use crate::{
    AppendBatch, FileId, FileRecord, FileUse, MessageRecord, RefreshOutcome, RefreshRecord,
    RoomHead, RoomId, RoomKind, RoomRecord, Seq, SocialEdge, Store, StoreError, StoreResult,
    ThumbnailRecord, UserId, UserRecord, codec,
};

/// Settings of the CQL backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CqlConfig {
    /// `host:port` of some nodes; the driver discovers the rest. Default `127.0.0.1:9042`.
    pub contact_points: Vec<String>,
    /// Keyspace (created if missing). Default `chat`.
    pub keyspace: String,
    /// `SimpleStrategy` replication factor (used unless `datacenters` is set). Default 1.
    pub replication_factor: u32,
    /// `NetworkTopologyStrategy` replication per data centre, e.g. `{"dc1" = 3}`.
    pub datacenters: std::collections::BTreeMap<String, u32>,
    /// `local_quorum` (default), `quorum`, `one`, `all`, `local_one`.
    pub consistency: String,
    /// Timeout of one request, ms. Default 5000.
    pub request_timeout_ms: u64,
    /// Timeout of connecting to a node, ms. Default 5000.
    pub connect_timeout_ms: u64,
    /// User name for password authentication (empty: none).
    pub username: String,
    /// Password for password authentication.
    pub password: String,
    /// PEM file of the CA that signed the nodes' certificates: connect with TLS (the nodes'
    /// certificates must name their IP addresses). Empty: plaintext.
    pub tls_ca_file: String,
    /// How long idempotency keys are kept, in seconds. Default 604800 (7 days): a client
    /// retrying a send later than that gets a new message.
    pub idempotency_ttl_secs: u32,
}

impl Default for CqlConfig {
    fn default() -> Self {
        Self {
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "chat".into(),
            replication_factor: 1,
            datacenters: std::collections::BTreeMap::new(),
            consistency: "local_quorum".into(),
            request_timeout_ms: 5000,
            connect_timeout_ms: 5000,
            username: String::new(),
            password: String::new(),
            tls_ca_file: String::new(),
            idempotency_ttl_secs: 7 * 24 * 3600,
        }
    }
}

impl CqlConfig {
    /// The keyspace replication this config asks for.
    pub fn replication(&self) -> Replication {
        if self.datacenters.is_empty() {
            Replication::Simple(self.replication_factor)
        } else {
            Replication::NetworkTopology(
                self.datacenters
                    .iter()
                    .map(|(dc, rf)| (dc.clone(), *rf))
                    .collect(),
            )
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        consistency(&self.consistency)?;
        let ident = |s: &str| {
            !s.is_empty()
                && s.len() <= 48
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if !ident(&self.keyspace) {
            return Err("store.cql.keyspace must be 1-48 letters, digits or _".into());
        }
        if self.datacenters.keys().any(|dc| !ident(dc)) {
            return Err("store.cql.datacenters: names must be letters, digits or _".into());
        }
        if self.contact_points.is_empty() || self.replication_factor == 0 {
            return Err("store.cql needs contact points and a positive replication".into());
        }
        Ok(())
    }
}

/// A TLS client configuration trusting the CAs of `ca_file` (PEM).
fn tls_context(ca_file: &str) -> StoreResult<std::sync::Arc<rustls::ClientConfig>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject as _};
    let bad =
        |e: &dyn std::fmt::Display| StoreError::Invalid(format!("store.cql.tls_ca_file: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in the file"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

fn consistency(name: &str) -> Result<Consistency, String> {
    Ok(match name {
        "local_quorum" => Consistency::LocalQuorum,
        "quorum" => Consistency::Quorum,
        "one" => Consistency::One,
        "local_one" => Consistency::LocalOne,
        "all" => Consistency::All,
        other => return Err(format!("store.cql.consistency {other:?} is not supported")),
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A driver error as a store error: retryable unless it is clearly the request's fault.
fn cql_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("cql: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("cql: {e}"))
}

/// Ids and seqs are u64; CQL has signed 64-bit integers. The mapping is a bit-cast, so every
/// value round-trips (ids and seqs stay far below 2^63, keeping CQL's order numeric).
fn to_cql(v: u64) -> i64 {
    v as i64
}

fn from_cql(v: i64) -> u64 {
    v as u64
}

/// Message bytes per unlogged batch: under Cassandra's default 50 KiB failure threshold
/// with room for the statements' other values.
const MAX_BATCH_BYTES: usize = 32 * 1024;

fn day_of(ms: i64) -> i64 {
    ms.max(0) / 86_400_000
}

/// Every prepared statement, made once at start-up.
struct Statements {
    user_insert: PreparedStatement,
    user_get: PreparedStatement,
    username_claim: PreparedStatement,
    username_get: PreparedStatement,
    refresh_insert: PreparedStatement,
    refresh_get: PreparedStatement,
    refresh_use: PreparedStatement,
    family_revoke: PreparedStatement,
    family_get: PreparedStatement,
    room_insert: PreparedStatement,
    room_get: PreparedStatement,
    direct_claim: PreparedStatement,
    direct_get: PreparedStatement,
    member_insert: PreparedStatement,
    member_delete: PreparedStatement,
    member_get: PreparedStatement,
    members_of: PreparedStatement,
    user_room_insert: PreparedStatement,
    user_room_delete: PreparedStatement,
    user_rooms_of: PreparedStatement,
    cursor_upsert: PreparedStatement,
    cursor_delete: PreparedStatement,
    cursor_get: PreparedStatement,
    cursors_of: PreparedStatement,
    social_get: PreparedStatement,
    social_create: PreparedStatement,
    social_update: PreparedStatement,
    social_delete: PreparedStatement,
    social_index_insert: PreparedStatement,
    social_index_delete: PreparedStatement,
    social_index_of: PreparedStatement,
    head_get: PreparedStatement,
    head_create: PreparedStatement,
    head_claim: PreparedStatement,
    head_first_append: PreparedStatement,
    head_append: PreparedStatement,
    head_touch: PreparedStatement,
    bucket_insert: PreparedStatement,
    buckets_of: PreparedStatement,
    message_insert: PreparedStatement,
    message_get: PreparedStatement,
    messages_before: PreparedStatement,
    idem_insert: PreparedStatement,
    idem_get: PreparedStatement,
    file_insert: PreparedStatement,
    file_get: PreparedStatement,
    file_attach: PreparedStatement,
    file_make_public: PreparedStatement,
    file_set_record: PreparedStatement,
    file_delete_unattached: PreparedStatement,
    share_insert: PreparedStatement,
    shares_of: PreparedStatement,
    share_delete_all: PreparedStatement,
    pending_insert: PreparedStatement,
    pending_delete: PreparedStatement,
    pending_before: PreparedStatement,
    pending_day_insert: PreparedStatement,
    pending_days_before: PreparedStatement,
    pending_day_delete: PreparedStatement,
}

impl Statements {
    async fn prepare(s: &Session, ks: &str) -> StoreResult<Self> {
        let p = |cql: &str| {
            let cql = cql.replace("{ks}", ks);
            async move {
                let mut st = s.prepare(cql).await.map_err(cql_error)?;
                // Every statement here may be retried: writes are upserts, conditional
                // writes re-check their condition, reads are reads.
                st.set_is_idempotent(true);
                Ok::<_, StoreError>(st)
            }
        };
        Ok(Self {
            user_insert: p("INSERT INTO {ks}.users (id, record) VALUES (?, ?)").await?,
            user_get: p("SELECT record FROM {ks}.users WHERE id = ?").await?,
            username_claim: p(
                "INSERT INTO {ks}.usernames (username, user_id) VALUES (?, ?) IF NOT EXISTS",
            )
            .await?,
            username_get: p("SELECT user_id FROM {ks}.usernames WHERE username = ?").await?,
            refresh_insert: p(
                "INSERT INTO {ks}.refresh_tokens (hash, record, used) VALUES (?, ?, false) \
                 USING TTL ?",
            )
            .await?,
            refresh_get: p("SELECT record, used FROM {ks}.refresh_tokens WHERE hash = ?").await?,
            refresh_use: p("UPDATE {ks}.refresh_tokens SET used = true WHERE hash = ? IF used = false")
                .await?,
            family_revoke: p("INSERT INTO {ks}.revoked_families (family_id) VALUES (?)").await?,
            family_get: p("SELECT family_id FROM {ks}.revoked_families WHERE family_id = ?")
                .await?,
            room_insert: p("INSERT INTO {ks}.rooms (id, record) VALUES (?, ?)").await?,
            room_get: p("SELECT record FROM {ks}.rooms WHERE id = ?").await?,
            direct_claim: p(
                "INSERT INTO {ks}.direct_rooms (low, high, room_id) VALUES (?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            direct_get: p("SELECT room_id FROM {ks}.direct_rooms WHERE low = ? AND high = ?")
                .await?,
            member_insert: p("INSERT INTO {ks}.members (room_id, user_id) VALUES (?, ?)").await?,
            member_delete: p("DELETE FROM {ks}.members WHERE room_id = ? AND user_id = ?").await?,
            member_get: p("SELECT user_id FROM {ks}.members WHERE room_id = ? AND user_id = ?")
                .await?,
            members_of: p("SELECT user_id FROM {ks}.members WHERE room_id = ?").await?,
            user_room_insert: p("INSERT INTO {ks}.user_rooms (user_id, room_id) VALUES (?, ?)")
                .await?,
            user_room_delete: p("DELETE FROM {ks}.user_rooms WHERE user_id = ? AND room_id = ?")
                .await?,
            user_rooms_of: p("SELECT room_id FROM {ks}.user_rooms WHERE user_id = ?").await?,
            cursor_upsert: p("INSERT INTO {ks}.cursors (room_id, user_id, seq) VALUES (?, ?, ?)")
                .await?,
            cursor_delete: p("DELETE FROM {ks}.cursors WHERE room_id = ? AND user_id = ?").await?,
            cursor_get: p("SELECT seq FROM {ks}.cursors WHERE room_id = ? AND user_id = ?").await?,
            cursors_of: p("SELECT user_id, seq FROM {ks}.cursors WHERE room_id = ?").await?,
            social_get: p("SELECT edge FROM {ks}.social WHERE low = ? AND high = ?").await?,
            social_create: p(
                "INSERT INTO {ks}.social (low, high, edge) VALUES (?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            social_update: p(
                "UPDATE {ks}.social SET edge = ? WHERE low = ? AND high = ? IF edge = ?",
            )
            .await?,
            social_delete: p("DELETE FROM {ks}.social WHERE low = ? AND high = ? IF edge = ?")
                .await?,
            social_index_insert: p(
                "INSERT INTO {ks}.social_index (user_id, other) VALUES (?, ?)",
            )
            .await?,
            social_index_delete: p(
                "DELETE FROM {ks}.social_index WHERE user_id = ? AND other = ?",
            )
            .await?,
            social_index_of: p("SELECT other FROM {ks}.social_index WHERE user_id = ?").await?,
            head_get: p(
                "SELECT epoch, last_seq, last_message FROM {ks}.room_heads WHERE room_id = ?",
            )
            .await?,
            head_create: p(
                "INSERT INTO {ks}.room_heads (room_id, epoch, last_seq) VALUES (?, 1, 0) \
                 IF NOT EXISTS",
            )
            .await?,
            head_claim: p("UPDATE {ks}.room_heads SET epoch = ? WHERE room_id = ? IF epoch = ?")
                .await?,
            head_first_append: p(
                "INSERT INTO {ks}.room_heads (room_id, epoch, last_seq, last_message) \
                 VALUES (?, 0, ?, ?) IF NOT EXISTS",
            )
            .await?,
            head_touch: p(
                "UPDATE {ks}.room_heads SET last_seq = ? WHERE room_id = ? \
                 IF epoch = ? AND last_seq = ?",
            )
            .await?,
            head_append: p(
                "UPDATE {ks}.room_heads SET last_seq = ?, last_message = ? WHERE room_id = ? \
                 IF epoch = ? AND last_seq = ?",
            )
            .await?,
            bucket_insert: p(
                "INSERT INTO {ks}.room_buckets (room_id, bucket, first_seq) VALUES (?, ?, ?) \
                 USING TIMESTAMP ?",
            )
            .await?,
            buckets_of: p("SELECT bucket, first_seq FROM {ks}.room_buckets WHERE room_id = ?")
                .await?,
            message_insert: p(
                "INSERT INTO {ks}.messages (room_id, bucket, seq, record) VALUES (?, ?, ?, ?) \
                 USING TIMESTAMP ?",
            )
            .await?,
            message_get: p(
                "SELECT record FROM {ks}.messages WHERE room_id = ? AND bucket = ? AND seq = ?",
            )
            .await?,
            messages_before: p(
                "SELECT record FROM {ks}.messages WHERE room_id = ? AND bucket = ? AND seq < ? \
                 LIMIT ?",
            )
            .await?,
            idem_insert: p(
                "INSERT INTO {ks}.idempotency (room_id, sender, client_msg_id, bucket, seq) \
                 VALUES (?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?",
            )
            .await?,
            idem_get: p(
                "SELECT bucket, seq FROM {ks}.idempotency WHERE room_id = ? AND sender = ? \
                 AND client_msg_id = ?",
            )
            .await?,
            file_insert: p(
                "INSERT INTO {ks}.files (id, record, attached, public) VALUES (?, ?, ?, ?)",
            )
            .await?,
            file_get: p("SELECT record, attached, public FROM {ks}.files WHERE id = ?").await?,
            file_attach: p("UPDATE {ks}.files SET attached = true WHERE id = ? IF EXISTS").await?,
            file_make_public: p(
                "UPDATE {ks}.files SET attached = true, public = true WHERE id = ? IF EXISTS",
            )
            .await?,
            file_set_record: p("UPDATE {ks}.files SET record = ? WHERE id = ? IF EXISTS").await?,
            file_delete_unattached: p("DELETE FROM {ks}.files WHERE id = ? IF attached = false")
                .await?,
            share_insert: p("INSERT INTO {ks}.file_shares (file_id, room_id) VALUES (?, ?)")
                .await?,
            shares_of: p("SELECT room_id FROM {ks}.file_shares WHERE file_id = ?").await?,
            share_delete_all: p("DELETE FROM {ks}.file_shares WHERE file_id = ?").await?,
            pending_insert: p(
                "INSERT INTO {ks}.pending_files (day, created_at_ms, file_id) VALUES (?, ?, ?)",
            )
            .await?,
            pending_delete: p(
                "DELETE FROM {ks}.pending_files WHERE day = ? AND created_at_ms = ? AND file_id = ?",
            )
            .await?,
            pending_before: p(
                "SELECT created_at_ms, file_id FROM {ks}.pending_files WHERE day = ? \
                 AND created_at_ms < ? LIMIT ?",
            )
            .await?,
            pending_day_insert: p("INSERT INTO {ks}.pending_days (shard, day) VALUES (0, ?)")
                .await?,
            pending_days_before: p(
                "SELECT day FROM {ks}.pending_days WHERE shard = 0 AND day <= ?",
            )
            .await?,
            pending_day_delete: p("DELETE FROM {ks}.pending_days WHERE shard = 0 AND day = ?")
                .await?,
        })
    }
}

/// The CQL store. Cheap to clone.
#[derive(Clone)]
pub struct CqlStore {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    session: Session,
    st: Statements,
    bucket_width_ms: i64,
    idempotency_ttl_secs: i32,
    /// User search.
    usernames: search::UsernameTree,
    /// Where this process last left each room's log, so the owner's next append skips
    /// reading the head. Only a hint: the head transaction decides.
    tails: std::sync::Mutex<HashMap<RoomId, Tail>>,
}

/// A room's log end as this process last wrote or read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail {
    epoch: u64,
    last_seq: Seq,
    /// The time bucket of the newest message, if any.
    last_bucket: Option<i64>,
}

/// More remembered tails than this and the map starts over (a hint may always be missing).
const MAX_TAILS: usize = 65_536;

impl CqlStore {
    /// Connects, applies migrations, prepares every statement.
    pub async fn connect(config: &CqlConfig, bucket_width_ms: i64) -> StoreResult<Self> {
        config.validate().map_err(StoreError::Invalid)?;
        if bucket_width_ms <= 0 {
            return Err(StoreError::Invalid("bucket width must be positive".into()));
        }
        let profile = ExecutionProfile::builder()
            .consistency(consistency(&config.consistency).map_err(StoreError::Invalid)?)
            .serial_consistency(Some(SerialConsistency::LocalSerial))
            .request_timeout(Some(Duration::from_millis(config.request_timeout_ms)))
            .build();
        let mut builder = SessionBuilder::new()
            .known_nodes(&config.contact_points)
            .connection_timeout(Duration::from_millis(config.connect_timeout_ms))
            .default_execution_profile_handle(profile.into_handle());
        if !config.username.is_empty() {
            builder = builder.user(&config.username, &config.password);
        }
        if !config.tls_ca_file.is_empty() {
            builder = builder.tls_context(Some(tls_context(&config.tls_ca_file)?));
        }
        let session = builder.build().await.map_err(cql_error)?;
        schema::migrate(&session, &config.keyspace, &config.replication()).await?;
        let st = Statements::prepare(&session, &config.keyspace).await?;
        let usernames =
            search::UsernameTree::prepare(&session, &config.keyspace, search::SPLIT_AT).await?;
        Ok(Self {
            inner: std::sync::Arc::new(Inner {
                session,
                st,
                usernames,
                bucket_width_ms,
                idempotency_ttl_secs: i32::try_from(config.idempotency_ttl_secs)
                    .unwrap_or(i32::MAX),
                tails: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The driver session (tests and tools).
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// Drops a keyspace and everything in it (tests clean up after themselves: every live
    /// table costs the server memory).
    pub async fn drop_keyspace(config: &CqlConfig) -> StoreResult<()> {
        config.validate().map_err(StoreError::Invalid)?;
        let session = SessionBuilder::new()
            .known_nodes(&config.contact_points)
            .build()
            .await
            .map_err(cql_error)?;
        session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", config.keyspace), ())
            .await
            .map_err(cql_error)?;
        Ok(())
    }
}

/// Rows of a result as `T`.
fn rows<T>(result: QueryResult) -> StoreResult<Vec<T>>
where
    T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    let rows = result.into_rows_result().map_err(corrupt)?;
    rows.rows::<T>()
        .map_err(corrupt)?
        .map(|r| r.map_err(corrupt))
        .collect()
}

/// The first row of a result as `T`, if any.
fn first<T>(result: QueryResult) -> StoreResult<Option<T>>
where
    T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    Ok(rows::<T>(result)?.into_iter().next())
}

/// What a lightweight transaction said: applied, and the current values of the columns it
/// checked when not.
fn lwt(result: QueryResult) -> StoreResult<(bool, HashMap<String, CqlValue>)> {
    let rows = result.into_rows_result().map_err(corrupt)?;
    let names: Vec<String> = rows
        .column_specs()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let row = rows
        .maybe_first_row::<scylla::value::Row>()
        .map_err(corrupt)?
        .ok_or_else(|| corrupt("empty LWT result"))?;
    let mut applied = false;
    let mut values = HashMap::new();
    for (name, value) in names.into_iter().zip(row.columns) {
        match (name.as_str(), value) {
            ("[applied]", Some(CqlValue::Boolean(b))) => applied = b,
            (_, Some(v)) => {
                values.insert(name, v);
            }
            (_, None) => {}
        }
    }
    Ok((applied, values))
}

fn bigint(values: &HashMap<String, CqlValue>, name: &str) -> Option<i64> {
    match values.get(name) {
        Some(CqlValue::BigInt(v)) => Some(*v),
        _ => None,
    }
}

fn json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(text)?)
}

/// `(epoch, last_seq, last_message)` of a `room_heads` row.
type HeadRow = (Option<i64>, Option<i64>, Option<Vec<u8>>);

fn pair(a: UserId, b: UserId) -> (i64, i64) {
    (to_cql(a.min(b)), to_cql(a.max(b)))
}

/// A refresh token's record as stored (its spent flag is a column of its own, for the
/// conditional update that spends it).
#[derive(Serialize, Deserialize)]
struct StoredRefresh {
    record: RefreshRecord,
}

impl Inner {
    async fn exec(
        &self,
        st: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> StoreResult<QueryResult> {
        self.session
            .execute_unpaged(st, values)
            .await
            .map_err(cql_error)
    }

    fn bucket_of(&self, sent_at_ms: i64) -> i64 {
        sent_at_ms.max(0) / self.bucket_width_ms
    }

    async fn head(&self, room: RoomId) -> StoreResult<Option<RoomHead>> {
        let row: Option<HeadRow> = first(self.exec(&self.st.head_get, (to_cql(room),)).await?)?;
        let Some((epoch, last_seq, last_message)) = row else {
            return Ok(None);
        };
        let last_message = match last_message {
            Some(bytes) if !bytes.is_empty() => Some(codec::decode_message(&bytes)?),
            _ => None,
        };
        Ok(Some(RoomHead {
            epoch: from_cql(epoch.unwrap_or(0)),
            last_seq: from_cql(last_seq.unwrap_or(0)),
            last_message,
        }))
    }

    /// The remembered tail of `room` if it is still `(epoch, last_seq)`.
    fn tail(&self, room: RoomId, epoch: u64, last_seq: Seq) -> Option<Tail> {
        let tails = self
            .tails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tails
            .get(&room)
            .filter(|t| t.epoch == epoch && t.last_seq == last_seq)
            .copied()
    }

    fn remember_tail(&self, room: RoomId, tail: Tail) {
        let mut tails = self
            .tails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tails.len() >= MAX_TAILS && !tails.contains_key(&room) {
            tails.clear();
        }
        tails.insert(room, tail);
    }

    fn forget_tail(&self, room: RoomId) {
        let mut tails = self
            .tails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tails.remove(&room);
    }

    /// [`Store::append`] after validation: see the module doc for the protocol.
    async fn append(
        &self,
        room: RoomId,
        epoch: u64,
        expected_last_seq: Seq,
        batch: &AppendBatch,
    ) -> StoreResult<()> {
        let i = self;
        let (exists, mut prev_bucket) = match i.tail(room, epoch, expected_last_seq) {
            Some(tail) => (true, tail.last_bucket),
            None => {
                let head = i.head(room).await?;
                let current = head.clone().unwrap_or_default();
                // A cheap early answer for the stale writer; the transaction below decides.
                if current.epoch != epoch {
                    return Err(StoreError::Conflict {
                        expected: epoch,
                        found: current.epoch,
                    });
                }
                if current.last_seq != expected_last_seq {
                    return Err(StoreError::Conflict {
                        expected: expected_last_seq,
                        found: current.last_seq,
                    });
                }
                let bucket = current.last_message.map(|m| i.bucket_of(m.sent_at_ms));
                (head.is_some(), bucket)
            }
        };
        // 1. The messages, under the owner's epoch as write timestamp (see the module doc).
        let ts = to_cql(epoch);
        let mut per_bucket: Vec<(i64, Vec<&MessageRecord>)> = Vec::new();
        for m in &batch.messages {
            let bucket = i.bucket_of(m.sent_at_ms);
            match per_bucket.last_mut() {
                Some((b, list)) if *b == bucket => list.push(m),
                _ => per_bucket.push((bucket, vec![m])),
            }
        }
        let mut writes = Vec::new();
        for (bucket, list) in &per_bucket {
            if prev_bucket != Some(*bucket)
                && let Some(first) = list.first()
            {
                writes.push(i.exec(
                    &i.st.bucket_insert,
                    (to_cql(room), *bucket, to_cql(first.seq), ts),
                ));
                prev_bucket = Some(*bucket);
            }
        }
        for r in futures::future::join_all(writes).await {
            r?;
        }
        // One unlogged batch per partition, cut below the server's batch size limit
        // (Cassandra refuses batches over 50 KiB by default).
        let mut batches = Vec::new();
        for (bucket, list) in &per_bucket {
            let mut chunk = Vec::new();
            let mut bytes = 0;
            for m in list {
                let record = codec::encode_message(m)?;
                if !chunk.is_empty() && bytes + record.len() > MAX_BATCH_BYTES {
                    batches.push(std::mem::take(&mut chunk));
                    bytes = 0;
                }
                bytes += record.len();
                chunk.push((to_cql(room), *bucket, to_cql(m.seq), record, ts));
            }
            batches.push(chunk);
        }
        let writes = batches.into_iter().map(|values| {
            let mut unlogged = Batch::new(BatchType::Unlogged);
            for _ in &values {
                unlogged.append_statement(i.st.message_insert.clone());
            }
            unlogged.set_is_idempotent(true);
            async move { i.session.batch(&unlogged, values).await.map_err(cql_error) }
        });
        for r in futures::future::join_all(writes).await {
            r?;
        }
        let ttl = i.idempotency_ttl_secs;
        let keys = batch.messages.iter().map(|m| {
            i.exec(
                &i.st.idem_insert,
                (
                    to_cql(room),
                    to_cql(m.sender_id),
                    &m.client_msg_id,
                    i.bucket_of(m.sent_at_ms),
                    to_cql(m.seq),
                    ttl,
                    ts,
                ),
            )
        });
        for r in futures::future::join_all(keys).await {
            r?;
        }
        // 2. The commit point: the head moves only if this owner still owns the room and the
        //    log still ends where it thought.
        let new_last_seq = batch.messages.last().map_or(expected_last_seq, |m| m.seq);
        let (applied, found) = match (exists, batch.messages.last()) {
            (false, last) => {
                let last_bytes = match last {
                    Some(m) => codec::encode_message(m)?,
                    None => Vec::new(),
                };
                lwt(i
                    .exec(
                        &i.st.head_first_append,
                        (to_cql(room), to_cql(new_last_seq), last_bytes),
                    )
                    .await?)?
            }
            (true, Some(last)) => lwt(i
                .exec(
                    &i.st.head_append,
                    (
                        to_cql(new_last_seq),
                        codec::encode_message(last)?,
                        to_cql(room),
                        ts,
                        to_cql(expected_last_seq),
                    ),
                )
                .await?)?,
            // Read-cursor moves alone: still fenced, the head itself unchanged.
            (true, None) => lwt(i
                .exec(
                    &i.st.head_touch,
                    (
                        to_cql(expected_last_seq),
                        to_cql(room),
                        ts,
                        to_cql(expected_last_seq),
                    ),
                )
                .await?)?,
        };
        // The driver retries a transaction whose answer was lost; the retry then finds the
        // head already where this append put it. Under this owner's epoch no one else can
        // have moved it there, so that is success, not a conflict.
        let found_epoch = bigint(&found, "epoch").map(from_cql);
        let found_last = bigint(&found, "last_seq").map(from_cql);
        let ours = found_epoch == Some(epoch) && found_last == Some(new_last_seq);
        if !applied && !ours {
            return Err(StoreError::Conflict {
                expected: expected_last_seq,
                found: found_last.unwrap_or(0),
            });
        }
        // 3. Read cursors, once the append has committed (a lost cursor move only leaves a
        //    message counted unread; the next move repairs it).
        let cursors = batch.cursors.iter().map(|(user, seq)| {
            i.exec(
                &i.st.cursor_upsert,
                (to_cql(room), to_cql(*user), to_cql(*seq)),
            )
        });
        for r in futures::future::join_all(cursors).await {
            r?;
        }
        let last_bucket = batch
            .messages
            .last()
            .map(|m| i.bucket_of(m.sent_at_ms))
            .or(prev_bucket);
        i.remember_tail(
            room,
            Tail {
                epoch,
                last_seq: new_last_seq,
                last_bucket,
            },
        );
        Ok(())
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let row: Option<(String,)> = first(self.exec(&self.st.user_get, (to_cql(id),)).await?)?;
        row.map(|(r,)| parse(&r)).transpose()
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
        let row: Option<(String, Option<bool>, Option<bool>)> =
            first(self.exec(&self.st.file_get, (to_cql(id),)).await?)?;
        let Some((record, attached, public)) = row else {
            return Ok(None);
        };
        let mut file: FileRecord = parse(&record)?;
        file.attached = attached.unwrap_or(false);
        file.public = public.unwrap_or(false);
        Ok(Some(file))
    }

    async fn insert_room(&self, room: &RoomRecord, members: &[UserId]) -> StoreResult<()> {
        self.exec(&self.st.room_insert, (to_cql(room.id), json(room)?))
            .await?;
        self.add_members(room.id, members, None).await
    }

    async fn add_members(
        &self,
        room: RoomId,
        users: &[UserId],
        read_through: Option<Seq>,
    ) -> StoreResult<()> {
        let writes = users.iter().map(|&u| async move {
            self.exec(&self.st.member_insert, (to_cql(room), to_cql(u)))
                .await?;
            self.exec(&self.st.user_room_insert, (to_cql(u), to_cql(room)))
                .await?;
            if let Some(seq) = read_through {
                self.exec(
                    &self.st.cursor_upsert,
                    (to_cql(room), to_cql(u), to_cql(seq)),
                )
                .await?;
            }
            Ok::<_, StoreError>(())
        });
        for r in futures::future::join_all(writes).await {
            r?;
        }
        Ok(())
    }

    async fn ids(&self, st: &PreparedStatement, key: u64) -> StoreResult<Vec<u64>> {
        let rows: Vec<(i64,)> = rows(self.exec(st, (to_cql(key),)).await?)?;
        let mut ids: Vec<u64> = rows.into_iter().map(|(v,)| from_cql(v)).collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

#[async_trait::async_trait]
impl Store for CqlStore {
    async fn create_user(&self, user: UserRecord) -> StoreResult<()> {
        let i = &self.inner;
        let (applied, _) = lwt(i
            .exec(&i.st.username_claim, (&user.username, to_cql(user.id)))
            .await?)?;
        if !applied {
            return Err(StoreError::AlreadyExists);
        }
        i.exec(&i.st.user_insert, (to_cql(user.id), json(&user)?))
            .await?;
        i.usernames
            .insert(&i.session, &user.username, user.id)
            .await?;
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.inner.user(id).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let i = &self.inner;
        let row: Option<(i64,)> = first(i.exec(&i.st.username_get, (username,)).await?)?;
        match row {
            Some((id,)) => i.user(from_cql(id)).await,
            None => Ok(None),
        }
    }

    async fn update_profile(
        &self,
        user: UserId,
        display_name: String,
        status_message: String,
        avatar_file_id: FileId,
    ) -> StoreResult<Option<UserRecord>> {
        let i = &self.inner;
        let Some(mut record) = i.user(user).await? else {
            return Ok(None);
        };
        record.display_name = display_name;
        record.status_message = status_message;
        record.avatar_file_id = avatar_file_id;
        i.exec(&i.st.user_insert, (to_cql(user), json(&record)?))
            .await?;
        Ok(Some(record))
    }

    async fn search_users(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<UserRecord>> {
        let i = &self.inner;
        let found = i.usernames.search(&i.session, prefix, after, limit).await?;
        let users = futures::future::join_all(found.iter().map(|(_, id)| i.user(*id))).await;
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            if let Some(u) = user? {
                out.push(u);
            }
        }
        Ok(out)
    }

    async fn social_edge(&self, a: UserId, b: UserId) -> StoreResult<SocialEdge> {
        let i = &self.inner;
        let row: Option<(String,)> = first(i.exec(&i.st.social_get, pair(a, b)).await?)?;
        Ok(row.map(|(e,)| parse(&e)).transpose()?.unwrap_or_default())
    }

    async fn set_social_edge(
        &self,
        a: UserId,
        b: UserId,
        expected: SocialEdge,
        new: SocialEdge,
    ) -> StoreResult<()> {
        let i = &self.inner;
        let (low, high) = pair(a, b);
        let conflict = StoreError::Conflict {
            expected: 0,
            found: 1,
        };
        let applied = match (expected.is_empty(), new.is_empty()) {
            (true, true) => return Ok(()),
            (true, false) => {
                lwt(i
                    .exec(&i.st.social_create, (low, high, json(&new)?))
                    .await?)?
                .0
            }
            (false, false) => {
                lwt(i
                    .exec(
                        &i.st.social_update,
                        (json(&new)?, low, high, json(&expected)?),
                    )
                    .await?)?
                .0
            }
            (false, true) => {
                lwt(i
                    .exec(&i.st.social_delete, (low, high, json(&expected)?))
                    .await?)?
                .0
            }
        };
        if !applied {
            return Err(conflict);
        }
        // The index only says where to look; a stale entry finds an empty edge and is
        // skipped.
        for (user, other) in [(a, b), (b, a)] {
            let key = (to_cql(user), to_cql(other));
            if new.is_empty() {
                i.exec(&i.st.social_index_delete, key).await?;
            } else {
                i.exec(&i.st.social_index_insert, key).await?;
            }
        }
        Ok(())
    }

    async fn social_edges(&self, user: UserId) -> StoreResult<Vec<(UserId, SocialEdge)>> {
        let others = self.inner.ids(&self.inner.st.social_index_of, user).await?;
        let mut out = Vec::new();
        for other in others {
            let edge = self.social_edge(user, other).await?;
            if !edge.is_empty() {
                out.push((other, edge));
            }
        }
        Ok(out)
    }

    async fn put_refresh_token(
        &self,
        token_hash: [u8; 32],
        record: RefreshRecord,
    ) -> StoreResult<()> {
        let i = &self.inner;
        let ttl_secs = (record.expires_at_ms - now_ms()).max(1000) / 1000;
        let ttl = i32::try_from(ttl_secs).unwrap_or(i32::MAX);
        i.exec(
            &i.st.refresh_insert,
            (token_hash.to_vec(), json(&StoredRefresh { record })?, ttl),
        )
        .await?;
        Ok(())
    }

    async fn consume_refresh_token(&self, token_hash: [u8; 32]) -> StoreResult<RefreshOutcome> {
        let i = &self.inner;
        let row: Option<(String, Option<bool>)> =
            first(i.exec(&i.st.refresh_get, (token_hash.to_vec(),)).await?)?;
        let Some((stored, _)) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        let record = parse::<StoredRefresh>(&stored)?.record;
        let revoked: Option<(i64,)> = first(
            i.exec(&i.st.family_get, (to_cql(record.family_id),))
                .await?,
        )?;
        if revoked.is_some() {
            return Ok(RefreshOutcome::Revoked);
        }
        let (applied, _) = lwt(i.exec(&i.st.refresh_use, (token_hash.to_vec(),)).await?)?;
        Ok(if applied {
            RefreshOutcome::Fresh(record)
        } else {
            RefreshOutcome::Reused(record)
        })
    }

    async fn revoke_refresh_family(&self, family_id: u64) -> StoreResult<()> {
        let i = &self.inner;
        i.exec(&i.st.family_revoke, (to_cql(family_id),)).await?;
        Ok(())
    }

    async fn create_room(&self, room: RoomRecord, members: Vec<UserId>) -> StoreResult<()> {
        self.inner.insert_room(&room, &members).await
    }

    async fn create_direct_room(
        &self,
        room: RoomRecord,
        a: UserId,
        b: UserId,
    ) -> StoreResult<RoomId> {
        let i = &self.inner;
        let (low, high) = pair(a, b);
        let (applied, current) = lwt(i
            .exec(&i.st.direct_claim, (low, high, to_cql(room.id)))
            .await?)?;
        let winner = if applied {
            room.id
        } else {
            bigint(&current, "room_id")
                .map(from_cql)
                .ok_or_else(|| corrupt("direct room without id"))?
        };
        // The pair row is the commit point; the room itself is (re)written until it exists,
        // which also repairs a creator that crashed in between.
        let existing: Option<(String,)> = first(i.exec(&i.st.room_get, (to_cql(winner),)).await?)?;
        if existing.is_none() {
            let record = RoomRecord {
                id: winner,
                kind: RoomKind::Direct,
                ..room
            };
            let members = if a == b {
                vec![a]
            } else {
                vec![a.min(b), a.max(b)]
            };
            i.insert_room(&record, &members).await?;
        }
        Ok(winner)
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> StoreResult<Option<RoomId>> {
        let i = &self.inner;
        let row: Option<(i64,)> = first(i.exec(&i.st.direct_get, pair(a, b)).await?)?;
        Ok(row.map(|(id,)| from_cql(id)))
    }

    async fn room(&self, id: RoomId) -> StoreResult<Option<RoomRecord>> {
        let i = &self.inner;
        let row: Option<(String,)> = first(i.exec(&i.st.room_get, (to_cql(id),)).await?)?;
        row.map(|(r,)| parse(&r)).transpose()
    }

    async fn members(&self, room: RoomId) -> StoreResult<Vec<UserId>> {
        self.inner.ids(&self.inner.st.members_of, room).await
    }

    async fn add_members(
        &self,
        room: RoomId,
        users: Vec<UserId>,
        read_through: Seq,
    ) -> StoreResult<()> {
        self.inner
            .add_members(room, &users, Some(read_through))
            .await
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> StoreResult<()> {
        let i = &self.inner;
        let key = (to_cql(room), to_cql(user));
        i.exec(&i.st.member_delete, key).await?;
        i.exec(&i.st.user_room_delete, (to_cql(user), to_cql(room)))
            .await?;
        i.exec(&i.st.cursor_delete, key).await?;
        Ok(())
    }

    async fn user_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>> {
        self.inner.ids(&self.inner.st.user_rooms_of, user).await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        let i = &self.inner;
        let row: Option<(i64,)> = first(
            i.exec(&i.st.member_get, (to_cql(room), to_cql(user)))
                .await?,
        )?;
        Ok(row.is_some())
    }

    async fn read_cursors(&self, room: RoomId) -> StoreResult<Vec<(UserId, Seq)>> {
        let i = &self.inner;
        let found: Vec<(i64, i64)> = rows(i.exec(&i.st.cursors_of, (to_cql(room),)).await?)?;
        let mut out: Vec<(UserId, Seq)> = found
            .into_iter()
            .map(|(u, s)| (from_cql(u), from_cql(s)))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    async fn read_cursor(&self, room: RoomId, user: UserId) -> StoreResult<Seq> {
        let i = &self.inner;
        let row: Option<(i64,)> = first(
            i.exec(&i.st.cursor_get, (to_cql(room), to_cql(user)))
                .await?,
        )?;
        Ok(row.map_or(0, |(s,)| from_cql(s)))
    }

    async fn room_head(&self, room: RoomId) -> StoreResult<RoomHead> {
        Ok(self.inner.head(room).await?.unwrap_or_default())
    }

    async fn claim_room(&self, room: RoomId) -> StoreResult<u64> {
        let i = &self.inner;
        // Retried only when another claimant moved the epoch between our read and write.
        for _ in 0..16 {
            match i.head(room).await? {
                None => {
                    let (applied, _) = lwt(i.exec(&i.st.head_create, (to_cql(room),)).await?)?;
                    if applied {
                        let tail = Tail {
                            epoch: 1,
                            last_seq: 0,
                            last_bucket: None,
                        };
                        i.remember_tail(room, tail);
                        return Ok(1);
                    }
                }
                Some(head) => {
                    let next = head.epoch + 1;
                    let (applied, _) = lwt(i
                        .exec(
                            &i.st.head_claim,
                            (to_cql(next), to_cql(room), to_cql(head.epoch)),
                        )
                        .await?)?;
                    if applied {
                        let tail = Tail {
                            epoch: next,
                            last_seq: head.last_seq,
                            last_bucket: head.last_message.map(|m| i.bucket_of(m.sent_at_ms)),
                        };
                        i.remember_tail(room, tail);
                        return Ok(next);
                    }
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "room {room}: too many concurrent claims"
        )))
    }

    async fn append(
        &self,
        room: RoomId,
        epoch: u64,
        expected_last_seq: Seq,
        batch: AppendBatch,
    ) -> StoreResult<()> {
        let i = &self.inner;
        batch.validate(room, expected_last_seq)?;
        let result = i.append(room, epoch, expected_last_seq, &batch).await;
        if result.is_err() {
            // The outcome may be unknown (a timeout): the next append reads the head.
            i.forget_tail(room);
        }
        result
    }
    async fn history(
        &self,
        room: RoomId,
        before_seq: Seq,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        let i = &self.inner;
        let mut out = Vec::new();
        let Some(head) = i.head(room).await? else {
            return Ok(out);
        };
        // Never past the head: rows beyond it belong to appends that did not commit.
        let end = head.last_seq + 1;
        let before = if before_seq == 0 || before_seq > end {
            end
        } else {
            before_seq
        };
        if limit == 0 || before <= 1 {
            return Ok(out);
        }
        let buckets: Vec<(i64, i64)> = rows(i.exec(&i.st.buckets_of, (to_cql(room),)).await?)?;
        for (bucket, first_seq) in buckets {
            if from_cql(first_seq) >= before {
                continue;
            }
            let want = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let page: Vec<(Vec<u8>,)> = rows(
                i.exec(
                    &i.st.messages_before,
                    (to_cql(room), bucket, to_cql(before), want),
                )
                .await?,
            )?;
            for (bytes,) in page {
                out.push(codec::decode_message(&bytes)?);
            }
            if out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn find_client_message(
        &self,
        room: RoomId,
        sender: UserId,
        client_msg_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let i = &self.inner;
        let key: Option<(i64, i64)> = first(
            i.exec(
                &i.st.idem_get,
                (to_cql(room), to_cql(sender), client_msg_id),
            )
            .await?,
        )?;
        let Some((bucket, seq)) = key else {
            return Ok(None);
        };
        // A key left by an append that never committed points past the head, or at a seq a
        // later owner reused for another message: only a committed, matching one counts.
        let head = i.head(room).await?.unwrap_or_default();
        if from_cql(seq) > head.last_seq {
            return Ok(None);
        }
        let row: Option<(Vec<u8>,)> = first(
            i.exec(&i.st.message_get, (to_cql(room), bucket, seq))
                .await?,
        )?;
        let Some((bytes,)) = row else {
            return Ok(None);
        };
        let m = codec::decode_message(&bytes)?;
        Ok((m.sender_id == sender && m.client_msg_id == client_msg_id).then_some(m))
    }

    async fn put_file(&self, file: FileRecord) -> StoreResult<()> {
        let i = &self.inner;
        if !file.attached {
            let day = day_of(file.created_at_ms);
            i.exec(&i.st.pending_day_insert, (day,)).await?;
            i.exec(
                &i.st.pending_insert,
                (day, file.created_at_ms, to_cql(file.id)),
            )
            .await?;
        }
        i.exec(
            &i.st.file_insert,
            (to_cql(file.id), json(&file)?, file.attached, file.public),
        )
        .await?;
        Ok(())
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
        self.inner.file(id).await
    }

    async fn attach_file(&self, id: FileId, to: FileUse) -> StoreResult<()> {
        let i = &self.inner;
        let statement = match to {
            FileUse::Room(_) => &i.st.file_attach,
            FileUse::Avatar => &i.st.file_make_public,
        };
        let (applied, _) = lwt(i.exec(statement, (to_cql(id),)).await?)?;
        if !applied {
            return Err(StoreError::NotFound);
        }
        if let FileUse::Room(room) = to {
            i.exec(&i.st.share_insert, (to_cql(id), to_cql(room)))
                .await?;
        }
        if let Some(file) = i.file(id).await? {
            i.exec(
                &i.st.pending_delete,
                (day_of(file.created_at_ms), file.created_at_ms, to_cql(id)),
            )
            .await?;
        }
        Ok(())
    }

    async fn file_rooms(&self, id: FileId) -> StoreResult<Vec<RoomId>> {
        self.inner.ids(&self.inner.st.shares_of, id).await
    }

    async fn set_file_image(
        &self,
        id: FileId,
        width: u32,
        height: u32,
        thumbnail: ThumbnailRecord,
    ) -> StoreResult<()> {
        let i = &self.inner;
        let Some(mut file) = i.file(id).await? else {
            return Err(StoreError::NotFound);
        };
        file.width = width;
        file.height = height;
        file.thumbnail = Some(thumbnail);
        let (applied, _) = lwt(i
            .exec(&i.st.file_set_record, (json(&file)?, to_cql(id)))
            .await?)?;
        if applied {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn unattached_files(&self, before_ms: i64, limit: usize) -> StoreResult<Vec<FileRecord>> {
        let i = &self.inner;
        let mut out = Vec::new();
        let days: Vec<(i64,)> = rows(
            i.exec(&i.st.pending_days_before, (day_of(before_ms),))
                .await?,
        )?;
        for (day,) in days {
            if out.len() >= limit {
                break;
            }
            let want = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let pending: Vec<(i64, i64)> =
                rows(i.exec(&i.st.pending_before, (day, before_ms, want)).await?)?;
            if pending.is_empty() && day < day_of(before_ms) {
                // A past day with nothing left waiting: forget it.
                i.exec(&i.st.pending_day_delete, (day,)).await?;
            }
            for (created_at_ms, id) in pending {
                match i.file(from_cql(id)).await? {
                    Some(f) if !f.attached => out.push(f),
                    // Attached or gone since: drop the stale index entry.
                    _ => {
                        i.exec(&i.st.pending_delete, (day, created_at_ms, id))
                            .await?;
                    }
                }
            }
        }
        Ok(out)
    }

    async fn delete_unattached_file(&self, id: FileId) -> StoreResult<bool> {
        let i = &self.inner;
        let Some(file) = i.file(id).await? else {
            return Ok(false);
        };
        let (applied, _) = lwt(i.exec(&i.st.file_delete_unattached, (to_cql(id),)).await?)?;
        if applied {
            i.exec(
                &i.st.pending_delete,
                (day_of(file.created_at_ms), file.created_at_ms, to_cql(id)),
            )
            .await?;
            i.exec(&i.st.share_delete_all, (to_cql(id),)).await?;
        }
        Ok(applied)
    }

    async fn flush(&self) -> StoreResult<()> {
        // Every write was acknowledged at the configured consistency when it returned.
        Ok(())
    }
}

#[cfg(test)]
mod tests;
