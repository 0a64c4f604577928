//! `FileService`: client-streaming upload and server-streaming download through the same file
//! service as `POST`/`GET /v1/files`.

use std::pin::Pin;

use bytes::Bytes;
use chat_actors::{
    ChatError, Reason, convert,
    files::{BodyError, Variant},
};
use chat_proto::v1::{
    DownloadFileRequest, FileChunk, FileInfo, FileUrl, GetFileInfoRequest, GetFileUrlRequest,
    UploadFileRequest, client_frame::Command, file_service_server::FileService,
    server_frame::Payload, upload_file_request::Part,
};
use futures::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

use super::{DOWNLOAD_CHUNK, GrpcApi, status, within_deadline};

/// The response stream of a download.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<FileChunk, Status>> + Send>>;

fn malformed(what: &str) -> ChatError {
    ChatError::invalid(Reason::MalformedRequest, what.to_owned())
}

#[tonic::async_trait]
impl FileService for GrpcApi {
    type DownloadFileStream = ChunkStream;

    async fn upload_file(
        &self,
        request: Request<Streaming<UploadFileRequest>>,
    ) -> Result<Response<FileInfo>, Status> {
        let user = self.user(request.metadata()).await?;
        let mut parts = request.into_inner();
        let first = parts.message().await?.and_then(|m| m.part);
        let Some(Part::Metadata(meta)) = first else {
            return Err(status(malformed(
                "the first UploadFileRequest must carry the metadata",
            )));
        };
        let declared = (meta.size > 0).then_some(meta.size);
        let body = parts
            .map(|m| match m {
                Ok(UploadFileRequest {
                    part: Some(Part::Chunk(bytes)),
                }) => Ok(Bytes::from(bytes)),
                Ok(_) => Err(BodyError::from("metadata may only come first")),
                Err(s) => Err(BodyError::from(s.message().to_owned())),
            })
            .boxed();
        let file = self
            .g
            .services
            .files
            .upload(user.id, &meta.name, declared, body)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::file_info(&file)))
    }

    async fn download_file(
        &self,
        request: Request<DownloadFileRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let user = self.user(request.metadata()).await?;
        let r = request.into_inner();
        let files = &self.g.services.files;
        let file = files.readable(user.id, r.file_id).await.map_err(status)?;
        let (variant, size) = if r.thumbnail {
            let thumb = file.thumbnail.as_ref().ok_or_else(|| {
                status(ChatError::NotFound(
                    Reason::ThumbnailNotReady,
                    "no thumbnail (not an image, or not made yet)".into(),
                ))
            })?;
            (Variant::Thumbnail, thumb.size)
        } else {
            (Variant::Original, file.size)
        };
        if r.offset >= size {
            return Err(status(ChatError::invalid(
                Reason::RangeNotSatisfiable,
                format!("offset {} is outside the file's {size} bytes", r.offset),
            )));
        }
        let end = match r.length {
            0 => size,
            n => r.offset.saturating_add(n).min(size),
        };
        let range = (r.offset > 0 || end < size).then_some(r.offset..end);
        let bytes = files.read(&file, variant, range).await.map_err(status)?;
        let mut info = Some(convert::file_info(&file));
        let chunks = bytes
            .flat_map(|piece| {
                // Store chunks can be large; messages stay under the encoding limit.
                let pieces: Vec<Result<Bytes, ChatError>> = match piece {
                    Ok(b) => (0..b.len())
                        .step_by(DOWNLOAD_CHUNK)
                        .map(|i| Ok(b.slice(i..(i + DOWNLOAD_CHUNK).min(b.len()))))
                        .collect(),
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(pieces)
            })
            .map(move |piece| match piece {
                Ok(data) => Ok(FileChunk {
                    info: info.take(),
                    data: data.to_vec(),
                }),
                Err(e) => Err(status(e)),
            });
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn get_file_info(
        &self,
        request: Request<GetFileInfoRequest>,
    ) -> Result<Response<FileInfo>, Status> {
        let (metadata, _, r) = request.into_parts();
        within_deadline(&metadata, async {
            let user = self.user(&metadata).await?;
            let file = self
                .g
                .services
                .files
                .readable(user.id, r.file_id)
                .await
                .map_err(status)?;
            Ok(Response::new(convert::file_info(&file)))
        })
        .await
    }

    async fn get_file_url(
        &self,
        request: Request<GetFileUrlRequest>,
    ) -> Result<Response<FileUrl>, Status> {
        let (metadata, _, r) = request.into_parts();
        self.run(&metadata, Command::GetFileUrl(r), |p| match p {
            Payload::FileUrl(u) => Some(u),
            _ => None,
        })
        .await
    }
}
