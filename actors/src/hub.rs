//! The node's hub: for each topic (a room, a user) with local interest, the local
//! subscriptions to fan events out to. The bus delivers each event to the hub once per node;
//! the hub copies a pointer to the shared, encode-once frame into each subscriber's queue.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
};

use chat_proto::v1::CloseCode;
use chat_store::{RoomId, Seq, UserId};

use prometheus_client::metrics::counter::Counter;

use crate::outbound::{EncodedFrame, OutboundSender};

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everything that happens in a room (messages, membership).
    Room(RoomId),
    /// Everything addressed to a user wherever they are connected.
    User(UserId),
}

/// One published event.
#[derive(Debug)]
pub struct Event {
    /// The frame to deliver (request id 0).
    pub frame: Arc<EncodedFrame>,
    /// The message seq when the event is a room message: each subscription delivers a seq at
    /// most once and never one lower than it already delivered.
    pub seq: Option<Seq>,
    /// Users whose subscriptions to the topic end with this event (they left the room).
    pub remove_users: Vec<UserId>,
    /// Not delivered to connections that have this room open (chat-list updates: those
    /// connections get the full message instead).
    pub skip_if_open: Option<RoomId>,
    /// Users whose connections do not get this event (history visibility: a change to a
    /// message from before they joined).
    pub hide_from: Vec<UserId>,
}

impl Event {
    /// Whether `user` is not to be shown this event.
    fn hidden_from(&self, user: UserId) -> bool {
        self.hide_from.contains(&user)
    }

    /// An event for every subscriber of its topic.
    pub fn new(frame: Arc<EncodedFrame>) -> Self {
        Self {
            frame,
            seq: None,
            remove_users: Vec::new(),
            skip_if_open: None,
            hide_from: Vec::new(),
        }
    }
}

/// The rooms a connection has open, shared between the connection and the hub.
#[derive(Debug, Default)]
pub struct OpenRooms(Mutex<HashSet<RoomId>>);

impl OpenRooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<RoomId>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a room open.
    pub fn insert(&self, room: RoomId) {
        self.lock().insert(room);
    }

    /// Marks a room closed; true if it was open.
    pub fn remove(&self, room: RoomId) -> bool {
        self.lock().remove(&room)
    }

    /// Whether a room is open.
    pub fn contains(&self, room: RoomId) -> bool {
        self.lock().contains(&room)
    }

    /// Closes every room, returning them.
    pub fn drain(&self) -> Vec<RoomId> {
        self.lock().drain().collect()
    }
}

/// Most events a subscription holds while its snapshot is being taken.
const MAX_BUFFERED: usize = 4096;

#[derive(Debug)]
enum SubState {
    /// Collecting events until the subscriber has its snapshot.
    Buffering {
        events: Vec<Arc<Event>>,
        overflow: bool,
    },
    /// Delivering; `last_seq` is the highest message seq delivered.
    Live { last_seq: Seq },
}

/// One connection's interest in one topic.
#[derive(Debug)]
pub struct Subscription {
    conn_id: u64,
    user_id: UserId,
    sink: OutboundSender,
    state: Mutex<SubState>,
    open_rooms: Option<Arc<OpenRooms>>,
}

impl Subscription {
    fn lock(&self) -> std::sync::MutexGuard<'_, SubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivers (or buffers) an event. False when the subscriber is gone.
    fn offer(&self, event: &Arc<Event>) -> bool {
        let open_here = |room| self.open_rooms.as_ref().is_some_and(|o| o.contains(room));
        if event.skip_if_open.is_some_and(open_here) {
            return !self.sink.is_closed();
        }
        let mut state = self.lock();
        match &mut *state {
            SubState::Buffering { events, overflow } => {
                if events.len() < MAX_BUFFERED {
                    events.push(event.clone());
                } else {
                    *overflow = true;
                }
                true
            }
            SubState::Live { last_seq } => {
                if let Some(seq) = event.seq {
                    if seq <= *last_seq {
                        return !self.sink.is_closed();
                    }
                    if seq > *last_seq + 1 {
                        // Seqs are dense: one went missing on the way (a bus outage, or a
                        // room that moved). The client recovers it by reconnecting.
                        self.sink
                            .close(CloseCode::Resync, "events were missed, recover by seq");
                        return false;
                    }
                    *last_seq = seq;
                }
                // A hidden event still takes its seq: the stream stays dense for the hub;
                // the client finds the seq absent from history too, and moves on.
                if event.hidden_from(self.user_id) {
                    return !self.sink.is_closed();
                }
                self.sink.send(event.frame.clone()) || !self.sink.is_closed()
            }
        }
    }

