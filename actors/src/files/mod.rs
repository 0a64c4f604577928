//! Files: streamed uploads (size-limited, type sniffed, hashed), access control, attachments,
//! avatars, thumbnails made off the request path, the orphan sweeper, and the erasure of
//! files a delete for everyone left unheld.
//!
//! Bytes go to the blob store (`chat_store::Blobs`), metadata to the store. An upload is
//! visible only once both are written; every failure on the way removes what was written.
//!
//! Access: the uploader, whoever sees a message holding the file (`access`), and (for
//! avatars) every signed-in user. Anyone else gets `FILE_NOT_FOUND`, exactly like a missing
//! id.

mod access;
pub mod inspect;
mod release;
#[cfg(test)]
mod release_tests;
pub mod thumbnail;
mod urls;
mod variant;

pub use urls::UrlSigner;
pub use variant::Variant;

use std::{collections::BTreeSet, ops::Range, sync::Arc, time::Duration};

use bytes::Bytes;
pub use chat_store::FileRecord;
use chat_store::{
    AttachmentRecord, BlobKey, Blobs, FileId, FileUse, RoomId, SharedStore, StoreError,
    ThumbnailRecord, UserId,
};
use futures::{StreamExt as _, TryStreamExt as _, stream::BoxStream};
use sha2::{Digest as _, Sha256};
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinHandle,
};

use crate::{
    config::FilesConfig,
    error::{ChatError, Reason},
    ids::{IdGenerator, now_ms},
};

/// Thumbnail jobs waiting; beyond this new images simply get none.
const THUMBNAIL_QUEUE: usize = 1024;
/// Orphans looked at per store query.
const SWEEP_PAGE: usize = 100;

/// The file service. Cheap to clone.
#[derive(Clone)]
pub struct FileService {
    inner: Arc<Inner>,
}

struct Inner {
    config: FilesConfig,
    store: SharedStore,
    blobs: Blobs,
    ids: Arc<IdGenerator>,
    uploads: Arc<Semaphore>,
    thumbnails: mpsc::Sender<FileId>,
    urls: UrlSigner,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// Any error of a request body stream (the client went away, a chunk was malformed).
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

impl FileService {
    /// Starts the service with its thumbnail worker and orphan sweeper.
    pub fn start(
        config: FilesConfig,
        store: SharedStore,
        blobs: Blobs,
        ids: Arc<IdGenerator>,
        urls: UrlSigner,
    ) -> Self {
        let (thumbnails, jobs) = mpsc::channel(THUMBNAIL_QUEUE);
        let inner = Arc::new(Inner {
            uploads: Arc::new(Semaphore::new(config.max_concurrent_uploads)),
            config,
            store,
            blobs,
            ids,
            thumbnails,
            urls,
            tasks: std::sync::Mutex::default(),
        });
        let worker = tokio::spawn(thumbnail_worker(Arc::downgrade(&inner), jobs));
        let sweeper = tokio::spawn(sweeper(Arc::downgrade(&inner)));
        inner.lock_tasks().extend([worker, sweeper]);
        Self { inner }
    }

    /// Stops the background tasks (at shutdown).
    pub fn stop(&self) {
        for task in self.inner.lock_tasks().drain(..) {
            task.abort();
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &FilesConfig {
        &self.inner.config
    }

    /// Receives an upload. `declared_len` (the request's Content-Length) lets an oversized
    /// upload be refused before a byte of it is read.
    pub async fn upload(
        &self,
        owner: UserId,
        name: &str,
        declared_len: Option<u64>,
        body: BoxStream<'static, Result<Bytes, BodyError>>,
    ) -> Result<FileRecord, ChatError> {
        let name = inspect::validate_name(name)?;
        let max = self.inner.config.max_file_bytes;
        match declared_len {
            Some(n) if n > max => return Err(too_large(max)),
            Some(0) => return Err(empty()),
            _ => {}
        }
        let permit = self
            .inner
            .uploads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ChatError::Internal("upload semaphore closed".into()))?;
        // A client that disconnects drops the request future; the upload runs in its own
        // task so it still cleans up (its body stream then ends in an error), holding its
        // permit until it has.
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _permit = permit;
            inner.receive(owner, name, body).await
        })
        .await
        .map_err(|e| ChatError::Internal(format!("upload task: {e}")))?
    }

    /// The file's metadata if `user` may read it, else `FILE_NOT_FOUND`.
    pub async fn readable(&self, user: UserId, id: FileId) -> Result<FileRecord, ChatError> {
        access::readable(&self.inner.store, user, id).await
    }

    /// A signed URL for `variant` of a file `user` may read, and when it expires (ms).
    pub async fn signed_url(
        &self,
        user: UserId,
        id: FileId,
        variant: Variant,
    ) -> Result<(String, i64), ChatError> {
        let file = self.readable(user, id).await?;
        if variant == Variant::Thumbnail && file.thumbnail.is_none() {
            return Err(ChatError::NotFound(
                Reason::ThumbnailNotReady,
                "no thumbnail (not an image, or not made yet)".into(),
            ));
        }
        let ttl = i64::try_from(self.inner.config.url_ttl_secs).unwrap_or(i64::MAX / 1000);
        let expires_secs = (now_ms() / 1000).saturating_add(ttl);
        let url = self.inner.urls.url(id, variant, expires_secs);
        Ok((url, expires_secs.saturating_mul(1000)))
    }

