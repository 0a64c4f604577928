//! The cluster bus over NATS (async-nats). Each topic is a subject (`<prefix>.room.<id>`,
//! `<prefix>.user.<id>`); a node subscribes to a subject while its hub has local interest in
//! the topic (one subscription per node, however many local connections), and delivers what
//! it receives to its hub. Its own events go to its hub directly and to NATS for the others
//! (the connection is `no_echo`, so none comes back).
//!
//! Publishing keeps order: events go through one bounded queue to one task. A full queue (NATS
//! far behind) drops the event, and so does an outage; receivers notice the gap in a room's
//! seqs and tell their clients to resync, and after any reconnection or slow-consumer report
//! this node tells all of its own clients to resync (reconnect and recover by seq).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use chat_proto::{Codec, cluster as pb, v1::ServerFrame};
use futures::{StreamExt, future::BoxFuture};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::Bus;
use crate::{
    error::ChatError,
    hub::{Event, Hub, Topic},
    outbound::EncodedFrame,
    presence::Presence,
};

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

enum Control {
    Interest(Topic, bool),
    Ready(Topic, oneshot::Sender<()>),
}

/// The NATS bus (see the module docs).
pub struct NatsBus {
    hub: Arc<Hub>,
    prefix: Arc<str>,
    out: mpsc::Sender<(String, Bytes)>,
    control: mpsc::UnboundedSender<Control>,
    client: async_nats::Client,
    connected: Arc<AtomicBool>,
    dropped: AtomicU64,
    node: Arc<str>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl NatsBus {
    /// Connects (retrying in the background while the server is unreachable) and starts
    /// following the hub's interest.
    pub async fn connect(
        config: &NatsConfig,
        node: Arc<str>,
        hub: Arc<Hub>,
        presence: Arc<Presence>,
    ) -> Result<Arc<Self>, ChatError> {
        config.validate().map_err(ChatError::Internal)?;
        let connected = Arc::new(AtomicBool::new(false));
        let events_hub = hub.clone();
        let events_connected = connected.clone();
        let interrupted = Arc::new(AtomicBool::new(false));
        let options = async_nats::ConnectOptions::new()
            .name(format!("chatnode {node}"))
            .no_echo()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                let hub = events_hub.clone();
                let connected = events_connected.clone();
                let interrupted = interrupted.clone();
                async move { on_event(&event, &hub, &connected, &interrupted) }
            });
        let client = options
            .connect(config.url.as_str())
            .await
            .map_err(|e| ChatError::Internal(format!("nats: {e}")))?;
        let (out, out_rx) = mpsc::channel(config.publish_queue);
        let (control, control_rx) = mpsc::unbounded_channel();
        let prefix: Arc<str> = Arc::from(config.subject_prefix.as_str());
        tokio::spawn(publisher(client.clone(), out_rx));
        tokio::spawn(controller(
            client.clone(),
            prefix.clone(),
            hub.clone(),
            control_rx,
        ));
        let listener = control.clone();
        hub.set_interest_listener(Box::new(move |topic, on| {
            let _ = listener.send(Control::Interest(topic, on));
        }));
        // Topics that had interest before the listener was installed.
        for topic in hub.topics() {
            let _ = control.send(Control::Interest(topic, true));
        }
        let presence_subject = format!("{prefix}.presence");
        let updates = client
            .subscribe(presence_subject)
            .await
            .map_err(|e| ChatError::Internal(format!("nats: {e}")))?;
        tokio::spawn(follow_presence(updates, presence));
        Ok(Arc::new(Self {
            hub,
            prefix,
            out,
            control,
            client,
            connected,
            dropped: AtomicU64::new(0),
            node,
        }))
    }

    /// Whether the NATS connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Events dropped because the publish queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The underlying client (presence and other cluster-wide subjects).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The subject of a cluster-wide channel named `name`.
    pub fn subject(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }
}

impl Bus for NatsBus {
    fn publish(&self, topic: Topic, event: Arc<Event>) {
        self.hub.deliver(topic, &event);
        let payload = pb::BusEvent {
            frame: event.frame.bytes(Codec::Proto).to_vec(),
            seq: event.seq.unwrap_or(0),
            remove_users: event.remove_users.clone(),
            skip_if_open: event.skip_if_open.unwrap_or(0),
        }
        .encode_to_vec();
        if self
            .out
            .try_send((subject(&self.prefix, topic), Bytes::from(payload)))
            .is_err()
        {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "NATS publish queue full: events dropped");
            }
        }
    }

    fn presence(&self, user: chat_store::UserId, online: bool) {
        let (on, off) = if online {
            (vec![user], Vec::new())
        } else {
            (Vec::new(), vec![user])
        };
        self.send_presence(pb::PresenceUpdate {
            node: self.node.to_string(),
            online: on,
            offline: off,
            full: false,
        });
    }

    fn healthy(&self) -> bool {
        self.is_connected()
    }

    fn presence_snapshot(&self, users: Vec<chat_store::UserId>) {
        self.send_presence(pb::PresenceUpdate {
            node: self.node.to_string(),
            online: users,
            offline: Vec::new(),
            full: true,
        });
    }

    fn ready(&self, topic: Topic) -> BoxFuture<'static, ()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.control.send(Control::Ready(topic, tx));
        Box::pin(async move {
            // Without NATS nothing can be made ready; the room still opens (and its events
            // arrive once NATS is back, after the resync that reconnection triggers).
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        })
    }
}

