//! File bytes, through `object_store`: the local filesystem under the data directory (single
//! node, nothing to install) or any S3-compatible store (clusters). Metadata lives in the
//! [`crate::Store`]; this module only moves bytes.
//!
//! Keys: `files/<id>` for uploads, `thumbnails/<id>` for generated thumbnails. Keys never
//! derive from user input, so a file name cannot reach outside its prefix.

use std::{ops::Range, path::PathBuf, sync::Arc};

use bytes::{Bytes, BytesMut};
use futures::{StreamExt as _, TryStreamExt as _, stream::BoxStream};
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart,
    aws::AmazonS3Builder, local::LocalFileSystem, path::Path,
};
use serde::{Deserialize, Serialize};

use crate::{
    error::{StoreError, StoreResult},
    records::FileId,
};

/// Parts of a multipart upload (S3's minimum part size is 5 MiB). Files smaller than one part
/// are written with a single put, which is atomic on every backend.
pub const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight to the backend at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where file bytes live.
#[derive(Debug, Clone, PartialEq)]
pub enum BlobConfig {
    /// A directory on the local filesystem (created if missing).
    Local {
        /// The directory.
        root: PathBuf,
    },
    /// An S3-compatible object store.
    S3(S3Config),
}

/// An S3-compatible bucket and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name (must exist).
    pub bucket: String,
    /// Endpoint URL for non-AWS stores, e.g. `http://seaweedfs:8333`; empty for AWS.
    pub endpoint: String,
    /// Region. Default `us-east-1`.
    pub region: String,
    /// Access key id; empty to take credentials from the environment (`AWS_*`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Allows a plain `http://` endpoint (development and in-cluster stores).
    pub allow_http: bool,
}

/// Which object of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKey {
    /// The uploaded bytes.
    File(FileId),
    /// The generated thumbnail.
    Thumbnail(FileId),
}

impl BlobKey {
    fn path(self) -> Path {
        match self {
            Self::File(id) => Path::from(format!("files/{id}")),
            Self::Thumbnail(id) => Path::from(format!("thumbnails/{id}")),
        }
    }
}

fn backend(e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        other => StoreError::Unavailable(format!("blob store: {other}")),
    }
}

/// A handle to the blob store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Blobs {
    inner: Arc<dyn ObjectStore>,
}

