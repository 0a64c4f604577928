//! Access that ends when it should: log-out, refresh-token reuse, log-out everywhere and a
//! password change close the log-in's live connections (4101) and refuse its tokens; a
//! connection re-authenticates in place, and one whose token expires is closed (4100).

use chat_proto::v1::{self, client_frame::Command, server_frame::Payload};

use crate::{
    AuthConfig, ChatConfig, ChatError, ChatSystem, Reason,
    auth::IssuedTokens,
    testing::{Conn, signup, system, system_configured},
};

const AUTH_REVOKED: u16 = 4101;
const UNAUTHENTICATED: u16 = 4100;

fn revoked() -> ChatError {
    ChatError::Unauthenticated(Reason::AuthRevoked, String::new())
}

fn reason(e: &ChatError) -> Reason {
    e.reason()
}

async fn login(sys: &ChatSystem, name: &str) -> IssuedTokens {
    sys.services
        .auth
        .login(None, name, "password 1")
        .await
        .unwrap()
}

#[tokio::test]
async fn logout_closes_that_login_only_and_its_token_stops_working() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let auth = &sys.services.auth;
    let phone = signup(&sys, "alice").await;
    let laptop = login(&sys, "alice").await;
    let (mut on_phone, mut on_laptop) =
        (Conn::of(&sys, &phone).await, Conn::of(&sys, &laptop).await);

    auth.logout(&phone.refresh_token).await.unwrap();
    assert_eq!(
        on_phone.closed().await,
        (AUTH_REVOKED, "AUTH_REVOKED".into())
    );
    let e = auth.verify(&phone.access_token).unwrap_err();
    assert_eq!(reason(&e), reason(&revoked()));
    // A new connection with the revoked token is refused and closed.
    let mut again = Conn::open(&sys).await;
    let p = again
        .call(Command::Authenticate(v1::AuthenticateRequest {
            access_token: phone.access_token.clone(),
        }))
        .await;
    assert!(matches!(p, Payload::Error(e) if e.reason == "AUTH_REVOKED"));
    assert_eq!(again.closed().await.0, AUTH_REVOKED);
    // The other log-in is untouched.
    assert!(matches!(
        on_laptop.call(Command::Ping(v1::PingRequest {})).await,
        Payload::Pong(_)
    ));
    assert!(auth.verify(&laptop.access_token).is_ok());
    // Log-out is idempotent.
    auth.logout(&phone.refresh_token).await.unwrap();
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_login() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let auth = &sys.services.auth;
    let first = signup(&sys, "alice").await;
    let rotated = auth.refresh(&first.refresh_token).await.unwrap();
    let mut conn = Conn::of(&sys, &rotated).await;
    // The spent token comes back: someone copied it.
    let e = auth.refresh(&first.refresh_token).await.unwrap_err();
    assert_eq!(reason(&e), Reason::RefreshTokenInvalid);
    assert_eq!(conn.closed().await.0, AUTH_REVOKED);
    for token in [&first.access_token, &rotated.access_token] {
        assert_eq!(
            reason(&auth.verify(token).unwrap_err()),
            Reason::AuthRevoked
        );
    }
    let e = auth.refresh(&rotated.refresh_token).await.unwrap_err();
    assert_eq!(reason(&e), Reason::RefreshTokenInvalid);
}

#[tokio::test]
async fn logout_everywhere_and_password_change() {
    let dir = tempfile::tempdir().unwrap();
    let sys = system(dir.path()).await;
    let auth = &sys.services.auth;
    let a = signup(&sys, "alice").await;
    let b = login(&sys, "alice").await;
    let c = login(&sys, "alice").await;
    let bob = signup(&sys, "bob").await;
    let (mut on_a, mut on_b, mut on_c) = (
        Conn::of(&sys, &a).await,
        Conn::of(&sys, &b).await,
        Conn::of(&sys, &c).await,
    );
    let mut on_bob = Conn::of(&sys, &bob).await;

    // A wrong current password changes nothing.
    let e = auth
        .change_password(&a.access_token, "wrong password", "password 2")
        .await
        .unwrap_err();
    assert_eq!(reason(&e), Reason::BadCredentials);
    let e = auth
        .change_password(&a.access_token, "password 1", "short")
        .await
        .unwrap_err();
    assert_eq!(reason(&e), Reason::InvalidPassword);
    // The change ends every other log-in; this one stays.
    auth.change_password(&a.access_token, "password 1", "password 2")
        .await
        .unwrap();
    assert_eq!(on_b.closed().await.0, AUTH_REVOKED);
    assert_eq!(on_c.closed().await.0, AUTH_REVOKED);
    assert!(matches!(
        on_a.call(Command::Ping(v1::PingRequest {})).await,
        Payload::Pong(_)
    ));
    assert!(auth.refresh(&b.refresh_token).await.is_err());
    assert!(auth.login(None, "alice", "password 1").await.is_err());
    let d = auth.login(None, "alice", "password 2").await.unwrap();

    assert_eq!(auth.logout_everywhere(&d.access_token).await.unwrap(), 2);
    assert_eq!(on_a.closed().await.0, AUTH_REVOKED);
    for t in [&a, &d] {
        assert_eq!(
            reason(&auth.verify(&t.access_token).unwrap_err()),
            Reason::AuthRevoked
        );
    }
    // Another user is untouched.
    assert!(matches!(
        on_bob.call(Command::Ping(v1::PingRequest {})).await,
        Payload::Pong(_)
    ));
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = {
        let sys = system(dir.path()).await;
        let t = signup(&sys, "alice").await;
        sys.services.auth.logout(&t.refresh_token).await.unwrap();
        sys.shutdown(std::time::Duration::from_secs(5)).await;
        t
    };
    let sys = system(dir.path()).await;
    let e = sys.services.auth.verify(&tokens.access_token).unwrap_err();
    assert_eq!(reason(&e), Reason::AuthRevoked);
}

#[tokio::test]
async fn a_connection_reauthenticates_in_place_or_closes_when_its_token_expires() {
    let dir = tempfile::tempdir().unwrap();
    let auth = AuthConfig {
        access_ttl_secs: 2,
        ..AuthConfig::default()
    };
    let sys = system_configured(dir.path(), ChatConfig::default(), auth).await;
    let alice = signup(&sys, "alice").await;
    let bob = signup(&sys, "bob").await;
    let (mut kept, mut lapsed) = (Conn::of(&sys, &alice).await, Conn::of(&sys, &alice).await);

    // Another user's token is refused and changes nothing.
    let p = kept
        .call(Command::Authenticate(v1::AuthenticateRequest {
            access_token: bob.access_token.clone(),
        }))
        .await;
    assert!(matches!(p, Payload::Error(e) if e.reason == "USER_MISMATCH"));
    // Re-authenticating with fresh tokens, again and again, keeps the connection past
    // every token's expiry.
    let mut refresh = alice.refresh_token.clone();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let fresh = sys.services.auth.refresh(&refresh).await.unwrap();
        refresh = fresh.refresh_token;
        let p = kept
            .call(Command::Authenticate(v1::AuthenticateRequest {
                access_token: fresh.access_token,
            }))
            .await;
        assert!(matches!(p, Payload::Authenticated(_)), "{p:?}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(matches!(
        kept.call(Command::Ping(v1::PingRequest {})).await,
        Payload::Pong(_)
    ));
    // The one that never re-authenticated was closed when its token expired.
    assert_eq!(
        lapsed.closed().await,
        (UNAUTHENTICATED, "TOKEN_EXPIRED".into())
    );
}