    /// Ends buffering: runs `first` (which queues the snapshot reply), then delivers the
    /// buffered events newer than `snapshot_seq`, all under the lock so nothing interleaves.
    pub fn activate(&self, snapshot_seq: Seq, first: impl FnOnce(&OutboundSender)) {
        let mut state = self.lock();
        first(&self.sink);
        let mut last_seq = snapshot_seq;
        if let SubState::Buffering { events, overflow } = &mut *state {
            if *overflow {
                self.sink.close(
                    CloseCode::SlowConsumer,
                    "too many events while opening a room",
                );
            }
            for event in events.drain(..) {
                match event.seq {
                    Some(seq) if seq <= last_seq => continue,
                    Some(seq) if seq > last_seq + 1 => {
                        self.sink
                            .close(CloseCode::Resync, "events were missed, recover by seq");
                        break;
                    }
                    Some(seq) => last_seq = seq,
                    None => {}
                }
                if !event.hidden_from(self.user_id) {
                    self.sink.send(event.frame.clone());
                }
            }
        }
        *state = SubState::Live { last_seq };
    }

    /// The connection this subscription belongs to.
    pub fn conn_id(&self) -> u64 {
        self.conn_id
    }
}

/// Told when a topic gains its first local subscription (`true`) or loses its last.
pub type InterestListener = Box<dyn Fn(Topic, bool) + Send + Sync>;

/// Local fan-out of events, by topic.
#[derive(Default)]
pub struct Hub {
    topics: RwLock<HashMap<Topic, Vec<Arc<Subscription>>>>,
    interest: std::sync::OnceLock<InterestListener>,
    deliveries: Counter,
    resyncs: Counter,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty hub counting what it queues for connections and the resyncs it orders.
    pub fn counting(deliveries: Counter, resyncs: Counter) -> Self {
        Self {
            deliveries,
            resyncs,
            ..Self::default()
        }
    }

    /// Adds a subscription. A `buffering` one holds events until [`Subscription::activate`].
    /// Replaces an earlier subscription of the same connection to the same topic.
    pub fn subscribe(
        &self,
        topic: Topic,
        conn_id: u64,
        user_id: UserId,
        sink: OutboundSender,
        buffering: bool,
    ) -> Arc<Subscription> {
        self.subscribe_filtered(topic, conn_id, user_id, sink, buffering, None)
    }

    /// Like [`Hub::subscribe`], but skips events that ask to skip connections with their room
    /// in `open_rooms`.
    pub fn subscribe_filtered(
        &self,
        topic: Topic,
        conn_id: u64,
        user_id: UserId,
        sink: OutboundSender,
        buffering: bool,
        open_rooms: Option<Arc<OpenRooms>>,
    ) -> Arc<Subscription> {
        let state = if buffering {
            SubState::Buffering {
                events: Vec::new(),
                overflow: false,
            }
        } else {
            SubState::Live { last_seq: 0 }
        };
        let sub = Arc::new(Subscription {
            conn_id,
            user_id,
            sink,
            state: Mutex::new(state),
            open_rooms,
        });
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let subs = topics.entry(topic).or_default();
        subs.retain(|s| s.conn_id != conn_id);
        let first = subs.is_empty();
        subs.push(sub.clone());
        // Told under the lock, so the listener sees gains and losses in the hub's order.
        if first && let Some(listen) = self.interest.get() {
            listen(topic, true);
        }
        sub
    }

    /// Installs the listener for topics gaining and losing local interest (the NATS bus
    /// subscribes per topic). Only the first call takes effect.
    pub fn set_interest_listener(&self, listener: InterestListener) {
        let _ = self.interest.set(listener);
    }

    /// Topics with local subscriptions now.
    pub fn topics(&self) -> Vec<Topic> {
        let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
        topics.keys().copied().collect()
    }

    /// Closes every subscribed connection with `RESYNC`: events may have been lost on the
    /// way here, and reconnecting recovers them by seq.
    pub fn resync_all(&self, why: &str) {
        let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
        for sub in topics.values().flatten() {
            sub.sink.close(CloseCode::Resync, why);
            self.resyncs.inc();
        }
    }

