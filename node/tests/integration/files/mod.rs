//! Files: upload and download round trips with hash checks (local filesystem and a real S3
//! server), Range, caching headers, access control, attachments, avatars, thumbnails,
//! orphans, and bad uploads leaving nothing behind.

use std::{collections::BTreeSet, time::Duration};

use chat_proto::v1::{self, ErrorCode, client_frame::Command, server_frame::Payload};
use chat_store::{BlobConfig, Blobs, S3Config};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

mod access;
mod erasure;
mod forward;
mod transfer;

/// The files API, as a client sees it.
struct FilesApi {
    base: String,
    client: reqwest::Client,
}

impl FilesApi {
    fn new(node: &TestNode) -> Self {
        Self {
            base: format!("http://{}", node.addr),
            client: http_client(),
        }
    }

    async fn upload_with(&self, token: &str, name: &str, body: reqwest::Body) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/v1/files", self.base))
            .query(&[("name", name)])
            .bearer_auth(token)
            .header("content-type", "image/png")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Uploads with a Content-Length (and a deliberately false Content-Type claim).
    async fn upload(&self, token: &str, name: &str, bytes: &[u8]) -> (u16, Value) {
        self.upload_with(token, name, bytes.to_vec().into()).await
    }

    /// Uploads chunked, with no Content-Length: the size is only known at the end.
    async fn upload_stream(&self, token: &str, name: &str, bytes: &[u8]) -> (u16, Value) {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        self.upload_with(token, name, body).await
    }

    async fn upload_ok(&self, token: &str, name: &str, bytes: &[u8]) -> FileInfo {
        let (status, body) = self.upload(token, name, bytes).await;
        assert_eq!(status, 201, "{body}");
        FileInfo::of(&body)
    }

