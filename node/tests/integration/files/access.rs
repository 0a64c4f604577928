//! Who may read a file: room members, everyone for avatars; orphans are cleaned up.

use super::*;

#[tokio::test]
async fn attachments_follow_room_membership() {
    let node = TestNode::start().await;
    let [alice, bob, carol] = node.http().signups(["alice", "bob", "carol"]).await;
    let api = FilesApi::new(&node);
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Json).await;
    let mut c = Client::connect(node.addr, &carol.access_token, Wire::Json).await;
    let ab = a.create_group("ab", &[bob.id]).await;
    let bc = b.create_group("bc", &[carol.id]).await;
    let photo = api
        .upload_ok(&alice.access_token, "p.png", &png(4, 4))
        .await;
    let bobs = api.upload_ok(&bob.access_token, "b.txt", b"bob's").await;

    // Someone else's unshared file, too many files, duplicates, a room one is not in.
    let p = a.call(send_files(ab.id, "x1", "", &[bobs.id])).await;
    assert_error(p, ErrorCode::NotFound, "FILE_NOT_FOUND");
    let p = a.call(send_files(ab.id, "x2", "", &[photo.id; 11])).await;
    assert_error(p, ErrorCode::InvalidArgument, "TOO_MANY_ATTACHMENTS");
    let p = a
        .call(send_files(ab.id, "x3", "", &[photo.id, photo.id]))
        .await;
    assert_error(p, ErrorCode::InvalidArgument, "TOO_MANY_ATTACHMENTS");
    let p = a.call(send_files(bc.id, "x4", "", &[photo.id])).await;
    assert_error(p, ErrorCode::PermissionDenied, "NOT_A_MEMBER");
    let p = a.call(send_files(ab.id, "x5", "   ", &[])).await;
    assert_error(p, ErrorCode::InvalidArgument, "EMPTY_MESSAGE");
    // None of that shared anything.
    assert_eq!(api.download(&bob.access_token, photo.id).await.status, 404);

    // Shared in ab; bob may pass it on to bc, where carol then reads it.
    let p = a.call(send_files(ab.id, "s1", "look", &[photo.id])).await;
    assert!(matches!(p, Payload::SendAck(_)), "{p:?}");
    assert_eq!(api.download(&bob.access_token, photo.id).await.status, 200);
    assert_eq!(
        api.download(&carol.access_token, photo.id).await.status,
        404
    );
    let p = b.call(send_files(bc.id, "s2", "", &[photo.id])).await;
    assert!(matches!(p, Payload::SendAck(_)), "{p:?}");
    let r = api.download(&carol.access_token, photo.id).await;
    assert_eq!(r.status, 200);
    assert_eq!(sha_hex(&r.body), photo.sha256);
    // The chat list previews a text-less message by its file.
    let list = c
        .call(Command::ListRooms(v1::ListRoomsRequest { limit: 0 }))
        .await;
    let Payload::RoomList(list) = list else {
        panic!("{list:?}")
    };
    let summary = list
        .rooms
        .iter()
        .find(|r| r.room.as_ref().unwrap().id == bc.id);
    let last = summary.unwrap().last_message.as_ref().unwrap();
    assert_eq!(last.attachments[0].name, "p.png");
    assert_eq!(
        (last.attachments[0].width, last.attachments[0].height),
        (4, 4)
    );

    // A former member loses access.
    let p = c
        .call(Command::LeaveRoom(v1::LeaveRoomRequest { room_id: bc.id }))
        .await;
    assert!(matches!(p, Payload::Ok(_)), "{p:?}");
    assert_eq!(
        api.download(&carol.access_token, photo.id).await.status,
        404
    );
    node.stop().await;
}

#[tokio::test]
async fn avatars_are_readable_by_everyone_signed_in() {
    let node = TestNode::start().await;
    let [alice, bob] = node.http().signups(["alice", "bob"]).await;
    let api = FilesApi::new(&node);
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let pic = api
        .upload_ok(&alice.access_token, "me.png", &png(64, 64))
        .await;
    let doc = api.upload_ok(&alice.access_token, "cv.txt", b"cv").await;
    let bobs = api.upload_ok(&bob.access_token, "b.png", &png(2, 2)).await;
    let profile = |avatar: Option<u64>| {
        Command::UpdateProfile(v1::UpdateProfileRequest {
            display_name: "Alice".into(),
            status_message: String::new(),
            avatar_file_id: avatar,
        })
    };
    assert_error(
        a.call(profile(Some(doc.id))).await,
        ErrorCode::InvalidArgument,
        "NOT_AN_IMAGE",
    );
    assert_error(
        a.call(profile(Some(bobs.id))).await,
        ErrorCode::NotFound,
        "FILE_NOT_FOUND",
    );
    assert_eq!(api.download(&bob.access_token, pic.id).await.status, 404);
    let Payload::User(me) = a.call(profile(Some(pic.id))).await else {
        panic!()
    };
    assert_eq!(me.avatar_file_id, pic.id);
    // Bob shares no room with alice, yet sees her avatar (in search results too).
    let r = api.download(&bob.access_token, pic.id).await;
    assert_eq!((r.status, sha_hex(&r.body)), (200, pic.sha256.clone()));
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Json).await;
    let found = b
        .call(Command::GetUser(v1::GetUserRequest {
            username: "alice".into(),
            user_id: 0,
        }))
        .await;
    let Payload::User(found) = found else {
        panic!("{found:?}")
    };
    assert_eq!(found.avatar_file_id, pic.id);
    // Absent keeps it; 0 removes it.
    let Payload::User(me) = a.call(profile(None)).await else {
        panic!()
    };
    assert_eq!(me.avatar_file_id, pic.id);
    let Payload::User(me) = a.call(profile(Some(0))).await else {
        panic!()
    };
    assert_eq!(me.avatar_file_id, 0);
    node.stop().await;
}

