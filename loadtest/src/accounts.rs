//! Users for a run: signed up once, logged in again by later runs with the same prefix.

use std::sync::Arc;

use anyhow::Context as _;
use chat_client::HttpApi;
use tokio::sync::Semaphore;

const PASSWORD: &str = "chatload password";

/// A user chatload can act as.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub access_token: String,
}

/// The accounts API of one node (the client crate's).
#[derive(Clone)]
pub struct Accounts {
    http: HttpApi,
}

impl Accounts {
    pub fn new(base: &str) -> Self {
        Self {
            http: HttpApi::new(base),
        }
    }

    /// Signs `username` up, or logs in when it exists from an earlier run.
    pub async fn ensure(&self, username: &str) -> anyhow::Result<Account> {
        let tokens = self
            .http
            .signup_or_login(username, PASSWORD)
            .await
            .with_context(|| format!("signup or login of {username}"))?;
        let id = tokens.user.context("no user in reply")?.id;
        Ok(Account {
            id,
            access_token: tokens.access_token,
        })
    }

    /// Ensures `count` users named `<prefix>_<tag>_<i>`, a few at a time (password hashing is
    /// deliberately slow on the server).
    pub async fn ensure_many(
        &self,
        prefix: &str,
        tag: &str,
        count: usize,
    ) -> anyhow::Result<Vec<Account>> {
        self.ensure_range(prefix, tag, 0, count).await
    }

    /// Like [`Accounts::ensure_many`] for indexes `first..first + count`.
    pub async fn ensure_range(
        &self,
        prefix: &str,
        tag: &str,
        first: usize,
        count: usize,
    ) -> anyhow::Result<Vec<Account>> {
        let limit = Arc::new(Semaphore::new(4));
        let mut tasks = Vec::with_capacity(count);
        for i in first..first + count {
            let this = self.clone();
            let name = format!("{prefix}_{tag}_{i}");
            let limit = limit.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await?;
                this.ensure(&name).await
            }));
        }
        let mut out = Vec::with_capacity(count);
        for t in tasks {
            out.push(t.await??);
        }
        Ok(out)
    }
}
