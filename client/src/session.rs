//! A log-in as a token source: the access token while fresh, refreshed when asked (once for
//! concurrent askers: refresh tokens are single-use).

use std::sync::Arc;

use chat_proto::v1::AuthTokens;
use futures::future::BoxFuture;
use tokio::sync::Mutex;

use crate::{error::ClientError, http::HttpApi};

/// An access token and when it expires (ms since the Unix epoch).
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub token: String,
    /// When it stops working.
    pub expires_at_ms: i64,
}

/// Where a client gets access tokens; `fresh` asks for a new one (the current one expires
/// soon or was refused). An error whose [`ClientError::is_signed_out`] is true ends the
/// client.
pub trait TokenSource: Send + Sync + 'static {
    /// The token to use now (a new one when `fresh`).
    fn token(&self, fresh: bool) -> BoxFuture<'_, Result<AccessToken, ClientError>>;
}

/// A fixed token (tests, short-lived tools): never refreshed.
impl TokenSource for AccessToken {
    fn token(&self, _fresh: bool) -> BoxFuture<'_, Result<AccessToken, ClientError>> {
        Box::pin(async move { Ok(self.clone()) })
    }
}

/// A log-in kept current through the HTTP API.
#[derive(Clone)]
pub struct Session {
    http: HttpApi,
    current: Arc<Mutex<AuthTokens>>,
    margin_ms: i64,
}

impl Session {
    /// A session from the tokens a log-in or sign-up returned.
    pub fn new(http: HttpApi, tokens: AuthTokens) -> Self {
        Self {
            http,
            current: Arc::new(Mutex::new(tokens)),
            margin_ms: 60_000,
        }
    }

    /// The tokens as they are now.
    pub async fn tokens(&self) -> AuthTokens {
        self.current.lock().await.clone()
    }

    /// Ends this log-in on the server.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let refresh = self.current.lock().await.refresh_token.clone();
        self.http.logout(&refresh).await
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl TokenSource for Session {
    fn token(&self, fresh: bool) -> BoxFuture<'_, Result<AccessToken, ClientError>> {
        Box::pin(async move {
            // Held across the refresh: a second asker waits and gets the new token.
            let mut current = self.current.lock().await;
            let stale = current.access_expires_at_ms - self.margin_ms <= now_ms();
            if fresh || stale {
                *current = self.http.refresh(&current.refresh_token).await?;
            }
            Ok(AccessToken {
                token: current.access_token.clone(),
                expires_at_ms: current.access_expires_at_ms,
            })
        })
    }
}
