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

use crate::{error::ClusterResult, nats::NatsLink};

/// Starts announcing `address` every `every` (until leaving) and recording others'.
pub async fn start(
    link: &Arc<NatsLink>,
    address: &str,
    every: Duration,
    leaving: Arc<AtomicBool>,
    announced: Arc<Mutex<HashMap<String, Instant>>>,
) -> ClusterResult<tokio::task::JoinHandle<()>> {
    let link = link.clone();
    let subject = link.subject("nodes");
    let mut heard = link.subscribe(subject.clone()).await?;
    let me = address.to_owned();
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if !leaving.load(Ordering::Relaxed) {
                        link.publish(subject.clone(), me.clone().into());
                    }
                }
                payload = heard.next() => {
                    let Some(payload) = payload else { return };
                    let Ok(addr) = std::str::from_utf8(&payload) else { continue };
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
