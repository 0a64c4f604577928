//! Accounts and sessions: sign-up, log-in (Argon2id), access tokens (signed, short-lived) and
//! refresh tokens (opaque, single-use, rotated, revocable by family).

mod revocation;
mod sessions;
mod token;
pub mod validate;

use std::{net::IpAddr, sync::Arc};

use argon2::{
    Argon2, Params,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chat_store::{
    RefreshOutcome, RefreshRecord, SessionRecord, SharedStore, StoreError, UserId, UserRecord,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use revocation::{RELOAD_EVERY, Revocations};
pub use token::{Claims, TokenError, TokenSigner};

use crate::{
    error::{ChatError, Reason, StartError},
    ids::{IdGenerator, now_ms},
    limits::Limits,
};

/// Settings of the account service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Access token lifetime in seconds. Default 900 (15 minutes).
    pub access_ttl_secs: u64,
    /// Refresh token lifetime in seconds. Default 2592000 (30 days).
    pub refresh_ttl_secs: u64,
    /// Argon2id memory cost in KiB. Default 19456 (OWASP's recommendation).
    pub argon2_memory_kib: u32,
    /// Argon2id passes. Default 2.
    pub argon2_iterations: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            argon2_memory_kib: Params::DEFAULT_M_COST,
            argon2_iterations: Params::DEFAULT_T_COST,
        }
    }
}

/// A freshly issued token pair.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The account.
    pub user: UserRecord,
    /// Signed access token.
    pub access_token: String,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Access token expiry (ms since epoch).
    pub access_expires_at_ms: i64,
    /// Refresh token expiry (ms since epoch).
    pub refresh_expires_at_ms: i64,
}

/// The account service. Cheap to clone.
#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

struct Inner {
    config: AuthConfig,
    store: SharedStore,
    ids: Arc<IdGenerator>,
    signer: TokenSigner,
    params: Params,
    /// Verified against when the username is unknown, so timing does not reveal which
    /// usernames exist.
    dummy_hash: String,
    /// Sign-up and log-in rates.
    limits: Arc<Limits>,
    /// Revoked log-ins.
    revocations: Arc<Revocations>,
}

/// What a verified access token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The user.
    pub user_id: UserId,
    /// The log-in (refresh-token family) the token belongs to.
    pub session_id: u64,
    /// When the token expires, seconds since the Unix epoch.
    pub expires_at_secs: i64,
}

fn bad_credentials() -> ChatError {
    ChatError::Unauthenticated(Reason::BadCredentials, "wrong username or password".into())
}

fn refresh_invalid() -> ChatError {
    ChatError::Unauthenticated(
        Reason::RefreshTokenInvalid,
        "refresh token is invalid, expired or revoked; log in again".into(),
    )
}

fn revoked() -> ChatError {
    ChatError::Unauthenticated(
        Reason::AuthRevoked,
        "this log-in was revoked (logged out); log in again".into(),
    )
}

fn secs(ms: i64) -> i64 {
    ms / 1000
}