    /// Removes a connection's subscription to a topic (no-op when absent).
    pub fn unsubscribe(&self, topic: Topic, conn_id: u64) {
        self.remove_where(topic, |s| s.conn_id == conn_id);
    }

    fn remove_where(&self, topic: Topic, pred: impl Fn(&Subscription) -> bool) {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if let Some(subs) = topics.get_mut(&topic) {
            subs.retain(|s| !pred(s));
            if subs.is_empty() {
                topics.remove(&topic);
                if let Some(listen) = self.interest.get() {
                    listen(topic, false);
                }
            }
        }
    }

    /// Delivers an event to every local subscription of its topic, then drops subscriptions
    /// whose connection is gone or whose user left.
    pub fn deliver(&self, topic: Topic, event: &Arc<Event>) {
        let mut dead = false;
        {
            let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
            let Some(subs) = topics.get(&topic) else {
                return;
            };
            for sub in subs {
                dead |= !sub.offer(event);
            }
            self.deliveries.inc_by(subs.len() as u64);
        }
        if dead || !event.remove_users.is_empty() {
            self.remove_where(topic, |s| {
                s.sink.is_closed() || event.remove_users.contains(&s.user_id)
            });
        }
    }

    /// Number of local subscriptions to a topic.
    pub fn subscribers(&self, topic: Topic) -> usize {
        let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
        topics.get(&topic).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::{Outbound, outbound_queue};
    use chat_proto::v1::{Message, ServerFrame, server_frame::Payload};

    fn msg_event(seq: Seq) -> Arc<Event> {
        Arc::new(Event {
            frame: EncodedFrame::new(ServerFrame {
                request_id: 0,
                payload: Some(Payload::Message(Message {
                    seq,
                    ..Default::default()
                })),
            }),
            seq: Some(seq),
            remove_users: vec![],
            skip_if_open: None,
            hide_from: vec![],
        })
    }

    fn seq_of(o: Outbound) -> Seq {
        match o {
            Outbound::Frame(f) => match &f.frame().payload {
                Some(Payload::Message(m)) => m.seq,
                _ => 0,
            },
            Outbound::Close(_) => u64::MAX,
        }
    }

    #[tokio::test]
    async fn buffering_then_activate_delivers_each_seq_once_in_order() {
        let hub = Hub::new();
        let (tx, mut rx) = outbound_queue(16);
        let sub = hub.subscribe(Topic::Room(1), 1, 9, tx, true);
        for s in [4, 5, 6] {
            hub.deliver(Topic::Room(1), &msg_event(s));
        }
        // The snapshot already covers seq 5.
        sub.activate(5, |sink| {
            sink.send(msg_event(100).frame.clone());
        });
        hub.deliver(Topic::Room(1), &msg_event(6));
        hub.deliver(Topic::Room(1), &msg_event(7));
        let got: Vec<Seq> = [
            rx.next().await.unwrap(),
            rx.next().await.unwrap(),
            rx.next().await.unwrap(),
        ]
        .into_iter()
        .map(seq_of)
        .collect();
        assert_eq!(got, vec![100, 6, 7]);
        assert!(rx.try_next_frame().is_none());
    }

    #[tokio::test]
    async fn a_hidden_event_takes_its_seq_without_being_delivered() {
        let hub = Hub::new();
        let (tx, mut rx) = outbound_queue(16);
        // User 9: buffering while the room opens, then live.
        let sub = hub.subscribe(Topic::Room(1), 1, 9, tx, true);
        let hidden = |seq| {
            Arc::new(Event {
                seq: Some(seq),
                hide_from: vec![9],
                ..Event::new(msg_event(seq).frame.clone())
            })
        };
        hub.deliver(Topic::Room(1), &msg_event(1));
        hub.deliver(Topic::Room(1), &hidden(2));
        sub.activate(0, |_| {});
        hub.deliver(Topic::Room(1), &hidden(3));
        hub.deliver(Topic::Room(1), &msg_event(4));
        let got: Vec<Seq> = [rx.next().await.unwrap(), rx.next().await.unwrap()]
            .into_iter()
            .map(seq_of)
            .collect();
        assert_eq!(got, vec![1, 4], "no resync close: the seqs stayed dense");
        assert!(rx.try_next_frame().is_none());
    }

    #[tokio::test]
    async fn leaving_users_and_dead_connections_are_dropped() {
        let hub = Hub::new();
        let (a, _ra) = outbound_queue(16);
        let (b, rb) = outbound_queue(16);
        hub.subscribe(Topic::Room(1), 1, 10, a, false);
        hub.subscribe(Topic::Room(1), 2, 20, b, false);
        drop(rb);
        let leave = Arc::new(Event {
            remove_users: vec![10],
            ..Event::new(msg_event(1).frame.clone())
        });
        hub.deliver(Topic::Room(1), &leave);
        assert_eq!(hub.subscribers(Topic::Room(1)), 0);
    }

    #[tokio::test]
    async fn chat_list_updates_skip_connections_with_the_room_open() {
        let hub = Hub::new();
        let (a, mut ra) = outbound_queue(16);
        let (b, mut rb) = outbound_queue(16);
        let open = Arc::new(OpenRooms::default());
        open.insert(5);
        hub.subscribe_filtered(Topic::User(1), 1, 1, a, false, Some(open));
        hub.subscribe_filtered(Topic::User(1), 2, 1, b, false, Some(Arc::default()));
        let update = Arc::new(Event {
            skip_if_open: Some(5),
            ..Event::new(msg_event(9).frame.clone())
        });
        hub.deliver(Topic::User(1), &update);
        assert!(ra.try_next_frame().is_none());
        assert!(rb.try_next_frame().is_some());
    }
}

#[cfg(test)]
mod properties {
    #![allow(clippy::unwrap_used)]
    use chat_proto::v1::{Message, ServerFrame, server_frame::Payload};
    use futures::FutureExt as _;
    use proptest::prelude::*;

