//! The access-control matrix (issue 11): every room command and the file download, for every
//! kind of caller, over the WebSocket, long polling, gRPC and the HTTP file API, against the
//! documented outcome.

use chat_actors::auth::{Claims, TokenSigner};
use chat_proto::v1::{
    self, client_frame::Command, message_service_client::MessageServiceClient,
    room_service_client::RoomServiceClient, server_frame::Payload,
};

use crate::{
    auth::base64_decode,
    common::*,
    grpc::{authed, channel, reason_of},
};

/// What a caller is to the room under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Member,
    NonMember,
    FormerMember,
    /// Not a member, and blocked by the room's creator.
    Blocked,
}

/// The outcome a cell of the matrix expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok,
    Denied(&'static str),
}

fn commands(room: u64, someone: u64, tag: &str) -> Vec<(&'static str, Command)> {
    vec![
        (
            "send_message",
            send_cmd(room, &format!("acl-{tag}"), "hello"),
        ),
        (
            "get_history",
            Command::GetHistory(v1::GetHistoryRequest {
                room_id: room,
                before_seq: 0,
                limit: 10,
            }),
        ),
        (
            "open_room",
            Command::OpenRoom(v1::OpenRoomRequest {
                room_id: room,
                since_seq: 0,
            }),
        ),
        (
            "mark_read",
            Command::MarkRead(v1::MarkReadRequest {
                room_id: room,
                seq: 1,
            }),
        ),
        (
            "typing",
            Command::Typing(v1::TypingRequest { room_id: room }),
        ),
        (
            "invite_members",
            Command::InviteMembers(v1::InviteMembersRequest {
                room_id: room,
                user_ids: vec![someone],
            }),
        ),
        (
            "leave_room",
            Command::LeaveRoom(v1::LeaveRoomRequest { room_id: room }),
        ),
    ]
}

/// A room command as its unary gRPC call (`open_room` has none: it lives on the session
/// stream, which is the WebSocket's dispatcher); the outcome as [`outcome`] gives it.
async fn grpc_call(node: &TestNode, token: &str, command: Command) -> Option<Result<(), String>> {
    let ch = channel(node).await;
    let mut messages = MessageServiceClient::new(ch.clone());
    let mut rooms = RoomServiceClient::new(ch);
    let result = match command {
        Command::SendMessage(c) => messages.send_message(authed(token, c)).await.map(|_| ()),
        Command::GetHistory(c) => messages.get_history(authed(token, c)).await.map(|_| ()),
        Command::MarkRead(c) => messages.mark_read(authed(token, c)).await.map(|_| ()),
        Command::Typing(c) => messages.typing(authed(token, c)).await.map(|_| ()),
        Command::InviteMembers(c) => rooms.invite_members(authed(token, c)).await.map(|_| ()),
        Command::LeaveRoom(c) => rooms.leave_room(authed(token, c)).await.map(|_| ()),
        _ => return None,
    };
    Some(result.map_err(|s| reason_of(&s)))
}

/// Commands that change membership: a member runs them once, last, on the WebSocket.
fn changes_membership(name: &str) -> bool {
    matches!(name, "invite_members" | "leave_room")
}

fn outcome(p: &Payload) -> Result<(), String> {
    match p {
        Payload::Error(e) => Err(e.reason.clone()),
        _ => Ok(()),
    }
}

