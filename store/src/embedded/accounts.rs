//! Users, usernames (unique under the read-modify-write lock), profiles, search and refresh
//! tokens.

use serde::{Deserialize, Serialize};

use super::store::EmbeddedStore;
use crate::{
    backend::AccountStore,
    error::{StoreError, StoreResult},
    keys,
    records::{
        FileId, RefreshOutcome, RefreshRecord, Revocation, SessionRecord, UserId, UserRecord,
        now_ms,
    },
};

/// A stored refresh token and whether it has been spent.
#[derive(Serialize, Deserialize)]
struct StoredRefresh {
    record: RefreshRecord,
    used: bool,
}

#[async_trait::async_trait]
impl AccountStore for EmbeddedStore {
    async fn create_user(&self, user: UserRecord) -> StoreResult<()> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            if t.usernames.contains_key(user.username.as_bytes())? {
                return Err(StoreError::AlreadyExists);
            }
            let mut batch = t.db.batch();
            batch.insert(
                &t.usernames,
                user.username.as_bytes(),
                user.id.to_be_bytes(),
            );
            batch.insert(&t.users, user.id.to_be_bytes(), serde_json::to_vec(&user)?);
            t.commit(batch)
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.point(|t| t.get_json(&t.users, &id.to_be_bytes()))
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let username = username.to_owned();
        self.point(|t| {
            let Some(id) = t.usernames.get(username.as_bytes())? else {
                return Ok(None);
            };
            let id = keys::read_u64(&id, 0)
                .ok_or_else(|| StoreError::Corrupt("short username value".into()))?;
            t.get_json(&t.users, &id.to_be_bytes())
        })
    }

    async fn update_profile(
        &self,
        user: UserId,
        display_name: String,
        status_message: String,
        avatar_file_id: FileId,
    ) -> StoreResult<Option<UserRecord>> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let Some(mut record) = t.get_json::<UserRecord>(&t.users, &user.to_be_bytes())? else {
                return Ok(None);
            };
            record.display_name = display_name;
            record.status_message = status_message;
            record.avatar_file_id = avatar_file_id;
            let mut batch = t.db.batch();
            batch.insert(&t.users, user.to_be_bytes(), serde_json::to_vec(&record)?);
            t.commit(batch)?;
            Ok(Some(record))
        })
        .await
    }

    async fn search_users(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<UserRecord>> {
        let (prefix, after) = (prefix.to_owned(), after.to_owned());
        self.blocking(move |t| {
            let mut out = Vec::new();
            for kv in t.usernames.prefix(prefix.as_bytes()) {
                if out.len() >= limit {
                    break;
                }
                let (name, id) = kv.into_inner()?;
                if *name <= *after.as_bytes() {
                    continue;
                }
                let id = keys::read_u64(&id, 0)
                    .ok_or_else(|| StoreError::Corrupt("short username value".into()))?;
                if let Some(user) = t.get_json(&t.users, &id.to_be_bytes())? {
                    out.push(user);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put_refresh_token(
        &self,
        token_hash: [u8; 32],
        record: RefreshRecord,
    ) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            let stored = StoredRefresh {
                record,
                used: false,
            };
            batch.insert(&t.refresh, token_hash, serde_json::to_vec(&stored)?);
            t.commit(batch)
        })
        .await
    }

    async fn consume_refresh_token(&self, token_hash: [u8; 32]) -> StoreResult<RefreshOutcome> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let Some(mut stored) = t.get_json::<StoredRefresh>(&t.refresh, &token_hash)? else {
                return Ok(RefreshOutcome::Unknown);
            };
            if t.revoked_families
                .contains_key(stored.record.family_id.to_be_bytes())?
            {
                return Ok(RefreshOutcome::Revoked);
            }
            if stored.used {
                return Ok(RefreshOutcome::Reused(stored.record));
            }
            stored.used = true;
            let mut batch = t.db.batch();
            batch.insert(&t.refresh, token_hash, serde_json::to_vec(&stored)?);
            t.commit(batch)?;
            Ok(RefreshOutcome::Fresh(stored.record))
        })
        .await
    }

    async fn put_session(&self, session: SessionRecord) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            let key = keys::key_u64s([session.user_id, session.family_id]);
            batch.insert(&t.sessions, key, serde_json::to_vec(&session)?);
            t.commit(batch)
        })
        .await
    }

    async fn user_sessions(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        let now = now_ms();
        self.blocking(move |t| {
            let mut out = Vec::new();
            for kv in t.sessions.prefix(user.to_be_bytes()) {
                let (_, value) = kv.into_inner()?;
                let session: SessionRecord = serde_json::from_slice(&value)?;
                if session.expires_at_ms > now {
                    out.push(session);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn revoke_session(&self, revocation: Revocation) -> StoreResult<()> {
        self.blocking(move |t| {
            let mut batch = t.db.batch();
            batch.insert(&t.revoked_families, revocation.family_id.to_be_bytes(), []);
            batch.remove(
                &t.sessions,
                keys::key_u64s([revocation.user_id, revocation.family_id]),
            );
            batch.insert(
                &t.revocations,
                revocation_key(revocation.until_ms, revocation.family_id),
                revocation.user_id.to_be_bytes(),
            );
            t.commit(batch)
        })
        .await
    }

    async fn revocations(&self, now_ms: i64, latest_ms: i64) -> StoreResult<Vec<Revocation>> {
        self.blocking(move |t| {
            // Keys sort by expiry: the expired ones come first and are forgotten here.
            let mut out = Vec::new();
            let mut expired = t.db.batch();
            for kv in t.revocations.iter() {
                let (key, value) = kv.into_inner()?;
                let corrupt = || StoreError::Corrupt("short revocation entry".into());
                let until = keys::read_u64(&key, 0).ok_or_else(corrupt)?;
                let until_ms = i64::try_from(until).unwrap_or(i64::MAX);
                if until_ms <= now_ms {
                    expired.remove(&t.revocations, key);
                    continue;
                }
                if until_ms > latest_ms {
                    break;
                }
                out.push(Revocation {
                    user_id: keys::read_u64(&value, 0).ok_or_else(corrupt)?,
                    family_id: keys::read_u64(&key, 1).ok_or_else(corrupt)?,
                    until_ms,
                });
            }
            t.commit(expired)?;
            Ok(out)
        })
        .await
    }

    async fn set_password_hash(&self, user: UserId, password_hash: String) -> StoreResult<bool> {
        self.blocking(move |t| {
            let _guard = t.lock_rmw();
            let Some(mut record) = t.get_json::<UserRecord>(&t.users, &user.to_be_bytes())? else {
                return Ok(false);
            };
            record.password_hash = password_hash;
            let mut batch = t.db.batch();
            batch.insert(&t.users, user.to_be_bytes(), serde_json::to_vec(&record)?);
            t.commit(batch)?;
            Ok(true)
        })
        .await
    }
}

/// `(until_ms, family id)`: revocations in the order they expire.
fn revocation_key(until_ms: i64, family_id: u64) -> Vec<u8> {
    keys::key_u64s([u64::try_from(until_ms.max(0)).unwrap_or(0), family_id])
}
