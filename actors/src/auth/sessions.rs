//! Ending log-ins: log-out, log-out everywhere, a password change (which ends every other
//! log-in), and refresh-token reuse. Each ends in [`AuthService::revoke`]: the store first,
//! then every node's [`super::Revocations`], which close the log-in's live connections.

use chat_store::{RefreshOutcome, Revocation, UserId};

use super::{AuthService, bad_credentials, hash_refresh, validate};
use crate::{error::ChatError, ids::now_ms};

/// Revocations outlive the tokens they cover by this much, for clocks that disagree
/// between nodes.
const CLOCK_SKEW_MS: i64 = 60_000;

impl AuthService {
    /// Ends the log-in of a refresh token. Unknown tokens are ignored (log-out is
    /// idempotent).
    pub async fn logout(&self, refresh_token: &str) -> Result<(), ChatError> {
        let hash = hash_refresh(refresh_token);
        match self.inner.store.consume_refresh_token(hash).await? {
            RefreshOutcome::Fresh(rec) | RefreshOutcome::Reused(rec) => {
                self.revoke(rec.user_id, rec.family_id).await
            }
            RefreshOutcome::Revoked | RefreshOutcome::Unknown => Ok(()),
        }
    }

    /// Ends every log-in of the access token's user, this one included. Returns how many.
    pub async fn logout_everywhere(&self, access_token: &str) -> Result<usize, ChatError> {
        let access = self.verify(access_token)?;
        self.revoke_all(access.user_id, None).await
    }

    /// Changes the password of the access token's user after checking the current one, and
    /// ends every other log-in of theirs (this one stays).
    pub async fn change_password(
        &self,
        access_token: &str,
        current: &str,
        new: &str,
    ) -> Result<(), ChatError> {
        let access = self.verify(access_token)?;
        validate::password(new)?;
        let user = self
            .inner
            .store
            .user_by_id(access.user_id)
            .await?
            .ok_or_else(bad_credentials)?;
        // Guessing the current password through here is limited like log-ins are.
        let wait = self.inner.limits.login(None, &user.username)?;
        tokio::time::sleep(wait).await;
        let guessing = &self.inner.limits.guessing;
        if !self.password_matches(user.password_hash, current).await? {
            guessing.failed(None, &user.username);
            return Err(bad_credentials());
        }
        let hash = self.new_password_hash(new).await?;
        if !self
            .inner
            .store
            .set_password_hash(access.user_id, hash)
            .await?
        {
            return Err(bad_credentials());
        }
        self.revoke_all(access.user_id, Some(access.session_id))
            .await
            .map(|_| ())
    }

    /// Ends every log-in of `user` but `keep`.
    async fn revoke_all(&self, user: UserId, keep: Option<u64>) -> Result<usize, ChatError> {
        let sessions = self.inner.store.user_sessions(user).await?;
        let mut ended = 0;
        for session in sessions {
            if Some(session.family_id) != keep {
                self.revoke(user, session.family_id).await?;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Ends one log-in everywhere: its refresh tokens at once, its access tokens and live
    /// connections on every node.
    pub(super) async fn revoke(&self, user: UserId, family_id: u64) -> Result<(), ChatError> {
        let ttl_ms = i64::try_from(self.inner.config.access_ttl_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        let revocation = Revocation {
            user_id: user,
            family_id,
            until_ms: now_ms()
                .saturating_add(ttl_ms)
                .saturating_add(CLOCK_SKEW_MS),
        };
        self.inner.store.revoke_session(revocation).await?;
        self.inner.revocations.revoke(revocation);
        Ok(())
    }

    /// The longest an access token lives: how long revocations are looked back for.
    pub(crate) fn token_horizon(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.inner.config.access_ttl_secs)
            + std::time::Duration::from_millis(CLOCK_SKEW_MS.unsigned_abs())
    }
}