    async fn get(&self, token: Option<&str>, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap().to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn download(&self, token: &str, id: u64) -> Reply {
        self.get(Some(token), &format!("/v1/files/{id}"), &[]).await
    }

    async fn info(&self, token: &str, id: u64) -> Reply {
        self.get(Some(token), &format!("/v1/files/{id}/info"), &[])
            .await
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn reason(&self) -> String {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        reason(&v).to_owned()
    }
}

/// The fields of a `FileInfo` the tests look at (64-bit numbers are JSON strings).
#[derive(Debug)]
struct FileInfo {
    id: u64,
    size: u64,
    content_type: String,
    sha256: String,
    width: u64,
    height: u64,
    has_thumbnail: bool,
}

impl FileInfo {
    fn of(v: &Value) -> Self {
        let num = |k: &str| match &v[k] {
            Value::String(s) => s.parse().unwrap(),
            other => other.as_u64().unwrap_or(0),
        };
        Self {
            id: num("id"),
            size: num("size"),
            content_type: v["content_type"].as_str().unwrap().to_owned(),
            sha256: v["sha256"].as_str().unwrap().to_owned(),
            width: num("width"),
            height: num("height"),
            has_thumbnail: v["has_thumbnail"].as_bool().unwrap_or(false),
        }
    }
}

/// Bytes no sniffer recognises, larger than one 5 MiB upload part.
fn big_payload() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..5 * 1024 * 1024 + 123_457)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn send_files(room: u64, id: &str, body: &str, files: &[u64]) -> Command {
    Command::SendMessage(v1::SendMessageRequest {
        room_id: room,
        client_msg_id: id.into(),
        body: body.into(),
        file_ids: files.to_vec(),
        ..Default::default()
    })
}

/// Upload, download with hash check, Range, caching, access before and after sharing, the
/// attachment live and in history. Runs on every blob backend.
async fn round_trip(node: &TestNode) {
    let http = node.http();
    let [alice, bob, carol] = http.signups(["alice", "bob", "carol"]).await;
    let api = FilesApi::new(node);
    let data = big_payload();
    let (status, body) = api
        .upload_stream(&alice.access_token, "report 2026.bin", &data)
        .await;
    assert_eq!(status, 201, "{body}");
    let file = FileInfo::of(&body);
    assert_eq!(file.size, data.len() as u64);
    assert_eq!(file.sha256, sha_hex(&data));
    assert_eq!(
        file.content_type, "application/octet-stream",
        "claim ignored"
    );

    let full = api.download(&alice.access_token, file.id).await;
    assert_eq!(full.status, 200);
    assert_eq!(
        sha_hex(&full.body),
        sha_hex(&data),
        "downloaded bytes differ"
    );
    assert_eq!(full.header("content-length"), data.len().to_string());
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert_eq!(full.header("etag"), format!("\"{}\"", file.sha256));
    assert_eq!(full.header("x-content-type-options"), "nosniff");
    assert!(full.header("cache-control").contains("private"));
    assert!(!full.header("last-modified").is_empty());
    assert_eq!(
        full.header("content-disposition"),
        "attachment; filename=\"report 2026.bin\"; filename*=UTF-8''report%202026.bin"
    );

    // Ranges: a middle slice, a suffix, one past the end.
    let path = format!("/v1/files/{}", file.id);
    let tok = Some(alice.access_token.as_str());
    let r = api.get(tok, &path, &[("range", "bytes=100-199")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, data[100..200]);
    assert_eq!(
        r.header("content-range"),
        format!("bytes 100-199/{}", data.len())
    );
    let r = api.get(tok, &path, &[("range", "bytes=-10")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &data[data.len() - 10..]));
    let past = format!("bytes={}-", data.len());
    let r = api.get(tok, &path, &[("range", &past)]).await;
    assert_eq!(r.status, 416);
    assert_eq!(r.reason(), "RANGE_NOT_SATISFIABLE");
    assert_eq!(r.header("content-range"), format!("bytes */{}", data.len()));
    let etag = full.header("etag").to_owned();
    let r = api.get(tok, &path, &[("if-none-match", &etag)]).await;
    assert_eq!((r.status, r.body.len()), (304, 0));

    // Nobody else may read it yet; unknown ids look the same.
    for (token, who) in [(&bob.access_token, "bob"), (&carol.access_token, "carol")] {
        let r = api.download(token, file.id).await;
        assert_eq!(
            (r.status, r.reason().as_str()),
            (404, "FILE_NOT_FOUND"),
            "{who}"
        );
    }
    let r = api.download(&alice.access_token, file.id + 1).await;
    assert_eq!((r.status, r.reason().as_str()), (404, "FILE_NOT_FOUND"));
    let r = api.get(None, &path, &[]).await;
    assert_eq!(r.status, 401);

    // Shared in a room: bob (a member) gets it live and in history, and may read it.
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Proto).await;
    let room = a.create_group("docs", &[bob.id]).await;
    b.open(room.id).await;
    let Payload::SendAck(ack) = a.call(send_files(room.id, "f1", "", &[file.id])).await else {
        panic!("attachment send failed")
    };
    let live = b.next_message().await;
    assert_eq!((live.seq, live.body.as_str()), (ack.seq, ""));
    let expected = v1::Attachment {
        file_id: file.id,
        name: "report 2026.bin".into(),
        size: data.len() as u64,
        content_type: "application/octet-stream".into(),
        width: 0,
        height: 0,
    };
    assert_eq!(live.attachments, vec![expected.clone()]);
    let history = b.history_ok(room.id, 0, 10).await;
    assert_eq!(history.messages[0].attachments, vec![expected]);
    let r = api.download(&bob.access_token, file.id).await;
    assert_eq!(r.status, 200);
    assert_eq!(sha_hex(&r.body), file.sha256);
    // A browser's <img src> cannot set headers: the token may ride in the query.
    let q = format!("{path}?access_token={}", bob.access_token);
    assert_eq!(api.get(None, &q, &[]).await.status, 200);
    let r = api.download(&carol.access_token, file.id).await;
    assert_eq!(r.status, 404, "carol is not in the room");
}

/// The S3 server `scripts/test.sh` starts (SeaweedFS). Missing settings fail the test
/// unless `CHAT_SKIP_S3=1` says to skip it on purpose.
fn s3_settings() -> Option<S3Config> {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let endpoint = var("CHAT_TEST_S3_ENDPOINT");
    if endpoint.is_empty() {
        assert_eq!(
            var("CHAT_SKIP_S3"),
            "1",
            "CHAT_TEST_S3_ENDPOINT is not set: run ./scripts/test.sh (it starts an S3 server), \
             or set CHAT_SKIP_S3=1 to skip the S3 tests knowingly"
        );
        eprintln!("S3 tests SKIPPED (CHAT_SKIP_S3=1)");
        return None;
    }
    Some(S3Config {
        bucket: var("CHAT_TEST_S3_BUCKET"),
        endpoint,
        region: "us-east-1".into(),
        access_key_id: var("CHAT_TEST_S3_ACCESS_KEY"),
        secret_access_key: var("CHAT_TEST_S3_SECRET_KEY"),
        allow_http: true,
    })
}

/// Sends a raw HTTP/1.1 request head and returns the response as text.
async fn raw_request(node: &TestNode, head: String) -> String {
    let mut tcp = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            let text = String::from_utf8_lossy(&out);
            if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Every regular file under `dir`, recursively (staged parts included).
fn files_on_disk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_on_disk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
