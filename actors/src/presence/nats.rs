//! Presence in a cluster: every node keeps the table, and the owner of a user's session
//! tells the others on `<prefix>.presence` (a `chat.cluster.v1.PresenceUpdate`), queued
//! behind its events on the one NATS link so a user's presence and the events about it keep
//! their order.

use std::sync::Arc;

use bytes::Bytes;
use chat_cluster::{ClusterError, NatsLink};
use chat_proto::cluster as pb;
use chat_store::UserId;
use futures::StreamExt as _;
use prost::Message as _;

use super::{Presence, PresenceTable};

/// Presence shared over NATS.
pub struct NatsPresence {
    node: Arc<str>,
    table: Arc<PresenceTable>,
    link: Arc<NatsLink>,
    subject: String,
}

impl NatsPresence {
    /// Starts following what the other nodes say.
    pub async fn start(node: Arc<str>, link: Arc<NatsLink>) -> Result<Self, ClusterError> {
        let subject = link.subject("presence");
        let updates = link.subscribe(subject.clone()).await?;
        let table = Arc::new(PresenceTable::default());
        tokio::spawn(follow(updates, table.clone()));
        Ok(Self {
            node,
            table,
            link,
            subject,
        })
    }

    fn send(&self, update: pb::PresenceUpdate) {
        let payload = Bytes::from(update.encode_to_vec());
        if !self.link.publish(self.subject.clone(), payload) {
            tracing::warn!("NATS publish queue full: a presence update was dropped");
        }
    }
}

impl Presence for NatsPresence {
    fn is_online(&self, user: UserId) -> bool {
        self.table.is_online(user)
    }

    fn announce(&self, user: UserId, online: bool) {
        self.table.set(user, &self.node, online);
        let (on, off) = if online {
            (vec![user], Vec::new())
        } else {
            (Vec::new(), vec![user])
        };
        self.send(pb::PresenceUpdate {
            node: self.node.to_string(),
            online: on,
            offline: off,
            full: false,
        });
    }

    fn reconcile(&self, members: &[Arc<str>], owned: &dyn Fn(UserId) -> bool) {
        let mine = self.table.reconcile(&self.node, members, owned);
        self.send(pb::PresenceUpdate {
            node: self.node.to_string(),
            online: mine,
            offline: Vec::new(),
            full: true,
        });
    }
}

async fn follow(
    mut updates: impl futures::Stream<Item = Bytes> + Unpin,
    table: Arc<PresenceTable>,
) {
    while let Some(payload) = updates.next().await {
        let Ok(update) = pb::PresenceUpdate::decode(payload.as_ref()) else {
            tracing::warn!("undecodable presence update on the bus");
            continue;
        };
        let node: Arc<str> = Arc::from(update.node.as_str());
        if update.full {
            table.replace_node(&node, &update.online);
            continue;
        }
        for user in update.online {
            table.set(user, &node, true);
        }
        for user in update.offline {
            table.set(user, &node, false);
        }
    }
}
