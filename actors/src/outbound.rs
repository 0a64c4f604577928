//! A connection's bounded outbound queue, shared by its actor and the node's hub, drained by
//! the transport's writer half. Frames are encoded at most once per codec and shared by every
//! connection that receives them.

use std::sync::{
    Arc, Mutex, OnceLock,
    atomic::{AtomicBool, Ordering},
};

use bytes::Bytes;
use chat_proto::{
    Codec, encode_server_frame,
    v1::{CloseCode, ServerFrame},
};
use tokio::sync::{Notify, mpsc};

/// A server frame with its encodings cached, so fan-out encodes once per codec.
#[derive(Debug)]
pub struct EncodedFrame {
    frame: ServerFrame,
    json: OnceLock<Bytes>,
    proto: OnceLock<Bytes>,
}

impl EncodedFrame {
    /// Wraps a frame.
    pub fn new(frame: ServerFrame) -> Arc<Self> {
        Arc::new(Self {
            frame,
            json: OnceLock::new(),
            proto: OnceLock::new(),
        })
    }

    /// The frame.
    pub fn frame(&self) -> &ServerFrame {
        &self.frame
    }

    /// The frame's bytes in `codec`, encoded on first use.
    pub fn bytes(&self, codec: Codec) -> Bytes {
        let cell = match codec {
            Codec::Json => &self.json,
            Codec::Proto => &self.proto,
        };
        cell.get_or_init(|| encode_server_frame(codec, &self.frame))
            .clone()
    }
}

/// Why and how a connection is being closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    /// The WebSocket close code (see `CloseCode`).
    pub code: u16,
    /// A short reason for the client.
    pub reason: String,
    /// Close before writing what is still queued (a client that does not read would never
    /// let the queue drain). Otherwise queued frames (e.g. the error that explains the close)
    /// are written first.
    pub immediate: bool,
}

impl CloseRequest {
    /// A close that first writes what is queued.
    pub fn after_queued(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            immediate: false,
        }
    }
}

fn close_code(code: CloseCode) -> u16 {
    u16::try_from(code as i32).unwrap_or(1011)
}

#[derive(Debug, Default)]
struct Shared {
    close: Mutex<Option<CloseRequest>>,
    closing: AtomicBool,
    notify: Notify,
    /// Wakes every `closed()` waiter (the writer has its own `notify`).
    closed: Notify,
}

/// The sending side: used by the connection actor and the hub.
#[derive(Debug, Clone)]
pub struct OutboundSender {
    tx: mpsc::Sender<Arc<EncodedFrame>>,
    shared: Arc<Shared>,
}

/// The receiving side: owned by the transport's writer.
#[derive(Debug)]
pub struct OutboundReceiver {
    rx: mpsc::Receiver<Arc<EncodedFrame>>,
    shared: Arc<Shared>,
}

/// What the writer should do next.
#[derive(Debug)]
pub enum Outbound {
    /// Write this frame.
    Frame(Arc<EncodedFrame>),
    /// Send a close frame and stop.
    Close(CloseRequest),
}

/// A bounded queue of `capacity` frames.
pub fn outbound_queue(capacity: usize) -> (OutboundSender, OutboundReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let shared = Arc::new(Shared::default());
    (
        OutboundSender {
            tx,
            shared: shared.clone(),
        },
        OutboundReceiver { rx, shared },
    )
}

impl OutboundSender {
    /// Queues a frame without waiting. A full queue means the client is not reading: the
    /// connection is closed with `SLOW_CONSUMER` (it reconnects and recovers by seq) rather
    /// than let it slow anyone else down. Returns false when the frame was not queued.
    pub fn send(&self, frame: Arc<EncodedFrame>) -> bool {
        if self.is_closed() {
            return false;
        }
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_with(CloseRequest {
                    code: close_code(CloseCode::SlowConsumer),
                    reason: "outbound queue overflow".into(),
                    immediate: true,
                });
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues a plain frame (a reply).
    pub fn send_frame(&self, frame: ServerFrame) -> bool {
        self.send(EncodedFrame::new(frame))
    }

    /// Asks the writer to close the connection after writing what is queued (first request
    /// wins).
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.close_with(CloseRequest::after_queued(close_code(code), reason));
    }

