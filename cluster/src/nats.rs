//! The node's NATS connection (async-nats): one client per node, reconnecting on its own,
//! `no_echo` (a node never receives what it published), with every subject under the
//! cluster's prefix. Publishing keeps order: payloads go through one bounded queue to one
//! task; a full queue (NATS far behind) or an outage drops them, counted in
//! [`NatsLink::dropped`]. What is lost that way is noticed by the receivers (a gap in a
//! room's seqs) and by the layer above, which [`Interruption`]s are reported to.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::{ClusterError, ClusterResult};

/// `[bus.nats]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated. Default `nats://127.0.0.1:4222`.
    pub url: String,
    /// First token of every subject, so clusters can share a NATS server. Default `chat`.
    pub subject_prefix: String,
    /// Events waiting to be handed to the NATS client before new ones are dropped.
    /// Default 65536.
    pub publish_queue: usize,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            subject_prefix: "chat".into(),
            publish_queue: 65_536,
        }
    }
}

impl NatsConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        let token_ok = !self.subject_prefix.is_empty()
            && self
                .subject_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !token_ok {
            return Err("bus.nats.subject_prefix must be letters, digits, _ or -".into());
        }
        if self.url.trim().is_empty() || self.publish_queue == 0 {
            return Err("bus.nats.url and bus.nats.publish_queue must be set".into());
        }
        Ok(())
    }
}

/// Something that may have cost this node messages from the other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// The connection came back after an outage.
    Reconnected,
    /// The server reported this node as a slow consumer (it dropped messages for it).
    FellBehind,
}

/// Told of every [`Interruption`], before the link counts as up again.
pub type InterruptionHandler = Box<dyn Fn(Interruption) + Send + Sync>;

/// The node's NATS connection (see the module docs).
pub struct NatsLink {
    client: async_nats::Client,
    prefix: Arc<str>,
    out: mpsc::Sender<(String, Bytes)>,
    connected: Arc<AtomicBool>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for NatsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsLink")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl NatsLink {
    /// Connects as node `node` (retrying in the background while the server is unreachable).
    pub async fn connect(
        config: &NatsConfig,
        node: &str,
        on_interruption: InterruptionHandler,
    ) -> ClusterResult<Arc<Self>> {
        config.validate().map_err(ClusterError::Config)?;
        let connected = Arc::new(AtomicBool::new(false));
        let events_connected = connected.clone();
        let interrupted = Arc::new(AtomicBool::new(false));
        let on_interruption = Arc::new(on_interruption);
        let options = async_nats::ConnectOptions::new()
            .name(format!("chatnode {node}"))
            .no_echo()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                let connected = events_connected.clone();
                let interrupted = interrupted.clone();
                let handler = on_interruption.clone();
                async move { on_event(&event, &connected, &interrupted, &**handler) }
            });
        let client = options
            .connect(config.url.as_str())
            .await
            .map_err(|e| ClusterError::Nats(e.to_string()))?;
        let (out, out_rx) = mpsc::channel(config.publish_queue);
        tokio::spawn(publisher(client.clone(), out_rx));
        Ok(Arc::new(Self {
            client,
            prefix: Arc::from(config.subject_prefix.as_str()),
            out,
            connected,
            dropped: AtomicU64::new(0),
        }))
    }

    /// The subject `<prefix>.<name>`.
    pub fn subject(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// Queues `payload` for `subject`, behind everything this node published before. A full
    /// queue drops it (and counts it); false then.
    pub fn publish(&self, subject: String, payload: Bytes) -> bool {
        if self.out.try_send((subject, payload)).is_ok() {
            return true;
        }
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(dropped = n, "NATS publish queue full: events dropped");
        }
        false
    }

    /// Subscribes to `subject`: the payloads published on it by the other nodes
    /// (unsubscribed when the stream is dropped).
    pub async fn subscribe(
        &self,
        subject: String,
    ) -> ClusterResult<impl Stream<Item = Bytes> + Send + Unpin + 'static> {
        let subscriber = self
            .client
            .subscribe(subject)
            .await
            .map_err(|e| ClusterError::Nats(e.to_string()))?;
        Ok(subscriber.map(|message| message.payload))
    }

    /// Returns once the server has processed everything sent before (subscriptions included).
    pub async fn flush(&self) -> ClusterResult<()> {
        self.client
            .flush()
            .await
            .map_err(|e| ClusterError::Nats(e.to_string()))
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Payloads dropped because the publish queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn on_event(
    event: &async_nats::Event,
    connected: &AtomicBool,
    interrupted: &AtomicBool,
    handler: &(dyn Fn(Interruption) + Send + Sync),
) {
    match event {
        async_nats::Event::Connected => {
            // The handler hears of it before the link counts as up again.
            if interrupted.swap(false, Ordering::Relaxed) {
                tracing::warn!("NATS reconnected");
                handler(Interruption::Reconnected);
            } else {
                tracing::info!("NATS connected");
            }
            connected.store(true, Ordering::Relaxed);
        }
        async_nats::Event::Disconnected => {
            connected.store(false, Ordering::Relaxed);
            interrupted.store(true, Ordering::Relaxed);
            tracing::warn!("NATS disconnected; reconnecting");
        }
        async_nats::Event::SlowConsumer(sid) => {
            tracing::warn!(sid, "NATS slow consumer");
            handler(Interruption::FellBehind);
        }
        other => tracing::info!(event = %other, "NATS"),
    }
}

async fn publisher(client: async_nats::Client, mut rx: mpsc::Receiver<(String, Bytes)>) {
    while let Some((subject, payload)) = rx.recv().await {
        if let Err(e) = client.publish(subject, payload).await {
            tracing::warn!(error = %e, "NATS publish failed");
        }
    }
}