impl Blobs {
    /// Opens the configured backend. Nothing is contacted yet for S3.
    pub fn open(config: &BlobConfig) -> StoreResult<Self> {
        let inner: Arc<dyn ObjectStore> = match config {
            BlobConfig::Local { root } => {
                std::fs::create_dir_all(root)
                    .map_err(|e| StoreError::Backend(format!("create {}: {e}", root.display())))?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(root)
                        .map_err(|e| StoreError::Backend(e.to_string()))?
                        .with_automatic_cleanup(true)
                        // "201 Created" means durable: fsync files and their directories.
                        .with_fsync(true),
                )
            }
            BlobConfig::S3(s3) => Arc::new(s3_store(s3)?),
        };
        Ok(Self { inner })
    }

    /// Removes the staged parts of local uploads a crash interrupted (object_store names
    /// them `<key>#<n>`). Call at start-up, before any upload: the local backend belongs to
    /// one node. Returns how many were removed; S3 has none (incomplete multipart uploads
    /// are the bucket's lifecycle rules' to expire).
    pub fn remove_staged_uploads(config: &BlobConfig) -> StoreResult<usize> {
        let BlobConfig::Local { root } = config else {
            return Ok(0);
        };
        let mut removed = 0;
        for dir in ["files", "thumbnails"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().contains('#') {
                    std::fs::remove_file(entry.path()).map_err(|e| {
                        StoreError::Backend(format!("remove {}: {e}", entry.path().display()))
                    })?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Checks that the backend answers and accepts our credentials (a lookup of a key that
    /// need not exist).
    pub async fn check(&self) -> StoreResult<()> {
        match self.inner.head(&Path::from("probe/check")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::Unavailable(format!("blob store: {e}"))),
        }
    }

    /// Starts writing an object; nothing is visible under `key` until
    /// [`BlobWriter::finish`] succeeds.
    pub fn writer(&self, key: BlobKey) -> BlobWriter {
        BlobWriter {
            blobs: self.clone(),
            path: key.path(),
            head: BytesMut::new(),
            multipart: None,
        }
    }

    /// Writes a whole (small) object, durably.
    pub async fn put(&self, key: BlobKey, bytes: Bytes) -> StoreResult<()> {
        self.inner
            .put(&key.path(), PutPayload::from_bytes(bytes))
            .await
            .map(drop)
            .map_err(backend)
    }

    /// Streams an object, or the byte range `range` of it.
    pub async fn read(
        &self,
        key: BlobKey,
        range: Option<Range<u64>>,
    ) -> StoreResult<BoxStream<'static, StoreResult<Bytes>>> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .inner
            .get_opts(&key.path(), options)
            .await
            .map_err(backend)?;
        Ok(result.into_stream().map_err(backend).boxed())
    }

    /// Reads a whole object of at most `max` bytes (else `Invalid`).
    pub async fn read_all(&self, key: BlobKey, max: u64) -> StoreResult<Bytes> {
        let mut stream = self.read(key, None).await?;
        let mut out = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if (out.len() + chunk.len()) as u64 > max {
                return Err(StoreError::Invalid(format!("object exceeds {max} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// Deletes an object; deleting a missing one succeeds.
    pub async fn delete(&self, key: BlobKey) -> StoreResult<()> {
        match self.inner.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    /// Every object key, e.g. `files/123` (tests and operators checking for leftovers).
    pub async fn list_keys(&self) -> StoreResult<Vec<String>> {
        self.inner
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(backend)
    }
}

fn s3_store(s3: &S3Config) -> StoreResult<object_store::aws::AmazonS3> {
    if s3.bucket.is_empty() {
        return Err(StoreError::Invalid("S3 bucket is required".into()));
    }
    let region = if s3.region.is_empty() {
        "us-east-1"
    } else {
        &s3.region
    };
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(region)
        .with_allow_http(s3.allow_http);
    if !s3.endpoint.is_empty() {
        builder = builder.with_endpoint(&s3.endpoint);
    }
    if !s3.access_key_id.is_empty() {
        builder = builder
            .with_access_key_id(&s3.access_key_id)
            .with_secret_access_key(&s3.secret_access_key);
    }
    builder
        .build()
        .map_err(|e| StoreError::Invalid(format!("S3 configuration: {e}")))
}

/// An object being written. Small objects are buffered (up to one part) and written with one
/// put; larger ones become a multipart upload with at most a few parts in memory.
pub struct BlobWriter {
    blobs: Blobs,
    path: Path,
    head: BytesMut,
    multipart: Option<WriteMultipart>,
}

impl BlobWriter {
    /// Appends bytes, waiting while too many parts are in flight.
    pub async fn write(&mut self, chunk: &[u8]) -> StoreResult<()> {
        if let Some(upload) = self.multipart.as_mut() {
            upload
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(backend)?;
            upload.write(chunk);
            return Ok(());
        }
        self.head.extend_from_slice(chunk);
        if self.head.len() >= PART_BYTES {
            let upload = self
                .blobs
                .inner
                .put_multipart(&self.path)
                .await
                .map_err(backend)?;
            let mut upload = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            upload.put(std::mem::take(&mut self.head).freeze());
            self.multipart = Some(upload);
        }
        Ok(())
    }

    /// Makes the object visible under its key, durably.
    pub async fn finish(self) -> StoreResult<()> {
        match self.multipart {
            Some(upload) => upload.finish().await.map(drop).map_err(backend),
            None => self
                .blobs
                .inner
                .put(&self.path, PutPayload::from_bytes(self.head.freeze()))
                .await
                .map(drop)
                .map_err(backend),
        }
    }

    /// Discards everything written (a multipart upload is aborted, its parts deleted).
    pub async fn abort(self) {
        if let Some(upload) = self.multipart
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(error = %e, "aborting a multipart upload failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_round_trip_range_and_abort() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(&BlobConfig::Local {
            root: dir.path().join("files"),
        })
        .unwrap();
        // Larger than one part: goes through a multipart upload.
        let data: Vec<u8> = (0..PART_BYTES + 1000).map(|i| (i % 251) as u8).collect();
        let mut w = blobs.writer(BlobKey::File(1));
        for chunk in data.chunks(64 * 1024) {
            w.write(chunk).await.unwrap();
        }
        w.finish().await.unwrap();
        let all = blobs.read_all(BlobKey::File(1), u64::MAX).await.unwrap();
        assert_eq!(&all[..], &data[..]);
        let mut part = Vec::new();
        let mut s = blobs.read(BlobKey::File(1), Some(10..20)).await.unwrap();
        while let Some(c) = s.next().await {
            part.extend_from_slice(&c.unwrap());
        }
        assert_eq!(&part[..], &data[10..20]);
        assert!(blobs.read_all(BlobKey::File(1), 100).await.is_err());

        // An aborted upload, small or large, leaves nothing behind.
        let mut w = blobs.writer(BlobKey::File(2));
        w.write(&data).await.unwrap();
        w.abort().await;
        let mut w = blobs.writer(BlobKey::File(3));
        w.write(b"small").await.unwrap();
        w.abort().await;
        assert_eq!(
            blobs.list_keys().await.unwrap(),
            vec!["files/1".to_string()]
        );
        // What a crash mid-upload leaves: a staged part. Start-up removes it.
        let config = BlobConfig::Local {
            root: dir.path().join("files"),
        };
        std::fs::write(dir.path().join("files/files/4#1"), b"partial").unwrap();
        assert_eq!(Blobs::remove_staged_uploads(&config).unwrap(), 1);
        assert_eq!(Blobs::remove_staged_uploads(&config).unwrap(), 0);
        assert!(dir.path().join("files/files/1").exists());
        assert_eq!(
            blobs.read(BlobKey::File(2), None).await.err(),
            Some(StoreError::NotFound)
        );
        blobs.delete(BlobKey::File(1)).await.unwrap();
        blobs.delete(BlobKey::File(1)).await.unwrap();
        assert!(blobs.list_keys().await.unwrap().is_empty());
    }
}
