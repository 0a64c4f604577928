//! Cluster settings: `[cluster]` in the node's configuration.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// How this node finds and trusts its peers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Run as a member of a cluster (needs `cookie`, and the NATS bus and CQL store for a
    /// cluster that shares state). Default false: a single node.
    pub enabled: bool,
    /// Where the cluster port listens. Default `127.0.0.1:4370`.
    pub listen: String,
    /// The host name peers reach this node by (its `host:port` must resolve to this node).
    /// Default: the host of `listen`.
    pub advertise_host: String,
    /// The shared secret every member must present (required when enabled; at least 16
    /// characters). Nodes with another cookie are refused.
    pub cookie: String,
    /// Peers as `host:port`. A name resolving to several addresses (a Kubernetes headless
    /// service) counts as all of them; this node's own address may be listed.
    pub peers: Vec<String>,
    /// How often peers are pinged and missing ones dialled, ms. Default 500.
    pub heartbeat_ms: u64,
    /// A peer that has not answered a ping for this long is out of the membership (its
    /// rooms move), ms. Default 3000.
    pub peer_timeout_ms: u64,
    /// Longest wait between two connection attempts to a missing peer, ms. Default 5000.
    pub max_backoff_ms: u64,
    /// Host names resolved here instead of by DNS: name -> addresses (like /etc/hosts, but
    /// a name may have several, as a headless service does). Default none.
    pub host_aliases: std::collections::BTreeMap<String, Vec<std::net::IpAddr>>,
    /// PEM certificate chain of this node for mutual TLS between nodes (with `tls_key_file`
    /// and `tls_ca_file`; all three or none). Default empty: plaintext links.
    pub tls_cert_file: String,
    /// PEM private key of that certificate.
    pub tls_key_file: String,
    /// PEM CA that signed every node's certificate: peers must present one it signed.
    pub tls_ca_file: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:4370".into(),
            advertise_host: String::new(),
            cookie: String::new(),
            peers: Vec::new(),
            heartbeat_ms: 500,
            peer_timeout_ms: 3000,
            max_backoff_ms: 5000,
            host_aliases: std::collections::BTreeMap::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_ca_file: String::new(),
        }
    }
}

impl ClusterConfig {
    /// Checks the values (only when enabled: a single node ignores them).
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        self.listen_addr()?;
        if self.cookie.chars().count() < 16 {
            return Err(
                "cluster.cookie must be set, at least 16 characters, when cluster.enabled".into(),
            );
        }
        for peer in &self.peers {
            match peer.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                _ => return Err(format!("cluster.peers: {peer:?} is not host:port")),
            }
        }
        if self.heartbeat_ms == 0 || self.peer_timeout_ms <= self.heartbeat_ms {
            return Err(
                "cluster.heartbeat_ms must be positive and below cluster.peer_timeout_ms".into(),
            );
        }
        let tls = [&self.tls_cert_file, &self.tls_key_file, &self.tls_ca_file];
        if tls.iter().any(|f| f.is_empty()) && tls.iter().any(|f| !f.is_empty()) {
            return Err("cluster.tls_cert_file, tls_key_file and tls_ca_file go together".into());
        }
        if self.max_backoff_ms == 0 {
            return Err("cluster.max_backoff_ms must be positive".into());
        }
        Ok(())
    }

    /// The cluster port's address.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|_| format!("cluster.listen: {:?} is not ip:port", self.listen))
    }

    /// The host peers use to reach this node.
    pub fn advertised_host(&self) -> String {
        if !self.advertise_host.is_empty() {
            return self.advertise_host.clone();
        }
        self.listen_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_cluster_needs_a_cookie_and_sane_peers() {
        assert!(ClusterConfig::default().validate().is_ok());
        let mut c = ClusterConfig {
            enabled: true,
            ..ClusterConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("cookie"));
        c.cookie = "0123456789abcdef".into();
        assert!(c.validate().is_ok());
        c.peers = vec!["chat-0.chat:4370".into(), "nope".into()];
        assert!(c.validate().unwrap_err().contains("nope"));
        c.peers.pop();
        c.peer_timeout_ms = c.heartbeat_ms;
        assert!(c.validate().is_err());
        assert_eq!(c.advertised_host(), "127.0.0.1");
    }
}
