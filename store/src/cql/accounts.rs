//! Users, usernames (unique by a lightweight transaction), profiles, search and refresh
//! tokens.

use serde::{Deserialize, Serialize};

use super::{
    store::{CqlStore, Inner},
    values::{first, from_cql, json, lwt, now_ms, parse, rows, to_cql},
};
use crate::{
    backend::AccountStore,
    error::{StoreError, StoreResult},
    records::{
        FileId, RefreshOutcome, RefreshRecord, Revocation, SessionRecord, UserId, UserRecord,
    },
};

/// A refresh token's record as stored (its spent flag is a column of its own, for the
/// conditional update that spends it).
#[derive(Serialize, Deserialize)]
struct StoredRefresh {
    record: RefreshRecord,
}

impl Inner {
    pub(super) async fn user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let row: Option<(String,)> = first(self.exec(&self.st.user_get, (to_cql(id),)).await?)?;
        row.map(|(r,)| parse(&r)).transpose()
    }

    /// Changes a user's record by compare-and-set, so a profile update and a password
    /// change racing each other cannot undo one another (a lost password change would keep
    /// the old password working). `None` when the user does not exist.
    async fn modify_user(
        &self,
        id: UserId,
        change: impl Fn(&mut UserRecord),
    ) -> StoreResult<Option<UserRecord>> {
        for _ in 0..16 {
            let row: Option<(String,)> = first(self.exec(&self.st.user_get, (to_cql(id),)).await?)?;
            let Some((stored,)) = row else {
                return Ok(None);
            };
            let mut record: UserRecord = parse(&stored)?;
            change(&mut record);
            let swap = (json(&record)?, to_cql(id), stored);
            let (applied, _) = lwt(self.exec(&self.st.user_swap, swap).await?)?;
            if applied {
                return Ok(Some(record));
            }
        }
        Err(StoreError::Unavailable("user record too contended".into()))
    }
}

#[async_trait::async_trait]
impl AccountStore for CqlStore {
    async fn create_user(&self, user: UserRecord) -> StoreResult<()> {
        let i = &self.inner;
        let (applied, _) = lwt(i
            .exec(&i.st.username_claim, (&user.username, to_cql(user.id)))
            .await?)?;
        if !applied {
            return Err(StoreError::AlreadyExists);
        }
        i.exec(&i.st.user_insert, (to_cql(user.id), json(&user)?))
            .await?;
        i.usernames
            .insert(&i.session, &user.username, user.id)
            .await?;
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        self.inner.user(id).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let i = &self.inner;
        let row: Option<(i64,)> = first(i.exec(&i.st.username_get, (username,)).await?)?;
        match row {
            Some((id,)) => i.user(from_cql(id)).await,
            None => Ok(None),
        }
    }

    async fn update_profile(
        &self,
        user: UserId,
        display_name: String,
        status_message: String,
        avatar_file_id: FileId,
    ) -> StoreResult<Option<UserRecord>> {
        self.inner
            .modify_user(user, |record| {
                record.display_name.clone_from(&display_name);
                record.status_message.clone_from(&status_message);
                record.avatar_file_id = avatar_file_id;
            })
            .await
    }

    async fn search_users(
        &self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<UserRecord>> {
        let i = &self.inner;
        let found = i.usernames.search(&i.session, prefix, after, limit).await?;
        let users = futures::future::join_all(found.iter().map(|(_, id)| i.user(*id))).await;
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            if let Some(u) = user? {
                out.push(u);
            }
        }
        Ok(out)
    }

    async fn put_refresh_token(
        &self,
        token_hash: [u8; 32],
        record: RefreshRecord,
    ) -> StoreResult<()> {
        let i = &self.inner;
        let ttl_secs = (record.expires_at_ms - now_ms()).max(1000) / 1000;
        let ttl = i32::try_from(ttl_secs).unwrap_or(i32::MAX);
        i.exec(
            &i.st.refresh_insert,
            (token_hash.to_vec(), json(&StoredRefresh { record })?, ttl),
        )
        .await?;
        Ok(())
    }

