//! The CQL store itself: the session, the prepared statements, connecting and migrating.
//! What it stores is implemented by concern beside it (`accounts.rs`, `social.rs`,
//! `rooms.rs`, `log.rs`, `files.rs`).

use std::time::Duration;

use scylla::{
    client::{
        execution_profile::ExecutionProfile, session::Session, session_builder::SessionBuilder,
    },
    frame::types::SerialConsistency,
    response::query_result::QueryResult,
    statement::prepared::PreparedStatement,
};

use super::{
    config::{CqlConfig, consistency, tls_context},
    schema, search,
    statements::Statements,
    tails::Tails,
    values::cql_error,
};
use crate::{
    backend::Store,
    error::{StoreError, StoreResult},
};

/// The CQL store. Cheap to clone.
#[derive(Clone)]
pub struct CqlStore {
    pub(super) inner: std::sync::Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) session: Session,
    pub(super) st: Statements,
    pub(super) bucket_width_ms: i64,
    pub(super) idempotency_ttl_secs: i32,
    /// User search.
    pub(super) usernames: search::UsernameTree,
    /// Where this process last left each room's log, so the owner's next append skips
    /// reading the head. Only a hint: the head transaction decides.
    pub(super) tails: Tails,
}

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
                tails: Tails::default(),
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

impl Inner {
    pub(super) async fn exec(
        &self,
        st: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> StoreResult<QueryResult> {
        self.session
            .execute_unpaged(st, values)
            .await
            .map_err(cql_error)
    }

    pub(super) fn bucket_of(&self, sent_at_ms: i64) -> i64 {
        sent_at_ms.max(0) / self.bucket_width_ms
    }
}

#[async_trait::async_trait]
impl Store for CqlStore {
    async fn flush(&self) -> StoreResult<()> {
        // Every write was acknowledged at the configured consistency when it returned.
        Ok(())
    }
}
