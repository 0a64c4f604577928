//! A node's actor system: builds the shared wiring, the supervision tree and (in a cluster)
//! the membership, follows membership changes, and shuts it all down in order.

use std::{sync::Arc, time::Duration};

use chat_cluster::{Cluster, ClusterConfig, Key, NatsLink, Owner, Placement};
use chat_proto::v1::CloseCode;
use chat_store::{Blobs, SharedStore};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::{
    auth::{AuthConfig, AuthService, Revocations, TokenSigner},
    bus::{
        Bus, LocalBus,
        nats::{NatsBus, resync_after},
    },
    config::{BusBackend, BusConfig, ChatConfig, FilesConfig},
    connection::ConnectionRegistry,
    core::Core,
    error::StartError,
    files::{FileService, UrlSigner},
    hub::Hub,
    ids::IdGenerator,
    limits::{Limits, LimitsConfig},
    metrics::Metrics,
    peers::PeerHandler,
    presence::{LocalPresence, Presence, nats::NatsPresence},
    room::RoomDirectory,
    services::Services,
    user::UserDirectory,
};

/// Rooms whose logs are ahead of their index (older than search, or a crash lost the
/// indexer's queue) are indexed once the node knows which rooms are its own.
fn start_backfill(core: &Core, cluster: bool) {
    let settle = if cluster {
        BACKFILL_SETTLE
    } else {
        Duration::ZERO
    };
    let placement = core.placement.clone();
    core.indexer.backfill(settle, move |room| {
        placement.owner(Key::Room(room)) == Owner::Local
    });
}

/// How long a cluster node waits before its search backfill judges which rooms it owns.
const BACKFILL_SETTLE: Duration = Duration::from_secs(10);

/// How to build a node's actor system.
pub struct SystemConfig {
    /// Messenger limits.
    pub chat: ChatConfig,
    /// Account settings.
    pub auth: AuthConfig,
    /// Token signing keys.
    pub signer: TokenSigner,
    /// This node's name.
    pub node_id: String,
    /// This node's number for id generation (0..1024).
    pub node_index: u16,
    /// Enables test-only fault injection.
    pub fault_injection: bool,
    /// File limits.
    pub files: FilesConfig,
    /// Where file bytes live.
    pub blobs: Blobs,
    /// Cluster membership (disabled: a single node).
    pub cluster: ClusterConfig,
    /// How events reach other nodes.
    pub bus: BusConfig,
    /// Rate and connection limits.
    pub limits: LimitsConfig,
}

impl SystemConfig {
    fn validate(&self) -> Result<(), StartError> {
        self.chat.validate().map_err(StartError::Config)?;
        self.files.validate().map_err(StartError::Config)?;
        self.cluster.validate().map_err(StartError::Config)?;
        self.limits.validate().map_err(StartError::Config)
    }
}

/// The root of a node's supervision tree: it only parents the supervisors.
struct NodeRoot;

impl Actor for NodeRoot {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A running actor system.
pub struct ChatSystem {
    /// What commands (and the transports) use.
    pub services: Services,
    /// Live connections: where the transports open theirs.
    pub connections: ConnectionRegistry,
    root: ActorRef<()>,
    cluster: Option<Cluster>,
    view_watch: Option<tokio::task::JoinHandle<()>>,
}

impl ChatSystem {
    /// Builds the hub, bus and supervision tree over `store`.
    pub async fn start(config: SystemConfig, store: SharedStore) -> Result<Self, StartError> {
        config.validate()?;
        let limits = Arc::new(Limits::new(&config.limits));
        tokio::spawn(sweep_limits(Arc::downgrade(&limits)));
        let ids = Arc::new(IdGenerator::new(config.node_index));
        let placement = Arc::new(Placement::new(&config.node_id));
        let metrics = Arc::new(Metrics::new());
        let hub = Arc::new(Hub::counting(
            metrics.deliveries.clone(),
            metrics.resyncs.clone(),
        ));
        let revocations = Arc::new(Revocations::default());
        let link = connect_link(&config.bus, &hub, &revocations, placement.name()).await?;
        let (bus, presence) = bus_and_presence(&link, &hub, placement.name()).await?;
        // The store opened, so it answered.
        metrics.store_ok.set(1);
        let core = Arc::new(Core {
            config: config.chat,
            store: store.clone(),
            ids: ids.clone(),
            hub,
            presence,
            bus,
            placement,
            metrics,
            limits: limits.clone(),
            indexer: Arc::new(chat_search::Indexer::start(store.clone())),
            fault_injection: config.fault_injection,
        });
        start_backfill(&core, config.cluster.enabled);
        let (root, _) = Actor::spawn(None, NodeRoot, ())
            .await
            .map_err(|e| StartError::Spawn(format!("node root: {e}")))?;
        let parent = || Some(root.get_cell());
        let services = Services {
            rooms: RoomDirectory::start(core.clone(), parent()).await?,
            users: UserDirectory::start(core.clone(), parent()).await?,
            files: FileService::start(
                config.files,
                store.clone(),
                config.blobs,
                ids.clone(),
                UrlSigner::new(config.signer.derive("chat.v1 file urls")),
            ),
            auth: AuthService::new(
                config.auth,
                store.clone(),
                ids,
                config.signer,
                limits,
                revocations.clone(),
            )?,
            core,
        };
        // In force before the first connection opens.
        let horizon = services.auth.token_horizon();
        revocations.start(store, link.clone(), horizon).await?;
        let connections = ConnectionRegistry::start(services.clone(), parent()).await?;
        let (cluster, view_watch) = if config.cluster.enabled {
            let peers = Arc::new(PeerHandler {
                rooms: services.rooms.clone(),
                users: services.users.clone(),
            });
            let placement = services.core.placement.clone();
            let c = chat_cluster::start(config.cluster, placement, peers, link).await?;
            let watch = tokio::spawn(follow_views(services.clone(), connections.clone()));
            (Some(c), Some(watch))
        } else {
            (None, None)
        };
        Ok(Self {
            services,
            connections,
            root,
            cluster,
            view_watch,
        })
    }

