//! `chatnode`: one node of the chat cluster. This crate only wires the layers together:
//! config -> store -> actor system -> gateway, and shuts them down in order. Tests call
//! [`start`] / [`run`] exactly as the binary does.
//!
//! May depend on every other workspace crate; nothing depends on it.

pub mod config;
mod keys;
pub mod logging;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use chat_actors::{ChatSystem, SystemConfig, TokenSigner};
use chat_gateway::{Frontend, Gateway};
use chat_store::{Blobs, CqlStore, EmbeddedConfig, EmbeddedStore, SharedStore};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use config::NodeConfig;

/// A running node.
pub struct RunningNode {
    /// Where HTTP and WebSocket listen (the real port when configured with port 0).
    pub http_addr: SocketAddr,
    gateway: Gateway,
    system: ChatSystem,
    server: JoinHandle<()>,
    stop_accepting: watch::Sender<bool>,
    shutdown_timeout: Duration,
    _data_lock: keys::DataDirLock,
}

/// Starts a node: opens the store, starts the actors, binds the listener.
pub async fn start(config: NodeConfig) -> anyhow::Result<RunningNode> {
    config.validate()?;
    let data_dir = config.node.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let data_lock = keys::DataDirLock::acquire(&data_dir)?;
    let signing_key = keys::signing_key(config.auth.signing_key.as_deref(), &data_dir)?;
    // Listen first: while the store may still be unreachable, probes get answers
    // (`/readyz` 503 "starting") instead of connection refusals.
    let listener = TcpListener::bind(&config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.http.listen))?;
    let http_addr = listener.local_addr()?;
    let tls = if config.http.tls_cert_file.is_empty() {
        None
    } else {
        Some(chat_gateway::tls::acceptor(
            &config.http.tls_cert_file,
            &config.http.tls_key_file,
        )?)
    };
    let timeouts = chat_gateway::serve::Timeouts::of(&config.http);
    let front = Frontend::starting();
    let (stop_accepting, mut stop_rx) = watch::channel(false);
    let server_front = front.clone();
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        };
        if let Err(e) = server_front.serve(listener, stopped, tls, timeouts).await {
            tracing::error!(error = %e, "http server failed");
        }
    });
    tracing::info!(listen_addr = %http_addr, "listening; starting");
    let system = match build_system(&config, &data_dir, signing_key).await {
        Ok(system) => system,
        Err(e) => {
            let _ = stop_accepting.send(true);
            server.abort();
            return Err(e);
        }
    };
    let gateway = Gateway::new(
        system.services.clone(),
        system.connections.clone(),
        config.http.clone(),
    );
    front.install(gateway.router());
    gateway.set_ready(true);
    tracing::info!(%http_addr, node_id = %config.node_id(), data_dir = %data_dir.display(), "listening");
    Ok(RunningNode {
        http_addr,
        gateway,
        system,
        server,
        stop_accepting,
        shutdown_timeout: Duration::from_secs(config.node.shutdown_timeout_secs),
        _data_lock: data_lock,
    })
}

/// Opens the store and the file storage and starts the actor system.
async fn build_system(
    config: &NodeConfig,
    data_dir: &std::path::Path,
    signing_key: Vec<u8>,
) -> anyhow::Result<ChatSystem> {
    let store = open_store(config, data_dir).await?;
    let blob_config = config.files.blob_config(data_dir);
    let blobs = Blobs::open(&blob_config).context("cannot open the file storage")?;
    let staged = Blobs::remove_staged_uploads(&blob_config)
        .context("cannot clean up interrupted uploads")?;
    if staged > 0 {
        tracing::info!(staged, "removed parts of uploads interrupted by a crash");
    }
    blobs
        .check()
        .await
        .with_context(|| format!("file storage ({}) is unreachable", config.files.backend))?;
    let system = ChatSystem::start(
        SystemConfig {
            chat: config.chat.clone(),
            auth: config.auth.tokens.clone(),
            signer: signer(config, signing_key)?,
            node_id: config.node_id(),
            node_index: config.node_index()?,
            fault_injection: config.debug.fault_injection,
            files: config.files.limits.clone(),
            blobs,
            cluster: config.cluster.clone(),
            bus: config.bus.clone(),
            limits: config.limits.clone(),
        },
        store,
    )
    .await
    .context("cannot start the actor system")?;
    Ok(system)
}

/// The token signer: the current key under its id, and the previous keys still accepted.
fn signer(config: &NodeConfig, key: Vec<u8>) -> anyhow::Result<TokenSigner> {
    let kid = match config.auth.signing_key_id.as_str() {
        "" => "k1",
        id => id,
    };
    let mut signer = TokenSigner::new(kid, key);
    for (id, encoded) in &config.auth.previous_signing_keys {
        if id == kid {
            anyhow::bail!("auth.previous_signing_keys reuses the current key id {id:?}");
        }
        let old =
            keys::decode(encoded).with_context(|| format!("auth.previous_signing_keys.{id}"))?;
        signer = signer.with_previous(id.clone(), old);
    }
    Ok(signer)
}

/// Opens the configured store. The CQL cluster may not be up yet (a cluster starting
/// together): keep trying with backoff rather than exit and crash-loop.
async fn open_store(
    config: &NodeConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<SharedStore> {
    let bucket_width_ms = config.store.bucket_width_ms();
    if config.store.backend != "cql" {
        let store = EmbeddedStore::open(EmbeddedConfig {
            path: data_dir.join("store"),
            bucket_width_ms,
            fsync: config.store.fsync,
            max_batch: config.store.group_commit_max,
        })
        .context("cannot open the embedded store")?;
        return Ok(Arc::new(store));
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        match CqlStore::connect(&config.store.cql, bucket_width_ms).await {
            Ok(store) => return Ok(Arc::new(store)),
            // A schema newer than this build, a bad keyspace name: waiting will not help.
            Err(e @ chat_store::StoreError::Invalid(_)) => {
                return Err(anyhow::Error::new(e).context("cannot use the CQL store"));
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "CQL store unreachable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

impl RunningNode {
    /// Ordered shutdown: fail readiness, stop accepting, tell clients to reconnect elsewhere,
    /// drain rooms (every accepted send is acked or failed), flush the store.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.gateway.set_draining();
        let _ = self.stop_accepting.send(true);
        let deadline = self.shutdown_timeout;
        self.system.shutdown(deadline).await;
        if tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .is_err()
        {
            tracing::warn!("http server did not stop in time");
        }
        tracing::info!("stopped");
    }
}

/// Runs a node until `shutdown` resolves, then shuts it down in order.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let node = start(config).await?;
    shutdown.await;
    node.shutdown().await;
    Ok(())
}