impl NatsBus {
    /// Queued behind this node's events, so a user's presence and the events about it keep
    /// their order.
    fn send_presence(&self, update: pb::PresenceUpdate) {
        let subject = format!("{}.presence", self.prefix);
        let payload = Bytes::from(update.encode_to_vec());
        if self.out.try_send((subject, payload)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("NATS publish queue full: a presence update was dropped");
        }
    }
}

async fn follow_presence(mut updates: async_nats::Subscriber, presence: Arc<Presence>) {
    while let Some(message) = updates.next().await {
        let Ok(update) = pb::PresenceUpdate::decode(message.payload.as_ref()) else {
            tracing::warn!("undecodable presence update on the bus");
            continue;
        };
        let node: Arc<str> = Arc::from(update.node.as_str());
        if update.full {
            presence.replace_node(&node, &update.online);
            continue;
        }
        for user in update.online {
            presence.set(user, &node, true);
        }
        for user in update.offline {
            presence.set(user, &node, false);
        }
    }
}

fn subject(prefix: &str, topic: Topic) -> String {
    match topic {
        Topic::Room(id) => format!("{prefix}.room.{id}"),
        Topic::User(id) => format!("{prefix}.user.{id}"),
    }
}

fn on_event(
    event: &async_nats::Event,
    hub: &Hub,
    connected: &AtomicBool,
    interrupted: &AtomicBool,
) {
    match event {
        async_nats::Event::Connected => {
            // Clients are told to resync before the bus counts as up again.
            if interrupted.swap(false, Ordering::Relaxed) {
                tracing::warn!("NATS reconnected: clients of this node resync");
                hub.resync_all("the cluster bus was interrupted, recover by seq");
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
            tracing::warn!(sid, "NATS slow consumer: clients of this node resync");
            hub.resync_all("this node fell behind the cluster bus, recover by seq");
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

async fn controller(
    client: async_nats::Client,
    prefix: Arc<str>,
    hub: Arc<Hub>,
    mut rx: mpsc::UnboundedReceiver<Control>,
) {
    let mut subscriptions: HashMap<Topic, tokio::task::JoinHandle<()>> = HashMap::new();
    while let Some(control) = rx.recv().await {
        match control {
            Control::Interest(topic, true) => {
                if subscriptions.contains_key(&topic) {
                    continue;
                }
                match client.subscribe(subject(&prefix, topic)).await {
                    Ok(sub) => {
                        let reader = tokio::spawn(deliver(sub, topic, hub.clone()));
                        subscriptions.insert(topic, reader);
                    }
                    Err(e) => tracing::warn!(?topic, error = %e, "NATS subscribe failed"),
                }
            }
            Control::Interest(topic, false) => {
                // Dropping the subscriber (the aborted task owns it) unsubscribes.
                if let Some(reader) = subscriptions.remove(&topic) {
                    reader.abort();
                }
            }
            Control::Ready(_topic, done) => {
                // The subscription was issued before this request was queued; a flush
                // returns once the server has processed it.
                if let Err(e) = client.flush().await {
                    tracing::debug!(error = %e, "NATS flush failed");
                }
                let _ = done.send(());
            }
        }
    }
}

async fn deliver(mut sub: async_nats::Subscriber, topic: Topic, hub: Arc<Hub>) {
    while let Some(message) = sub.next().await {
        match decode(&message.payload) {
            Some(event) => hub.deliver(topic, &Arc::new(event)),
            None => tracing::warn!(?topic, "undecodable event on the bus"),
        }
    }
}

fn decode(payload: &[u8]) -> Option<Event> {
    let event = pb::BusEvent::decode(payload).ok()?;
    let frame = ServerFrame::decode(event.frame.as_slice()).ok()?;
    Some(Event {
        frame: EncodedFrame::new(frame),
        seq: (event.seq > 0).then_some(event.seq),
        remove_users: event.remove_users,
        skip_if_open: (event.skip_if_open > 0).then_some(event.skip_if_open),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_survive_the_wire_and_garbage_does_not_panic() {
        let frame = EncodedFrame::new(ServerFrame {
            request_id: 0,
            payload: None,
        });
        let bytes = pb::BusEvent {
            frame: frame.bytes(Codec::Proto).to_vec(),
            seq: 5,
            remove_users: vec![9],
            skip_if_open: 0,
        }
        .encode_to_vec();
        let event = decode(&bytes).unwrap();
        assert_eq!(event.seq, Some(5));
        assert_eq!(event.remove_users, vec![9]);
        assert_eq!(event.skip_if_open, None);
        assert!(decode(&[0xff, 0xff, 0xff]).is_none());
        assert_eq!(subject("chat", Topic::Room(3)), "chat.room.3");
    }
}
