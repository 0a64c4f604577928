//! Test harness of the crate's unit tests: a node's actor system on the embedded store and
//! the in-process bus (nothing installed), and connections driven the way a transport
//! drives them, frames in and frames out, without sockets.

#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use chat_proto::v1::{
    self, ClientFrame, ServerFrame, client_frame::Command, server_frame::Payload,
};
use chat_store::{EmbeddedConfig, EmbeddedStore};

use crate::{
    AuthConfig, ChatConfig, ChatSystem, SystemConfig, TokenSigner,
    auth::IssuedTokens,
    connection::{ConnectionHandle, ConnectionMessage, SessionAuth},
    outbound::Outbound,
};

pub(crate) async fn system(dir: &std::path::Path) -> ChatSystem {
    system_with(dir, ChatConfig::default()).await
}

pub(crate) async fn system_with(dir: &std::path::Path, chat: ChatConfig) -> ChatSystem {
    system_configured(dir, chat, AuthConfig::default()).await
}

/// A system with these messenger and account settings (Argon2 made cheap).
pub(crate) async fn system_configured(
    dir: &std::path::Path,
    chat: ChatConfig,
    auth: AuthConfig,
) -> ChatSystem {
    let store = EmbeddedStore::open(EmbeddedConfig {
        path: dir.to_path_buf(),
        bucket_width_ms: 1000,
        fsync: false,
        max_batch: 16,
    })
    .unwrap();
    let auth = AuthConfig {
        argon2_memory_kib: 256,
        argon2_iterations: 1,
        ..auth
    };
    ChatSystem::start(
        SystemConfig {
            chat,
            auth,
            signer: TokenSigner::new("k", vec![9; 32]),
            node_id: "test".into(),
            node_index: 1,
            fault_injection: true,
            files: crate::FilesConfig::default(),
            blobs: chat_store::Blobs::open(&chat_store::BlobConfig::Local {
                root: dir.join("files"),
            })
            .unwrap(),
            cluster: Default::default(),
            bus: Default::default(),
            limits: crate::limits::LimitsConfig::unlimited(),
        },
        Arc::new(store),
    )
    .await
    .unwrap()
}

/// A connection as a transport holds it, with the last request id it used.
pub(crate) struct Conn(pub(crate) ConnectionHandle, pub(crate) u32);

impl Conn {
    /// Sends a command; returns its request id.
    pub(crate) async fn send(&mut self, command: Command) -> u32 {
        self.1 += 1;
        let frame = ClientFrame {
            request_id: self.1,
            command: Some(command),
        };
        let permit = self.0.permits.clone().acquire_owned().await.unwrap();
        self.0
            .slot
            .dispatch(ConnectionMessage::Frame(frame, Some(permit)))
            .await
            .unwrap();
        self.1
    }

    /// The next frame queued for the client.
    pub(crate) async fn next(&mut self) -> ServerFrame {
        match tokio::time::timeout(Duration::from_secs(10), self.0.outbound.next()).await {
            Ok(Some(Outbound::Frame(f))) => f.frame().clone(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Waits for the close request, skipping frames; returns its code and reason.
    pub(crate) async fn closed(&mut self) -> (u16, String) {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.0.outbound.next()).await {
                Ok(Some(Outbound::Frame(_))) => {}
                Ok(Some(Outbound::Close(c))) => return (c.code, c.reason),
                other => panic!("expected a close, got {other:?}"),
            }
        }
    }

    /// Sends a command and waits for its reply (events in between are skipped).
    pub(crate) async fn call(&mut self, command: Command) -> Payload {
        let id = self.send(command).await;
        loop {
            let f = self.next().await;
            if f.request_id == id {
                return f.payload.unwrap();
            }
        }
    }
}

impl Conn {
    /// A new connection of `sys`, not authenticated yet.
    pub(crate) async fn open(sys: &ChatSystem) -> Self {
        Self(
            sys.connections
                .open_session(SessionAuth::InBand(None), None)
                .await
                .unwrap(),
            0,
        )
    }

    /// A new connection, authenticated as `tokens`' user.
    pub(crate) async fn of(sys: &ChatSystem, tokens: &IssuedTokens) -> Self {
        let mut c = Self::open(sys).await;
        let p = c
            .call(Command::Authenticate(v1::AuthenticateRequest {
                access_token: tokens.access_token.clone(),
            }))
            .await;
        assert!(matches!(p, Payload::Authenticated(_)), "{p:?}");
        c
    }
}

/// Signs a user up (password `password 1`).
pub(crate) async fn signup(sys: &ChatSystem, name: &str) -> IssuedTokens {
    sys.services
        .auth
        .signup(None, name, name, "password 1")
        .await
        .unwrap()
}

/// Polls `done` until it holds, failing after 10 s.
pub(crate) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