    /// Asks the writer to close with a raw close code.
    pub fn close_with(&self, request: CloseRequest) {
        if self.shared.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(mut slot) = self.shared.close.lock() {
            *slot = Some(request);
        }
        self.shared.notify.notify_one();
        self.shared.closed.notify_waiters();
    }

    /// Resolves once a close has been requested (never, if none is).
    pub async fn closed(&self) {
        loop {
            let notified = self.shared.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.closing.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// True once a close was requested or the writer is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire) || self.tx.is_closed()
    }
}

impl OutboundReceiver {
    /// The pending close, if any: an immediate one at once, a graceful one once the frames
    /// queued before it are written.
    fn poll_close(&mut self) -> Option<Outbound> {
        if !self.shared.closing.load(Ordering::Acquire) {
            return None;
        }
        let mut slot = self.shared.close.lock().unwrap_or_else(|p| p.into_inner());
        let request = slot.take()?;
        if !request.immediate
            && let Ok(frame) = self.rx.try_recv()
        {
            *slot = Some(request);
            return Some(Outbound::Frame(frame));
        }
        Some(Outbound::Close(request))
    }

    /// Waits for the next thing to do. `None` when every sender is gone.
    pub async fn next(&mut self) -> Option<Outbound> {
        if let Some(next) = self.poll_close() {
            return Some(next);
        }
        tokio::select! {
            biased;
            () = self.shared.notify.notified() => self.poll_close(),
            frame = self.rx.recv() => frame.map(Outbound::Frame),
        }
    }

    /// A frame that is already queued, for coalescing writes. Never waits.
    pub fn try_next_frame(&mut self) -> Option<Arc<EncodedFrame>> {
        if self.shared.closing.load(Ordering::Acquire) {
            return None;
        }
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::v1::{Pong, server_frame::Payload};

    fn pong() -> Arc<EncodedFrame> {
        EncodedFrame::new(ServerFrame {
            request_id: 1,
            payload: Some(Payload::Pong(Pong { server_time_ms: 5 })),
        })
    }

    #[tokio::test]
    async fn overflow_closes_with_slow_consumer() {
        let (tx, mut rx) = outbound_queue(2);
        assert!(tx.send(pong()));
        assert!(tx.send(pong()));
        assert!(!tx.send(pong()));
        assert!(tx.is_closed());
        match rx.next().await {
            Some(Outbound::Close(c)) => assert_eq!(c.code, 4001),
            other => panic!("expected close, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn frames_flow_and_encode_once() {
        let (tx, mut rx) = outbound_queue(8);
        let f = pong();
        tx.send(f.clone());
        tx.send(f.clone());
        let Some(Outbound::Frame(a)) = rx.next().await else {
            panic!()
        };
        let b = rx.try_next_frame().unwrap();
        assert_eq!(a.bytes(Codec::Json).as_ptr(), b.bytes(Codec::Json).as_ptr());
        assert!(rx.try_next_frame().is_none());
        drop(tx);
        drop(f);
        assert!(rx.next().await.is_none());
    }

    #[tokio::test]
    async fn graceful_close_writes_queued_frames_first() {
        let (tx, mut rx) = outbound_queue(8);
        tx.send(pong());
        tx.close(CloseCode::Unauthenticated, "bye");
        assert!(!tx.send(pong()), "nothing is queued after a close");
        assert!(matches!(rx.next().await, Some(Outbound::Frame(_))));
        match rx.next().await {
            Some(Outbound::Close(c)) => assert_eq!((c.code, c.immediate), (4100, false)),
            other => panic!("{other:?}"),
        }
    }
}
