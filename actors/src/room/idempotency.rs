//! A bounded in-memory map of recent client message ids to their acks. Misses fall back to
//! the store, so eviction costs a read, never a duplicate.

use std::collections::{HashMap, VecDeque};

use chat_store::{Seq, UserId};

use super::Ack;

/// Where a client message id stands.
#[derive(Debug, Clone)]
pub enum IdemState {
    /// Sequenced, waiting for durability.
    Pending(Seq),
    /// Durable, with its ack.
    Done(Ack),
}

/// Recent idempotency keys, evicted oldest first.
pub struct IdemCache {
    map: HashMap<(UserId, String), IdemState>,
    order: VecDeque<(UserId, String)>,
    capacity: usize,
}

impl IdemCache {
    /// An empty cache holding up to `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Looks a key up.
    pub fn get(&self, sender: UserId, client_msg_id: &str) -> Option<IdemState> {
        self.map.get(&(sender, client_msg_id.to_owned())).cloned()
    }

    /// Records or updates a key.
    pub fn insert(&mut self, sender: UserId, client_msg_id: &str, state: IdemState) {
        let key = (sender, client_msg_id.to_owned());
        if self.map.insert(key.clone(), state).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                // Never evict a pending key: its retry must find the waiting entry.
                if matches!(self.map.get(&old), Some(IdemState::Pending(_))) {
                    self.order.push_back(old);
                    break;
                }
                self.map.remove(&old);
            }
        }
    }
}
