//! The messenger's rules, as ractor actors. No transport code lives here: transports decode
//! frames and hand them to a [`connection::ConnectionActor`], the one command dispatcher.
//!
//! Supervision tree of a node (every child is linked to its parent; stopping the root stops
//! all of them):
//!
//! ```text
//! NodeRoot (ractor root, spawned by ChatSystem::start)
//! ├── RoomSupervisor ─── RoomActor*        one per active room; activated on demand, stopped
//! │                                        when idle, restarted from the store after a crash
//! ├── UserSupervisor ─── UserSessionActor* one per online user; stops a grace period after
//! │                                        the user's last connection closes
//! └── ConnectionSupervisor ── ConnectionActor*  one per socket while it has work: an idle
//!                                          one hibernates and the next frame wakes a new
//!                                          one; never restarted after a crash (the client
//!                                          reconnects and recovers by seq)
//! ```
//!
//! Alongside the tree: the [`hub::Hub`] (local fan-out by topic) and the [`bus::Bus`]
//! (in-process now, NATS in a cluster). May depend on `chat-proto` and `chat-store`; never on
//! the gateway or the node.

pub mod auth;
pub mod bus;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod convert;
pub mod core;
pub mod error;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod outbound;
pub mod presence;
pub mod room;
pub mod social;
pub mod user;

use std::{sync::Arc, time::Duration};

use chat_proto::v1::CloseCode;
use chat_store::{Blobs, SharedStore};
use ractor::{Actor, ActorProcessingErr, ActorRef};

pub use chat_store::UserRecord;

pub use crate::{
    auth::{AuthConfig, AuthService, TokenSigner},
    config::{ChatConfig, FilesConfig},
    connection::ConnectionRegistry,
    core::Core,
    error::{ChatError, Reason},
    files::FileService,
    room::RoomDirectory,
    user::UserDirectory,
};

/// Everything a command needs. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// Shared wiring.
    pub core: Arc<Core>,
    /// Accounts and tokens.
    pub auth: AuthService,
    /// Room actors.
    pub rooms: RoomDirectory,
    /// User sessions.
    pub users: UserDirectory,
    /// Live connections.
    pub connections: ConnectionRegistry,
    /// Uploads, downloads, attachments.
    pub files: FileService,
}

impl Services {
    /// The node's metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let core = &self.core;
        core.metrics.render(metrics::Live {
            connections: self.connections.len(),
            room_actors: self.rooms.active(),
            cluster_members: core.placement.view().members.len(),
            bus_up: core.bus.healthy(),
        })
    }
}

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
    pub cluster: cluster::ClusterConfig,
    /// How events reach other nodes.
    pub bus: BusConfig,
    /// Rate and connection limits.
    pub limits: limits::LimitsConfig,
}

/// `[bus]`: the in-process bus (single node) or NATS (cluster).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `local` (default) or `nats`.
    pub backend: BusBackend,
    /// NATS settings (backend `nats`).
    pub nats: bus::nats::NatsConfig,
}

/// Which bus carries events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusBackend {
    /// In-process: one node.
    #[default]
    Local,
    /// NATS: every node of a cluster.
    Nats,
}

/// Spawns `actor` linked under `parent` (unlinked when `None`); a failure is `INTERNAL`.
pub(crate) async fn spawn_child<A: Actor>(
    what: &str,
    actor: A,
    args: A::Arguments,
    parent: Option<ractor::ActorCell>,
) -> Result<ActorRef<A::Msg>, ChatError> {
    let spawned = match parent {
        Some(p) => Actor::spawn_linked(None, actor, args, p).await,
        None => Actor::spawn(None, actor, args).await,
    };
    spawned
        .map(|(actor, _)| actor)
        .map_err(|e| ChatError::Internal(format!("spawn {what}: {e}")))
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
    /// The services transports call.
    pub services: Services,
    root: ActorRef<()>,
    cluster: Option<cluster::Cluster>,
    view_watch: Option<tokio::task::JoinHandle<()>>,
}

