//! Limits against abuse (issue 11): rates per user and per (real client) address, failed
//! log-ins per username, and open connections per user and per address, each refused with
//! its documented code.

use chat_proto::v1::{self, ErrorCode, client_frame::Command, server_frame::Payload};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_user_sending_too_fast_is_told_when_to_retry_and_nothing_is_stored() {
    let node = TestNode::start_with(|c| {
        c.limits.messages_per_sec = 1;
        c.limits.message_burst = 3;
    })
    .await;
    let [ann, ben] = node.http().signups(["ann", "ben"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let room = a.create_group("fast", &[ben.id]).await;
    for i in 0..3 {
        a.say_ok(room.id, &format!("m{i}"), "ok").await;
    }
    let e = expect_error(a.say(room.id, "m3", "too fast").await);
    assert_eq!(
        (e.code(), e.reason.as_str()),
        (ErrorCode::ResourceExhausted, "RATE_LIMITED")
    );
    assert!(e.retryable && e.retry_after_ms > 0, "{e:?}");
    assert_eq!(a.all_messages(room.id).await.len(), 3);
    // Another user has a bucket of their own.
    let mut b = Client::connect(node.addr, &ben.access_token, Wire::Json).await;
    b.say_ok(room.id, "b1", "mine").await;
}

#[tokio::test]
async fn rooms_created_per_hour_are_limited() {
    let node = TestNode::start_with(|c| c.limits.rooms_per_hour = 2).await;
    let [ann] = node.http().signups(["ann"]).await;
    let mut a = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    a.create_group("one", &[]).await;
    a.create_group("two", &[]).await;
    let p = a
        .call(Command::CreateGroupRoom(v1::CreateGroupRoomRequest {
            name: "three".into(),
            member_ids: vec![],
            ..Default::default()
        }))
        .await;
    assert_error(p, ErrorCode::ResourceExhausted, "RATE_LIMITED");
}

/// `POST path` as if from `client` behind the node's trusted proxy (loopback).
async fn post_from(
    node: &TestNode,
    client: &str,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = http_client()
        .post(format!("http://{}{path}", node.addr))
        .header("x-forwarded-for", format!("{client}, 127.0.0.1"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_password_guesser_is_refused_while_the_owner_elsewhere_gets_in() {
    let node = TestNode::start_with(|c| {
        c.limits.login_failures_per_username_and_ip = 3;
        c.http.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    node.http().signup("ann").await;
    let login = |password: &str| json!({"username": "ann", "password": password});
    let guesser = "203.0.113.7";
    for _ in 0..4 {
        let (status, _) =
            post_from(&node, guesser, "/v1/auth/login", &login("wrong password")).await;
        assert_eq!(status, 401);
    }
    // From the guesser's address even the right password waits now...
    let (status, body) = post_from(&node, guesser, "/v1/auth/login", &login("correct horse")).await;
    assert_eq!((status, reason(&body)), (429, "RATE_LIMITED"), "{body}");
    assert!(body["error"]["retryable"].as_bool().unwrap());
    // ...but the owner, from their own address, gets in.
    let (status, body) = post_from(
        &node,
        "198.51.100.2",
        "/v1/auth/login",
        &login("correct horse"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    node.stop().await;
}

#[tokio::test]
async fn signups_are_limited_per_real_client_address_counting_only_accepted_ones() {
    let node = TestNode::start_with(|c| {
        c.limits.signups_per_ip_per_hour = 2;
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let signup =
        |name: &str| json!({"username": name, "display_name": name, "password": "correct horse"});
    let (status, _) = post_from(&node, "192.0.2.1", "/v1/auth/signup", &signup("ann")).await;
    assert_eq!(status, 201);
    // Refused sign-ups (a taken name, a bad one) use up nothing.
    for _ in 0..3 {
        let (status, body) = post_from(&node, "192.0.2.1", "/v1/auth/signup", &signup("ann")).await;
        assert_eq!((status, reason(&body)), (409, "USERNAME_TAKEN"));
        let (status, _) = post_from(&node, "192.0.2.1", "/v1/auth/signup", &signup("x")).await;
        assert_eq!(status, 400);
    }
    let (status, _) = post_from(&node, "192.0.2.1", "/v1/auth/signup", &signup("ben")).await;
    assert_eq!(status, 201);
    let (status, body) = post_from(&node, "192.0.2.1", "/v1/auth/signup", &signup("cat")).await;
    assert_eq!((status, reason(&body)), (429, "RATE_LIMITED"), "{body}");
    // Another client behind the same proxy has a budget of its own.
    let (status, _) = post_from(&node, "192.0.2.2", "/v1/auth/signup", &signup("cat")).await;
    assert_eq!(status, 201);
    node.stop().await;
}

#[tokio::test]
async fn open_connections_are_limited_per_user_and_per_address() {
    let node = TestNode::start_with(|c| {
        c.limits.connections_per_user = 2;
        c.limits.connections_per_ip = 4;
    })
    .await;
    let [ann, ben] = node.http().signups(["ann", "ben"]).await;
    let first = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let _second = Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    // The third of the same user is refused: an error, then close 4103.
    let mut third = Client::connect_raw(node.addr, Some(&ann.access_token), Wire::Json).await;
    let refused = third.next_frame().await.unwrap();
    match refused.payload {
        Some(Payload::Error(e)) => assert_eq!(e.reason, "TOO_MANY_CONNECTIONS"),
        other => panic!("{other:?}"),
    }
    assert_eq!(third.closed_code().await, Some(4103));
    // Closing one makes room again.
    drop(first);
    let deadline = std::time::Instant::now() + PATIENCE;
    let _again = loop {
        if let Some(c) = Client::try_connect(node.addr, &ann.access_token, Wire::Json).await {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the closed socket was never released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Per address: this test's four sockets are all from 127.0.0.1 (two of ann's, plus the
    // one being refused may still be closing); ben fills the rest, then the address is full
    // and the upgrade itself is refused with 429.
    let mut bens = Vec::new();
    let refused = loop {
        match Client::try_connect(node.addr, &ben.access_token, Wire::Json).await {
            Some(c) => bens.push(c),
            None => break bens.len(),
        }
        assert!(bens.len() <= 4, "the address limit never applied");
    };
    assert!(refused <= 2, "{refused} sockets of ben fitted in");
    let upgrade = http_client()
        .get(format!(
            "http://{}/v1/ws?access_token={}",
            node.addr, ben.access_token
        ))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(upgrade.status().as_u16(), 429);
    let body: serde_json::Value = upgrade.json().await.unwrap();
    assert_eq!(reason(&body), "TOO_MANY_CONNECTIONS");
}
