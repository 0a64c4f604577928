//! Joining the cluster: [`start`] runs ractor_cluster's `NodeServer` on the cluster port
//! (peers must present the shared cookie), this node's [`NodeEndpoint`] (what peers call)
//! and the [`Membership`] actor (dialling, heartbeats, the view), plus discovery over NATS
//! when the node has a link.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use ractor::{Actor, ActorRef};
use ractor_cluster::{
    IncomingEncryptionMode, NodeServer, NodeServerMessage, node::NodeConnectionMode,
};

use crate::{
    config::ClusterConfig,
    discovery,
    endpoint::{EndpointArgs, NodeEndpoint, PeerMessage, PeerService},
    error::{ClusterError, ClusterResult},
    membership::{Membership, MembershipArgs, MembershipMessage},
    nats::NatsLink,
    placement::Placement,
    tls::ClusterTls,
};

/// A running cluster membership.
pub struct Cluster {
    server: ActorRef<NodeServerMessage>,
    endpoint: ActorRef<PeerMessage>,
    membership: ActorRef<MembershipMessage>,
    discovery: Option<tokio::task::JoinHandle<()>>,
}

/// Joins the cluster: listens on the cluster port, serves peers through `service`, keeps
/// the membership in `placement`, and finds peers announced on `link` too.
pub async fn start(
    config: ClusterConfig,
    placement: Arc<Placement>,
    service: Arc<dyn PeerService>,
    link: Option<Arc<NatsLink>>,
) -> ClusterResult<Cluster> {
    config.validate().map_err(ClusterError::Config)?;
    let listen = config.listen_addr().map_err(ClusterError::Config)?;
    let tls = match config.tls_cert_file.as_str() {
        "" => None,
        cert => Some(ClusterTls::load(
            cert,
            &config.tls_key_file,
            &config.tls_ca_file,
        )?),
    };
    let server = spawn_server(&config, listen, placement.name(), tls.as_ref()).await?;
    let leaving = Arc::new(AtomicBool::new(false));
    let announced = Arc::default();
    let discovery = match &link {
        Some(link) => Some(
            discovery::start(
                link,
                &format!("{}:{}", config.advertised_host(), listen.port()),
                Duration::from_millis(config.heartbeat_ms * 4),
                leaving.clone(),
                Arc::clone(&announced),
            )
            .await?,
        ),
        None => None,
    };
    let endpoint = spawn(
        "cluster endpoint",
        NodeEndpoint,
        EndpointArgs {
            name: placement.name().clone(),
            service,
            leaving: leaving.clone(),
        },
    )
    .await?;
    let membership = spawn(
        "cluster membership",
        Membership,
        MembershipArgs {
            config,
            placement,
            server: server.clone(),
            leaving,
            announced,
            tls: tls.map(|t| t.connector),
        },
    )
    .await?;
    tracing::info!(cluster_addr = %listen, "cluster port listening");
    Ok(Cluster {
        server,
        endpoint,
        membership,
        discovery,
    })
}

/// ractor_cluster's server on the cluster port.
async fn spawn_server(
    config: &ClusterConfig,
    listen: SocketAddr,
    name: &str,
    tls: Option<&ClusterTls>,
) -> ClusterResult<ActorRef<NodeServerMessage>> {
    let (encryption, mode) = match tls {
        // ractor_cluster's own follow-up connections would be plaintext: with TLS, only the
        // membership actor dials (configured and announced peers cover the rest).
        Some(t) => (
            Some(IncomingEncryptionMode::Tls(t.acceptor.clone())),
            NodeConnectionMode::Isolated,
        ),
        // Connecting to one peer connects to its peers too, so a seed address suffices.
        None => (None, NodeConnectionMode::Transitive),
    };
    let server = NodeServer::new(
        listen.port(),
        config.cookie.clone(),
        name.to_owned(),
        config.advertised_host(),
        encryption,
        Some(mode),
    )
    .with_listen_addr(listen.ip());
    spawn("cluster server", server, ()).await
}

async fn spawn<A: Actor>(
    what: &str,
    actor: A,
    args: A::Arguments,
) -> ClusterResult<ActorRef<A::Msg>> {
    Actor::spawn(None, actor, args)
        .await
        .map(|(actor, _)| actor)
        .map_err(|e| ClusterError::Spawn(format!("{what}: {e}")))
}

impl Cluster {
    /// Leaves the membership: this node stops counting itself, so its rooms and user
    /// sessions move to the others (peers hear it in their next ping).
    pub async fn leave(&self) {
        let _ = self
            .membership
            .call(MembershipMessage::Leave, Some(Duration::from_secs(2)))
            .await;
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
