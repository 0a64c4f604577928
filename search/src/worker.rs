//! The node's indexing worker: rooms tell it where their logs end after each commit (a map
//! insert, never a wait), and one background task brings each room's index up to there, a
//! step at a time and room by room, so sending never waits for indexing and one busy room
//! cannot starve the rest. A room's owner tells it, so one node indexes a room at a time.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chat_store::{RoomId, Seq, SharedStore};
use tokio::sync::Notify;

use crate::indexer;

/// Most rooms waiting at once; past it a notification is dropped (counted) and the room
/// catches up on its next one.
pub const MAX_PENDING_ROOMS: usize = 100_000;

/// Pause after a store error before the room is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A room waiting to be indexed: up to where, and how far it is indexed once the worker
/// has read its watermark.
#[derive(Debug, Clone, Copy)]
struct Pending {
    head: Seq,
    indexed: Option<Seq>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct IndexStats {
    /// Log entries indexed (watermark advances).
    pub entries: AtomicU64,
    /// Store errors while indexing.
    pub failures: AtomicU64,
    /// Notifications dropped because too many rooms were waiting.
    pub dropped: AtomicU64,
}

/// The rooms waiting, and the order they are served in (each room once).
#[derive(Default)]
struct Queue {
    rooms: HashMap<RoomId, Pending>,
    order: VecDeque<RoomId>,
}

struct Shared {
    store: SharedStore,
    pending: Mutex<Queue>,
    stats: IndexStats,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The map is consistent after any panic (single inserts and removes).
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a room to be indexed up to `head`; false when the queue was full.
    fn enqueue(&self, room: RoomId, head: Seq) -> bool {
        let mut queue = self.lock();
        let full = queue.rooms.len() >= MAX_PENDING_ROOMS;
        match queue.rooms.get_mut(&room) {
            Some(p) => p.head = p.head.max(head),
            None if full => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            None => {
                queue.rooms.insert(
                    room,
                    Pending {
                        head,
                        indexed: None,
                    },
                );
                queue.order.push_back(room);
            }
        }
        true
    }
}

/// Handle to the indexing worker; the worker stops when it is dropped or stopped. The
/// worker holds the store only while it indexes, so a node that stops lets go of it.
pub struct Indexer {
    shared: Arc<Shared>,
    wake: Arc<Notify>,
    /// The worker, and the backfill while it runs.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Indexer {
    fn drop(&mut self) {
        for task in self.take_tasks() {
            task.abort();
        }
    }
}

impl Indexer {
    /// Starts the worker on the current runtime.
    pub fn start(store: SharedStore) -> Self {
        let shared = Arc::new(Shared {
            store,
            pending: Mutex::new(Queue::default()),
            stats: IndexStats::default(),
        });
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run(Arc::downgrade(&shared), wake.clone()));
        Self {
            shared,
            wake,
            tasks: Mutex::new(vec![task]),
        }
    }

