use chat_actors::auth::{Claims, TokenSigner};
use chat_proto::v1::{ErrorCode, server_frame::Payload};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn signup_login_refresh_logout() {
    let node = TestNode::start().await;
    let http = node.http();
    let alice = http.signup("Alice").await;
    assert_eq!(alice.username, "alice");

    let (status, body) = http
        .post(
            "/v1/auth/signup",
            &json!({"username": "alice", "display_name": "A2", "password": "whatever123"}),
        )
        .await;
    assert_eq!((status, reason(&body)), (409, "USERNAME_TAKEN"));

    let (status, body) = http
        .post(
            "/v1/auth/login",
            &json!({"username": "alice", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let login = account(&body);
    assert_eq!(login.id, alice.id);
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body.to_string().find("password").is_none(),
        "no password data in replies"
    );

    for (username, password) in [
        ("alice", "wrong password"),
        ("nobody", "correct horse"),
        ("", ""),
    ] {
        let (status, body) = http
            .post(
                "/v1/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(
            (status, reason(&body)),
            (401, "BAD_CREDENTIALS"),
            "{username}"
        );
    }

    // Refresh rotates: the new pair works, the old refresh token does not.
    let (status, body) = http.refresh(&login.refresh_token).await;
    assert_eq!(status, 200, "{body}");
    let rotated = account(&body);
    assert_ne!(rotated.refresh_token, login.refresh_token);
    let mut c = Client::connect(node.addr, &rotated.access_token, Wire::Json).await;
    assert!(matches!(
        c.call(chat_proto::v1::client_frame::Command::Ping(
            Default::default()
        ))
        .await,
        Payload::Pong(_)
    ));

    // Re-using the spent token is theft: it fails and revokes the family, rotated one included.
    let (status, body) = http.refresh(&login.refresh_token).await;
    assert_eq!((status, reason(&body)), (401, "REFRESH_TOKEN_INVALID"));
    let (status, _) = http.refresh(&rotated.refresh_token).await;
    assert_eq!(status, 401);

    // Log-out revokes; logging out twice is fine.
    let (status, _) = http.logout(&alice.refresh_token).await;
    assert_eq!(status, 200);
    let (status, _) = http.logout(&alice.refresh_token).await;
    assert_eq!(status, 200);
    let (status, body) = http.refresh(&alice.refresh_token).await;
    assert_eq!((status, reason(&body)), (401, "REFRESH_TOKEN_INVALID"));
    node.stop().await;
}

#[tokio::test]
async fn signup_input_errors_store_nothing() {
    let node = TestNode::start().await;
    let http = node.http();
    let cases = [
        (
            json!({"username": "ab", "display_name": "x", "password": "long enough"}),
            "INVALID_USERNAME",
        ),
        (
            json!({"username": "9lives", "display_name": "x", "password": "long enough"}),
            "INVALID_USERNAME",
        ),
        (
            json!({"username": "has space", "display_name": "x", "password": "long enough"}),
            "INVALID_USERNAME",
        ),
        (
            json!({"username": "okname", "display_name": "", "password": "long enough"}),
            "INVALID_DISPLAY_NAME",
        ),
        (
            json!({"username": "okname", "display_name": "a\u{7}b", "password": "long enough"}),
            "INVALID_DISPLAY_NAME",
        ),
        (
            json!({"username": "okname", "display_name": "x", "password": "short"}),
            "INVALID_PASSWORD",
        ),
        (
            json!({"username": 5, "display_name": "x", "password": "long enough"}),
            "MALFORMED_REQUEST",
        ),
    ];
    for (body, expected) in cases {
        let (status, reply) = http.post("/v1/auth/signup", &body).await;
        assert_eq!((status, reason(&reply)), (400, expected), "{body}");
    }
    let (status, reply) = http.post_raw("/v1/auth/signup", "{not json".into()).await;
    assert_eq!((status, reason(&reply)), (400, "MALFORMED_REQUEST"));
    let (status, reply) = http.post_raw("/v1/auth/signup", "x".repeat(100_000)).await;
    assert_eq!(status, 413, "{reply}");
    // None of the above created "okname".
    let (status, reply) = http
        .post(
            "/v1/auth/login",
            &json!({"username": "okname", "password": "long enough"}),
        )
        .await;
    assert_eq!((status, reason(&reply)), (401, "BAD_CREDENTIALS"));
    node.stop().await;
}

#[tokio::test]
async fn socket_tokens_missing_bad_and_expired() {
    let node = TestNode::start().await;
    let alice = node.http().signup("alice").await;

    // No token in the URL: commands are refused until an authenticate frame.
    let mut c = Client::connect_raw(node.addr, None, Wire::Json).await;
    let p = c
        .call(chat_proto::v1::client_frame::Command::Ping(
            Default::default(),
        ))
        .await;
    assert_error(p, ErrorCode::Unauthenticated, "NOT_AUTHENTICATED");
    let p = c
        .call(chat_proto::v1::client_frame::Command::Authenticate(
            chat_proto::v1::AuthenticateRequest {
                access_token: alice.access_token.clone(),
            },
        ))
        .await;
    assert!(
        matches!(p, Payload::Authenticated(ref a) if a.user.as_ref().unwrap().id == alice.id),
        "{p:?}"
    );
    let p = c
        .call(chat_proto::v1::client_frame::Command::Authenticate(
            chat_proto::v1::AuthenticateRequest {
                access_token: alice.access_token.clone(),
            },
        ))
        .await;
    // Authenticating again re-authenticates in place (a fresh token before expiry)...
    assert!(matches!(p, Payload::Authenticated(_)), "{p:?}");
    // ...but only as the same user.
    let bob = node.http().signup("bob").await;
    let p = c
        .call(chat_proto::v1::client_frame::Command::Authenticate(
            chat_proto::v1::AuthenticateRequest {
                access_token: bob.access_token.clone(),
            },
        ))
        .await;
    assert_error(p, ErrorCode::FailedPrecondition, "USER_MISMATCH");

    // A forged token: error frame, then close 4100.
    let mut c = Client::connect_raw(node.addr, Some("not.a.token"), Wire::Json).await;
    let f = c.next_frame().await.unwrap();
    assert_error(
        f.payload.unwrap(),
        ErrorCode::Unauthenticated,
        "TOKEN_INVALID",
    );
    assert_eq!(c.closed_code().await, Some(4100));

    // An expired but genuine token.
    let key = base64_decode(SIGNING_KEY_B64);
    let expired = TokenSigner::new("k1", key).sign(&Claims {
        sub: alice.id.to_string(),
        iat: 0,
        exp: 1,
        sid: 0,
    });
    let mut c = Client::connect_raw(node.addr, Some(&expired), Wire::Json).await;
    let f = c.next_frame().await.unwrap();
    assert_error(
        f.payload.unwrap(),
        ErrorCode::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    assert_eq!(c.closed_code().await, Some(4100));
    node.stop().await;
}

#[tokio::test]
async fn unauthenticated_socket_is_closed_after_the_deadline() {
    let node = TestNode::start_with(|c| c.chat.auth_timeout_secs = 1).await;
    let mut c = Client::connect_raw(node.addr, None, Wire::Json).await;
    assert_eq!(c.closed_code().await, Some(4002));
    node.stop().await;
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[tokio::test]
async fn signing_keys_rotate_and_old_tokens_stay_valid_until_the_key_is_dropped() {
    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const K2: &str = "a2V5LXR3by1pcy1hbHNvLTMyLWJ5dGVzLWxvbmchISE=";
    let node = TestNode::start_with(|c| c.auth.signing_key = Some(K1.into())).await;
    let [ann] = node.http().signups(["ann"]).await;
    let dir = node.stop_keep_dir().await;
    // Rotated: a new key "k2"; the old one is still accepted.
    let node = TestNode::start_in(dir, |c| {
        c.auth.signing_key = Some(K2.into());
        c.auth.signing_key_id = "k2".into();
        c.auth.previous_signing_keys = [("k1".to_owned(), K1.to_owned())].into();
    })
    .await;
    Client::connect(node.addr, &ann.access_token, Wire::Json).await;
    let (status, body) = node
        .http()
        .post(
            "/v1/auth/login",
            &json!({"username": "ann", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let fresh = account(&body);
    Client::connect(node.addr, &fresh.access_token, Wire::Json).await;
    let dir = node.stop_keep_dir().await;
    // The old key dropped: its tokens are refused, the new ones still work.
    let node = TestNode::start_in(dir, |c| {
        c.auth.signing_key = Some(K2.into());
        c.auth.signing_key_id = "k2".into();
    })
    .await;
    let mut old = Client::connect_raw(node.addr, Some(&ann.access_token), Wire::Json).await;
    let refused = old.next_frame().await.unwrap();
    match refused.payload {
        Some(Payload::Error(e)) => assert_eq!(e.reason, "TOKEN_INVALID"),
        other => panic!("{other:?}"),
    }
    Client::connect(node.addr, &fresh.access_token, Wire::Json).await;
    node.stop().await;
}

#[tokio::test]
async fn the_node_terminates_tls_when_given_a_certificate() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let node = TestNode::start_with(|c| {
        c.http.tls_cert_file = cert_file.display().to_string();
        c.http.tls_key_file = key_file.display().to_string();
    })
    .await;
    // A client that trusts the certificate talks HTTPS.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ready"), "{answer}");
    // Plaintext on the TLS port gets nowhere.
    let mut plain = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    plain
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf).await;
    assert!(!String::from_utf8_lossy(&buf).contains("ready"));
    node.stop().await;
}