    /// Ordered shutdown within `deadline`: tell clients to reconnect elsewhere, drain rooms
    /// (every accepted send is acked or failed), flush the store, stop the tree.
    pub async fn shutdown(self, deadline: Duration) {
        if let Some(cluster) = &self.cluster {
            // Out of the membership first: rooms and sessions move to the other nodes,
            // whose pings learn that this node is leaving.
            cluster.leave().await;
        }
        self.connections
            .close_all(CloseCode::Draining, "node shutting down");
        self.services.rooms.drain_all(deadline).await;
        self.services.files.stop();
        self.services.core.indexer.stop().await;
        self.services.auth.revocations().stop();
        if let Err(e) = self.services.core.store.flush().await {
            tracing::error!(error = %e, "store flush at shutdown failed");
        }
        if let Some(watch) = self.view_watch {
            watch.abort();
        }
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
        let _ = self
            .root
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
    }
}

/// The NATS link, in a cluster. After an interruption, this node's clients resync and its
/// revocations reload (announcements may have been missed).
async fn connect_link(
    bus: &BusConfig,
    hub: &Arc<Hub>,
    revocations: &Arc<Revocations>,
    node: &Arc<str>,
) -> Result<Option<Arc<NatsLink>>, StartError> {
    if bus.backend == BusBackend::Local {
        return Ok(None);
    }
    let resyncing = hub.clone();
    let reloading = Arc::downgrade(revocations);
    let on_interruption = Box::new(move |i| {
        resync_after(&resyncing, i);
        if let Some(r) = reloading.upgrade() {
            r.request_reload();
        }
    });
    Ok(Some(
        NatsLink::connect(&bus.nats, node, on_interruption).await?,
    ))
}

/// The bus and presence: over the NATS link in a cluster, in-process on a single node.
async fn bus_and_presence(
    link: &Option<Arc<NatsLink>>,
    hub: &Arc<Hub>,
    node: &Arc<str>,
) -> Result<(Arc<dyn Bus>, Arc<dyn Presence>), StartError> {
    Ok(match link {
        Some(link) => (
            Arc::new(NatsBus::start(link.clone(), hub.clone())),
            Arc::new(NatsPresence::start(node.clone(), link.clone()).await?),
        ),
        None => (
            Arc::new(LocalBus::new(hub.clone())),
            Arc::new(LocalPresence::new(node.clone())),
        ),
    })
}

/// Forgets rate-limit buckets that are full again, every minute, while the limits live.
async fn sweep_limits(limits: std::sync::Weak<Limits>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        match limits.upgrade() {
            Some(l) => l.sweep(),
            None => return,
        }
    }
}

/// Follows membership changes: rooms and user sessions this node no longer owns move, this
/// node's connections attach to their users' (maybe new) session owners, and presence that
/// departed nodes vouched for is forgotten.
async fn follow_views(services: Services, connections: ConnectionRegistry) {
    let core = services.core.clone();
    let mut views = core.placement.watch();
    while views.changed().await.is_ok() {
        let view = views.borrow_and_update().clone();
        services.rooms.view_changed();
        services.users.view_changed(view.clone());
        for (conn, user) in connections.authenticated() {
            services.users.attach(user, conn).await;
        }
        let placement = &core.placement;
        let owned = |u| placement.owner(Key::User(u)) == Owner::Local;
        core.presence.reconcile(&view.members, &owned);
    }
}
