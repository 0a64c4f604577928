//! Where this process last left each room's log, so the owner's next append skips reading
//! the head. Only a hint: the head's transaction decides.

use std::{collections::HashMap, sync::Mutex};

use crate::records::{RoomId, Seq};

/// A room's log end as this process last wrote or read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tail {
    pub(super) epoch: u64,
    pub(super) last_seq: Seq,
    /// The time bucket of the newest message, if any.
    pub(super) last_bucket: Option<i64>,
}

/// More remembered tails than this and the map starts over (a hint may always be missing).
const MAX_TAILS: usize = 65_536;

/// The remembered tails.
#[derive(Default)]
pub(super) struct Tails(Mutex<HashMap<RoomId, Tail>>);

impl Tails {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Tail>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The remembered tail of `room` if it is still `(epoch, last_seq)`.
    pub(super) fn get(&self, room: RoomId, epoch: u64, last_seq: Seq) -> Option<Tail> {
        self.lock()
            .get(&room)
            .filter(|t| t.epoch == epoch && t.last_seq == last_seq)
            .copied()
    }

    pub(super) fn remember(&self, room: RoomId, tail: Tail) {
        let mut tails = self.lock();
        if tails.len() >= MAX_TAILS && !tails.contains_key(&room) {
            tails.clear();
        }
        tails.insert(room, tail);
    }

    pub(super) fn forget(&self, room: RoomId) {
        self.lock().remove(&room);
    }
}
