//! Publish/subscribe over the NATS link, by channel: a node subscribes to a channel's subject
//! while the layer above has local interest in it (one subscription per node, however many
//! local receivers), and hands what arrives to the [`BrokerHandler`] it was given. The broker
//! owns no receivers and decides nothing about what arrives (centrifuge's `Broker` and
//! `BrokerEventHandler` are the model).

use std::{collections::HashMap, fmt, hash::Hash, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{StreamExt as _, future::BoxFuture};
use tokio::sync::{mpsc, oneshot};

use crate::nats::NatsLink;

/// A channel of the bus, named by the layer above (e.g. one room's events).
pub trait Channel: Copy + Eq + Hash + fmt::Debug + Send + Sync + 'static {
    /// Its subject under the cluster's prefix, e.g. `room.42`.
    fn subject_name(&self) -> String;
}

/// Where the broker hands what arrives on a subscribed channel.
pub trait BrokerHandler<C>: Send + Sync + 'static {
    /// A payload another node published on `channel`.
    fn handle_publication(&self, channel: C, payload: Bytes);
}

enum Control<C> {
    Interest(C, bool),
    Ready(oneshot::Sender<()>),
}

/// How long opening a room waits for NATS to confirm its subscription. Without NATS nothing
/// can be made ready; the room still opens (its events arrive once NATS is back, after the
/// resync that reconnection triggers).
const READY_WAIT: Duration = Duration::from_secs(5);

/// Interest-driven subscriptions over the link (see the module docs). Clones share the
/// subscriptions.
#[derive(Clone)]
pub struct Broker<C: Channel> {
    link: Arc<NatsLink>,
    control: mpsc::UnboundedSender<Control<C>>,
}

impl<C: Channel> Broker<C> {
    /// Starts the broker; publications on channels with interest go to `handler`.
    pub fn start(link: Arc<NatsLink>, handler: Arc<dyn BrokerHandler<C>>) -> Self {
        let (control, rx) = mpsc::unbounded_channel();
        tokio::spawn(controller(link.clone(), handler, rx));
        Self { link, control }
    }

    /// Publishes `payload` on `channel` for the other nodes, in order.
    pub fn publish(&self, channel: C, payload: Bytes) {
        let subject = self.link.subject(&channel.subject_name());
        self.link.publish(subject, payload);
    }

    /// The layer above gained (`true`) or lost its local interest in `channel`. Calls must
    /// come in the order the interest changed.
    pub fn interest(&self, channel: C, on: bool) {
        let _ = self.control.send(Control::Interest(channel, on));
    }

    /// Resolves once publications made anywhere from now on reach this node for every
    /// channel whose interest was reported before.
    pub fn ready(&self) -> BoxFuture<'static, ()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.control.send(Control::Ready(tx));
        Box::pin(async move {
            let _ = tokio::time::timeout(READY_WAIT, rx).await;
        })
    }

    /// The link the broker runs on.
    pub fn link(&self) -> &Arc<NatsLink> {
        &self.link
    }
}

async fn controller<C: Channel>(
    link: Arc<NatsLink>,
    handler: Arc<dyn BrokerHandler<C>>,
    mut rx: mpsc::UnboundedReceiver<Control<C>>,
) {
    let mut subscriptions: HashMap<C, tokio::task::JoinHandle<()>> = HashMap::new();
    while let Some(control) = rx.recv().await {
        match control {
            Control::Interest(channel, true) => {
                if subscriptions.contains_key(&channel) {
                    continue;
                }
                match link.subscribe(link.subject(&channel.subject_name())).await {
                    Ok(sub) => {
                        let reader = tokio::spawn(deliver(sub, channel, handler.clone()));
                        subscriptions.insert(channel, reader);
                    }
                    Err(e) => tracing::warn!(?channel, error = %e, "NATS subscribe failed"),
                }
            }
            Control::Interest(channel, false) => {
                // Dropping the subscriber (the aborted task owns it) unsubscribes.
                if let Some(reader) = subscriptions.remove(&channel) {
                    reader.abort();
                }
            }
            Control::Ready(done) => {
                // Every subscription asked for before this request was issued; a flush
                // returns once the server has processed them.
                if let Err(e) = link.flush().await {
                    tracing::debug!(error = %e, "NATS flush failed");
                }
                let _ = done.send(());
            }
        }
    }
}

async fn deliver<C: Channel>(
    mut payloads: impl futures::Stream<Item = Bytes> + Unpin,
    channel: C,
    handler: Arc<dyn BrokerHandler<C>>,
) {
    while let Some(payload) = payloads.next().await {
        handler.handle_publication(channel, payload);
    }
}
