//! The cluster: membership over ractor_cluster, placement of rooms and user sessions by
//! rendezvous hashing over the members, and requests forwarded to their owners. A single
//! node has a placement of one member and never forwards.
//!
//! Wiring: [`start`] runs ractor_cluster's `NodeServer` on the cluster port (peers must
//! present the shared cookie), this node's [`endpoint::NodeEndpoint`] (what peers call) and
//! the [`membership::Membership`] actor (dialling, heartbeats, the view).

pub mod codec;
mod config;
mod discovery;
pub mod endpoint;
pub mod membership;
pub mod placement;
pub mod tls;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use ractor::{Actor, ActorRef};
use ractor_cluster::{NodeServer, NodeServerMessage, node::NodeConnectionMode};

pub use config::ClusterConfig;
pub use placement::{Key, Owner, Placement, View};

use crate::{error::ChatError, room::RoomDirectory, user::UserDirectory};

/// Most times a request is passed on between nodes whose views disagree.
pub const MAX_HOPS: u32 = 2;

/// A running cluster membership.
pub struct Cluster {
    server: ActorRef<NodeServerMessage>,
    endpoint: ActorRef<endpoint::PeerMessage>,
    membership: ActorRef<membership::MembershipMessage>,
    leaving: Arc<AtomicBool>,
    discovery: Option<tokio::task::JoinHandle<()>>,
}

/// Joins the cluster: listens on the cluster port, serves peers, keeps the membership.
pub async fn start(
    config: ClusterConfig,
    placement: Arc<Placement>,
    rooms: RoomDirectory,
    users: UserDirectory,
    bus: Option<Arc<crate::bus::nats::NatsBus>>,
) -> Result<Cluster, ChatError> {
    config.validate().map_err(ChatError::Internal)?;
    let listen = config.listen_addr().map_err(ChatError::Internal)?;
    let name = placement.name().clone();
    let tls = if config.tls_cert_file.is_empty() {
        None
    } else {
        Some(tls::ClusterTls::load(
            &config.tls_cert_file,
            &config.tls_key_file,
            &config.tls_ca_file,
        )?)
    };
    let (encryption, mode) = match &tls {
        // ractor_cluster's own follow-up connections would be plaintext: with TLS, only the
        // membership actor dials (configured and announced peers cover the rest).
        Some(t) => (
            Some(ractor_cluster::IncomingEncryptionMode::Tls(
                t.acceptor.clone(),
            )),
            NodeConnectionMode::Isolated,
        ),
        // Connecting to one peer connects to its peers too, so a seed address suffices.
        None => (None, NodeConnectionMode::Transitive),
    };
    let server = NodeServer::new(
        listen.port(),
        config.cookie.clone(),
        name.to_string(),
        config.advertised_host(),
        encryption,
        Some(mode),
    )
    .with_listen_addr(listen.ip());
    let (server, _) = Actor::spawn(None, server, ())
        .await
        .map_err(|e| ChatError::Internal(format!("cluster server: {e}")))?;
    let leaving = Arc::new(AtomicBool::new(false));
    let announced = Arc::default();
    let discovery = match &bus {
        Some(bus) => Some(
            discovery::start(
                bus,
                &format!("{}:{}", config.advertised_host(), listen.port()),
                Duration::from_millis(config.heartbeat_ms * 4),
                leaving.clone(),
                Arc::clone(&announced),
            )
            .await?,
        ),
        None => None,
    };
    let endpoint = crate::spawn_child(
        "cluster endpoint",
        endpoint::NodeEndpoint,
        endpoint::EndpointArgs {
            name,
            rooms,
            users,
            leaving: leaving.clone(),
        },
        None,
    )
    .await?;
    let membership = crate::spawn_child(
        "cluster membership",
        membership::Membership,
        membership::MembershipArgs {
            config,
            placement,
            server: server.clone(),
            leaving: leaving.clone(),
            announced,
            tls: tls.map(|t| t.connector),
        },
        None,
    )
    .await?;
    tracing::info!(cluster_addr = %listen, "cluster port listening");
    Ok(Cluster {
        server,
        endpoint,
        membership,
        leaving,
        discovery,
    })
}

impl Cluster {
    /// Leaves the membership: this node stops counting itself, so its rooms and user
    /// sessions move to the others (peers hear it in their next ping).
    pub async fn leave(&self) {
        let _ = self
            .membership
            .call(
                membership::MembershipMessage::Leave,
                Some(Duration::from_secs(2)),
            )
            .await;
    }

    /// Whether [`Cluster::leave`] was called.
    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::Relaxed)
    }

    /// Stops the cluster actors and closes the cluster port.
    pub async fn stop(self) {
        if let Some(d) = self.discovery {
            d.abort();
        }
        self.membership.stop(None);
        self.endpoint.stop(None);
        let _ = self
            .server
            .stop_and_wait(None, Some(Duration::from_secs(2)))
            .await;
    }
}
