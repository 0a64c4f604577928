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

use crate::http::error_response;

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
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt as _;
        if let Some(acceptor) = tls {
            let listener = crate::tls::TlsListener::new(listener, acceptor)?;
            return axum::serve(listener, MakeWithPeer(self))
                .with_graceful_shutdown(stop)
                .await;
        }
        // Replies and events are small frames: never hold one back waiting for an ACK.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(listener, MakeWithPeer(self))
            .with_graceful_shutdown(stop)
            .await
    }
}

/// Makes, per accepted connection, a service that tags every request with the peer's address
/// (`ConnectInfo`, for limits per IP address) and hands it to the current router.
#[derive(Clone)]
struct MakeWithPeer(Frontend);

impl<'a, L> tower::Service<axum::serve::IncomingStream<'a, L>> for MakeWithPeer
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    type Response = WithPeer;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<WithPeer, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, conn: axum::serve::IncomingStream<'a, L>) -> Self::Future {
        std::future::ready(Ok(WithPeer {
            front: self.0.clone(),
            peer: *conn.remote_addr(),
        }))
    }
}

/// One connection's service (see [`MakeWithPeer`]).
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
