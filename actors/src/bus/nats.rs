//! The cluster bus: the hub's topics as channels of the cluster layer's NATS [`Broker`]
//! (`<prefix>.room.<id>`, `<prefix>.user.<id>`), each event a `chat.cluster.v1.BusEvent`.
//! A node's own events go to its hub directly and to NATS for the others (the link is
//! `no_echo`, so none comes back); the hub tells the broker which topics have local interest.
//! What arrives is decoded here and handed to the hub. After an interruption of the link
//! (a reconnection, a slow-consumer report) events may have been lost, so this node tells
//! all of its clients to resync (reconnect and recover by seq); receivers also notice a gap
//! in a room's seqs on their own.

use std::sync::Arc;

use bytes::Bytes;
use chat_cluster::{Broker, BrokerHandler, Channel, Interruption, NatsLink};
use chat_proto::{Codec, cluster as pb, v1::ServerFrame};
use futures::future::BoxFuture;
use prost::Message as _;

use super::Bus;
use crate::{
    hub::{Event, Hub, Topic},
    outbound::EncodedFrame,
};

impl Channel for Topic {
    fn subject_name(&self) -> String {
        match self {
            Topic::Room(id) => format!("room.{id}"),
            Topic::User(id) => format!("user.{id}"),
        }
    }
}

/// Hands what other nodes publish to the hub.
struct HubHandler(Arc<Hub>);

impl BrokerHandler<Topic> for HubHandler {
    fn handle_publication(&self, topic: Topic, payload: Bytes) {
        match decode(&payload) {
            Some(event) => self.0.deliver(topic, &Arc::new(event)),
            None => tracing::warn!(?topic, "undecodable event on the bus"),
        }
    }
}

/// What this node's clients are told after an interruption of the link.
pub fn resync_after(hub: &Hub, interruption: Interruption) {
    let why = match interruption {
        Interruption::Reconnected => "the cluster bus was interrupted, recover by seq",
        Interruption::FellBehind => "this node fell behind the cluster bus, recover by seq",
    };
    tracing::warn!(?interruption, "clients of this node resync");
    hub.resync_all(why);
}

/// The NATS bus (see the module docs).
pub struct NatsBus {
    hub: Arc<Hub>,
    broker: Broker<Topic>,
}

impl NatsBus {
    /// Events over `link`, delivered to `hub`, following the hub's interest.
    pub fn start(link: Arc<NatsLink>, hub: Arc<Hub>) -> Self {
        let broker = Broker::start(link, Arc::new(HubHandler(hub.clone())));
        let interest = broker.clone();
        hub.set_interest_listener(Box::new(move |topic, on| interest.interest(topic, on)));
        // Topics that had interest before the listener was installed.
        for topic in hub.topics() {
            broker.interest(topic, true);
        }
        Self { hub, broker }
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
            hide_from: event.hide_from.clone(),
        }
        .encode_to_vec();
        self.broker.publish(topic, Bytes::from(payload));
    }

    fn ready(&self) -> BoxFuture<'static, ()> {
        self.broker.ready()
    }

    fn healthy(&self) -> bool {
        self.broker.link().is_connected()
    }

    fn dropped(&self) -> u64 {
        self.broker.link().dropped()
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
        hide_from: event.hide_from,
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
            hide_from: vec![4],
        }
        .encode_to_vec();
        let event = decode(&bytes).unwrap();
        assert_eq!(event.seq, Some(5));
        assert_eq!(event.remove_users, vec![9]);
        assert_eq!(event.skip_if_open, None);
        assert_eq!(event.hide_from, vec![4]);
        assert!(decode(&[0xff, 0xff, 0xff]).is_none());
        assert_eq!(Topic::Room(3).subject_name(), "room.3");
    }
}
