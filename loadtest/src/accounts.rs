//! Users for a run: signed up once, logged in again by later runs with the same prefix.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const PASSWORD: &str = "chatload password";

/// A user chatload can act as.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub access_token: String,
}

/// The accounts API of one node.
#[derive(Clone)]
pub struct Accounts {
    base: String,
    http: reqwest::Client,
}

impl Accounts {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {}{path}", self.base))?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// Signs `username` up, or logs in when it exists from an earlier run.
    pub async fn ensure(&self, username: &str) -> anyhow::Result<Account> {
        let (status, body) = self
            .post(
                "/v1/auth/signup",
                json!({"username": username, "display_name": username, "password": PASSWORD}),
            )
            .await?;
        let body = match status {
            201 => body,
            409 => {
                let (status, body) = self
                    .post(
                        "/v1/auth/login",
                        json!({"username": username, "password": PASSWORD}),
                    )
                    .await?;
                if status != 200 {
                    bail!("login of existing user {username} failed ({status}): {body}");
                }
                body
            }
            _ => bail!("signup of {username} failed ({status}): {body}"),
        };
        let id = body["user"]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("no user id in reply")?;
        let access_token = body["access_token"]
            .as_str()
            .context("no access token in reply")?
            .to_owned();
        Ok(Account { id, access_token })
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
