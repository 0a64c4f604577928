//! The cluster layer: membership over ractor_cluster, placement of keys by rendezvous
//! hashing over the members, the node endpoint peers call, mutual TLS between nodes,
//! discovery, and the NATS link with interest-driven publish/subscribe. A single node has a
//! placement of one member and never forwards.
//!
//! It knows no rooms, users or messages: the layer above names its channels and keys,
//! serves peers through [`PeerService`] and receives publications through
//! [`BrokerHandler`]. May depend on `chat-proto` (the `chat.cluster.v1` envelope) and the
//! ractor crates; never on the actors, the store or the gateway.

mod broker;
mod config;
mod discovery;
mod endpoint;
mod error;
mod membership;
mod nats;
mod node;
mod placement;
pub mod tls;

pub use broker::{Broker, BrokerHandler, Channel};
pub use config::ClusterConfig;
pub use endpoint::{PeerService, PendingReply, call, cast};
pub use error::{ClusterError, ClusterResult};
pub use nats::{Interruption, InterruptionHandler, NatsConfig, NatsLink};
pub use node::{Cluster, start};
pub use placement::{Key, Owner, Placement, View};
