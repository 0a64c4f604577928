//! `[store.cql]`: how to reach the CQL cluster and how much to ask of it.

use scylla::frame::types::Consistency;
use serde::{Deserialize, Serialize};

use super::schema::Replication;
use crate::error::{StoreError, StoreResult};

/// Settings of the CQL backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CqlConfig {
    /// `host:port` of some nodes; the driver discovers the rest. Default `127.0.0.1:9042`.
    pub contact_points: Vec<String>,
    /// Keyspace (created if missing). Default `chat`.
    pub keyspace: String,
    /// `SimpleStrategy` replication factor (used unless `datacenters` is set). Default 1.
    pub replication_factor: u32,
    /// `NetworkTopologyStrategy` replication per data centre, e.g. `{"dc1" = 3}`.
    pub datacenters: std::collections::BTreeMap<String, u32>,
    /// `local_quorum` (default), `quorum`, `one`, `all`, `local_one`.
    pub consistency: String,
    /// Timeout of one request, ms. Default 5000.
    pub request_timeout_ms: u64,
    /// Timeout of connecting to a node, ms. Default 5000.
    pub connect_timeout_ms: u64,
    /// User name for password authentication (empty: none).
    pub username: String,
    /// Password for password authentication.
    pub password: String,
    /// PEM file of the CA that signed the nodes' certificates: connect with TLS (the nodes'
    /// certificates must name their IP addresses). Empty: plaintext.
    pub tls_ca_file: String,
    /// How long idempotency keys are kept, in seconds. Default 604800 (7 days): a client
    /// retrying a send later than that gets a new message.
    pub idempotency_ttl_secs: u32,
}

impl Default for CqlConfig {
    fn default() -> Self {
        Self {
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "chat".into(),
            replication_factor: 1,
            datacenters: std::collections::BTreeMap::new(),
            consistency: "local_quorum".into(),
            request_timeout_ms: 5000,
            connect_timeout_ms: 5000,
            username: String::new(),
            password: String::new(),
            tls_ca_file: String::new(),
            idempotency_ttl_secs: 7 * 24 * 3600,
        }
    }
}

impl CqlConfig {
    /// The keyspace replication this config asks for.
    pub fn replication(&self) -> Replication {
        if self.datacenters.is_empty() {
            Replication::Simple(self.replication_factor)
        } else {
            Replication::NetworkTopology(
                self.datacenters
                    .iter()
                    .map(|(dc, rf)| (dc.clone(), *rf))
                    .collect(),
            )
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        consistency(&self.consistency)?;
        let ident = |s: &str| {
            !s.is_empty()
                && s.len() <= 48
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if !ident(&self.keyspace) {
            return Err("store.cql.keyspace must be 1-48 letters, digits or _".into());
        }
        if self.datacenters.keys().any(|dc| !ident(dc)) {
            return Err("store.cql.datacenters: names must be letters, digits or _".into());
        }
        if self.contact_points.is_empty() || self.replication_factor == 0 {
            return Err("store.cql needs contact points and a positive replication".into());
        }
        Ok(())
    }
}

/// A TLS client configuration trusting the CAs of `ca_file` (PEM).
pub(super) fn tls_context(ca_file: &str) -> StoreResult<std::sync::Arc<rustls::ClientConfig>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject as _};
    let bad =
        |e: &dyn std::fmt::Display| StoreError::Invalid(format!("store.cql.tls_ca_file: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in the file"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

pub(super) fn consistency(name: &str) -> Result<Consistency, String> {
    Ok(match name {
        "local_quorum" => Consistency::LocalQuorum,
        "quorum" => Consistency::Quorum,
        "one" => Consistency::One,
        "local_one" => Consistency::LocalOne,
        "all" => Consistency::All,
        other => return Err(format!("store.cql.consistency {other:?} is not supported")),
    })
}