    /// The file a signed URL grants: a bad signature is `FILE_NOT_FOUND`, an expired one
    /// `UNAUTHENTICATED / URL_EXPIRED` (ask for a new URL).
    pub async fn by_url(
        &self,
        id: FileId,
        variant: Variant,
        expires_secs: i64,
        sig: &str,
    ) -> Result<FileRecord, ChatError> {
        let now = now_ms() / 1000;
        if !self.inner.urls.verify(id, variant, expires_secs, sig, now) {
            if expires_secs <= now
                && self
                    .inner
                    .urls
                    .verify(id, variant, expires_secs, sig, i64::MIN)
            {
                return Err(ChatError::Unauthenticated(
                    Reason::UrlExpired,
                    "this file link expired; ask for a new one".into(),
                ));
            }
            return Err(ChatError::file_not_found());
        }
        self.inner
            .store
            .file(id)
            .await?
            .ok_or_else(ChatError::file_not_found)
    }

    /// Streams a readable file's bytes (or a byte range of them).
    pub async fn read(
        &self,
        file: &FileRecord,
        variant: Variant,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, ChatError>>, ChatError> {
        let key = match variant {
            Variant::Original => BlobKey::File(file.id),
            Variant::Thumbnail => BlobKey::Thumbnail(file.id),
        };
        let stream = self
            .inner
            .blobs
            .read(key, range)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ChatError::file_not_found(),
                other => other.into(),
            })?;
        Ok(stream.map_err(ChatError::from).boxed())
    }

    /// Readies files for a message `sender` sends to a room and returns them as
    /// attachments (the message, once appended, is what lets its readers read them). The
    /// sender must be a member and able to read every file.
    pub async fn attach_to_room(
        &self,
        sender: UserId,
        room: RoomId,
        ids: &[FileId],
    ) -> Result<Vec<AttachmentRecord>, ChatError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let max = self.inner.config.max_attachments;
        let distinct: BTreeSet<_> = ids.iter().collect();
        if ids.len() > max || distinct.len() != ids.len() {
            return Err(ChatError::invalid(
                Reason::TooManyAttachments,
                format!("a message carries 1-{max} distinct files"),
            ));
        }
        let store = &self.inner.store;
        if store.room(room).await?.is_none() {
            return Err(ChatError::room_not_found());
        }
        if !store.is_member(room, sender).await? {
            return Err(ChatError::not_a_member());
        }
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let file = self.readable(sender, id).await?;
            store
                .attach_file(id, FileUse::Message)
                .await
                .map_err(not_found_as_file)?;
            out.push(AttachmentRecord {
                file_id: file.id,
                name: file.name,
                size: file.size,
                content_type: file.content_type,
                width: file.width,
                height: file.height,
            });
        }
        Ok(out)
    }

    /// Makes an image the caller uploaded their avatar (readable by every signed-in user).
    pub async fn make_avatar(&self, user: UserId, id: FileId) -> Result<(), ChatError> {
        let store = &self.inner.store;
        let file = store
            .file(id)
            .await?
            .filter(|f| f.owner_id == user)
            .ok_or_else(ChatError::file_not_found)?;
        if !inspect::is_image(&file.content_type) {
            return Err(ChatError::invalid(
                Reason::NotAnImage,
                format!(
                    "an avatar must be one of {}",
                    inspect::IMAGE_TYPES.join(", ")
                ),
            ));
        }
        store
            .attach_file(id, FileUse::Avatar)
            .await
            .map_err(not_found_as_file)
    }

    /// Deletes uploads never attached within the orphan time; returns how many.
    pub async fn sweep_orphans(&self) -> Result<usize, ChatError> {
        self.inner.sweep_orphans().await
    }

    /// Erases the files deletes for everyone released that no message holds any more;
    /// returns how many. Run after each delete (so its files are gone when its sender
    /// hears back) and by the sweeper (after a crash in between).
    pub async fn erase_released(&self) -> Result<usize, ChatError> {
        self.inner.erase_released().await
    }
}

