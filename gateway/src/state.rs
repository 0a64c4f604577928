//! The transports' shared state: what they serve, their settings, readiness and draining.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use chat_actors::{ConnectionRegistry, Services};

use crate::{client_ip::TrustedProxies, config::GatewayConfig, poll::sessions::PollSessions};

/// Shared state of the transports.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) services: Services,
    pub(crate) connections: ConnectionRegistry,
    pub(crate) config: Arc<GatewayConfig>,
    /// Proxies whose forwarding headers are believed (`http.trusted_proxies`).
    pub(crate) trusted: Arc<TrustedProxies>,
    ready: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
    pub(crate) polls: Arc<PollSessions>,
    /// Readiness for the gRPC health service (follows `ready` and `draining`).
    serving: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Gateway {
    /// Transports over `services`, opening connections in `connections`.
    pub fn new(services: Services, connections: ConnectionRegistry, config: GatewayConfig) -> Self {
        let polls = PollSessions::start(&config);
        // Validated with the rest of the configuration at start-up.
        let trusted = TrustedProxies::parse(&config.trusted_proxies).unwrap_or_default();
        Self {
            trusted: Arc::new(trusted),
            services,
            connections,
            config: Arc::new(config),
            ready: Arc::new(AtomicBool::new(false)),
            draining: Arc::new(AtomicBool::new(false)),
            polls,
            serving: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Marks the node ready (or not) for `/readyz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        self.serving.send_replace(self.is_ready());
    }

    /// Marks the node draining: `/readyz` fails and new connections are refused.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.connections.stop_accepting();
        self.serving.send_replace(false);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.is_draining()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Readiness for the gRPC health service.
    pub(crate) fn serving(&self) -> tokio::sync::watch::Receiver<bool> {
        self.serving.subscribe()
    }
}
