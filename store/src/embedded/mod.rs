//! The embedded backend: fjall (an LSM-tree) under a local data directory.
//!
//! One keyspace per table. Message appends from all rooms go through one committer thread
//! that batches them into a single journal write and fsync (group commit); other writes are
//! rare and commit on their own, also synced.

mod committer;

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::{
    AppendBatch, FileId, FileRecord, FileUse, MessageRecord, RefreshOutcome, RefreshRecord,
    RoomHead, RoomId, RoomRecord, Seq, SocialEdge, Store, StoreError, StoreResult, ThumbnailRecord,
    UserId, UserRecord, codec, keys,
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

/// The tables, shared by the async front and the committer thread.
pub(crate) struct Tables {
    db: Database,
    users: Keyspace,
    usernames: Keyspace,
    refresh: Keyspace,
    revoked_families: Keyspace,
    rooms: Keyspace,
    direct: Keyspace,
    members: Keyspace,
    user_rooms: Keyspace,
    cursors: Keyspace,
    /// `(low user, high user)` -> the pair's `SocialEdge`.
    social: Keyspace,
    /// `(user, other)` -> nothing: the index of a user's relationships.
    social_index: Keyspace,
    heads: Keyspace,
    buckets: Keyspace,
    messages: Keyspace,
    idempotency: Keyspace,
    /// `file id` -> `FileRecord`.
    files: Keyspace,
    /// `(created_at_ms, file id)` -> nothing: files not attached yet (orphan candidates).
    file_pending: Keyspace,
    /// `(file id, room id)` -> nothing: rooms a file was shared in.
    file_shares: Keyspace,
    bucket_width_ms: i64,
    persist: Option<PersistMode>,
    /// Serializes the rare read-modify-write operations (unique usernames, direct pairs,
    /// refresh-token consumption, file attachment versus orphan deletion) so each is atomic.
    rmw: Mutex<()>,
    /// Group commits written (one journal write + fsync each).
    group_commits: AtomicU64,
    /// Room appends made durable.
    appends: AtomicU64,
}

/// Counters of the write path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddedStats {
    /// Group commits written (one journal write + fsync each).
    pub group_commits: u64,
    /// Room appends made durable; appends / group_commits is the batching factor.
    pub appends: u64,
}

