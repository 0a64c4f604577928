//! Prometheus metrics of a node (`GET /metrics`, OpenMetrics text). Counters and histograms
//! are updated where things happen; gauges of live state (connections, actors, members,
//! health) are read when scraped.

use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// Registers each metric under its name and help text.
macro_rules! register {
    ($registry:expr, $($name:literal, $help:literal, $metric:expr;)*) => {
        $($registry.register($name, $help, $metric.clone());)*
    };
}

/// Every metric of a node.
pub struct Metrics {
    registry: Registry,
    /// Client frames received (every transport).
    pub frames_in: Counter,
    /// Messages made durable by the room actors of this node.
    pub messages_sequenced: Counter,
    /// Frames queued for connections of this node by the hub (messages and other events).
    pub deliveries: Counter,
    /// Room operations sent to the owning peer.
    pub forwarded: Counter,
    /// Subscribers told to resync (4003).
    pub resyncs: Counter,
    /// From a send reaching its room actor to its durable ack, seconds.
    pub send_seconds: Histogram,
    /// One store append (a room's batch), seconds.
    pub append_seconds: Histogram,
    /// Appends that failed.
    pub append_failures: Counter,
    /// 1 while the store's last append succeeded (0 after a failure, until one succeeds).
    pub store_ok: Gauge,
    /// Active user session actors (kept by the user supervisor).
    pub user_sessions: Gauge,
    /// Open client connections (kept by the connection registry).
    pub connections: Gauge,
    room_actors: Gauge,
    cluster_members: Gauge,
    bus_up: Gauge,
    bus_dropped: Counter,
    index_lag: Gauge,
    index_pending_rooms: Gauge,
    index_entries: Counter,
    index_failures: Counter,
    index_dropped: Counter,
}

/// Live values read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Live {
    /// Active room actors.
    pub room_actors: usize,
    /// Cluster members in this node's view.
    pub cluster_members: usize,
    /// The bus is connected (always for the in-process bus).
    pub bus_up: bool,
    /// Events the bus dropped so far.
    pub bus_dropped: u64,
    /// Log entries committed and not yet in the search index (rooms this node owns).
    pub index_lag: u64,
    /// Rooms waiting for the search indexer.
    pub index_pending_rooms: usize,
    /// Totals kept by the indexer: entries indexed, store failures, dropped notifications.
    pub index_entries: u64,
    /// See `index_entries`.
    pub index_failures: u64,
    /// See `index_entries`.
    pub index_dropped: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `chat` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("chat");
        let latency = || Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let m = Self {
            frames_in: Counter::default(),
            messages_sequenced: Counter::default(),
            deliveries: Counter::default(),
            forwarded: Counter::default(),
            resyncs: Counter::default(),
            send_seconds: latency(),
            append_seconds: latency(),
            append_failures: Counter::default(),
            store_ok: Gauge::default(),
            connections: Gauge::default(),
            room_actors: Gauge::default(),
            user_sessions: Gauge::default(),
            cluster_members: Gauge::default(),
            bus_up: Gauge::default(),
            bus_dropped: Counter::default(),
            index_lag: Gauge::default(),
            index_pending_rooms: Gauge::default(),
            index_entries: Counter::default(),
            index_failures: Counter::default(),
            index_dropped: Counter::default(),
            registry: Registry::default(),
        };
        register!(&mut registry,
            "frames_in", "Client frames received", m.frames_in;
            "messages_sequenced", "Messages made durable by this node's rooms", m.messages_sequenced;
            "deliveries", "Frames queued for this node's connections", m.deliveries;
            "room_requests_forwarded", "Room operations sent to the owning node", m.forwarded;
            "resyncs", "Subscribers told to recover by seq (close 4003)", m.resyncs;
            "send_seconds", "From a send reaching its room to its durable ack", m.send_seconds;
            "store_append_seconds", "One store append of a room's batch", m.append_seconds;
            "store_append_failures", "Store appends that failed", m.append_failures;
            "store_ok", "1 while the store's last append succeeded", m.store_ok;
            "connections", "Open client connections", m.connections;
            "room_actors", "Active room actors", m.room_actors;
            "user_sessions", "Active user session actors", m.user_sessions;
            "cluster_members", "Cluster members in this node's view", m.cluster_members;
            "bus_up", "1 while the event bus is connected", m.bus_up;
            "bus_dropped", "Events that never left this node (the bus's publish queue was full)", m.bus_dropped;
            "search_index_lag_entries", "Log entries of this node's rooms not yet in the search index", m.index_lag;
            "search_index_pending_rooms", "Rooms waiting for the search indexer", m.index_pending_rooms;
            "search_indexed_entries", "Log entries the search indexer went through", m.index_entries;
            "search_index_failures", "Store errors while indexing (each retried)", m.index_failures;
            "search_index_dropped", "Indexing notifications dropped (too many rooms waiting; caught up later)", m.index_dropped;
        );
        Self { registry, ..m }
    }

    /// The OpenMetrics text, with the live gauges set to `live`.
    pub fn render(&self, live: Live) -> String {
        let gauge = |g: &Gauge, v: usize| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        gauge(&self.room_actors, live.room_actors);
        gauge(&self.cluster_members, live.cluster_members);
        gauge(&self.bus_up, usize::from(live.bus_up));
        // A total kept by the bus: the counter catches up with it.
        self.bus_dropped
            .inc_by(live.bus_dropped.saturating_sub(self.bus_dropped.get()));
        gauge(&self.index_pending_rooms, live.index_pending_rooms);
        self.index_lag
            .set(i64::try_from(live.index_lag).unwrap_or(i64::MAX));
        for (c, total) in [
            (&self.index_entries, live.index_entries),
            (&self.index_failures, live.index_failures),
            (&self.index_dropped, live.index_dropped),
        ] {
            c.inc_by(total.saturating_sub(c.get()));
        }
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_live_gauges() {
        let m = Metrics::new();
        m.messages_sequenced.inc_by(3);
        m.send_seconds.observe(0.002);
        m.connections.set(7);
        let text = m.render(Live {
            bus_up: true,
            bus_dropped: 2,
            ..Live::default()
        });
        assert!(text.contains("chat_messages_sequenced_total 3"), "{text}");
        assert!(text.contains("chat_connections 7"), "{text}");
        assert!(text.contains("chat_bus_up 1"), "{text}");
        assert!(text.contains("chat_bus_dropped_total 2"), "{text}");
        assert!(text.contains("chat_send_seconds_bucket"), "{text}");
        assert!(text.contains("chat_search_index_lag_entries 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
