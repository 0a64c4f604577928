//! The embedded store itself: opening the tables and starting the committer, and running
//! reads on the caller's thread or the blocking pool. What it stores is implemented by
//! concern beside it (`accounts.rs`, `social.rs`, `rooms.rs`, `log.rs`, `files.rs`).

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
};

use fjall::{Database, KeyspaceCreateOptions, PersistMode};

use super::{committer, tables::Tables};
use crate::{
    backend::Store,
    error::{StoreError, StoreResult},
};

/// Settings of the embedded backend.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Directory holding the database (created if missing).
    pub path: PathBuf,
    /// Width of a message partition in ms (`bucket = sent_at_ms / width`).
    pub bucket_width_ms: i64,
    /// fsync every commit. Turning this off loses acked data on power loss: tests only.
    pub fsync: bool,
    /// Most append requests folded into one group commit.
    pub max_batch: usize,
}

/// Counters of the write path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddedStats {
    /// Group commits written (one journal write + fsync each).
    pub group_commits: u64,
    /// Room appends made durable; appends / group_commits is the batching factor.
    pub appends: u64,
}

/// Sets its flag when dropped.
pub(super) struct CancelOnDrop(pub(super) Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The embedded store. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    pub(super) tables: Arc<Tables>,
    pub(super) appends: mpsc::Sender<committer::Request>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store and starts its committer thread.
    pub fn open(config: EmbeddedConfig) -> StoreResult<Self> {
        if config.bucket_width_ms <= 0 {
            return Err(StoreError::Invalid("bucket width must be positive".into()));
        }
        std::fs::create_dir_all(&config.path)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", config.path.display())))?;
        let db = Database::builder(&config.path).open()?;
        let ks = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        let tables = Arc::new(Tables {
            users: ks("users")?,
            usernames: ks("usernames")?,
            refresh: ks("refresh")?,
            revoked_families: ks("revoked_families")?,
            sessions: ks("sessions")?,
            revocations: ks("revocations")?,
            rooms: ks("rooms")?,
            direct: ks("direct")?,
            members: ks("members")?,
            user_rooms: ks("user_rooms")?,
            cursors: ks("cursors")?,
            social: ks("social")?,
            social_index: ks("social_index")?,
            heads: ks("heads")?,
            buckets: ks("buckets")?,
            messages: ks("messages")?,
            idempotency: ks("idempotency")?,
            files: ks("files")?,
            file_pending: ks("file_pending")?,
            file_shares: ks("file_shares")?,
            file_refs: ks("file_refs")?,
            file_release: ks("file_release")?,
            search_postings: ks("search_postings")?,
            search_docs: ks("search_docs")?,
            search_marks: ks("search_marks")?,
            search_lock: Mutex::new(()),
            bucket_width_ms: config.bucket_width_ms,
            persist: config.fsync.then_some(PersistMode::SyncAll),
            rmw: Mutex::new(()),
            group_commits: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            db,
        });
        let appends = committer::spawn(tables.clone(), config.max_batch.max(1))?;
        Ok(Self { tables, appends })
    }

    /// Write-path counters.
    pub fn stats(&self) -> EmbeddedStats {
        EmbeddedStats {
            group_commits: self.tables.group_commits.load(Ordering::Relaxed),
            appends: self.tables.appends.load(Ordering::Relaxed),
        }
    }

    /// Runs a point read on the caller's thread. Point reads are served from memtables,
    /// bloom filters and the block cache in microseconds; a hop to the blocking pool would
    /// cost more than the read (two thread wake-ups) and dominate the send path.
    pub(super) fn point<T>(&self, f: impl FnOnce(&Tables) -> StoreResult<T>) -> StoreResult<T> {
        f(&self.tables)
    }

    pub(super) async fn blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tables) -> StoreResult<T> + Send + 'static,
    {
        let tables = self.tables.clone();
        tokio::task::spawn_blocking(move || f(&tables))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn flush(&self) -> StoreResult<()> {
        self.blocking(|t| {
            t.db.persist(PersistMode::SyncAll)?;
            Ok(())
        })
        .await
    }
}
