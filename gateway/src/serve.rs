//! The accept loop and HTTP connections (hyper, HTTP/1.1 with upgrades and HTTP/2 on one
//! port), like `axum::serve` but with the timeouts a server on the open internet needs, which
//! `axum::serve` cannot set: a client must send its first bytes and finish its request head
//! within `http.header_read_timeout_secs` (or a silent or trickling connection is dropped,
//! not held forever), and an HTTP/2 connection (gRPC) that stops answering pings is dropped.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::{Pin, pin},
    task::{Context, Poll},
    time::Duration,
};

use axum::{body::Body, extract::Request, serve::Listener};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::watch,
    time::Sleep,
};
use tower::ServiceExt as _;

/// Per-connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest a client may take to send a request's head (HTTP/1.1).
    pub header_read: Duration,
    /// How often an idle HTTP/2 connection is pinged; a ping unanswered this long drops it.
    pub http2_keepalive: Duration,
}

impl Timeouts {
    /// From the gateway's configuration.
    pub fn of(config: &crate::config::GatewayConfig) -> Self {
        Self {
            header_read: Duration::from_secs(config.header_read_timeout_secs),
            http2_keepalive: Duration::from_secs(config.http2_keepalive_secs),
        }
    }
}

fn builder(timeouts: Timeouts) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    builder
        .http2()
        .timer(TokioTimer::new())
        // WebSockets over HTTP/2 (RFC 8441).
        .enable_connect_protocol()
        .keep_alive_interval(Some(timeouts.http2_keepalive))
        .keep_alive_timeout(timeouts.http2_keepalive);
    builder
}

/// Serves every connection `listener` accepts with a service `make` builds for its peer, until
/// `stop` resolves; then stops accepting, asks open connections to finish (HTTP/1.1 after the
/// request in progress, HTTP/2 with GOAWAY; upgraded sockets are the application's to close)
/// and waits for them.
pub async fn serve<L, S>(
    mut listener: L,
    make: impl Fn(SocketAddr) -> S,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    timeouts: Timeouts,
) where
    L: Listener<Addr = SocketAddr>,
    S: tower::Service<Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut stop = pin!(stop);
    loop {
        let (io, peer) = tokio::select! {
            conn = listener.accept() => conn,
            () = &mut stop => break,
        };
        let service = make(peer).map_request(|r: Request<Incoming>| r.map(Body::new));
        let mut stopping = stopping_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let builder = builder(timeouts);
            let io = TokioIo::new(FirstBytesDeadline::new(io, timeouts.header_read));
            let service = TowerToHyperService::new(service);
            let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
            let mut asked = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(%peer, error = %e, "connection ended");
                        }
                        break;
                    }
                    changed = stopping.wait_for(|s| *s), if !asked => {
                        asked = true;
                        if changed.is_ok() {
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            drop(done);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
}

/// Bytes that tell HTTP/1.1 from HTTP/2: the length of the HTTP/2 connection preface.
const PREFACE_BYTES: usize = 24;

/// A connection that must deliver its first [`PREFACE_BYTES`] within a deadline. hyper's
/// header timeout starts only once it knows the protocol, and telling HTTP/1.1 from HTTP/2
/// waits for those bytes: without this, a connection that never speaks is held forever.
struct FirstBytesDeadline<IO> {
    inner: IO,
    seen: usize,
    /// Dropped once the first bytes are in (idle connections keep no timer).
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<IO> FirstBytesDeadline<IO> {
    fn new(inner: IO, within: Duration) -> Self {
        Self {
            inner,
            seen: 0,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FirstBytesDeadline<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let this = &mut *self;
        let Some(deadline) = this.deadline.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) => {
                this.seen += buf.filled().len() - before;
                if this.seen >= PREFACE_BYTES || buf.filled().len() == before {
                    this.deadline = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => Poll::Ready(Err(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in time"),
            )),
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FirstBytesDeadline<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
