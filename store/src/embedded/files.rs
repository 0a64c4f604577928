//! Files' metadata, the messages that hold them, the index of uploads not attached yet for
//! the orphan sweeper, and the queue of files released by deletes.

use super::store::EmbeddedStore;
use crate::{
    backend::FileStore,
    error::{StoreError, StoreResult},
    keys,
    records::{FileId, FileRecord, FileRef, FileUse, ThumbnailRecord},
};

#[async_trait::async_trait]
impl FileStore for EmbeddedStore {
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
            if to == FileUse::Avatar {
                file.public = true;
            }
            let mut batch = t.db.batch();
            if file != was {
                batch.remove(&t.file_pending, keys::pending_file(&was));
                batch.insert(&t.files, id.to_be_bytes(), serde_json::to_vec(&file)?);
            }
            t.commit(batch)
        })
        .await
    }

    async fn file_refs(&self, id: FileId) -> StoreResult<Vec<FileRef>> {
        self.blocking(move |t| {
            let mut refs = Vec::new();
            for kv in t.file_refs.prefix(id.to_be_bytes()) {
                let key = kv.key()?;
                let (Some(room_id), Some(seq)) = (keys::read_u64(&key, 1), keys::read_u64(&key, 2))
                else {
                    return Err(StoreError::Corrupt("short file ref key".into()));
                };
                refs.push(FileRef { room_id, seq });
            }
            // Shares from before refs named their message.
            for room_id in t.second_ids(&t.file_shares, id)? {
                refs.push(FileRef { room_id, seq: 0 });
            }
            refs.sort_unstable();
            Ok(refs)
        })
        .await
    }

    async fn remove_file_ref(&self, id: FileId, at: FileRef) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            batch.remove(&t.file_refs, keys::key_u64s([id, at.room_id, at.seq]));
            t.commit(batch)
        })
        .await
    }

    async fn released_files(&self, limit: usize) -> StoreResult<Vec<FileId>> {
        self.blocking(move |t| {
            let mut out = Vec::new();
            for kv in t.file_release.iter().take(limit) {
                let key = kv.key()?;
                out.push(
                    keys::read_u64(&key, 0)
                        .ok_or_else(|| StoreError::Corrupt("short released key".into()))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn forget_released(&self, id: FileId) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            batch.remove(&t.file_release, id.to_be_bytes());
            t.commit(batch)
        })
        .await
    }

    async fn erase_file(&self, id: FileId) -> StoreResult<()> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let mut batch = t.db.batch();
            if let Some(file) = t.get_json::<FileRecord>(&t.files, &id.to_be_bytes())? {
                batch.remove(&t.file_pending, keys::pending_file(&file));
            }
            batch.remove(&t.files, id.to_be_bytes());
            for kv in t.file_refs.prefix(id.to_be_bytes()) {
                batch.remove(&t.file_refs, kv.key()?);
            }
            for kv in t.file_shares.prefix(id.to_be_bytes()) {
                batch.remove(&t.file_shares, kv.key()?);
            }
            t.commit(batch)
        })
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
            for kv in t.file_refs.prefix(id.to_be_bytes()) {
                batch.remove(&t.file_refs, kv.key()?);
            }
            t.commit(batch)?;
            Ok(true)
        })
        .await
    }
}
