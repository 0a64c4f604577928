//! The conformance suite: accounts, log-ins and relationships.
#![allow(clippy::unwrap_used, missing_docs)]

use crate::{
    RefreshOutcome, RefreshRecord, Revocation, SessionRecord, SocialEdge, Store, StoreError,
    records::now_ms,
};

use super::fixtures::*;

pub async fn users(store: &dyn Store) {
    store.create_user(user(1, "alice")).await.unwrap();
    assert_eq!(
        store.create_user(user(2, "alice")).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(store.user_by_id(1).await.unwrap(), Some(user(1, "alice")));
    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(user(1, "alice"))
    );
    assert_eq!(store.user_by_id(2).await.unwrap(), None);
    assert_eq!(store.user_by_username("bob").await.unwrap(), None);
}

pub async fn refresh_tokens(store: &dyn Store) {
    // A live expiry: the CQL store keeps a token only for its remaining lifetime, so a
    // past one would vanish within a second on a slow machine.
    let rec = RefreshRecord {
        user_id: 1,
        family_id: 7,
        expires_at_ms: now_ms() + 3_600_000,
        logged_in_at_ms: 1,
    };
    store.put_refresh_token([1; 32], rec.clone()).await.unwrap();
    assert_eq!(
        store.consume_refresh_token([1; 32]).await.unwrap(),
        RefreshOutcome::Fresh(rec.clone())
    );
    assert_eq!(
        store.consume_refresh_token([1; 32]).await.unwrap(),
        RefreshOutcome::Reused(rec.clone())
    );
    assert_eq!(
        store.consume_refresh_token([2; 32]).await.unwrap(),
        RefreshOutcome::Unknown
    );
    store.put_refresh_token([3; 32], rec).await.unwrap();
    let now = now_ms();
    let session = |family_id| SessionRecord {
        user_id: 1,
        family_id,
        created_at_ms: now,
        expires_at_ms: now + 3_600_000,
    };
    store.put_session(session(7)).await.unwrap();
    store.put_session(session(8)).await.unwrap();
    // Re-recording a log-in (a refresh) replaces it.
    store.put_session(session(8)).await.unwrap();
    let families = |v: Vec<SessionRecord>| v.iter().map(|s| s.family_id).collect::<Vec<_>>();
    assert_eq!(families(store.user_sessions(1).await.unwrap()), vec![7, 8]);
    assert!(store.user_sessions(2).await.unwrap().is_empty());
    let revocation = |family_id, until_ms| Revocation {
        user_id: 1,
        family_id,
        until_ms,
    };
    store
        .revoke_session(revocation(7, now + 60_000))
        .await
        .unwrap();
    store.revoke_session(revocation(9, now - 1)).await.unwrap();
    assert_eq!(
        store.consume_refresh_token([3; 32]).await.unwrap(),
        RefreshOutcome::Revoked
    );
    assert_eq!(families(store.user_sessions(1).await.unwrap()), vec![8]);
    // Only revocations still in force come back.
    assert_eq!(
        store.revocations(now, now + 3_600_000).await.unwrap(),
        vec![revocation(7, now + 60_000)]
    );
}

pub async fn passwords(store: &dyn Store) {
    store.create_user(user(1, "alice")).await.unwrap();
    assert!(store.set_password_hash(1, "new".into()).await.unwrap());
    assert_eq!(
        store
            .user_by_username("alice")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new"
    );
    assert!(!store.set_password_hash(2, "new".into()).await.unwrap());
}

pub async fn profiles_and_search(store: &dyn Store) {
    for (id, name) in [
        (1, "kim"),
        (2, "kimchi"),
        (3, "kite"),
        (4, "lee"),
        (5, "kimbap"),
    ] {
        store.create_user(user(id, name)).await.unwrap();
    }
    let found: Vec<String> = store
        .search_users("kim", "", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(found, vec!["kim", "kimbap", "kimchi"]);
    let page: Vec<String> = store
        .search_users("ki", "kimbap", 2)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(page, vec!["kimchi", "kite"]);
    assert!(store.search_users("zz", "", 10).await.unwrap().is_empty());
    let updated = store
        .update_profile(1, "Kim!".into(), "busy".into(), 77)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            updated.display_name.as_str(),
            updated.status_message.as_str()
        ),
        ("Kim!", "busy")
    );
    assert_eq!(updated.avatar_file_id, 77);
    assert_eq!(
        store.user_by_id(1).await.unwrap().unwrap().status_message,
        "busy"
    );
    assert!(
        store
            .update_profile(99, "x".into(), String::new(), 0)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn social_edges(store: &dyn Store) {
    let empty = SocialEdge::default();
    assert_eq!(store.social_edge(1, 2).await.unwrap(), empty);
    let requested = SocialEdge {
        request_from: Some(1),
        request_at_ms: 5,
        ..SocialEdge::default()
    };
    store
        .set_social_edge(1, 2, empty.clone(), requested.clone())
        .await
        .unwrap();
    // The pair is unordered, and a stale compare-and-set loses.
    assert_eq!(store.social_edge(2, 1).await.unwrap(), requested);
    assert!(matches!(
        store
            .set_social_edge(2, 1, empty.clone(), requested.clone())
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let friends = SocialEdge {
        friends_since_ms: Some(9),
        ..SocialEdge::default()
    };
    store
        .set_social_edge(2, 1, requested, friends.clone())
        .await
        .unwrap();
    assert_eq!(
        store.social_edges(1).await.unwrap(),
        vec![(2, friends.clone())]
    );
    assert_eq!(
        store.social_edges(2).await.unwrap(),
        vec![(1, friends.clone())]
    );
    // Back to nothing: the edge and its index entries go.
    store
        .set_social_edge(1, 2, friends, empty.clone())
        .await
        .unwrap();
    assert!(store.social_edges(1).await.unwrap().is_empty());
    assert_eq!(store.social_edge(1, 2).await.unwrap(), empty);
}