impl Inner {
    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn receive(
        &self,
        owner: UserId,
        name: String,
        mut body: BoxStream<'static, Result<Bytes, BodyError>>,
    ) -> Result<FileRecord, ChatError> {
        let id = self.ids.next_id();
        let max = self.config.max_file_bytes;
        let mut writer = self.blobs.writer(BlobKey::File(id));
        let mut hasher = Sha256::new();
        let mut head = Vec::new();
        let mut size = 0u64;
        let received: Result<(), ChatError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    ChatError::invalid(
                        Reason::UploadInterrupted,
                        format!("upload body failed: {e}"),
                    )
                })?;
                size += chunk.len() as u64;
                if size > max {
                    return Err(too_large(max));
                }
                hasher.update(&chunk);
                let keep = inspect::SNIFF_BYTES
                    .saturating_sub(head.len())
                    .min(chunk.len());
                head.extend_from_slice(&chunk[..keep]);
                writer.write(&chunk).await?;
            }
            if size == 0 {
                return Err(empty());
            }
            Ok(())
        }
        .await;
        if let Err(e) = received {
            writer.abort().await;
            return Err(e);
        }
        writer.finish().await?;
        let content_type = inspect::sniff(&head);
        let (width, height) = inspect::image_size(&head, &content_type);
        let file = FileRecord {
            id,
            owner_id: owner,
            name,
            size,
            content_type,
            sha256: hasher.finalize().into(),
            created_at_ms: now_ms(),
            width,
            height,
            thumbnail: None,
            attached: false,
            public: false,
        };
        if let Err(e) = self.store.put_file(file.clone()).await {
            self.delete_blobs(id).await;
            return Err(e.into());
        }
        if inspect::is_image(&file.content_type)
            && file.size <= self.config.max_thumbnail_source_bytes
            && self.thumbnails.try_send(id).is_err()
        {
            tracing::warn!(
                file = id,
                "thumbnail queue full: no thumbnail for this image"
            );
        }
        Ok(file)
    }

    async fn make_thumbnail(&self, id: FileId) -> Result<(), ChatError> {
        let Some(file) = self.store.file(id).await? else {
            return Ok(());
        };
        let bytes = self
            .blobs
            .read_all(BlobKey::File(id), self.config.max_thumbnail_source_bytes)
            .await?;
        let (px, max_pixels) = (self.config.thumbnail_px, self.config.max_image_pixels);
        let content_type = file.content_type.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            thumbnail::render(&bytes, &content_type, px, max_pixels)
        })
        .await
        .map_err(|e| ChatError::Internal(format!("thumbnail task: {e}")))?
        .map_err(|e| ChatError::invalid(Reason::NotAnImage, e))?;
        let record = ThumbnailRecord {
            size: rendered.bytes.len() as u64,
            content_type: rendered.content_type.to_owned(),
            width: rendered.width,
            height: rendered.height,
        };
        self.blobs
            .put(BlobKey::Thumbnail(id), Bytes::from(rendered.bytes))
            .await?;
        let stored = self
            .store
            .set_file_image(id, rendered.source_width, rendered.source_height, record)
            .await;
        if stored == Err(StoreError::NotFound) {
            // Swept while we worked: do not leave the thumbnail behind.
            self.delete_blobs(id).await;
            return Ok(());
        }
        Ok(stored?)
    }

    async fn sweep_orphans(&self) -> Result<usize, ChatError> {
        let ttl_ms =
            i64::try_from(self.config.orphan_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(ttl_ms);
        let mut deleted = 0;
        loop {
            let page = self.store.unattached_files(cutoff, SWEEP_PAGE).await?;
            let full = page.len() == SWEEP_PAGE;
            for file in page {
                // Metadata first: once it is gone nobody can attach the file, so deleting
                // the bytes cannot break a message. A crash in between leaks bytes only.
                if self.store.delete_unattached_file(file.id).await? {
                    self.delete_blobs(file.id).await;
                    deleted += 1;
                }
            }
            if !full {
                return Ok(deleted);
            }
        }
    }

    async fn erase_released(&self) -> Result<usize, ChatError> {
        let mut erased = 0;
        loop {
            let (ids, full) = release::to_erase(&self.store).await?;
            for id in ids {
                // Metadata first, as for orphans: a crash then leaks bytes, never a link
                // to missing ones.
                self.store.erase_file(id).await?;
                self.delete_blobs(id).await;
                self.store.forget_released(id).await?;
                erased += 1;
            }
            if !full {
                return Ok(erased);
            }
        }
    }

    async fn delete_blobs(&self, id: FileId) {
        for key in [BlobKey::File(id), BlobKey::Thumbnail(id)] {
            if let Err(e) = self.blobs.delete(key).await {
                tracing::warn!(file = id, error = %e, "could not delete file bytes");
            }
        }
    }
}

async fn thumbnail_worker(inner: std::sync::Weak<Inner>, mut jobs: mpsc::Receiver<FileId>) {
    while let Some(id) = jobs.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.make_thumbnail(id).await {
            tracing::info!(file = id, error = %e, "no thumbnail");
        }
    }
}

async fn sweeper(inner: std::sync::Weak<Inner>) {
    let every = match inner.upgrade() {
        Some(i) => Duration::from_secs(i.config.orphan_sweep_secs),
        None => return,
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        match inner.sweep_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "orphan uploads cleaned up"),
            Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
        }
        match inner.erase_released().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(erased = n, "files no message holds erased"),
            Err(e) => tracing::warn!(error = %e, "erasing released files failed"),
        }
    }
}

fn too_large(max: u64) -> ChatError {
    ChatError::invalid(
        Reason::FileTooLarge,
        format!("file exceeds the {max}-byte limit"),
    )
}

fn empty() -> ChatError {
    ChatError::invalid(Reason::FileEmpty, "file is empty")
}

fn not_found_as_file(e: StoreError) -> ChatError {
    match e {
        StoreError::NotFound => ChatError::file_not_found(),
        other => other.into(),
    }
}