#[tokio::test]
async fn every_room_command_and_file_for_every_kind_of_caller() {
    let node = TestNode::start().await;
    let http = node.http();
    let [ann, ben, cat, dan, eve, fay] = http
        .signups(["ann", "ben", "cat", "dan", "eve", "fay"])
        .await;
    let mut owner = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    // The room: ann (creator), ben (member), cat (left), dan (never in), eve (blocked by ann).
    let room = owner.create_group("matrix", &[ben.id, cat.id]).await;
    owner.say_ok(room.id, "first", "first message").await;
    let file = upload(&node, &ann.access_token, b"secret notes").await;
    ok_payload_send(
        owner
            .call(Command::SendMessage(v1::SendMessageRequest {
                room_id: room.id,
                client_msg_id: "with-file".into(),
                body: "a file".into(),
                file_ids: vec![file],
                ..Default::default()
            }))
            .await,
    );
    let mut c = Client::connect(node.addr, &cat.access_token, Wire::Json).await;
    ok_payload(
        c.call(Command::LeaveRoom(v1::LeaveRoomRequest {
            room_id: room.id,
        }))
        .await,
    );
    ok_payload(
        owner
            .call(Command::BlockUser(v1::BlockUserRequest { user_id: eve.id }))
            .await,
    );

    let callers = [
        (Role::Member, &ben),
        (Role::NonMember, &dan),
        (Role::FormerMember, &cat),
        (Role::Blocked, &eve),
    ];
    let mut checked = 0;
    for (role, who) in callers {
        let mut client = Client::connect(node.addr, &who.access_token, Wire::Proto).await;
        // The same dispatcher behind long polling and gRPC: the same answer there.
        let want_read = if role == Role::Member {
            Ok(())
        } else {
            Err("NOT_A_MEMBER".to_owned())
        };
        let mut poll = PollClient::open(node.addr, &who.access_token).await;
        let history = Command::GetHistory(v1::GetHistoryRequest {
            room_id: room.id,
            before_seq: 0,
            limit: 5,
        });
        assert_eq!(
            outcome(&poll.call(history).await),
            want_read,
            "{role:?} long poll"
        );
        let grpc = MessageServiceClient::new(channel(&node).await)
            .get_history(authed(
                &who.access_token,
                v1::GetHistoryRequest {
                    room_id: room.id,
                    before_seq: 0,
                    limit: 5,
                },
            ))
            .await;
        let got = grpc.map(|_| ()).map_err(|s| reason_of(&s));
        assert_eq!(got, want_read, "{role:?} gRPC");
        checked += 2;
        // The file shared in the room: members only (a former member no longer).
        let (status, _) = download(&node, &who.access_token, file).await;
        let want = if role == Role::Member { 200 } else { 404 };
        assert_eq!(status, want, "{role:?} downloads the room's file");
        checked += 1;
        // Every command over long polling and gRPC too (the same dispatcher behind three
        // transports): a member is served, anyone else refused, and nothing changes.
        let want = if role == Role::Member {
            Ok(())
        } else {
            Err("NOT_A_MEMBER".to_owned())
        };
        for (name, command) in commands(room.id, fay.id, &format!("{role:?}-poll")) {
            if role == Role::Member && changes_membership(name) {
                continue;
            }
            let got = outcome(&poll.call(command).await);
            assert_eq!(got, want, "{role:?} {name} over long polling");
            checked += 1;
        }
        for (name, command) in commands(room.id, fay.id, &format!("{role:?}-grpc")) {
            if role == Role::Member && changes_membership(name) {
                continue;
            }
            if let Some(got) = grpc_call(&node, &who.access_token, command).await {
                assert_eq!(got, want, "{role:?} {name} over gRPC");
                checked += 1;
            }
        }
        for (name, command) in commands(room.id, fay.id, &format!("{role:?}")) {
            let want = match role {
                Role::Member => Want::Ok,
                _ => Want::Denied("NOT_A_MEMBER"),
            };
            let got = outcome(&client.call(command).await);
            match want {
                Want::Ok => assert_eq!(got, Ok(()), "{role:?} {name}"),
                Want::Denied(reason) => assert_eq!(got, Err(reason.into()), "{role:?} {name}"),
            }
            checked += 1;
        }
        // A room that does not exist is the same for everyone.
        let got = outcome(
            &client
                .call(Command::GetHistory(v1::GetHistoryRequest {
                    room_id: 42,
                    before_seq: 0,
                    limit: 1,
                }))
                .await,
        );
        assert_eq!(got, Err("ROOM_NOT_FOUND".into()), "{role:?} unknown room");
    }
    // Ben left as the last step of his row: he is a former member now, and nothing he sent
    // as a non-member reached the room.
    let log = owner.all_messages(room.id).await;
    let bodies: Vec<&str> = log
        .iter()
        .filter(|m| m.system.is_none())
        .map(|m| m.body.as_str())
        .collect();
    assert_eq!(
        bodies,
        ["first message", "a file", "hello", "hello", "hello"],
        "the member's sends over long polling, gRPC and the socket; no one else's"
    );

    // The blocked user cannot reach the blocker in other ways either.
    let mut e = Client::connect(node.addr, &eve.access_token, Wire::Json).await;
    for command in [
        Command::CreateDirectRoom(v1::CreateDirectRoomRequest { peer_id: ann.id }),
        Command::SendFriendRequest(v1::SendFriendRequestRequest { user_id: ann.id }),
    ] {
        assert_eq!(outcome(&e.call(command).await), Err("BLOCKED".into()));
    }
    let invite_blocked = owner
        .call(Command::InviteMembers(v1::InviteMembersRequest {
            room_id: room.id,
            user_ids: vec![eve.id],
        }))
        .await;
    assert_eq!(outcome(&invite_blocked), Err("BLOCKED".into()));

    // Anonymous: no command but authenticate is served, no file without a token.
    let mut anon = Client::connect_raw(node.addr, None, Wire::Json).await;
    for (name, command) in commands(room.id, fay.id, "anon") {
        let got = outcome(&anon.call(command).await);
        assert_eq!(got, Err("NOT_AUTHENTICATED".into()), "anonymous {name}");
        checked += 1;
    }
    let (status, body) = download(&node, "", file).await;
    assert_eq!((status, reason(&body)), (401, "TOKEN_MISSING"));
    // Nor over gRPC or long polling.
    for (name, command) in commands(room.id, fay.id, "anon-grpc") {
        if let Some(got) = grpc_call(&node, "", command).await {
            assert_eq!(
                got,
                Err("TOKEN_MISSING".into()),
                "anonymous {name} over gRPC"
            );
            checked += 1;
        }
    }
    let (status, body) = http.post_raw("/v1/poll/sessions", String::new()).await;
    assert_eq!((status, reason(&body)), (401, "TOKEN_MISSING"));

    // An expired (but genuine) token: refused at the socket and at the file API.
    let expired = TokenSigner::new("k1", base64_decode(SIGNING_KEY_B64)).sign(&Claims {
        sub: ben.id.to_string(),
        iat: 0,
        exp: 1,
        sid: 0,
    });
    let mut old = Client::connect_raw(node.addr, Some(&expired), Wire::Json).await;
    let first = old.next_frame().await.unwrap().payload.unwrap();
    assert_eq!(outcome(&first), Err("TOKEN_EXPIRED".into()));
    assert_eq!(old.closed_code().await, Some(4100));
    let (status, body) = download(&node, &expired, file).await;
    assert_eq!((status, reason(&body)), (401, "TOKEN_EXPIRED"));
    for (name, command) in commands(room.id, fay.id, "expired-grpc") {
        if let Some(got) = grpc_call(&node, &expired, command).await {
            assert_eq!(got, Err("TOKEN_EXPIRED".into()), "expired {name} over gRPC");
            checked += 1;
        }
    }
    let r = http_client()
        .post(format!("http://{}/v1/poll/sessions", node.addr))
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "a poll session on an expired token"
    );
    // A revoked log-in: refused everywhere like an expired token, but for good.
    let gone = http.login("ben").await;
    let (status, _) = http.logout(&gone.refresh_token).await;
    assert_eq!(status, 200);
    let mut revoked = Client::connect_raw(node.addr, Some(&gone.access_token), Wire::Json).await;
    let first = revoked.next_frame().await.unwrap().payload.unwrap();
    assert_eq!(outcome(&first), Err("AUTH_REVOKED".into()));
    assert_eq!(revoked.closed_code().await, Some(4101));
    let (status, body) = download(&node, &gone.access_token, file).await;
    assert_eq!((status, reason(&body)), (401, "AUTH_REVOKED"));
    for (name, command) in commands(room.id, fay.id, "revoked-grpc") {
        if let Some(got) = grpc_call(&node, &gone.access_token, command).await {
            assert_eq!(got, Err("AUTH_REVOKED".into()), "revoked {name} over gRPC");
            checked += 1;
        }
    }
    let (status, body) = http
        .post_authed(
            &gone.access_token,
            "/v1/poll/sessions",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!((status, reason(&body)), (401, "AUTH_REVOKED"));
    assert_eq!(checked, 113, "cells checked");
    node.stop().await;
}

fn ok_payload_send(p: Payload) {
    assert!(matches!(p, Payload::SendAck(_)), "{p:?}");
}

async fn upload(node: &TestNode, token: &str, bytes: &[u8]) -> u64 {
    let r = http_client()
        .post(format!("http://{}/v1/files?name=notes.txt", node.addr))
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn download(node: &TestNode, token: &str, file: u64) -> (u16, serde_json::Value) {
    let mut request = http_client().get(format!("http://{}/v1/files/{file}", node.addr));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}
