//! Files' metadata, the messages that hold them, the index of uploads not attached yet (by
//! day) for the orphan sweeper, and the queue of files released by deletes.

use super::{
    store::{CqlStore, Inner},
    values::{day_of, first, from_cql, json, lwt, parse, rows, to_cql},
};
use crate::{
    backend::FileStore,
    error::{StoreError, StoreResult},
    records::{FileId, FileRecord, FileRef, FileUse, ThumbnailRecord},
};

impl Inner {
    pub(super) async fn file(&self, id: FileId) -> StoreResult<Option<FileRecord>> {
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
}

#[async_trait::async_trait]
impl FileStore for CqlStore {
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
            FileUse::Message => &i.st.file_attach,
            FileUse::Avatar => &i.st.file_make_public,
        };
        let (applied, _) = lwt(i.exec(statement, (to_cql(id),)).await?)?;
        if !applied {
            return Err(StoreError::NotFound);
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

    async fn file_refs(&self, id: FileId) -> StoreResult<Vec<FileRef>> {
        let i = &self.inner;
        let found: Vec<(i64, i64)> = rows(i.exec(&i.st.refs_of, (to_cql(id),)).await?)?;
        let mut refs: Vec<FileRef> = found
            .into_iter()
            .map(|(room, seq)| FileRef {
                room_id: from_cql(room),
                seq: from_cql(seq),
            })
            .collect();
        // Shares from before refs named their message.
        for room_id in i.ids(&i.st.shares_of, id).await? {
            refs.push(FileRef { room_id, seq: 0 });
        }
        refs.sort_unstable();
        Ok(refs)
    }

    async fn remove_file_ref(&self, id: FileId, at: FileRef) -> StoreResult<()> {
        let i = &self.inner;
        let key = (to_cql(id), to_cql(at.room_id), to_cql(at.seq));
        i.exec(&i.st.ref_delete, key).await?;
        Ok(())
    }

    async fn released_files(&self, limit: usize) -> StoreResult<Vec<FileId>> {
        let i = &self.inner;
        let want = i32::try_from(limit).unwrap_or(i32::MAX);
        let found: Vec<(i64,)> = rows(i.exec(&i.st.released, (want,)).await?)?;
        Ok(found.into_iter().map(|(id,)| from_cql(id)).collect())
    }

    async fn forget_released(&self, id: FileId) -> StoreResult<()> {
        let i = &self.inner;
        i.exec(&i.st.release_delete, (to_cql(id),)).await?;
        Ok(())
    }

    async fn erase_file(&self, id: FileId) -> StoreResult<()> {
        let i = &self.inner;
        if let Some(file) = i.file(id).await? {
            i.exec(
                &i.st.pending_delete,
                (day_of(file.created_at_ms), file.created_at_ms, to_cql(id)),
            )
            .await?;
        }
        // The metadata first: once it is gone the file can no longer be attached.
        i.exec(&i.st.file_delete, (to_cql(id),)).await?;
        i.exec(&i.st.refs_delete_all, (to_cql(id),)).await?;
        i.exec(&i.st.share_delete_all, (to_cql(id),)).await?;
        Ok(())
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
            i.exec(&i.st.refs_delete_all, (to_cql(id),)).await?;
        }
        Ok(applied)
    }
}