    async fn consume_refresh_token(&self, token_hash: [u8; 32]) -> StoreResult<RefreshOutcome> {
        let i = &self.inner;
        let row: Option<(String, Option<bool>)> =
            first(i.exec(&i.st.refresh_get, (token_hash.to_vec(),)).await?)?;
        let Some((stored, _)) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        let record = parse::<StoredRefresh>(&stored)?.record;
        let revoked: Option<(i64,)> = first(
            i.exec(&i.st.family_get, (to_cql(record.family_id),))
                .await?,
        )?;
        if revoked.is_some() {
            return Ok(RefreshOutcome::Revoked);
        }
        let (applied, _) = lwt(i.exec(&i.st.refresh_use, (token_hash.to_vec(),)).await?)?;
        Ok(if applied {
            RefreshOutcome::Fresh(record)
        } else {
            RefreshOutcome::Reused(record)
        })
    }

    async fn put_session(&self, session: SessionRecord) -> StoreResult<()> {
        let i = &self.inner;
        let values = (
            to_cql(session.user_id),
            to_cql(session.family_id),
            json(&session)?,
            ttl_until(session.expires_at_ms),
        );
        i.exec(&i.st.session_put, values).await?;
        Ok(())
    }

    async fn user_sessions(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        let i = &self.inner;
        let found: Vec<(String,)> = rows(i.exec(&i.st.sessions_of, (to_cql(user),)).await?)?;
        let now = now_ms();
        let mut out = Vec::with_capacity(found.len());
        for (record,) in found {
            let session: SessionRecord = parse(&record)?;
            if session.expires_at_ms > now {
                out.push(session);
            }
        }
        Ok(out)
    }

    async fn revoke_session(&self, revocation: Revocation) -> StoreResult<()> {
        let i = &self.inner;
        let Revocation {
            user_id,
            family_id,
            until_ms,
        } = revocation;
        // The revocation first: once the family is marked, its refresh tokens stop working,
        // and a node that starts must already find the revocation.
        let row = (
            hour_of(until_ms),
            to_cql(family_id),
            to_cql(user_id),
            until_ms,
            ttl_until(until_ms),
        );
        i.exec(&i.st.revocation_put, row).await?;
        i.exec(&i.st.family_revoke, (to_cql(family_id),)).await?;
        i.exec(&i.st.session_delete, (to_cql(user_id), to_cql(family_id)))
            .await?;
        Ok(())
    }

    async fn revocations(&self, now_ms: i64, latest_ms: i64) -> StoreResult<Vec<Revocation>> {
        let i = &self.inner;
        let hours = hour_of(now_ms)..=hour_of(latest_ms.max(now_ms));
        let reads = hours.map(|h| i.exec(&i.st.revocations_in, (h,)));
        let mut out = Vec::new();
        for result in futures::future::join_all(reads).await {
            let found: Vec<(i64, i64, i64)> = rows(result?)?;
            for (family_id, user_id, until_ms) in found {
                if until_ms > now_ms {
                    out.push(Revocation {
                        user_id: from_cql(user_id),
                        family_id: from_cql(family_id),
                        until_ms,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn set_password_hash(&self, user: UserId, password_hash: String) -> StoreResult<bool> {
        let changed = self
            .inner
            .modify_user(user, |record| {
                record.password_hash.clone_from(&password_hash)
            })
            .await?;
        Ok(changed.is_some())
    }
}

/// The hour (since the Unix epoch) a revocation lapses in: its partition.
fn hour_of(ms: i64) -> i64 {
    ms.max(0) / 3_600_000
}

/// A TTL in seconds that keeps a row until `until_ms` (at least one second).
fn ttl_until(until_ms: i64) -> i32 {
    let secs = (until_ms - now_ms()).max(1000) / 1000 + 1;
    i32::try_from(secs).unwrap_or(i32::MAX)
}
