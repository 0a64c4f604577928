//! Peers found through the bus: every node announces its cluster address on
//! `<prefix>.nodes` a few times a heartbeat-timeout, and dials what others announce. A node
//! that knows no peer address (or a stale list) still finds the cluster, as every cluster
//! node has NATS anyway.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;

use crate::{bus::nats::NatsBus, error::ChatError};

/// Starts announcing `address` every `every` (until leaving) and recording others'.
pub async fn start(
    bus: &NatsBus,
    address: &str,
    every: Duration,
    leaving: Arc<AtomicBool>,
    announced: Arc<Mutex<HashMap<String, Instant>>>,
) -> Result<tokio::task::JoinHandle<()>, ChatError> {
    let client = bus.client().clone();
    let subject = bus.subject("nodes");
    let mut heard = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| ChatError::Internal(format!("nats: {e}")))?;
    let me = address.to_owned();
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if !leaving.load(Ordering::Relaxed) {
                        let _ = client.publish(subject.clone(), me.clone().into()).await;
                    }
                }
                message = heard.next() => {
                    let Some(message) = message else { return };
                    let Ok(addr) = std::str::from_utf8(&message.payload) else { continue };
                    if addr != me && addr.rsplit_once(':').is_some() {
                        announced
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(addr.to_owned(), Instant::now());
                    }
                }
            }
        }
    }))
}
