//! `Membership`: keeps this node connected to its peers and decides who is a member.
//!
//! ractor_cluster authenticates peers (the shared cookie) and mirrors process groups, but it
//! neither reconnects nor notices a silent peer quickly. So every heartbeat this actor dials
//! the configured peers it has no session with (backing off per address, DNS names resolved
//! each time so a headless service's new pods are found), pings every connected peer's
//! endpoint, drops the session of a peer silent for `peer_timeout_ms` (its next dial starts
//! over), and publishes the view: itself (unless leaving) and every peer that answered lately
//! and is not leaving. Every node computes the same view once pings have gone around.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chat_proto::cluster as pb;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{NodeServerMessage, node::NodeServerSessionInformation};

use crate::{config::ClusterConfig, endpoint, placement::Placement, tls};

/// Messages to the membership actor.
#[derive(ractor_cluster::RactorMessage)]
pub enum MembershipMessage {
    /// Dial, ping, recompute.
    Tick,
    /// A peer answered a ping.
    Pong {
        /// Its name.
        name: Arc<str>,
        /// It is leaving.
        leaving: bool,
    },
    /// This node leaves: stop counting itself, tell peers through pings; replies at once.
    Leave(RpcReplyPort<()>),
}

/// Start-up arguments.
pub struct MembershipArgs {
    /// Settings.
    pub config: ClusterConfig,
    /// Where the view goes.
    pub placement: Arc<Placement>,
    /// The ractor_cluster server.
    pub server: ActorRef<NodeServerMessage>,
    /// Shared with the endpoint, which reports it in pongs.
    pub leaving: Arc<AtomicBool>,
    /// Peer addresses (`host:port`) other nodes announced on the bus, with when.
    pub announced: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
    /// Dial peers over mutual TLS.
    pub tls: Option<tokio_rustls::TlsConnector>,
}

/// Per-address dialling state.
struct Dial {
    next: Instant,
    delay: Duration,
}

/// The actor's state.
pub struct MembershipState {
    args: MembershipArgs,
    me: Arc<str>,
    /// Last pong per peer, and whether it said it was leaving.
    pongs: HashMap<Arc<str>, (Instant, bool)>,
    /// When a session with each peer was first seen (a new one gets a grace period).
    since: HashMap<Arc<str>, Instant>,
    dials: HashMap<SocketAddr, Dial>,
    /// Addresses that turned out to be this node.
    own: HashSet<SocketAddr>,
}

/// The membership actor (see the module docs).
pub struct Membership;