    use super::*;
    use crate::outbound::{Outbound, outbound_queue};

    fn message(seq: Seq) -> Arc<Event> {
        Arc::new(Event {
            seq: Some(seq),
            ..Event::new(EncodedFrame::new(ServerFrame {
                request_id: 0,
                payload: Some(Payload::Message(Message {
                    seq,
                    ..Default::default()
                })),
            }))
        })
    }

    /// Delivers `stream` to one live subscription; returns the seqs it queued and the close
    /// code, if it was closed.
    fn run(stream: &[Seq]) -> (Vec<Seq>, Option<u16>) {
        let hub = Hub::new();
        let (tx, mut rx) = outbound_queue(4096);
        hub.subscribe(Topic::Room(1), 1, 1, tx, false);
        for &seq in stream {
            hub.deliver(Topic::Room(1), &message(seq));
        }
        let mut seqs = Vec::new();
        while let Some(Some(next)) = rx.next().now_or_never() {
            match next {
                Outbound::Frame(f) => match &f.frame().payload {
                    Some(Payload::Message(m)) => seqs.push(m.seq),
                    other => panic!("{other:?}"),
                },
                Outbound::Close(c) => return (seqs, Some(c.code)),
            }
        }
        (seqs, None)
    }

    proptest! {
        /// Whatever the bus repeats, a subscriber sees each seq once, in order; and if a seq
        /// arrives before the one it follows (a gap), the subscriber is told to resync rather
        /// than left with a hole.
        #[test]
        fn each_seq_once_in_order_or_a_resync(
            n in 1u64..80,
            repeats in proptest::collection::vec((0usize..200, 0usize..200), 0..30),
            swap in proptest::option::of(1u64..80),
        ) {
            let mut stream: Vec<Seq> = (1..=n).collect();
            let swapped = swap.filter(|&k| k < n);
            if let Some(k) = swapped {
                stream.swap(usize::try_from(k - 1).unwrap(), usize::try_from(k).unwrap());
            }
            // Repeat events that already went by, anywhere later.
            for (at, of) in repeats {
                let at = at % (stream.len() + 1);
                if at > 0 {
                    let earlier = stream[of % at];
                    stream.insert(at, earlier);
                }
            }
            let (seqs, closed) = run(&stream);
            prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{:?}", seqs);
            match swapped {
                None => {
                    prop_assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
                    prop_assert_eq!(closed, None);
                }
                Some(k) => {
                    prop_assert_eq!(seqs, (1..k).collect::<Vec<_>>());
                    prop_assert_eq!(closed, Some(4003));
                }
            }
        }
    }
}
