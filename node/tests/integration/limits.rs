//! Limits against abuse (issue 11): rates per user, per address and per username, and open
//! connections per user and per address, each refused with its documented code.

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
        .call(Command::CreateGroupRoom(v1::CreateGroupRoom {
            name: "three".into(),
            member_ids: vec![],
        }))
        .await;
    assert_error(p, ErrorCode::ResourceExhausted, "RATE_LIMITED");
}

#[tokio::test]
async fn password_guessing_is_slowed_per_username_and_signups_per_address() {
    let node = TestNode::start_with(|c| {
        c.limits.logins_per_username_per_min = 3;
        c.limits.signups_per_ip_per_hour = 2;
    })
    .await;
    let http = node.http();
    let [ann] = http.signups(["ann"]).await;
    let login = |password: &str| json!({"username": "ann", "password": password});
    for _ in 0..2 {
        let (status, _) = http.post("/v1/auth/login", &login("wrong password")).await;
        assert_eq!(status, 401);
    }
    let (status, _) = http.post("/v1/auth/login", &login("wrong again!")).await;
    assert_eq!(status, 401);
    // Even the right password waits now: the attempts for this username are used up.
    let (status, body) = http
        .post("/v1/auth/login", &login("correct horse battery staple"))
        .await;
    assert_eq!((status, reason(&body)), (429, "RATE_LIMITED"), "{body}");
    assert!(body["error"]["retryable"].as_bool().unwrap());
    // The signup of "ann" used one of this address's two; one more is fine, then no more.
    http.signup("ben").await;
    let (status, body) = http
        .post(
            "/v1/auth/signup",
            &json!({"username": "cat", "display_name": "Cat", "password": "correct horse"}),
        )
        .await;
    assert_eq!((status, reason(&body)), (429, "RATE_LIMITED"), "{body}");
    let _ = ann;
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
