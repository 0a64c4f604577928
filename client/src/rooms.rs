//! Each open room's messages delivered once and in seq order. Seqs are dense, so a message
//! whose seq is not the next one shows a gap (a truncated recovery, a lost event): it waits
//! while the gap is read from history.

use std::collections::{BTreeMap, HashMap};

use chat_proto::v1::Message;

/// A gap to read: the messages of `room` with `after < seq < before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    pub room: u64,
    pub after: u64,
    pub before: u64,
}

#[derive(Default)]
struct Room {
    /// Whether the app wants it open (re-opened after every reconnection).
    open: bool,
    /// The newest seq delivered; None until first opened.
    delivered: Option<u64>,
    /// Messages past a gap, waiting for it to be filled.
    waiting: BTreeMap<u64, Message>,
    filling: bool,
}

#[derive(Default)]
pub(crate) struct RoomTracker {
    rooms: HashMap<u64, Room>,
}

impl RoomTracker {
    /// Marks the room open; returns the seq to recover from (0: none known).
    pub fn open(&mut self, room: u64) -> u64 {
        let r = self.rooms.entry(room).or_default();
        r.open = true;
        r.delivered.unwrap_or(0)
    }

    pub fn close(&mut self, room: u64) {
        self.rooms.remove(&room);
    }

    /// The rooms to re-open after a reconnection, with the seq to recover from.
    pub fn open_rooms(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<_> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.open)
            .map(|(id, r)| (*id, r.delivered.unwrap_or(0)))
            .collect();
        v.sort_unstable();
        v
    }

    /// The newest seq delivered in a room (0 when none).
    pub fn last_seq(&self, room: u64) -> u64 {
        self.rooms.get(&room).and_then(|r| r.delivered).unwrap_or(0)
    }

    /// The room was opened; its newest seq then was `last_seq`. A first open starts after it
    /// (older messages are history); a re-open recovers from where delivery stopped.
    pub fn opened(&mut self, room: u64, last_seq: u64) {
        let r = self.rooms.entry(room).or_default();
        r.delivered.get_or_insert(last_seq);
    }

    /// The connection dropped: what waited past a gap comes again through recovery.
    pub fn disconnected(&mut self) {
        for r in self.rooms.values_mut() {
            r.waiting.clear();
            r.filling = false;
        }
    }

    /// A message event: what to deliver now, and a gap to read if one opened.
    pub fn receive(&mut self, m: Message) -> (Vec<Message>, Option<Gap>) {
        let Some(r) = self.rooms.get_mut(&m.room_id) else {
            return (vec![m], None);
        };
        let Some(delivered) = r.delivered else {
            return (vec![m], None);
        };
        if m.seq <= delivered {
            return (Vec::new(), None);
        }
        let room = m.room_id;
        r.waiting.insert(m.seq, m);
        let out = drain(r);
        (out, start_fill(room, r))
    }

    /// A gap's messages arrived (`found`, any order); returns what can be delivered now and
    /// the next gap, if any.
    pub fn filled(&mut self, gap: Gap, found: Vec<Message>) -> (Vec<Message>, Option<Gap>) {
        let Some(r) = self.rooms.get_mut(&gap.room) else {
            return (Vec::new(), None);
        };
        if !r.filling {
            return (Vec::new(), None);
        }
        r.filling = false;
        for m in found {
            if m.seq > gap.after && m.seq < gap.before {
                r.waiting.insert(m.seq, m);
            }
        }
        // What history does not have (not visible to this user) will not come: go on.
        if let (Some(&lowest), Some(delivered)) = (r.waiting.keys().next(), r.delivered)
            && lowest > delivered + 1
        {
            r.delivered = Some(lowest - 1);
        }
        let out = drain(r);
        let next = start_fill(gap.room, r);
        (out, next)
    }

    /// A gap could not be read: forget it (the reconnection recovers by seq).
    pub fn fill_failed(&mut self, room: u64) {
        if let Some(r) = self.rooms.get_mut(&room) {
            r.filling = false;
            r.waiting.clear();
        }
    }
}

/// Delivers what follows the newest delivered seq without a gap.
fn drain(r: &mut Room) -> Vec<Message> {
    let mut out = Vec::new();
    if r.filling {
        return out;
    }
    while let Some(delivered) = r.delivered {
        let Some(m) = r.waiting.remove(&(delivered + 1)) else {
            break;
        };
        r.delivered = Some(m.seq);
        out.push(m);
    }
    out
}

/// The gap before the lowest waiting message, once none is being read.
fn start_fill(room: u64, r: &mut Room) -> Option<Gap> {
    if r.filling {
        return None;
    }
    let (&before, _) = r.waiting.iter().next()?;
    r.filling = true;
    Some(Gap {
        room,
        after: r.delivered.unwrap_or(0),
        before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64) -> Message {
        Message {
            room_id: 1,
            seq,
            ..Default::default()
        }
    }

    fn seqs(v: &[Message]) -> Vec<u64> {
        v.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn in_order_once_with_gaps_filled_from_history() {
        let mut t = RoomTracker::default();
        assert_eq!(t.open(1), 0);
        t.opened(1, 0);
        assert_eq!(seqs(&t.receive(msg(1)).0), [1]);
        assert!(t.receive(msg(1)).0.is_empty(), "a duplicate is dropped");
        let (out, gap) = t.receive(msg(5));
        assert!(out.is_empty());
        let gap = gap.unwrap();
        assert_eq!((gap.after, gap.before), (1, 5));
        // Messages during the fill wait; no second fill starts.
        assert_eq!(t.receive(msg(6)), (Vec::new(), None));
        let (out, next) = t.filled(gap, vec![msg(4), msg(2), msg(3), msg(9)]);
        assert_eq!(seqs(&out), [2, 3, 4, 5, 6]);
        assert_eq!(next, None);
        assert_eq!(t.last_seq(1), 6);
    }

    #[test]
    fn missing_history_is_skipped_and_reopens_recover_from_the_last_seq() {
        let mut t = RoomTracker::default();
        t.open(1);
        t.opened(1, 10);
        let (_, gap) = t.receive(msg(13));
        let (out, _) = t.filled(gap.unwrap(), vec![msg(12)]);
        assert_eq!(seqs(&out), [12, 13]);
        t.disconnected();
        assert_eq!(t.open_rooms(), [(1, 13)]);
        t.opened(1, 20);
        assert_eq!(t.last_seq(1), 13, "a re-open keeps the recovery point");
        // Rooms not followed pass through.
        let other = Message {
            room_id: 9,
            seq: 4,
            ..Default::default()
        };
        assert_eq!(seqs(&t.receive(other).0), [4]);
    }
}