#[tokio::test]
async fn orphan_uploads_are_cleaned_up_and_attached_ones_kept() {
    let node = TestNode::start().await;
    let [alice, bob] = node.http().signups(["alice", "bob"]).await;
    let api = FilesApi::new(&node);
    let orphan = api.upload_ok(&alice.access_token, "o.txt", b"orphan").await;
    let kept = api.upload_ok(&alice.access_token, "k.txt", b"kept").await;
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let room = a.create_direct(bob.id).await;
    let p = a.call(send_files(room.id, "k", "", &[kept.id])).await;
    assert!(matches!(p, Payload::SendAck(_)), "{p:?}");
    drop(a);
    let dir = node.stop_keep_dir().await;

    // The same data with an orphan time of zero: the next sweep removes the orphan only.
    let node = TestNode::start_in(dir, |c| {
        c.files.limits.orphan_ttl_secs = 0;
        c.files.limits.orphan_sweep_secs = 1;
    })
    .await;
    let api = FilesApi::new(&node);
    // Tokens outlive the restart (same signing key).
    let token = alice.access_token.clone();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while api.download(&token, orphan.id).await.status != 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "orphan never cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.download(&token, kept.id).await.status, 200);
    let blobs = Blobs::open(&BlobConfig::Local {
        root: node.dir.path().join("files"),
    })
    .unwrap();
    assert_eq!(
        blobs.list_keys().await.unwrap(),
        vec![format!("files/{}", kept.id)]
    );
    node.stop().await;
}

fn file_url(file_id: u64, thumbnail: bool) -> Command {
    Command::GetFileUrl(v1::GetFileUrlRequest { file_id, thumbnail })
}

#[tokio::test]
async fn signed_links_carry_no_token_and_grant_one_file_for_a_while() {
    let node = TestNode::start_with(|c| c.files.limits.url_ttl_secs = 2).await;
    let [alice, bob, carol] = node.http().signups(["alice", "bob", "carol"]).await;
    let api = FilesApi::new(&node);
    let mut a = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &bob.access_token, Wire::Proto).await;
    let mut c = Client::connect(node.addr, &carol.access_token, Wire::Json).await;
    let room = a.create_group("ab", &[bob.id]).await;
    let doc = api
        .upload_ok(&alice.access_token, "a.txt", b"for bob")
        .await;
    let other = api
        .upload_ok(&alice.access_token, "b.txt", b"not shared")
        .await;
    let p = a.call(send_files(room.id, "f1", "", &[doc.id])).await;
    assert!(matches!(p, Payload::SendAck(_)), "{p:?}");

    // Only someone who may read the file gets a link; a text file has no thumbnail.
    let p = c.call(file_url(doc.id, false)).await;
    assert_error(p, ErrorCode::NotFound, "FILE_NOT_FOUND");
    let p = b.call(file_url(doc.id, true)).await;
    assert_error(p, ErrorCode::NotFound, "THUMBNAIL_NOT_READY");
    let Payload::FileUrl(link) = b.call(file_url(doc.id, false)).await else {
        panic!()
    };
    assert!(!link.url.contains(&bob.access_token) && !link.url.contains("access_token"));
    let r = api.get(None, &link.url, &[]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, b"for bob".as_slice()));
    // The signature covers the file and the expiry.
    let forged = link
        .url
        .replace(&format!("/{}?", doc.id), &format!("/{}?", other.id));
    assert_eq!(api.get(None, &forged, &[]).await.status, 404);
    let (base, sig) = link.url.split_once("&sig=").unwrap();
    let later = base.replace("exp=", "exp=9");
    assert_eq!(
        api.get(None, &format!("{later}&sig={sig}"), &[])
            .await
            .status,
        404
    );
    let r = api.get(None, &format!("{base}&sig=AAAA{sig}"), &[]).await;
    assert_eq!(r.status, 404);
    // Once expired, the link says so (ask for a new one).
    let expires = u64::try_from(link.expires_at_ms).unwrap();
    while now_ms() <= expires + 1000 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = api.get(None, &link.url, &[]).await;
    assert_eq!((r.status, r.reason()), (401, "URL_EXPIRED".into()));
    node.stop().await;
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(since.unwrap().as_millis()).unwrap()
}
