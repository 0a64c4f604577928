//! The event bus: how an event published by an actor reaches the hub of every node with
//! interest in its topic. Single node: in-process, straight into the local hub. Cluster:
//! [`nats::NatsBus`], over the cluster layer's NATS broker.

pub mod nats;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::hub::{Event, Hub, Topic};

/// Publishes events to every node's hub.
pub trait Bus: Send + Sync + 'static {
    /// Publishes an event. Events published by one caller on one topic arrive in order.
    fn publish(&self, topic: Topic, event: Arc<Event>);

    /// Resolves once events published anywhere from now on reach this node's hub for every
    /// topic that already has a local subscription (a room's snapshot is taken after).
    fn ready(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// Whether events currently flow to the other nodes.
    fn healthy(&self) -> bool {
        true
    }

    /// Events that never left this node (a full publish queue).
    fn dropped(&self) -> u64 {
        0
    }
}

/// The single-node bus: delivers synchronously to the local hub.
#[derive(Debug, Clone)]
pub struct LocalBus {
    hub: Arc<Hub>,
}

impl LocalBus {
    /// A bus over `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl Bus for LocalBus {
    fn publish(&self, topic: Topic, event: Arc<Event>) {
        self.hub.deliver(topic, &event);
    }
}
