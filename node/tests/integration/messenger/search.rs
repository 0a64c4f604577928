//! Message search over every transport: Korean and English words, phrases, filters, paging
//! with the cursor, and the rules (a newcomer under `joined` finds nothing from before, a
//! deleted message vanishes, an edited one is found by its new text only, a hidden one is
//! not found by who hid it); the errors of a bad query. The index follows the log in the
//! background, so each expectation is polled until the index has caught up.

use super::*;

fn search(room: u64, query: &str) -> v1::SearchMessagesRequest {
    v1::SearchMessagesRequest {
        query: query.into(),
        room_id: room,
        ..Default::default()
    }
}

fn seqs(p: &Payload) -> Vec<(u64, u64)> {
    match p {
        Payload::SearchResults(r) => r
            .hits
            .iter()
            .map(|h| {
                let m = h.message.as_ref().unwrap();
                (m.room_id, m.seq)
            })
            .collect(),
        other => panic!("expected search results, got {other:?}"),
    }
}

/// Searches until the hits are `want` (the indexer runs behind the acks), then returns the
/// last answer.
async fn until_found(
    c: &mut Client,
    req: v1::SearchMessagesRequest,
    want: &[(u64, u64)],
) -> v1::SearchResults {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let p = c.call(Command::SearchMessages(req.clone())).await;
        if seqs(&p) == want {
            let Payload::SearchResults(r) = p else {
                unreachable!()
            };
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{req:?}: got {:?}, want {want:?}",
            seqs(&p)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn search_over_every_transport_with_its_rules() {
    use crate::grpc::{authed, channel};
    use chat_proto::v1::message_service_client::MessageServiceClient;

    let node = TestNode::start_with(|c| c.http.poll_timeout_ms = 1000).await;
    let http = node.http();
    let [ann, ben, cat] = http.signups(["ann", "ben", "cat"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let room = a.create_group("trip", &[ben.id]).await.id;
    let other = a.create_group("work", &[]).await.id;
    let addr = a
        .say_ok(room, "1", "친구에게 주소 보냈어: 역삼동 123")
        .await
        .seq;
    let asked = b.say_ok(room, "2", "친구한테 물어볼게").await.seq;
    let meet = a
        .say_ok(room, "3", "See you at the station tomorrow")
        .await
        .seq;
    let work = a.say_ok(other, "4", "주소 변경 안내").await.seq;

    // Korean with particles, across the caller's rooms, newest first.
    until_found(&mut a, search(room, "친구"), &[(room, asked), (room, addr)]).await;
    let r = until_found(&mut a, search(0, "주소"), &[(other, work), (room, addr)]).await;
    let hit = &r.hits[1];
    assert_eq!(hit.snippet, "친구에게 주소 보냈어: 역삼동 123");
    assert_eq!(
        hit.highlights,
        [v1::TextRange {
            offset: 5,
            length: 2
        }],
        "UTF-16 units of the snippet"
    );
    // Ben is not in `work`.
    until_found(&mut b, search(0, "주소"), &[(room, addr)]).await;
    let p = b.call(Command::SearchMessages(search(other, "주소"))).await;
    assert_error(p, ErrorCode::NotFound, "ROOM_NOT_FOUND");
    // Phrases in order, English case-folded.
    until_found(
        &mut b,
        search(room, "\"STATION tomorrow\""),
        &[(room, meet)],
    )
    .await;
    until_found(&mut b, search(room, "\"tomorrow station\""), &[]).await;

    // A newcomer under `joined` finds nothing from before; what comes after, yes.
    a.call(Command::InviteMembers(v1::InviteMembersRequest {
        room_id: room,
        user_ids: vec![cat.id],
    }))
    .await;
    let mut c = PollClient::open(node.addr, &cat.access_token).await;
    let later = a.say_ok(room, "5", "새 친구 환영해요").await.seq;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = seqs(&c.call(Command::SearchMessages(search(room, "친구"))).await);
        if found == [(room, later)] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cat found {found:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Edits, deletes and hiding take effect at once.
    let edit = Command::EditMessage(v1::EditMessageRequest {
        room_id: room,
        seq: asked,
        client_msg_id: "e".into(),
        body: "동료한테 물어볼게".into(),
        ..Default::default()
    });
    assert!(matches!(b.call(edit).await, Payload::SendAck(_)));
    let delete = Command::DeleteMessage(v1::DeleteMessageRequest {
        room_id: room,
        seq: later,
        client_msg_id: "d".into(),
    });
    assert!(matches!(a.call(delete).await, Payload::SendAck(_)));
    until_found(&mut a, search(room, "친구"), &[(room, addr)]).await;
    until_found(&mut a, search(room, "동료"), &[(room, asked)]).await;
    let hide = Command::HideMessage(v1::HideMessageRequest {
        room_id: room,
        seq: addr,
    });
    assert!(matches!(b.call(hide).await, Payload::Ok(_)));
    until_found(&mut b, search(room, "친구"), &[]).await;
    until_found(&mut a, search(room, "친구"), &[(room, addr)]).await;

    // Filters and paging.
    let by_ben = v1::SearchMessagesRequest {
        sender_id: ben.id,
        ..search(0, "물어볼게")
    };
    until_found(&mut a, by_ben, &[(room, asked)]).await;
    for i in 0..7 {
        a.say_ok(other, &format!("p{i}"), &format!("page word {i}"))
            .await;
    }
    let first = v1::SearchMessagesRequest {
        limit: 5,
        ..search(0, "page")
    };
    let r = until_found(
        &mut a,
        first.clone(),
        &[
            (other, work + 7),
            (other, work + 6),
            (other, work + 5),
            (other, work + 4),
            (other, work + 3),
        ],
    )
    .await;
    assert!(!r.next_cursor.is_empty());
    let next = v1::SearchMessagesRequest {
        cursor: r.next_cursor,
        ..first
    };
    let r = until_found(&mut a, next, &[(other, work + 2), (other, work + 1)]).await;
    assert!(r.next_cursor.is_empty());

    // Bad input: a clear reason, nothing else.
    for (req, code, reason) in [
        (search(0, " ?! "), ErrorCode::InvalidArgument, "EMPTY_QUERY"),
        (
            search(0, &"a".repeat(257)),
            ErrorCode::InvalidArgument,
            "QUERY_TOO_LONG",
        ),
        (
            v1::SearchMessagesRequest {
                cursor: "nope".into(),
                ..search(0, "x")
            },
            ErrorCode::InvalidArgument,
            "INVALID_CURSOR",
        ),
        (
            v1::SearchMessagesRequest {
                limit: 51,
                ..search(0, "x")
            },
            ErrorCode::InvalidArgument,
            "INVALID_LIMIT",
        ),
    ] {
        assert_error(a.call(Command::SearchMessages(req)).await, code, reason);
    }

    // gRPC, unary.
    let mut grpc = MessageServiceClient::new(channel(&node).await);
    let r = grpc
        .search_messages(authed(&ann.access_token, search(room, "역삼동")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].message.as_ref().unwrap().seq, addr);
    let e = grpc
        .search_messages(authed(&ann.access_token, search(room, "")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    node.stop().await;
}
