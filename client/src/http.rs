//! The HTTP half of the protocol: accounts and tokens (docs/protocol.md, "Accounts").

use chat_proto::v1::{AuthTokens, ErrorResponse, LogoutEverywhereResponse};
use serde_json::{Value, json};

use crate::error::ClientError;

/// A node's HTTP API at `base` (e.g. `http://127.0.0.1:8080`).
#[derive(Clone)]
pub struct HttpApi {
    base: String,
    http: reqwest::Client,
}

impl HttpApi {
    /// The API of the node at `base`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs JSON; the body of a 2xx answer, or the server's error.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Transport(format!("POST {path}: {e}")))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        match serde_json::from_value::<ErrorResponse>(body) {
            Ok(ErrorResponse { error: Some(e) }) => Err(ClientError::from_frame(&e)),
            _ => Err(ClientError::Transport(format!(
                "POST {path}: HTTP {status}"
            ))),
        }
    }

    async fn tokens(&self, path: &str, body: Value) -> Result<AuthTokens, ClientError> {
        let json = self.post(path, &body, None).await?;
        serde_json::from_value(json).map_err(ClientError::transport)
    }

    /// Creates an account and logs it in.
    pub async fn signup(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
    ) -> Result<AuthTokens, ClientError> {
        let body =
            json!({"username": username, "display_name": display_name, "password": password});
        self.tokens("/v1/auth/signup", body).await
    }

    /// Logs an existing account in.
    pub async fn login(&self, username: &str, password: &str) -> Result<AuthTokens, ClientError> {
        let body = json!({"username": username, "password": password});
        self.tokens("/v1/auth/login", body).await
    }

    /// Signs `username` up, or logs in when the name is taken (by an earlier run).
    pub async fn signup_or_login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<AuthTokens, ClientError> {
        match self.signup(username, username, password).await {
            Err(e) if e.reason() == "USERNAME_TAKEN" => self.login(username, password).await,
            other => other,
        }
    }

    /// Trades a refresh token for a new pair; the old one stops working.
    pub async fn refresh(&self, refresh_token: &str) -> Result<AuthTokens, ClientError> {
        self.tokens("/v1/auth/refresh", json!({"refresh_token": refresh_token}))
            .await
    }

    /// Ends this log-in.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), ClientError> {
        let body = json!({"refresh_token": refresh_token});
        self.post("/v1/auth/logout", &body, None).await.map(drop)
    }

    /// Ends every log-in of the token's user; returns how many.
    pub async fn logout_everywhere(&self, access_token: &str) -> Result<u32, ClientError> {
        let json = self
            .post("/v1/auth/logout_everywhere", &json!({}), Some(access_token))
            .await?;
        let r: LogoutEverywhereResponse =
            serde_json::from_value(json).map_err(ClientError::transport)?;
        Ok(r.sessions_ended)
    }
}