/// A stored refresh token and whether it has been spent.
#[derive(Serialize, Deserialize)]
struct StoredRefresh {
    record: RefreshRecord,
    used: bool,
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The embedded store. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedStore {
    tables: Arc<Tables>,
    appends: mpsc::Sender<committer::Request>,
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
    fn point<T>(&self, f: impl FnOnce(&Tables) -> StoreResult<T>) -> StoreResult<T> {
        f(&self.tables)
    }

    async fn blocking<T, F>(&self, f: F) -> StoreResult<T>
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

impl Tables {
    fn bucket_of(&self, sent_at_ms: i64) -> u64 {
        u64::try_from(sent_at_ms.max(0) / self.bucket_width_ms).unwrap_or(0)
    }

    fn commit(&self, batch: fjall::OwnedWriteBatch) -> StoreResult<()> {
        batch.durability(self.persist).commit()?;
        Ok(())
    }

    fn lock_rmw(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding this lock cannot leave tables half-written (batches are
        // atomic), so a poisoned lock is safe to keep using.
        self.rmw.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        ks: &Keyspace,
        key: &[u8],
    ) -> StoreResult<Option<T>> {
        match ks.get(key)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    fn head(&self, room: RoomId) -> StoreResult<RoomHead> {
        match self.heads.get(room.to_be_bytes())? {
            Some(v) => codec::decode_head(&v),
            None => Ok(RoomHead::default()),
        }
    }

    fn insert_room(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        room: &RoomRecord,
        members: &[UserId],
    ) -> StoreResult<()> {
        batch.insert(
            &self.rooms,
            room.id.to_be_bytes(),
            serde_json::to_vec(room)?,
        );
        for &user in members {
            batch.insert(&self.members, keys::key_u64s([room.id, user]), []);
            batch.insert(&self.user_rooms, keys::key_u64s([user, room.id]), []);
        }
        Ok(())
    }

    fn second_ids(&self, ks: &Keyspace, first: u64) -> StoreResult<Vec<u64>> {
        let mut out = Vec::new();
        for kv in ks.prefix(first.to_be_bytes()) {
            let key = kv.key()?;
            let id = keys::read_u64(&key, 1)
                .ok_or_else(|| StoreError::Corrupt("short membership key".into()))?;
            out.push(id);
        }
        Ok(out)
    }

    /// A history page, abandoned (with `Unavailable`) once `cancelled` is set: the caller
    /// stopped waiting, e.g. its deadline passed.
    fn history(
        &self,
        room: RoomId,
        before: Seq,
        limit: usize,
        cancelled: &AtomicBool,
    ) -> StoreResult<Vec<MessageRecord>> {
        let abandoned = || StoreError::Unavailable("history read cancelled".into());
        let before = if before == 0 { Seq::MAX } else { before };
        let mut out = Vec::with_capacity(limit.min(128));
        if limit == 0 {
            return Ok(out);
        }
        // Buckets newest first; skip those that start at or after `before`.
        for kv in self.buckets.prefix(room.to_be_bytes()).rev() {
            if cancelled.load(Ordering::Relaxed) {
                return Err(abandoned());
            }
            let (key, value) = kv.into_inner()?;
            let bucket = keys::read_u64(&key, 1)
                .ok_or_else(|| StoreError::Corrupt("short bucket key".into()))?;
            let first_seq = keys::read_u64(&value, 0)
                .ok_or_else(|| StoreError::Corrupt("short bucket value".into()))?;
            if first_seq >= before {
                continue;
            }
            let start = keys::message(room, bucket, 0);
            let end = keys::message(room, bucket, before);
            for kv in self.messages.range(start..end).rev() {
                if cancelled.load(Ordering::Relaxed) {
                    return Err(abandoned());
                }
                let value = kv.value()?;
                out.push(codec::decode_message(&value)?);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn create_user(&self, user: UserRecord) -> StoreResult<()> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            if t.usernames.contains_key(user.username.as_bytes())? {
                return Err(StoreError::AlreadyExists);
            }
            let mut batch = t.db.batch();
            batch.insert(
                &t.usernames,
                user.username.as_bytes(),
                user.id.to_be_bytes(),
            );
            batch.insert(&t.users, user.id.to_be_bytes(), serde_json::to_vec(&user)?);
            t.commit(batch)
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.point(|t| t.get_json(&t.users, &id.to_be_bytes()))
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let username = username.to_owned();
        self.point(|t| {
            let Some(id) = t.usernames.get(username.as_bytes())? else {
                return Ok(None);
            };
            let id = keys::read_u64(&id, 0)
                .ok_or_else(|| StoreError::Corrupt("short username value".into()))?;
            t.get_json(&t.users, &id.to_be_bytes())
        })
    }

    async fn update_profile(
        &self,
        user: UserId,
        display_name: String,
        status_message: String,
        avatar_file_id: FileId,
    ) -> StoreResult<Option<UserRecord>> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let Some(mut record) = t.get_json::<UserRecord>(&t.users, &user.to_be_bytes())? else {
                return Ok(None);
            };
            record.display_name = display_name;
            record.status_message = status_message;
            record.avatar_file_id = avatar_file_id;
            let mut batch = t.db.batch();
            batch.insert(&t.users, user.to_be_bytes(), serde_json::to_vec(&record)?);
            t.commit(batch)?;
            Ok(Some(record))
        })
        .await
    }

    async fn search_users(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<UserRecord>> {
        let (prefix, after) = (prefix.to_owned(), after.to_owned());
        self.blocking(move |t| {
            let mut out = Vec::new();
            for kv in t.usernames.prefix(prefix.as_bytes()) {
                if out.len() >= limit {
                    break;
                }
                let (name, id) = kv.into_inner()?;
                if *name <= *after.as_bytes() {
                    continue;
                }
                let id = keys::read_u64(&id, 0)
                    .ok_or_else(|| StoreError::Corrupt("short username value".into()))?;
                if let Some(user) = t.get_json(&t.users, &id.to_be_bytes())? {
                    out.push(user);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn social_edge(&self, a: UserId, b: UserId) -> StoreResult<SocialEdge> {
        self.point(|t| {
            Ok(t.get_json(&t.social, &keys::direct_pair(a, b))?
                .unwrap_or_default())
        })
    }

    async fn set_social_edge(
        &self,
        a: UserId,
        b: UserId,
        expected: SocialEdge,
        new: SocialEdge,
    ) -> StoreResult<()> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let pair = keys::direct_pair(a, b);
            let current: SocialEdge = t.get_json(&t.social, &pair)?.unwrap_or_default();
            if current != expected {
                return Err(StoreError::Conflict {
                    expected: 0,
                    found: 1,
                });
            }
            let mut batch = t.db.batch();
            if new.is_empty() {
                batch.remove(&t.social, pair);
                batch.remove(&t.social_index, keys::key_u64s([a, b]));
                batch.remove(&t.social_index, keys::key_u64s([b, a]));
            } else {
                batch.insert(&t.social, pair, serde_json::to_vec(&new)?);
                batch.insert(&t.social_index, keys::key_u64s([a, b]), []);
                batch.insert(&t.social_index, keys::key_u64s([b, a]), []);
            }
            t.commit(batch)
        })
        .await
    }

    async fn social_edges(&self, user: UserId) -> StoreResult<Vec<(UserId, SocialEdge)>> {
        self.blocking(move |t| {
            let mut out = Vec::new();
            for other in t.second_ids(&t.social_index, user)? {
                if let Some(edge) = t.get_json(&t.social, &keys::direct_pair(user, other))? {
                    out.push((other, edge));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put_refresh_token(
        &self,
        token_hash: [u8; 32],
        record: RefreshRecord,
    ) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            let stored = StoredRefresh {
                record,
                used: false,
            };
            batch.insert(&t.refresh, token_hash, serde_json::to_vec(&stored)?);
            t.commit(batch)
        })
        .await
    }

    async fn consume_refresh_token(&self, token_hash: [u8; 32]) -> StoreResult<RefreshOutcome> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let Some(mut stored) = t.get_json::<StoredRefresh>(&t.refresh, &token_hash)? else {
                return Ok(RefreshOutcome::Unknown);
            };
            if t.revoked_families
                .contains_key(stored.record.family_id.to_be_bytes())?
            {
                return Ok(RefreshOutcome::Revoked);
            }
            if stored.used {
                return Ok(RefreshOutcome::Reused(stored.record));
            }
            stored.used = true;
            let mut batch = t.db.batch();
            batch.insert(&t.refresh, token_hash, serde_json::to_vec(&stored)?);
            t.commit(batch)?;
            Ok(RefreshOutcome::Fresh(stored.record))
        })
        .await
    }

    async fn revoke_refresh_family(&self, family_id: u64) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            batch.insert(&t.revoked_families, family_id.to_be_bytes(), []);
            t.commit(batch)
        })
        .await
    }

    async fn create_room(&self, room: RoomRecord, members: Vec<UserId>) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            t.insert_room(&mut batch, &room, &members)?;
            t.commit(batch)
        })
        .await
    }

    async fn create_direct_room(
        &self,
        room: RoomRecord,
        a: UserId,
        b: UserId,
    ) -> StoreResult<RoomId> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let pair = keys::direct_pair(a, b);
            if let Some(existing) = t.direct.get(&pair)? {
                return keys::read_u64(&existing, 0)
                    .ok_or_else(|| StoreError::Corrupt("short direct value".into()));
            }
            let mut batch = t.db.batch();
            batch.insert(&t.direct, pair, room.id.to_be_bytes());
            let members: BTreeSet<UserId> = [a, b].into();
            t.insert_room(&mut batch, &room, &members.into_iter().collect::<Vec<_>>())?;
            t.commit(batch)?;
            Ok(room.id)
        })
        .await
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> StoreResult<Option<RoomId>> {
        self.point(|t| {
            Ok(t.direct
                .get(keys::direct_pair(a, b))?
                .and_then(|v| keys::read_u64(&v, 0)))
        })
    }

    async fn room(&self, id: RoomId) -> StoreResult<Option<RoomRecord>> {
        self.point(|t| t.get_json(&t.rooms, &id.to_be_bytes()))
    }

    async fn members(&self, room: RoomId) -> StoreResult<Vec<UserId>> {
        self.blocking(move |t| t.second_ids(&t.members, room)).await
    }

    async fn add_members(
        &self,
        room: RoomId,
        users: Vec<UserId>,
        read_through: Seq,
    ) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            for user in users {
                batch.insert(&t.members, keys::key_u64s([room, user]), []);
                batch.insert(&t.user_rooms, keys::key_u64s([user, room]), []);
                batch.insert(
                    &t.cursors,
                    keys::key_u64s([room, user]),
                    read_through.to_be_bytes(),
                );
            }
            t.commit(batch)
        })
        .await
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            batch.remove(&t.members, keys::key_u64s([room, user]));
            batch.remove(&t.user_rooms, keys::key_u64s([user, room]));
            batch.remove(&t.cursors, keys::key_u64s([room, user]));
            t.commit(batch)
        })
        .await
    }

    async fn user_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>> {
        self.blocking(move |t| t.second_ids(&t.user_rooms, user))
            .await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> StoreResult<bool> {
        self.point(|t| Ok(t.members.contains_key(keys::key_u64s([room, user]))?))
    }

    async fn read_cursors(&self, room: RoomId) -> StoreResult<Vec<(UserId, Seq)>> {
        self.blocking(move |t| {
            let mut out = Vec::new();
            for kv in t.cursors.prefix(room.to_be_bytes()) {
                let (key, value) = kv.into_inner()?;
                match (keys::read_u64(&key, 1), keys::read_u64(&value, 0)) {
                    (Some(user), Some(seq)) => out.push((user, seq)),
                    _ => return Err(StoreError::Corrupt("short cursor entry".into())),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn read_cursor(&self, room: RoomId, user: UserId) -> StoreResult<Seq> {
        self.point(|t| {
            Ok(t.cursors
                .get(keys::key_u64s([room, user]))?
                .and_then(|v| keys::read_u64(&v, 0))
                .unwrap_or(0))
        })
    }

    async fn room_head(&self, room: RoomId) -> StoreResult<RoomHead> {
        self.point(|t| t.head(room))
    }

    async fn claim_room(&self, room: RoomId) -> StoreResult<u64> {
        let (reply, done) = oneshot::channel();
        self.appends
            .send(committer::Request::Claim { room, reply })
            .map_err(|_| StoreError::Unavailable("store committer stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store committer stopped".into()))?
    }

    async fn append(
        &self,
        room: RoomId,
        epoch: u64,
        expected_last_seq: Seq,
        batch: AppendBatch,
    ) -> StoreResult<()> {
        let (reply, done) = oneshot::channel();
        self.appends
            .send(committer::Request::Append(committer::AppendRequest {
                room,
                epoch,
                expected_last_seq,
                batch,
                reply,
            }))
            .map_err(|_| StoreError::Unavailable("store committer stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Unavailable("store committer stopped".into()))?
    }

    async fn history(
        &self,
        room: RoomId,
        before_seq: Seq,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        // Dropping this future (a deadline, a cancelled call) stops the read between rows
        // instead of letting it run on in the blocking pool.
        let cancelled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancelled.clone());
        self.blocking(move |t| t.history(room, before_seq, limit, &cancelled))
            .await
    }

    async fn find_client_message(
        &self,
        room: RoomId,
        sender: UserId,
        client_msg_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let key = keys::idempotency(room, sender, client_msg_id);
        self.point(|t| {
            let Some(v) = t.idempotency.get(&key)? else {
                return Ok(None);
            };
            let (Some(bucket), Some(seq)) = (keys::read_u64(&v, 0), keys::read_u64(&v, 1)) else {
                return Err(StoreError::Corrupt("short idempotency value".into()));
            };
            match t.messages.get(keys::message(room, bucket, seq))? {
                Some(v) => codec::decode_message(&v).map(Some),
                None => Ok(None),
            }
        })
    }

    async fn put_file(&self, file: FileRecord) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            if !file.attached {
                batch.insert(&t.file_pending, keys::pending_file(&file), []);
            }
            batch.insert(&t.files, file.id.to_be_bytes(), serde_json::to_vec(&file)?);
            t.commit(batch)
        })
        .await
    }

    async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
        self.point(|t| t.get_json(&t.files, &id.to_be_bytes()))
    }

    async fn attach_file(&self, id: FileId, to: FileUse) -> StoreResult<()> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let Some(mut file) = t.get_json::<FileRecord>(&t.files, &id.to_be_bytes())? else {
                return Err(StoreError::NotFound);
            };
            let was = file.clone();
            file.attached = true;
            let mut batch = t.db.batch();
            match to {
                FileUse::Room(room) => {
                    batch.insert(&t.file_shares, keys::key_u64s([id, room]), []);
                }
                FileUse::Avatar => file.public = true,
            }
            if file != was {
                batch.remove(&t.file_pending, keys::pending_file(&was));
                batch.insert(&t.files, id.to_be_bytes(), serde_json::to_vec(&file)?);
            }
            t.commit(batch)
        })
        .await
    }

    async fn file_rooms(&self, id: FileId) -> StoreResult<Vec<RoomId>> {
        self.blocking(move |t| t.second_ids(&t.file_shares, id))
            .await
    }

    async fn set_file_image(
        &self,
        id: FileId,
        width: u32,
        height: u32,
        thumbnail: ThumbnailRecord,
    ) -> StoreResult<()> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let Some(mut file) = t.get_json::<FileRecord>(&t.files, &id.to_be_bytes())? else {
                return Err(StoreError::NotFound);
            };
            file.width = width;
            file.height = height;
            file.thumbnail = Some(thumbnail);
            let mut batch = t.db.batch();
            batch.insert(&t.files, id.to_be_bytes(), serde_json::to_vec(&file)?);
            t.commit(batch)
        })
        .await
    }

    async fn unattached_files(&self, before_ms: i64, limit: usize) -> StoreResult<Vec<FileRecord>> {
        self.blocking(move |t| {
            let end = keys::key_u64s([u64::try_from(before_ms.max(0)).unwrap_or(0), 0]);
            let mut out = Vec::new();
            for kv in t.file_pending.range(..end) {
                if out.len() >= limit {
                    break;
                }
                let key = kv.key()?;
                let id = keys::read_u64(&key, 1)
                    .ok_or_else(|| StoreError::Corrupt("short pending-file key".into()))?;
                if let Some(file) = t.get_json(&t.files, &id.to_be_bytes())? {
                    out.push(file);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete_unattached_file(&self, id: FileId) -> StoreResult<bool> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let Some(file) = t.get_json::<FileRecord>(&t.files, &id.to_be_bytes())? else {
                return Ok(false);
            };
            if file.attached {
                return Ok(false);
            }
            let mut batch = t.db.batch();
            batch.remove(&t.file_pending, keys::pending_file(&file));
            batch.remove(&t.files, id.to_be_bytes());
            t.commit(batch)?;
            Ok(true)
        })
        .await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.blocking(|t| {
            t.db.persist(PersistMode::SyncAll)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
