//! The event bus: how an event published by an actor reaches the hub of every node with
//! interest in its topic. Single node: in-process, straight into the local hub. A NATS
//! implementation (cluster) plugs in behind the same trait.

use std::sync::Arc;

use crate::hub::{Event, Hub, Topic};

/// Publishes events to every node's hub.
pub trait Bus: Send + Sync + 'static {
    /// Publishes an event. Events published by one caller on one topic arrive in order.
    fn publish(&self, topic: Topic, event: Arc<Event>);
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
