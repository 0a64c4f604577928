//! A bounded in-memory map of recent client message ids to their acks. Misses fall back to
//! the store, so eviction costs a read, never a duplicate.

use std::collections::{HashMap, VecDeque};

use chat_store::{Seq, UserId};

use super::ops::Ack;

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
    /// By sender, then client message id: looked up with a borrowed `&str`, no allocation.
    map: HashMap<UserId, HashMap<String, IdemState>>,
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
        self.map.get(&sender)?.get(client_msg_id).cloned()
    }

    fn is_pending(&self, sender: UserId, client_msg_id: &str) -> bool {
        matches!(
            self.get_ref(sender, client_msg_id),
            Some(IdemState::Pending(_))
        )
    }

    fn get_ref(&self, sender: UserId, client_msg_id: &str) -> Option<&IdemState> {
        self.map.get(&sender)?.get(client_msg_id)
    }

    /// Records or updates a key.
    pub fn insert(&mut self, sender: UserId, client_msg_id: &str, state: IdemState) {
        let per_sender = self.map.entry(sender).or_default();
        if let Some(slot) = per_sender.get_mut(client_msg_id) {
            *slot = state;
            return;
        }
        per_sender.insert(client_msg_id.to_owned(), state);
        self.order.push_back((sender, client_msg_id.to_owned()));
        while self.order.len() > self.capacity {
            let Some((old_sender, old_id)) = self.order.pop_front() else {
                break;
            };
            // Never evict a pending key: its retry must find the waiting entry.
            if self.is_pending(old_sender, &old_id) {
                self.order.push_back((old_sender, old_id));
                break;
            }
            if let Some(ids) = self.map.get_mut(&old_sender) {
                ids.remove(&old_id);
                if ids.is_empty() {
                    self.map.remove(&old_sender);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: Seq) -> IdemState {
        IdemState::Done(Ack {
            room_id: 1,
            client_msg_id: String::new(),
            seq,
            message_id: seq,
            sent_at_ms: 0,
        })
    }

    #[test]
    fn evicts_oldest_done_keys_but_never_pending_ones() {
        let mut c = IdemCache::new(2);
        c.insert(1, "a", IdemState::Pending(1));
        c.insert(1, "b", ack(2));
        c.insert(2, "a", ack(3));
        // "a" of sender 1 is pending: kept even over capacity.
        assert!(matches!(c.get(1, "a"), Some(IdemState::Pending(1))));
        c.insert(1, "a", ack(1));
        c.insert(3, "x", ack(4));
        c.insert(3, "y", ack(5));
        // Once done, the old keys go, oldest first; the newest two remain.
        for (sender, id) in [(1, "a"), (1, "b"), (2, "a")] {
            assert!(
                c.get(sender, id).is_none(),
                "{sender}/{id} should be evicted"
            );
        }
        assert!(matches!(c.get(3, "x"), Some(IdemState::Done(_))));
        assert!(matches!(c.get(3, "y"), Some(IdemState::Done(_))));
        assert!(c.get(9, "a").is_none());
    }
}
