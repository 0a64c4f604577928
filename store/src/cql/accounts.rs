//! Users, usernames (unique by a lightweight transaction), profiles, search and refresh
//! tokens.

use serde::{Deserialize, Serialize};

use super::{
    store::{CqlStore, Inner},
    values::{first, from_cql, json, lwt, now_ms, parse, to_cql},
};
use crate::{
    backend::AccountStore,
    error::{StoreError, StoreResult},
    records::{FileId, RefreshOutcome, RefreshRecord, UserId, UserRecord},
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
        let i = &self.inner;
        let Some(mut record) = i.user(user).await? else {
            return Ok(None);
        };
        record.display_name = display_name;
        record.status_message = status_message;
        record.avatar_file_id = avatar_file_id;
        i.exec(&i.st.user_insert, (to_cql(user), json(&record)?))
            .await?;
        Ok(Some(record))
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

    async fn revoke_refresh_family(&self, family_id: u64) -> StoreResult<()> {
        let i = &self.inner;
        i.exec(&i.st.family_revoke, (to_cql(family_id),)).await?;
        Ok(())
    }
}
