//! The cluster layer's error type.

/// Why a cluster operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// A setting is missing or wrong.
    #[error("cluster configuration: {0}")]
    Config(String),
    /// The TLS files could not be used.
    #[error("cluster TLS: {0}")]
    Tls(String),
    /// The NATS server refused or failed a request.
    #[error("nats: {0}")]
    Nats(String),
    /// An actor of the cluster layer could not be started.
    #[error("cluster: cannot start {0}")]
    Spawn(String),
    /// The peer is not connected, or its session broke before it answered.
    #[error("cluster: node {0} is unreachable")]
    Unreachable(String),
    /// The peer did not answer within the deadline (the outcome is unknown).
    #[error("cluster: node {0} did not answer in time")]
    Timeout(String),
    /// A peer sent bytes that do not decode.
    #[error("cluster: malformed {0} from a peer")]
    Malformed(&'static str),
}

/// Result of a cluster operation.
pub type ClusterResult<T> = Result<T, ClusterError>;