impl Actor for Membership {
    type Msg = MembershipMessage;
    type State = MembershipState;
    type Arguments = MembershipArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: MembershipArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let me = args.placement.name().clone();
        let mut own = HashSet::new();
        if let Ok(addr) = args.config.listen_addr()
            && !addr.ip().is_unspecified()
        {
            own.insert(addr);
        }
        let every = Duration::from_millis(args.config.heartbeat_ms);
        myself.send_interval(every, || MembershipMessage::Tick);
        let _ = myself.cast(MembershipMessage::Tick);
        Ok(MembershipState {
            args,
            me,
            pongs: HashMap::new(),
            since: HashMap::new(),
            dials: HashMap::new(),
            own,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            MembershipMessage::Tick => tick(&myself, state).await,
            MembershipMessage::Pong { name, leaving } => {
                state.pongs.insert(name, (Instant::now(), leaving));
                publish_view(state, &connected_names(state));
            }
            MembershipMessage::Leave(reply) => {
                state.args.leaving.store(true, Ordering::Relaxed);
                publish_view(state, &connected_names(state));
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

fn connected_names(state: &MembershipState) -> HashSet<Arc<str>> {
    state.since.keys().cloned().collect()
}

/// The node name in a ractor_cluster peer name (`name@host`).
fn node_name(full: &str) -> &str {
    full.split_once('@').map_or(full, |(name, _)| name)
}

async fn tick(myself: &ActorRef<MembershipMessage>, state: &mut MembershipState) {
    let timeout = Duration::from_millis(state.args.config.peer_timeout_ms);
    let sessions = match state
        .args
        .server
        .call(NodeServerMessage::GetSessions, Some(Duration::from_secs(2)))
        .await
    {
        Ok(ractor::rpc::CallResult::Success(s)) => s,
        _ => {
            tracing::warn!("cluster server did not answer");
            return;
        }
    };
    let now = Instant::now();
    let mut covered: HashSet<SocketAddr> = state.own.clone();
    let mut connected: HashMap<Arc<str>, NodeServerSessionInformation> = HashMap::new();
    for session in sessions.into_values() {
        let addr: Option<SocketAddr> = session.peer_addr.parse().ok();
        let Some(peer) = session.peer_name.clone() else {
            // Still authenticating: its address is being taken care of.
            covered.extend(addr);
            continue;
        };
        if node_name(&peer.name) == &*state.me {
            // A peer address that is this node (a headless service lists every pod).
            session.actor.stop(Some("this is ourselves".into()));
            if let Some(a) = addr.filter(|_| !session.is_server) {
                state.own.insert(a);
            }
            continue;
        }
        covered.extend(addr);
        for a in resolve(&state.args.config, &peer.connection_string).await {
            covered.insert(a);
        }
        connected.insert(Arc::from(node_name(&peer.name)), session);
    }
    // Peers silent for too long lose their session; dialling starts over.
    state.since.retain(|name, _| connected.contains_key(name));
    for (name, session) in &connected {
        let first = *state.since.entry(name.clone()).or_insert(now);
        let last = state.pongs.get(name).map_or(first, |(t, _)| *t);
        if now.duration_since(last) > timeout {
            tracing::warn!(peer = %name, "peer missed its heartbeats; dropping its session");
            session.actor.stop(Some("heartbeat timeout".into()));
            state.since.remove(name);
            state.pongs.remove(name);
        }
    }
    state.pongs.retain(|name, _| state.since.contains_key(name));
    dial(state, &covered, now).await;
    ping(myself, state);
    publish_view(state, &connected_names(state));
}

async fn resolve(config: &ClusterConfig, host_port: &str) -> Vec<SocketAddr> {
    if let Some((host, port)) = host_port.rsplit_once(':')
        && let Some(ips) = config.host_aliases.get(host)
        && let Ok(port) = port.parse::<u16>()
    {
        return ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    }
    match tokio::net::lookup_host(host_port).await {
        Ok(addrs) => addrs.collect(),
        Err(_) => Vec::new(),
    }
}

async fn dial(state: &mut MembershipState, covered: &HashSet<SocketAddr>, now: Instant) {
    let max = Duration::from_millis(state.args.config.max_backoff_ms);
    let first = Duration::from_millis(state.args.config.heartbeat_ms);
    // Each address with the name it was reached by (what a TLS peer's certificate names).
    let mut wanted: HashMap<SocketAddr, String> = HashMap::new();
    // Announcements older than ten heartbeats are of nodes gone (or renamed).
    let fresh = first * 10;
    let announced: Vec<String> = {
        let mut map = state
            .args
            .announced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, at| now.duration_since(*at) <= fresh);
        map.keys().cloned().collect()
    };
    let mut peers = state.args.config.peers.clone();
    peers.extend(announced);
    for peer in peers {
        let addrs = resolve(&state.args.config, &peer).await;
        if addrs.is_empty() {
            tracing::debug!(peer, "peer name does not resolve (yet)");
        }
        for addr in addrs {
            wanted.entry(addr).or_insert_with(|| peer.clone());
        }
    }
    state.dials.retain(|addr, _| wanted.contains_key(addr));
    for (addr, peer) in wanted {
        if covered.contains(&addr) {
            state.dials.remove(&addr);
            continue;
        }
        let entry = state.dials.entry(addr).or_insert(Dial {
            next: now,
            delay: first,
        });
        if now < entry.next {
            continue;
        }
        entry.next = now + entry.delay;
        entry.delay = (entry.delay * 2).min(max);
        let server = state.args.server.clone();
        let connector = state.args.tls.clone();
        tokio::spawn(async move {
            let result = match (connector, tls::server_name(&peer)) {
                (Some(connector), Some(name)) => {
                    ractor_cluster::client_connect_enc(&server, addr, connector, name).await
                }
                (Some(_), None) => {
                    tracing::warn!(peer, "no TLS name for this peer");
                    return;
                }
                (None, _) => ractor_cluster::client_connect(&server, addr).await,
            };
            if let Err(e) = result {
                tracing::debug!(%addr, error = %e, "cannot reach peer");
            }
        });
    }
}

fn ping(myself: &ActorRef<MembershipMessage>, state: &MembershipState) {
    let request = pb::PeerRequest {
        hops: 0,
        kind: Some(pb::peer_request::Kind::Ping(pb::Ping {
            from: state.me.to_string(),
        })),
    };
    let wait = Duration::from_millis(state.args.config.peer_timeout_ms);
    for name in state.since.keys() {
        let Ok(reply) = endpoint::call(name, &request, wait) else {
            continue;
        };
        let me = myself.clone();
        let name = name.clone();
        tokio::spawn(async move {
            if let Ok(pb::PeerReply {
                kind: Some(pb::peer_reply::Kind::Pong(pong)),
            }) = reply.await
                && *pong.node == *name
            {
                let _ = me.cast(MembershipMessage::Pong {
                    name,
                    leaving: pong.leaving,
                });
            }
        });
    }
}

fn publish_view(state: &MembershipState, connected: &HashSet<Arc<str>>) {
    let timeout = Duration::from_millis(state.args.config.peer_timeout_ms);
    let now = Instant::now();
    let mut members: Vec<Arc<str>> = state
        .pongs
        .iter()
        .filter(|(name, (at, leaving))| {
            !leaving && connected.contains(*name) && now.duration_since(*at) <= timeout
        })
        .map(|(name, _)| name.clone())
        .collect();
    if !state.args.leaving.load(Ordering::Relaxed) {
        members.push(state.me.clone());
    }
    if state.args.placement.set_members(members) {
        let view = state.args.placement.view();
        tracing::info!(members = ?view.members, version = view.version, "cluster membership changed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_drop_the_host() {
        assert_eq!(node_name("chat-0@10.0.0.5"), "chat-0");
        assert_eq!(node_name("solo"), "solo");
    }
}
