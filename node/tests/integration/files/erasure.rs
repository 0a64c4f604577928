//! A file is readable by those who see a message holding it (history visibility included),
//! and erased, bytes and all, once a delete for everyone leaves no message holding it.

use super::*;

fn delete(room_id: u64, seq: u64, client_msg_id: &str) -> Command {
    Command::DeleteMessage(v1::DeleteMessageRequest {
        room_id,
        seq,
        client_msg_id: client_msg_id.into(),
    })
}

fn acked(p: Payload) -> v1::SendAck {
    match p {
        Payload::SendAck(a) => a,
        other => panic!("{other:?}"),
    }
}

async fn stored_blobs(node: &TestNode) -> Vec<String> {
    Blobs::open(&BlobConfig::Local {
        root: node.dir.path().join("files"),
    })
    .unwrap()
    .list_keys()
    .await
    .unwrap()
}

/// Waits for the image's thumbnail (made off the request path).
async fn wait_for_thumbnail(api: &FilesApi, token: &str, id: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let info = api.info(token, id).await;
        let v: Value = serde_json::from_slice(&info.body).unwrap();
        if FileInfo::of(&v).has_thumbnail {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no thumbnail made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn newcomers_read_files_from_their_view_and_unsent_files_are_erased() {
    let node = TestNode::start().await;
    let [alice, bob, carol] = node.http().signups(["alice", "bob", "carol"]).await;
    let api = FilesApi::new(&node);
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Proto).await;
    let room = a.create_group("ab", &[bob.id]).await.id;
    let photo = api
        .upload_ok(&alice.access_token, "p.png", &png(8, 8))
        .await;
    let doc = api.upload_ok(&alice.access_token, "d.txt", b"twice").await;
    let s1 = acked(a.call(send_files(room, "s1", "", &[photo.id])).await);
    let s2 = acked(a.call(send_files(room, "s2", "", &[doc.id])).await);

    // Carol joins after both (history "joined"): neither is hers to read, until the doc
    // is sent again after she came.
    let invite = Command::InviteMembers(v1::InviteMembersRequest {
        room_id: room,
        user_ids: vec![carol.id],
    });
    assert!(matches!(a.call(invite).await, Payload::Room(_)));
    let carol_reads = |id| api.download(&carol.access_token, id);
    assert_eq!(carol_reads(photo.id).await.status, 404);
    assert_eq!(carol_reads(doc.id).await.status, 404);
    let s3 = acked(b.call(send_files(room, "s3", "again", &[doc.id])).await);
    assert_eq!(carol_reads(doc.id).await.status, 200);
    assert_eq!(carol_reads(photo.id).await.status, 404);

    wait_for_thumbnail(&api, &alice.access_token, photo.id).await;
    let before = stored_blobs(&node).await;
    assert!(
        before.contains(&format!("thumbnails/{}", photo.id)),
        "{before:?}"
    );
    // Unsending the only message with the photo erases it for everyone, its uploader too,
    // bytes and thumbnail included; a link handed out before stops working.
    let Payload::FileUrl(link) = b
        .call(Command::GetFileUrl(v1::GetFileUrlRequest {
            file_id: photo.id,
            thumbnail: false,
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(api.get(None, &link.url, &[]).await.status, 200);
    acked(a.call(delete(room, s1.seq, "d1")).await);
    for token in [&alice.access_token, &bob.access_token] {
        assert_eq!(api.download(token, photo.id).await.status, 404);
    }
    assert_eq!(api.get(None, &link.url, &[]).await.status, 404);
    let blobs = stored_blobs(&node).await;
    assert!(
        !blobs.iter().any(|k| k.ends_with(&format!("/{}", photo.id))),
        "{blobs:?}"
    );
    // The doc is in two messages: unsending one keeps it, unsending both erases it.
    acked(a.call(delete(room, s2.seq, "d2")).await);
    assert_eq!(api.download(&bob.access_token, doc.id).await.status, 200);
    assert_eq!(carol_reads(doc.id).await.status, 200);
    // The owner may unsend anyone's message at any time.
    acked(a.call(delete(room, s3.seq, "d3")).await);
    for token in [&alice.access_token, &bob.access_token, &carol.access_token] {
        assert_eq!(api.download(token, doc.id).await.status, 404);
    }
    assert_eq!(stored_blobs(&node).await, Vec::<String>::new());
    // Sending an erased file again finds nothing.
    let p = a.call(send_files(room, "s4", "", &[doc.id])).await;
    assert_error(p, ErrorCode::NotFound, "FILE_NOT_FOUND");
    node.stop().await;
}

#[tokio::test]
async fn a_room_that_shares_its_history_shares_its_files() {
    let node = TestNode::start().await;
    let [alice, bob] = node.http().signups(["alice", "bob"]).await;
    let api = FilesApi::new(&node);
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let room = a.create_group("a", &[]).await.id;
    let doc = api.upload_ok(&alice.access_token, "d.txt", b"old").await;
    acked(a.call(send_files(room, "s1", "", &[doc.id])).await);
    let shared = Command::SetHistoryVisibility(v1::SetHistoryVisibilityRequest {
        room_id: room,
        visibility: v1::HistoryVisibility::Shared.into(),
    });
    assert!(matches!(a.call(shared).await, Payload::Room(_)));
    let invite = Command::InviteMembers(v1::InviteMembersRequest {
        room_id: room,
        user_ids: vec![bob.id],
    });
    assert!(matches!(a.call(invite).await, Payload::Room(_)));
    assert_eq!(api.download(&bob.access_token, doc.id).await.status, 200);
    node.stop().await;
}
