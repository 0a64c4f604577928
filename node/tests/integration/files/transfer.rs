//! Uploads and downloads on local disk and S3, images and thumbnails, refused and broken uploads.

use super::*;

#[tokio::test]
async fn round_trip_on_the_local_filesystem() {
    let node = TestNode::start().await;
    round_trip(&node).await;
    // The bytes live under the data directory by default.
    let blobs = Blobs::open(&BlobConfig::Local {
        root: node.dir.path().join("files"),
    })
    .unwrap();
    assert_eq!(blobs.list_keys().await.unwrap().len(), 1);
    node.stop().await;
}

#[tokio::test]
async fn round_trip_and_rejected_upload_on_a_real_s3_server() {
    let Some(s3) = s3_settings() else { return };
    let node = TestNode::start_with(|c| {
        c.files.backend = "s3".into();
        c.files.s3 = s3.clone();
        c.files.limits.max_file_bytes = 7 * 1024 * 1024;
    })
    .await;
    round_trip(&node).await;

    // Over the limit after the first 5 MiB part went to S3 as a multipart upload: refused,
    // and the upload is aborted, leaving no object.
    let blobs = Blobs::open(&BlobConfig::S3(s3)).unwrap();
    let keys = || async {
        blobs
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .collect::<BTreeSet<_>>()
    };
    let before = keys().await;
    let alice = node.http().signup("dave").await;
    let api = FilesApi::new(&node);
    let too_big = vec![7u8; 8 * 1024 * 1024];
    let (status, body) = api
        .upload_stream(&alice.access_token, "big.bin", &too_big)
        .await;
    assert_eq!((status, reason(&body)), (413, "FILE_TOO_LARGE"), "{body}");
    assert_eq!(
        keys().await,
        before,
        "a rejected upload left an object behind"
    );
    node.stop().await;
}

#[tokio::test]
async fn images_get_their_size_at_once_and_a_thumbnail_soon_after() {
    let node = TestNode::start().await;
    let [alice] = node.http().signups(["alice"]).await;
    let api = FilesApi::new(&node);
    let file = api
        .upload_ok(&alice.access_token, "photo.png", &png(800, 600))
        .await;
    assert_eq!(file.content_type, "image/png");
    assert_eq!(
        (file.width, file.height),
        (800, 600),
        "read from the header"
    );

    // The thumbnail is made off the request path: wait for it to appear.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let info = api.info(&alice.access_token, file.id).await;
        assert_eq!(info.status, 200);
        let v: Value = serde_json::from_slice(&info.body).unwrap();
        if FileInfo::of(&v).has_thumbnail {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no thumbnail made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = format!("/v1/files/{}/thumbnail", file.id);
    let thumb = api.get(Some(&alice.access_token), &path, &[]).await;
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), "image/jpeg");
    assert!(thumb.header("content-disposition").starts_with("inline;"));
    let decoded = image::load_from_memory(&thumb.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (320, 240));
    // The original of an image is shown inline too; other types never are.
    let original = api.download(&alice.access_token, file.id).await;
    assert!(
        original
            .header("content-disposition")
            .starts_with("inline;")
    );

    // Not an image: no thumbnail, ever.
    let text = api
        .upload_ok(&alice.access_token, "notes.txt", b"just text")
        .await;
    let path = format!("/v1/files/{}/thumbnail", text.id);
    let r = api.get(Some(&alice.access_token), &path, &[]).await;
    assert_eq!(
        (r.status, r.reason().as_str()),
        (404, "THUMBNAIL_NOT_READY")
    );
    node.stop().await;
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let node = TestNode::start_with(|c| c.files.limits.max_file_bytes = 64 * 1024).await;
    let [alice] = node.http().signups(["alice"]).await;
    let api = FilesApi::new(&node);
    let blobs = Blobs::open(&BlobConfig::Local {
        root: node.dir.path().join("files"),
    })
    .unwrap();

    // A declared size over the limit is refused before any of the body is sent.
    let head = format!(
        "POST /v1/files?name=big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 1048576\r\n\r\n",
        alice.access_token
    );
    let response = raw_request(&node, head).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("FILE_TOO_LARGE"), "{response}");

    // Streamed past the limit: refused once it is crossed, the partial bytes removed.
    let (status, body) = api
        .upload_stream(&alice.access_token, "big.bin", &vec![1u8; 100 * 1024])
        .await;
    assert_eq!((status, reason(&body)), (413, "FILE_TOO_LARGE"));
    // Exactly at the limit is fine.
    let ok = api
        .upload_ok(&alice.access_token, "limit.bin", &vec![2u8; 64 * 1024])
        .await;

    let cases: [(&str, &[u8], u16, &str); 6] = [
        ("empty.txt", b"", 400, "FILE_EMPTY"),
        ("../../etc/passwd", b"x", 400, "INVALID_FILE_NAME"),
        ("..", b"x", 400, "INVALID_FILE_NAME"),
        ("a\\b.txt", b"x", 400, "INVALID_FILE_NAME"),
        ("", b"x", 400, "INVALID_FILE_NAME"),
        ("tab\there", b"x", 400, "INVALID_FILE_NAME"),
    ];
    for (name, bytes, want_status, want_reason) in cases {
        let (status, body) = api.upload(&alice.access_token, name, bytes).await;
        assert_eq!(
            (status, reason(&body)),
            (want_status, want_reason),
            "{name:?}"
        );
    }
    let (status, body) = api
        .upload_stream(&alice.access_token, "empty.txt", b"")
        .await;
    assert_eq!((status, reason(&body)), (400, "FILE_EMPTY"));
    for token in ["", "not-a-token"] {
        let (status, body) = api.upload(token, "x.txt", b"x").await;
        assert_eq!(status, 401, "{body}");
    }

    // A false claim is ignored: the type is sniffed (the helper claims image/png).
    let text = api
        .upload_ok(
            &alice.access_token,
            "fake.png",
            b"plain words, not a picture",
        )
        .await;
    assert_eq!(text.content_type, "text/plain; charset=utf-8");
    let r = api.download(&alice.access_token, text.id).await;
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    assert!(r.header("content-disposition").starts_with("attachment;"));

    // Only the two accepted uploads exist.
    let mut keys = blobs.list_keys().await.unwrap();
    keys.sort();
    let mut want = vec![format!("files/{}", ok.id), format!("files/{}", text.id)];
    want.sort();
    assert_eq!(keys, want);
    node.stop().await;
}

#[tokio::test]
async fn an_upload_cut_off_midway_leaves_nothing_behind() {
    let node = TestNode::start().await;
    let [alice] = node.http().signups(["alice"]).await;
    // Promise 12 MiB, send 7 (past the first 5 MiB part, so a multipart upload is under
    // way), then hang up.
    let mut tcp = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let head = format!(
        "POST /v1/files?name=cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\n\r\n",
        alice.access_token,
        12 * 1024 * 1024
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![3u8; 1024 * 1024];
    for _ in 0..7 {
        tcp.write_all(&chunk).await.unwrap();
    }
    tcp.flush().await.unwrap();
    // The first part reaches the disk while the connection is still open...
    let root = node.dir.path().join("files");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while files_on_disk(&root).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no part written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...and is removed once it goes.
    drop(tcp);
    loop {
        let left = files_on_disk(&root);
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "partial upload left behind: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The node is unaffected.
    let api = FilesApi::new(&node);
    let f = api
        .upload_ok(&alice.access_token, "after.txt", b"fine")
        .await;
    assert_eq!(api.download(&alice.access_token, f.id).await.body, b"fine");
    node.stop().await;
}
