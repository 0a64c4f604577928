//! Layered configuration: compiled-in defaults, then an optional TOML file, then environment
//! variables `CHAT__SECTION__KEY` (e.g. `CHAT__HTTP__LISTEN=0.0.0.0:8080`).

use std::path::{Path, PathBuf};

use chat_actors::{
    AuthConfig, BusBackend, BusConfig, ChatConfig, FilesConfig, cluster::ClusterConfig,
    limits::LimitsConfig,
};
use chat_gateway::GatewayConfig;
use chat_store::{BlobConfig, CqlConfig, S3Config};
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// The whole configuration of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Identity and lifecycle.
    pub node: NodeSection,
    /// HTTP and WebSocket transports.
    pub http: GatewayConfig,
    /// Storage backend.
    pub store: StoreSection,
    /// Accounts and tokens.
    pub auth: AuthSection,
    /// Messenger limits and timings.
    pub chat: ChatConfig,
    /// File transfer.
    pub files: FilesSection,
    /// Membership of a cluster.
    pub cluster: ClusterConfig,
    /// How events reach the other nodes.
    pub bus: BusConfig,
    /// Rate and connection limits against abuse.
    pub limits: LimitsConfig,
    /// Logging.
    pub log: LogSection,
    /// Test-only switches. Never enable in production.
    pub debug: DebugSection,
}

/// Identity and lifecycle of the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// Directory for the embedded store and generated keys. Default `./data`.
    pub data_dir: PathBuf,
    /// Name of this node in logs and replies. Default: `node-<node_index>`.
    pub node_id: Option<String>,
    /// This node's number (0-1023) in generated ids; unique per cluster. Default 0.
    pub node_index: u16,
    /// Take the number from the end of `node_id` instead (`chat-3` is 3), as a StatefulSet
    /// names its pods. Default false.
    pub index_from_name: bool,
    /// Seconds allowed for an orderly shutdown before the node exits anyway. Default 20.
    pub shutdown_timeout_secs: u64,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            node_id: None,
            node_index: 0,
            index_from_name: false,
            shutdown_timeout_secs: 20,
        }
    }
}

/// Which storage backend and how it behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// `embedded` (fjall under `node.data_dir`, nothing to install) or `cql` (ScyllaDB or
    /// Cassandra, for clusters). Default `embedded`.
    pub backend: String,
    /// The CQL backend's cluster, keyspace and consistency.
    pub cql: CqlConfig,
    /// Width of a message partition (time bucket) in seconds. Default 864000 (10 days).
    pub bucket_width_secs: u64,
    /// Override of the bucket width in ms (tests use tiny buckets). Default unset.
    pub bucket_width_ms: Option<u64>,
    /// fsync each group commit. Turning it off loses acked messages on power loss. Default true.
    pub fsync: bool,
    /// Most room appends folded into one group commit. Default 1024.
    pub group_commit_max: usize,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            backend: "embedded".into(),
            cql: CqlConfig::default(),
            bucket_width_secs: 10 * 24 * 3600,
            bucket_width_ms: None,
            fsync: true,
            group_commit_max: 1024,
        }
    }
}

impl StoreSection {
    /// The effective bucket width in ms.
    pub fn bucket_width_ms(&self) -> i64 {
        let ms = self
            .bucket_width_ms
            .unwrap_or(self.bucket_width_secs.saturating_mul(1000));
        i64::try_from(ms).unwrap_or(i64::MAX)
    }
}

/// File transfer: limits, and where the bytes live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesSection {
    /// `local` (a directory, nothing to install) or `s3` (any S3-compatible store; use it
    /// for clusters). Default `local`.
    pub backend: String,
    /// Directory of the `local` backend. Default unset: `<node.data_dir>/files`.
    pub local_dir: Option<PathBuf>,
    /// The bucket of the `s3` backend.
    pub s3: S3Config,
    /// Limits and timings.
    #[serde(flatten)]
    pub limits: FilesConfig,
}

impl Default for FilesSection {
    fn default() -> Self {
        Self {
            backend: "local".into(),
            local_dir: None,
            s3: S3Config::default(),
            limits: FilesConfig::default(),
        }
    }
}

impl FilesSection {
    /// The blob backend this section selects.
    pub fn blob_config(&self, data_dir: &Path) -> BlobConfig {
        match self.backend.as_str() {
            "s3" => BlobConfig::S3(self.s3.clone()),
            _ => BlobConfig::Local {
                root: self
                    .local_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("files")),
            },
        }
    }
}

/// Accounts and tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// Token-signing key, base64 (at least 32 bytes decoded). Default unset: a key is
    /// generated once and kept in `<data_dir>/token-signing.key`.
    pub signing_key: Option<String>,
    /// The id new tokens name their key by (empty: `k1`). Change it with the key.
    pub signing_key_id: String,
    /// Older keys (id -> base64 key) whose tokens are still accepted until they expire: to
    /// rotate, move the current key here under its id, then set a new key and id.
    pub previous_signing_keys: std::collections::BTreeMap<String, String>,
    /// Lifetimes and password hashing cost.
    #[serde(flatten)]
    pub tokens: AuthConfig,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter, e.g. `chat_actors=debug,info`. Default `info,fjall=warn,lsm_tree=warn`.
    pub level: String,
    /// `text` or `json`. Default `text`.
    pub format: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info,fjall=warn,lsm_tree=warn".into(),
            format: "text".into(),
        }
    }
}

