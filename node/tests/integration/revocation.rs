//! Access that ends when it should, through every transport of one node: a log-out closes
//! that log-in's socket, poll session and gRPC stream (4101) and its token is refused
//! everywhere; log-out everywhere and a password change; a client that stops answering is
//! pinged, dropped and shown offline; a block silences the direct room in every transport.
//! (Across the cluster: `cluster::bus`.)

use chat_proto::v1::{
    self, auth_service_client::AuthServiceClient, client_frame::Command,
    message_service_client::MessageServiceClient, server_frame::Payload,
    user_service_client::UserServiceClient,
};
use serde_json::json;
use tonic::Code;

use crate::{
    common::*,
    grpc::{GrpcSession, assert_status, authed, channel},
};

const AUTH_REVOKED: u16 = 4101;

#[tokio::test]
async fn logout_closes_its_login_in_every_transport_and_its_token_is_refused_everywhere() {
    let node = TestNode::start().await;
    let http = node.http();
    let alice = http.signup("alice").await;
    let other = http.login("alice").await;
    let ch = channel(&node).await;

    let mut ws = Client::connect(node.addr, &alice.access_token, Wire::Json).await;
    let mut poll = PollClient::open(node.addr, &alice.access_token).await;
    let mut session = GrpcSession::open(&ch, &alice.access_token).await;
    let mut kept = Client::connect(node.addr, &other.access_token, Wire::Proto).await;

    let (status, _) = http.logout(&alice.refresh_token).await;
    assert_eq!(status, 200);
    assert_eq!(ws.closed_code().await, Some(AUTH_REVOKED));
    let ended = loop {
        match session.next_frame().await {
            Ok(_) => continue,
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    assert_eq!(
        ended.metadata().get("chat-close-code").unwrap(),
        &AUTH_REVOKED.to_string()
    );
    let (status, body) = poll
        .poll_raw(&alice.access_token, &poll.cursor.clone())
        .await;
    assert_eq!((status, reason(&body)), (401, "AUTH_REVOKED"), "{body}");
    let _ = &mut poll;

    // The token opens nothing any more.
    let mut again = Client::connect_raw(node.addr, Some(&alice.access_token), Wire::Json).await;
    let first = again.next_frame().await.unwrap().payload.unwrap();
    assert_error(first, v1::ErrorCode::Unauthenticated, "AUTH_REVOKED");
    assert_eq!(again.closed_code().await, Some(AUTH_REVOKED));
    let r = http_client()
        .post(format!("http://{}/v1/poll/sessions", node.addr))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (status, body) = http
        .get_authed(&alice.access_token, "/v1/files/1/info")
        .await;
    assert_eq!((status, reason(&body)), (401, "AUTH_REVOKED"), "{body}");
    let unary = UserServiceClient::new(ch.clone())
        .get_user(authed(
            &alice.access_token,
            v1::GetUserRequest {
                user_id: alice.id,
                ..Default::default()
            },
        ))
        .await;
    assert_status(unary, Code::Unauthenticated, "AUTH_REVOKED");

    // The other log-in lives on, until the user logs out everywhere.
    assert!(matches!(
        kept.call(Command::Ping(v1::PingRequest {})).await,
        Payload::Pong(_)
    ));
    let (status, body) = http
        .post_authed(
            &other.access_token,
            "/v1/auth/logout_everywhere",
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, &body["sessions_ended"]),
        (200, &json!(1)),
        "{body}"
    );
    assert_eq!(kept.closed_code().await, Some(AUTH_REVOKED));
    let (status, body) = http.refresh(&other.refresh_token).await;
    assert_eq!((status, reason(&body)), (401, "REFRESH_TOKEN_INVALID"));
    node.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_the_other_logins_over_http_and_grpc() {
    let node = TestNode::start().await;
    let http = node.http();
    let alice = http.signup("alice").await;
    let laptop = http.login("alice").await;
    let mut on_laptop = Client::connect(node.addr, &laptop.access_token, Wire::Json).await;
    let mut here = Client::connect(node.addr, &alice.access_token, Wire::Json).await;

    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, body) = http
        .post_authed(
            &alice.access_token,
            "/v1/auth/password",
            &change("wrong one", "new horse 1"),
        )
        .await;
    assert_eq!((status, reason(&body)), (401, "BAD_CREDENTIALS"), "{body}");
    let (status, body) = http
        .post_authed(
            &alice.access_token,
            "/v1/auth/password",
            &change("correct horse", "new horse 1"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(on_laptop.closed_code().await, Some(AUTH_REVOKED));
    assert!(matches!(
        here.call(Command::Ping(v1::PingRequest {})).await,
        Payload::Pong(_)
    ));
    let (status, _) = http
        .post(
            "/v1/auth/login",
            &json!({"username": "alice", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 401);

    // The same over gRPC, which also ends this connection's log-in when asked everywhere.
    let ch = channel(&node).await;
    let mut auth = AuthServiceClient::new(ch.clone());
    let request = v1::ChangePasswordRequest {
        current_password: "new horse 1".into(),
        new_password: "new horse 2".into(),
    };
    auth.change_password(authed(&alice.access_token, request))
        .await
        .unwrap();
    let ended = auth
        .logout_everywhere(authed(&alice.access_token, v1::LogoutEverywhereRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.sessions_ended, 1);
    assert_eq!(here.closed_code().await, Some(AUTH_REVOKED));
    node.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_answering_is_dropped_and_shown_offline() {
    let node = TestNode::start_with(|c| {
        c.http.ping_interval_secs = 1;
        c.http.pong_timeout_secs = 1;
    })
    .await;
    let [ann, ben] = node.http().signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    let room = a.create_direct(ben.id).await;
    b.open(room.id).await;
    // Ann's client stops reading (a paused process): her pings go unanswered. Ben's keeps
    // reading, so it answers its pings while it waits, silent itself.
    let gone = b
        .next_where(|p| match p {
            Payload::PresenceChanged(c) if c.user_id == ann.id && !c.online => Some(c),
            _ => None,
        })
        .await;
    assert_eq!(gone.room_id, room.id);
    assert_eq!(a.closed_code().await, Some(4004));
    assert!(matches!(
        b.call(Command::Ping(v1::PingRequest {})).await,
        Payload::Pong(_)
    ));
    node.stop().await;
}

#[tokio::test]
async fn a_block_silences_the_direct_room_in_every_transport() {
    let node = TestNode::start().await;
    let [ann, ben] = node.http().signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Proto).await;
    let room = b.create_direct(ann.id).await;
    a.open(room.id).await;
    b.say_ok(room.id, "m1", "hi").await;
    a.next_message().await;

    ok_payload(
        a.call(Command::BlockUser(v1::BlockUserRequest { user_id: ben.id }))
            .await,
    );
    let p = a
        .call(Command::BlockUser(v1::BlockUserRequest { user_id: ann.id }))
        .await;
    assert_error(p, v1::ErrorCode::InvalidArgument, "CANNOT_BLOCK_SELF");
    assert_error(
        b.say(room.id, "m2", "still there?").await,
        v1::ErrorCode::PermissionDenied,
        "BLOCKED",
    );
    let mut poll = PollClient::open(node.addr, &ben.access_token).await;
    let p = poll.call(send_cmd(room.id, "m3", "hello?")).await;
    assert_error(p, v1::ErrorCode::PermissionDenied, "BLOCKED");
    let ch = channel(&node).await;
    let typing = MessageServiceClient::new(ch.clone())
        .typing(authed(
            &ben.access_token,
            v1::TypingRequest { room_id: room.id },
        ))
        .await;
    assert_status(typing, Code::PermissionDenied, "BLOCKED");
    let sent = MessageServiceClient::new(ch)
        .send_message(authed(
            &ben.access_token,
            v1::SendMessageRequest {
                room_id: room.id,
                client_msg_id: "m4".into(),
                body: "anyone?".into(),
                file_ids: Vec::new(),
                ..Default::default()
            },
        ))
        .await;
    assert_status(sent, Code::PermissionDenied, "BLOCKED");
    // Nothing reached Ann, and nothing was stored.
    let p = a.call(Command::Ping(v1::PingRequest {})).await;
    assert!(matches!(p, Payload::Pong(_)));
    assert!(
        a.events_pop()
            .into_iter()
            .all(|f| !matches!(f.payload, Some(Payload::Message(_)))),
        "a blocked message was delivered"
    );
    assert_eq!(a.all_messages(room.id).await.len(), 1);

    ok_payload(
        a.call(Command::UnblockUser(v1::UnblockUserRequest {
            user_id: ben.id,
        }))
        .await,
    );
    b.say_ok(room.id, "m5", "sorry").await;
    assert_eq!(a.next_message().await.body, "sorry");
    node.stop().await;
}

#[tokio::test]
async fn a_connection_outlives_its_token_only_by_re_authenticating() {
    let node = TestNode::start_with(|c| c.auth.tokens.access_ttl_secs = 2).await;
    let http = node.http();
    let ann = http.signup("ann").await;
    let mut kept = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let mut lapsed = Client::connect(node.addr, &ann.access_token, Wire::Proto).await;
    let mut poll = PollClient::open(node.addr, &ann.access_token).await;
    let room = kept.create_group("notes", &[]).await;
    kept.open(room.id).await;
    // Fresh tokens, again and again, on the open socket: it stays, its room open.
    let mut refresh = ann.refresh_token.clone();
    for round in 0..4 {
        let (status, body) = http.refresh(&refresh).await;
        assert_eq!(status, 200, "{body}");
        let fresh = account(&body);
        refresh = fresh.refresh_token.clone();
        let p = kept
            .call(Command::Authenticate(v1::AuthenticateRequest {
                access_token: fresh.access_token,
            }))
            .await;
        assert!(matches!(p, Payload::Authenticated(_)), "{p:?}");
        kept.say_ok(room.id, &format!("m{round}"), "still here")
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    }
    // The others never re-authenticated: closed when the token expired.
    assert_eq!(lapsed.closed_code().await, Some(4100));
    let (status, body) = poll.poll_raw(&ann.access_token, &poll.cursor.clone()).await;
    assert_eq!(status / 100, 4, "{body}");
    let _ = &mut poll;
    assert!(matches!(
        kept.call(Command::Ping(v1::PingRequest {})).await,
        Payload::Pong(_)
    ));
    node.stop().await;
}
