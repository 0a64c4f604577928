//! Mutual TLS between cluster nodes (`cluster.tls_cert_file`, `tls_key_file`, `tls_ca_file`):
//! every node presents a certificate signed by the cluster's CA and accepts only peers that do
//! the same; the dialling side checks the peer's certificate names the host it dialled.

use std::sync::Arc;

use rustls::{
    RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::ClusterError;

/// Both halves of a node's cluster TLS.
#[derive(Clone)]
pub struct ClusterTls {
    /// For connections peers open to this node.
    pub acceptor: TlsAcceptor,
    /// For connections this node opens.
    pub connector: TlsConnector,
}

fn bad(what: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Tls(format!("{what}: {e}"))
}

/// A certificate chain and its private key from PEM files (the node's HTTP TLS uses it too).
pub fn read_cert_and_key(
    cert_file: &str,
    key_file: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert_file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{cert_file}: no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| format!("{key_file}: {e}"))?;
    Ok((certs, key))
}

impl ClusterTls {
    /// Loads the node's certificate chain, its key and the cluster CA (PEM files).
    pub fn load(cert_file: &str, key_file: &str, ca_file: &str) -> Result<Self, ClusterError> {
        let (certs, key) = read_cert_and_key(cert_file, key_file).map_err(|e| bad("files", e))?;
        let mut roots = RootCertStore::empty();
        let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| bad(ca_file, e))?;
        for ca in cas {
            roots.add(ca).map_err(|e| bad(ca_file, e))?;
        }
        if roots.is_empty() {
            return Err(bad(ca_file, "no CA certificate"));
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| bad("client verifier", e))?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("server", e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| bad("server certificate", e))?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("client", e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| bad("client certificate", e))?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// The name a dialled peer's certificate must carry: the host part of `host:port`.
pub fn server_name(host_port: &str) -> Option<ServerName<'static>> {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).ok()
}
