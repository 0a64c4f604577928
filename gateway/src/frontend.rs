//! The node's HTTP front: one listener from the moment the node starts. Until the node is
//! built (its store may still be unreachable) it answers `/healthz` (the process is alive),
//! `/readyz` (503 `starting`) and 503 `STARTING` for everything else; then the full router
//! is installed and takes every new request.

use std::sync::{Arc, RwLock};

use axum::{
    Router,
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use chat_actors::{ChatError, Reason};
use tower::ServiceExt as _;

use crate::respond::error_response;

/// See the module doc. Cheap to clone.
#[derive(Clone)]
pub struct Frontend {
    router: Arc<RwLock<Router>>,
}

impl Default for Frontend {
    fn default() -> Self {
        Self::starting()
    }
}

async fn starting() -> Response {
    error_response(&ChatError::Unavailable(
        Reason::Starting,
        "node is starting; retry shortly".into(),
    ))
}

impl Frontend {
    /// A front that only says the node is starting.
    pub fn starting() -> Self {
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/readyz",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response() }),
            )
            .fallback(starting);
        Self {
            router: Arc::new(RwLock::new(router)),
        }
    }

    /// Routes every new request to `router` from now on.
    pub fn install(&self, router: Router) {
        let mut slot = self.router.write().unwrap_or_else(|p| p.into_inner());
        *slot = router;
    }

    fn current(&self) -> Router {
        self.router
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Serves `listener` until `stop` resolves (then stops accepting and waits for open
    /// requests and sockets to finish).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
        tls: Option<tokio_rustls::TlsAcceptor>,
        timeouts: crate::serve::Timeouts,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt as _;
        // Every request is tagged with its peer's address (`ConnectInfo`, for limits per
        // address) and handed to the router current at that moment.
        let make = move |peer| WithPeer {
            front: self.clone(),
            peer,
        };
        if let Some(acceptor) = tls {
            let listener = crate::tls::TlsListener::new(listener, acceptor)?;
            crate::serve::serve(listener, make, stop, timeouts).await;
            return Ok(());
        }
        // Replies and events are small frames: never hold one back waiting for an ACK.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        crate::serve::serve(listener, make, stop, timeouts).await;
        Ok(())
    }
}

/// One connection's service: its peer's address and the front.
#[derive(Clone)]
struct WithPeer {
    front: Frontend,
    peer: std::net::SocketAddr,
}

impl tower::Service<Request> for WithPeer {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        let router = self.front.current();
        Box::pin(async move { router.oneshot(request).await })
    }
}