    fn take_tasks(&self) -> Vec<tokio::task::JoinHandle<()>> {
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Walks every room once, in the background, and queues those `owns` says this node
    /// indexes whose index is behind their log: the index of what logs held before search
    /// existed, or before a crash lost the queue, for rooms nobody opens. Starts after
    /// `delay` (a cluster node lets its view of the members settle first, so it judges
    /// ownership as the others do).
    pub fn backfill(&self, delay: Duration, owns: impl Fn(RoomId) -> bool + Send + Sync + 'static) {
        let task = tokio::spawn(backfill(
            Arc::downgrade(&self.shared),
            self.wake.clone(),
            delay,
            owns,
        ));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Stops the worker and waits until it let go of the store (what is left to index is
    /// picked up from the watermarks when the rooms start again).
    pub async fn stop(&self) {
        for task in self.take_tasks() {
            task.abort();
            let _ = task.await;
        }
    }

    /// A room's log ends at `head` now.
    pub fn notify(&self, room: RoomId, head: Seq) {
        if self.shared.enqueue(room, head) {
            self.wake.notify_one();
        }
    }

    /// Log entries committed and not indexed yet, over the rooms waiting whose watermark
    /// the worker has read (a room just told of counts from its first step on).
    pub fn lag_entries(&self) -> u64 {
        self.shared
            .lock()
            .rooms
            .values()
            .filter_map(|p| Some(p.head.saturating_sub(p.indexed?)))
            .sum()
    }

    /// Rooms waiting to be indexed.
    pub fn pending_rooms(&self) -> usize {
        self.shared.lock().rooms.len()
    }

    /// The worker's counters.
    pub fn stats(&self) -> &IndexStats {
        &self.shared.stats
    }
}

/// One room at a time, one step each, round the waiting rooms.
async fn run(shared: Weak<Shared>, wake: Arc<Notify>) {
    let mut known: HashMap<RoomId, Seq> = HashMap::new();
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let next = {
            let queue = shared.lock();
            queue
                .order
                .front()
                .and_then(|r| queue.rooms.get(r).map(|p| (*r, *p)))
        };
        let Some((room, pending)) = next else {
            known.clear();
            drop(shared);
            wake.notified().await;
            continue;
        };
        let from = match known.get(&room) {
            Some(w) => Ok(*w),
            None => shared.store.index_watermark(room).await,
        };
        let stepped = match from {
            Ok(w) => indexer::step(&shared.store, room, w, pending.head)
                .await
                .map(|to| (w, to)),
            Err(e) => Err(e),
        };
        match stepped {
            Ok((from, to)) => {
                shared
                    .stats
                    .entries
                    .fetch_add(to.saturating_sub(from), Ordering::Relaxed);
                finish(&shared, &mut known, room, to);
            }
            Err(e) => {
                shared.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(room, error = %e, "search indexing failed; retrying");
                known.remove(&room);
                {
                    let mut queue = shared.lock();
                    queue.order.pop_front();
                    queue.order.push_back(room);
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
        tokio::task::yield_now().await;
    }
}

/// Rooms read per page of the backfill's walk.
const BACKFILL_PAGE: usize = 256;

/// The backfill waits while this many rooms are queued, so it never crowds out live rooms.
const BACKFILL_QUEUE: usize = 1_000;

async fn backfill(
    shared: Weak<Shared>,
    wake: Arc<Notify>,
    delay: Duration,
    owns: impl Fn(RoomId) -> bool,
) {
    tokio::time::sleep(delay).await;
    let mut after = None;
    let mut queued = 0u64;
    loop {
        let Some(s) = shared.upgrade() else { return };
        if s.lock().rooms.len() >= BACKFILL_QUEUE {
            drop(s);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let page = match s.store.rooms_after(after, BACKFILL_PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "search backfill: listing rooms failed; retrying");
                drop(s);
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let Some(&last) = page.last() else {
            tracing::info!(rooms_queued = queued, "search backfill walked every room");
            return;
        };
        for room in page.into_iter().filter(|r| owns(*r)) {
            let behind = match (
                s.store.room_head(room).await,
                s.store.index_watermark(room).await,
            ) {
                (Ok(head), Ok(w)) => (w < head.last_seq).then_some(head.last_seq),
                // The room's next start queues it anyway.
                _ => None,
            };
            if let Some(head) = behind
                && s.enqueue(room, head)
            {
                queued += 1;
                wake.notify_one();
            }
        }
        after = Some(last);
    }
}

/// Records a step: the room leaves the queue once its index reached the newest head told,
/// else goes to the back of it.
fn finish(shared: &Shared, known: &mut HashMap<RoomId, Seq>, room: RoomId, to: Seq) {
    let mut queue = shared.lock();
    queue.order.pop_front();
    let Some(p) = queue.rooms.get_mut(&room) else {
        return;
    };
    p.indexed = Some(to);
    if to >= p.head {
        queue.rooms.remove(&room);
        known.remove(&room);
    } else {
        known.insert(room, to);
        queue.order.push_back(room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_log::{Log, until};

    #[tokio::test]
    async fn indexes_what_rooms_report_and_reports_its_lag() {
        let mut log = Log::new(1).await;
        for i in 0..(indexer::STEP_ENTRIES * 2 + 5) {
            log.send(1, &format!("word{i}")).await;
        }
        let indexer = Indexer::start(log.store.clone());
        indexer.notify(1, log.last);
        until("the queue drains", || async {
            indexer.pending_rooms() == 0
        })
        .await;
        assert_eq!(indexer.lag_entries(), 0);
        assert_eq!(log.store.index_watermark(1).await.unwrap(), log.last);
        assert_eq!(indexer.stats().entries.load(Ordering::Relaxed), log.last);
        // A notification of what is indexed already is a no-op.
        indexer.notify(1, log.last);
        until("the queue drains", || async {
            indexer.pending_rooms() == 0
        })
        .await;
        assert_eq!(indexer.stats().entries.load(Ordering::Relaxed), log.last);
    }

    #[tokio::test]
    async fn the_backfill_queues_the_rooms_it_owns_that_lag() {
        let mut one = Log::new(1).await;
        let mut two = one.beside(2).await;
        let mut three = one.beside(3).await;
        for log in [&mut one, &mut two, &mut three] {
            log.send(1, "old words").await;
        }
        three.index().await;
        for id in [1, 2, 3] {
            let record = chat_store::RoomRecord {
                id,
                kind: chat_store::RoomKind::Group,
                name: "r".into(),
                created_by: 1,
                created_at_ms: 1,
                shared_history: false,
            };
            one.store.create_room(record, vec![1]).await.unwrap();
        }
        let indexer = Indexer::start(one.store.clone());
        // This node owns rooms 1 and 3; room 3 is indexed already.
        indexer.backfill(Duration::ZERO, |room| room != 2);
        until("room 1 is indexed", || async {
            one.store.index_watermark(1).await.unwrap() >= 1
        })
        .await;
        indexer.stop().await;
        assert_eq!(one.store.index_watermark(2).await.unwrap(), 0);
        assert_eq!(indexer.stats().entries.load(Ordering::Relaxed), 1);
    }
}