impl AuthService {
    /// Builds the service. Fails when the Argon2 parameters are out of range.
    pub(crate) fn new(
        config: AuthConfig,
        store: SharedStore,
        ids: Arc<IdGenerator>,
        signer: TokenSigner,
        limits: Arc<Limits>,
        revocations: Arc<Revocations>,
    ) -> Result<Self, StartError> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None)
            .map_err(|e| StartError::Config(format!("auth: argon2 parameters: {e}")))?;
        let dummy_hash = hash_password(&params, "dummy password for timing")
            .map_err(|e| StartError::Config(format!("auth: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                ids,
                signer,
                params,
                dummy_hash,
                limits,
                revocations,
            }),
        })
    }

    /// Creates an account and logs it in; at most `limits.signups_per_ip_per_hour` from the
    /// client's address (`from`, when known). Refused sign-ups (bad input, a taken username)
    /// do not count.
    pub async fn signup(
        &self,
        from: Option<IpAddr>,
        username: &str,
        display_name: &str,
        password: &str,
    ) -> Result<IssuedTokens, ChatError> {
        let username = validate::username(username)?;
        let display_name = validate::display_name(display_name)?;
        validate::password(password)?;
        if self
            .inner
            .store
            .user_by_username(&username)
            .await?
            .is_some()
        {
            return Err(username_taken());
        }
        if let Some(ip) = from {
            self.inner.limits.signup(ip)?;
        }
        let password_hash = self.new_password_hash(password).await?;
        let user = UserRecord {
            id: self.inner.ids.next_id(),
            username,
            display_name,
            password_hash,
            created_at_ms: now_ms(),
            status_message: String::new(),
            avatar_file_id: 0,
        };
        match self.inner.store.create_user(user.clone()).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Err(username_taken()),
            Err(e) => return Err(e.into()),
        }
        self.issue(user, self.inner.ids.next_id(), now_ms()).await
    }

    /// Checks credentials and issues a token pair. Attempts are limited per address (`from`,
    /// when known), and failures slow further guesses (see `guessing.rs`).
    pub async fn login(
        &self,
        from: Option<IpAddr>,
        username: &str,
        password: &str,
    ) -> Result<IssuedTokens, ChatError> {
        let wait = self.inner.limits.login(from, username)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let user = match validate::username(username) {
            Ok(name) => self.inner.store.user_by_username(&name).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map_or_else(
            || self.inner.dummy_hash.clone(),
            |u| u.password_hash.clone(),
        );
        let matches = self.password_matches(hash, password).await?;
        let guessing = &self.inner.limits.guessing;
        match user {
            Some(user) if matches => {
                guessing.succeeded(from, username);
                self.issue(user, self.inner.ids.next_id(), now_ms()).await
            }
            _ => {
                guessing.failed(from, username);
                Err(bad_credentials())
            }
        }
    }

    /// Trades a refresh token for a new pair. A token used twice revokes its whole family.
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens, ChatError> {
        let hash = hash_refresh(refresh_token);
        match self.inner.store.consume_refresh_token(hash).await? {
            RefreshOutcome::Fresh(rec) if rec.expires_at_ms > now_ms() => {
                let user = self
                    .inner
                    .store
                    .user_by_id(rec.user_id)
                    .await?
                    .ok_or_else(refresh_invalid)?;
                self.issue(user, rec.family_id, rec.logged_in_at_ms).await
            }
            RefreshOutcome::Reused(rec) => {
                tracing::warn!(
                    user_id = rec.user_id,
                    "refresh token reused; revoking its log-in"
                );
                self.revoke(rec.user_id, rec.family_id).await?;
                Err(refresh_invalid())
            }
            _ => Err(refresh_invalid()),
        }
    }

    /// Verifies an access token and returns the user id it names.
    pub fn verify_access(&self, token: &str) -> Result<UserId, ChatError> {
        self.verify(token).map(|access| access.user_id)
    }

    /// Verifies an access token: genuine, unexpired, and its log-in not revoked.
    pub fn verify(&self, token: &str) -> Result<Access, ChatError> {
        if token.is_empty() {
            return Err(ChatError::Unauthenticated(
                Reason::TokenMissing,
                "access token missing".into(),
            ));
        }
        match self.inner.signer.verify(token, secs(now_ms())) {
            Ok(claims) if self.inner.revocations.is_revoked(claims.sid) => Err(revoked()),
            Ok(claims) => {
                let user_id = claims.sub.parse().map_err(|_| {
                    ChatError::Unauthenticated(
                        Reason::TokenInvalid,
                        "access token is invalid".into(),
                    )
                })?;
                Ok(Access {
                    user_id,
                    session_id: claims.sid,
                    expires_at_secs: claims.exp,
                })
            }
            Err(TokenError::Expired) => Err(ChatError::Unauthenticated(
                Reason::TokenExpired,
                "access token expired; refresh it".into(),
            )),
            Err(TokenError::Invalid) => Err(ChatError::Unauthenticated(
                Reason::TokenInvalid,
                "access token is invalid".into(),
            )),
        }
    }

    /// Verifies an access token and loads its user, without the password hash (callers keep
    /// it for a connection's life and never need it).
    pub async fn user_for_token(&self, token: &str) -> Result<(UserRecord, Access), ChatError> {
        let access = self.verify(token)?;
        let mut user = self
            .inner
            .store
            .user_by_id(access.user_id)
            .await?
            .ok_or_else(|| {
                ChatError::Unauthenticated(Reason::TokenInvalid, "account no longer exists".into())
            })?;
        user.password_hash = String::new();
        Ok((user, access))
    }

    /// Checks a password against a stored Argon2 hash (on the blocking pool: it is slow on
    /// purpose).
    async fn password_matches(&self, hash: String, password: &str) -> Result<bool, ChatError> {
        let password = password.to_owned();
        let params = self.inner.params.clone();
        tokio::task::spawn_blocking(move || {
            Argon2::from(params)
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .map_err(|e| ChatError::Internal(e.to_string()))
    }

    /// Hashes a new password (on the blocking pool).
    async fn new_password_hash(&self, password: &str) -> Result<String, ChatError> {
        let params = self.inner.params.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_password(&params, &password))
            .await
            .map_err(|e| ChatError::Internal(e.to_string()))?
    }

    /// The revoked log-ins this node knows of.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.inner.revocations
    }

    async fn issue(
        &self,
        user: UserRecord,
        family_id: u64,
        logged_in_at_ms: i64,
    ) -> Result<IssuedTokens, ChatError> {
        let now = now_ms();
        let ttl = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let access_expires_at_ms = now.saturating_add(ttl(self.inner.config.access_ttl_secs));
        let refresh_expires_at_ms = now.saturating_add(ttl(self.inner.config.refresh_ttl_secs));
        let access_token = self.inner.signer.sign(&Claims {
            sub: user.id.to_string(),
            iat: secs(now),
            exp: secs(access_expires_at_ms),
            sid: family_id,
        });
        let refresh_token = random_token()?;
        self.inner
            .store
            .put_refresh_token(
                hash_refresh(&refresh_token),
                RefreshRecord {
                    user_id: user.id,
                    family_id,
                    expires_at_ms: refresh_expires_at_ms,
                    logged_in_at_ms,
                },
            )
            .await?;
        self.inner
            .store
            .put_session(SessionRecord {
                user_id: user.id,
                family_id,
                created_at_ms: logged_in_at_ms,
                expires_at_ms: refresh_expires_at_ms,
            })
            .await?;
        Ok(IssuedTokens {
            user,
            access_token,
            refresh_token,
            access_expires_at_ms,
            refresh_expires_at_ms,
        })
    }
}

fn username_taken() -> ChatError {
    ChatError::AlreadyExists(Reason::UsernameTaken, "that username is taken".into())
}

fn hash_password(params: &Params, password: &str) -> Result<String, ChatError> {
    Argon2::from(params.clone())
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ChatError::Internal(format!("argon2: {e}")))
}

fn hash_refresh(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn random_token() -> Result<String, ChatError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ChatError::Internal(format!("rng: {e}")))?;
    Ok(B64.encode(bytes))
}

/// Makes a random signing key (for a node without a configured one).
pub fn generate_signing_key() -> Result<Vec<u8>, ChatError> {
    let mut bytes = vec![0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ChatError::Internal(format!("rng: {e}")))?;
    Ok(bytes)
}