/// Test-only switches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugSection {
    /// Enables `POST /debug/rooms/{id}/fault`, which crashes a room actor. Default false.
    pub fault_injection: bool,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or parsed.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is out of range.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl NodeConfig {
    /// Loads defaults, then `file` (if any), then `CHAT__*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(NodeConfig::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let config: NodeConfig = figment
            .merge(Env::prefixed("CHAT__").split("__"))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate().map_err(ConfigError::Invalid)?;
        self.chat.validate().map_err(ConfigError::Invalid)?;
        self.limits.validate().map_err(ConfigError::Invalid)?;
        self.files.limits.validate().map_err(ConfigError::Invalid)?;
        match self.files.backend.as_str() {
            "local" => {}
            "s3" if !self.files.s3.bucket.is_empty() => {}
            "s3" => {
                return Err(ConfigError::Invalid(
                    "files.s3.bucket is required when files.backend is \"s3\"".into(),
                ));
            }
            other => {
                return Err(ConfigError::Invalid(format!(
                    "files.backend {other:?} is not supported (use \"local\" or \"s3\")"
                )));
            }
        }
        match self.store.backend.as_str() {
            "embedded" => {}
            "cql" => self.store.cql.validate().map_err(ConfigError::Invalid)?,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "store.backend {other:?} is not supported (use \"embedded\" or \"cql\")"
                )));
            }
        }
        if self.store.bucket_width_ms() <= 0 || self.store.group_commit_max == 0 {
            return Err(ConfigError::Invalid(
                "store.bucket_width and store.group_commit_max must be positive".into(),
            ));
        }
        if self.node_index()? >= 1024 {
            return Err(ConfigError::Invalid(
                "node.node_index must be below 1024".into(),
            ));
        }
        self.validate_cluster()?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(
                "log.format must be \"text\" or \"json\"".into(),
            ));
        }
        Ok(())
    }

    /// A cluster shares everything: its nodes need the NATS bus, the CQL store and S3
    /// files (a node's own disk is not shared), and distinct names and id numbers.
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        self.cluster.validate().map_err(ConfigError::Invalid)?;
        if self.bus.backend == BusBackend::Nats {
            self.bus.nats.validate().map_err(ConfigError::Invalid)?;
        }
        if !self.cluster.enabled {
            return Ok(());
        }
        let mut missing = Vec::new();
        if self.bus.backend != BusBackend::Nats {
            missing.push("bus.backend = \"nats\"");
        }
        if self.store.backend != "cql" {
            missing.push("store.backend = \"cql\"");
        }
        if self.files.backend != "s3" {
            missing.push("files.backend = \"s3\"");
        }
        if self.node.node_id.is_none() {
            missing.push("node.node_id (a name unique in the cluster)");
        }
        if !missing.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "cluster.enabled needs {}",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// This node's number in generated ids.
    pub fn node_index(&self) -> Result<u16, ConfigError> {
        if !self.node.index_from_name {
            return Ok(self.node.node_index);
        }
        let name = self.node.node_id.as_deref().unwrap_or_default();
        name.rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u16>().ok())
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "node.index_from_name: node.node_id {name:?} does not end with -<number>"
                ))
            })
    }

    /// The node's name.
    pub fn node_id(&self) -> String {
        self.node
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", self.node_index().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_parse_and_validate() {
        let config = NodeConfig::load(None).unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:8080");
        assert_eq!(config.node.data_dir, PathBuf::from("data"));
        assert_eq!(config.store.backend, "embedded");
    }

    #[test]
    fn the_index_can_come_from_a_statefulset_pod_name() {
        let mut c = NodeConfig::default();
        c.node.index_from_name = true;
        c.node.node_id = Some("chat-chatcluster-7".into());
        assert_eq!(c.node_index().unwrap(), 7);
        c.node.node_id = Some("chat".into());
        assert!(c.node_index().is_err());
        c.node.node_id = Some("chat-2000".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../chatnode.example.toml");
        let config = NodeConfig::load(Some(&path)).unwrap();
        assert_eq!(config, NodeConfig::default());
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = NodeConfig::default();
        c.chat.max_room_members = 1;
        assert!(c.validate().is_err());
        let mut c = NodeConfig::default();
        c.store.backend = "cassandra".into();
        assert!(c.validate().is_err());
        let mut c = NodeConfig::default();
        c.chat.outbound_queue = 100;
        assert!(
            c.validate().is_err(),
            "queue smaller than a batch plus in-flight replies"
        );
        let mut c = NodeConfig::default();
        c.files.backend = "s3".into();
        assert!(c.validate().is_err(), "s3 without a bucket");
        c.files.s3.bucket = "chat".into();
        assert!(c.validate().is_ok());
        c.files.backend = "gcs".into();
        assert!(c.validate().is_err());
        let mut c = NodeConfig::default();
        c.files.limits.max_file_bytes = 0;
        assert!(c.validate().is_err());
    }
}
