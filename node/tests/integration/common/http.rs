//! An HTTP client of the accounts API and the node's other routes.

use super::*;

/// HTTP client for the accounts API.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: reqwest::Client,
}

/// A signed-up user.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// Lowercase hex SHA-256 of `bytes`, as `FileInfo.sha256` spells it.
pub fn sha_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A reqwest client.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::new()
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            client: http_client(),
        }
    }

    /// POSTs a JSON body; returns (status, parsed body).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, body: String) -> (u16, Value) {
        self.post_as(None, path, body).await
    }

    /// POSTs a JSON body with `Authorization: Bearer <token>`.
    pub async fn post_authed(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.post_as(Some(token), path, body.to_string()).await
    }

    /// `GET path` with `Authorization: Bearer <token>`: (status, parsed body or null).
    pub async fn get_authed(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST /v1/auth/login` as `username` with the test password.
    pub async fn login(&self, username: &str) -> Account {
        let body = json!({"username": username, "password": "correct horse"});
        let (status, body) = self.post("/v1/auth/login", &body).await;
        assert_eq!(status, 200, "{body}");
        account(&body)
    }

    async fn post_as(&self, token: Option<&str>, path: &str, body: String) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Signs several users up, in order.
    pub async fn signups<const N: usize>(&self, names: [&str; N]) -> [Account; N] {
        let mut accounts = Vec::with_capacity(N);
        for name in names {
            accounts.push(self.signup(name).await);
        }
        accounts.try_into().unwrap_or_else(|_| unreachable!())
    }

    /// `POST /v1/auth/refresh` with a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.post(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// `POST /v1/auth/logout` with a refresh token.
    pub async fn logout(&self, refresh_token: &str) -> (u16, Value) {
        self.post(
            "/v1/auth/logout",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    pub async fn signup(&self, username: &str) -> Account {
        let (status, body) = self
            .post(
                "/v1/auth/signup",
                &json!({"username": username, "display_name": username.to_uppercase(), "password": "correct horse"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        account(&body)
    }
}

/// Reads an `AuthTokens` body.
pub fn account(body: &Value) -> Account {
    Account {
        id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
        username: body["user"]["username"].as_str().unwrap().into(),
        access_token: body["access_token"].as_str().unwrap().into(),
        refresh_token: body["refresh_token"].as_str().unwrap().into(),
    }
}

/// The error reason of an HTTP error body.
pub fn reason(body: &Value) -> &str {
    body["error"]["reason"].as_str().unwrap_or("")
}
