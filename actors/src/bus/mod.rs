//! The event bus: how an event published by an actor reaches the hub of every node with
//! interest in its topic. Single node: in-process, straight into the local hub. Cluster:
//! [`nats::NatsBus`], one NATS subscription per topic with local interest.

pub mod nats;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::hub::{Event, Hub, Topic};

/// Publishes events to every node's hub.
pub trait Bus: Send + Sync + 'static {
    /// Publishes an event. Events published by one caller on one topic arrive in order.
    fn publish(&self, topic: Topic, event: Arc<Event>);

    /// Resolves once events published anywhere from now on reach this node's hub for
    /// `topic`, whose local subscription already exists (a room's snapshot is taken after).
    fn ready(&self, _topic: Topic) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// Tells the other nodes that this node's session of `user` saw them come online or go
    /// offline (a single node has no one to tell).
    fn presence(&self, _user: chat_store::UserId, _online: bool) {}

    /// Tells the other nodes every user this node's sessions vouch for (after membership
    /// changes, so newcomers learn them).
    fn presence_snapshot(&self, _users: Vec<chat_store::UserId>) {}

    /// Whether events currently flow to the other nodes.
    fn healthy(&self) -> bool {
        true
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