impl ChatSystem {
    /// Builds the hub, bus and supervision tree over `store`.
    pub async fn start(config: SystemConfig, store: SharedStore) -> Result<Self, ChatError> {
        config.chat.validate().map_err(ChatError::Internal)?;
        config.files.validate().map_err(ChatError::Internal)?;
        config.cluster.validate().map_err(ChatError::Internal)?;
        config.limits.validate().map_err(ChatError::Internal)?;
        let limits = Arc::new(limits::Limits::new(&config.limits));
        let sweeping = Arc::downgrade(&limits);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                match sweeping.upgrade() {
                    Some(l) => l.sweep(),
                    None => return,
                }
            }
        });
        let metrics = Arc::new(metrics::Metrics::new());
        // The store opened, so it answered.
        metrics.store_ok.set(1);
        let hub = Arc::new(hub::Hub::counting(
            metrics.deliveries.clone(),
            metrics.resyncs.clone(),
        ));
        let ids = Arc::new(ids::IdGenerator::new(config.node_index));
        let placement = Arc::new(cluster::Placement::new(&config.node_id));
        let presence: Arc<presence::Presence> = Arc::default();
        let nats = match config.bus.backend {
            BusBackend::Local => None,
            BusBackend::Nats => Some(
                bus::nats::NatsBus::connect(
                    &config.bus.nats,
                    placement.name().clone(),
                    hub.clone(),
                    presence.clone(),
                )
                .await?,
            ),
        };
        let bus: Arc<dyn bus::Bus> = match &nats {
            Some(n) => n.clone(),
            None => Arc::new(bus::LocalBus::new(hub.clone())),
        };
        let core = Arc::new(Core {
            config: config.chat,
            store: store.clone(),
            ids: ids.clone(),
            bus,
            hub,
            presence,
            node_id: config.node_id,
            placement,
            metrics,
            limits,
            fault_injection: config.fault_injection,
        });
        let (root, _) = Actor::spawn(None, NodeRoot, ())
            .await
            .map_err(|e| ChatError::Internal(format!("spawn root: {e}")))?;
        let rooms = RoomDirectory::start(core.clone(), Some(root.get_cell())).await?;
        let users = UserDirectory::start(core.clone(), Some(root.get_cell())).await?;
        let connections = ConnectionRegistry::default();
        connections
            .start(Some(root.get_cell()), users.clone())
            .await?;
        let files = FileService::start(config.files, store.clone(), config.blobs, ids.clone());
        let auth = AuthService::new(config.auth, store, ids, config.signer)?;
        let services = Services {
            core,
            auth,
            rooms,
            users,
            connections,
            files,
        };
        let (cluster, view_watch) = if config.cluster.enabled {
            let c = cluster::start(
                config.cluster,
                services.core.placement.clone(),
                services.rooms.clone(),
                services.users.clone(),
                nats,
            )
            .await?;
            (Some(c), Some(tokio::spawn(follow_views(services.clone()))))
        } else {
            (None, None)
        };
        Ok(Self {
            services,
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
        self.services
            .connections
            .close_all(CloseCode::Draining, "node shutting down");
        self.services.rooms.drain_all(deadline).await;
        self.services.files.stop();
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

/// Follows membership changes: rooms and user sessions this node no longer owns move, this
/// node's connections attach to their users' (maybe new) session owners, and presence that
/// departed nodes vouched for is forgotten.
async fn follow_views(services: Services) {
    let core = services.core.clone();
    let mut views = core.placement.watch();
    while views.changed().await.is_ok() {
        let view = views.borrow_and_update().clone();
        core.presence.retain_nodes(&view.members);
        services.rooms.view_changed();
        services.users.view_changed(view.clone());
        for (conn, user) in services.connections.authenticated() {
            services.users.attach(user, conn);
        }
        // What this node vouches for now, for every node (newcomers included).
        let me = core.placement.name();
        let mine: Vec<chat_store::UserId> = core
            .presence
            .vouched_by(me)
            .into_iter()
            .filter(|&u| core.placement.owner(cluster::Key::User(u)) == cluster::Owner::Local)
            .collect();
        core.presence.replace_node(me, &mine);
        core.bus.presence_snapshot(mine);
    }
}
