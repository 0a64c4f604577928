//! Read cursors of a room's members, kept sorted so the unread count of any message is a
//! binary search: `unread(seq)` = members whose cursor is below `seq`. A page of 100 counts
//! in a 10,000-member room is 100 searches, not 100 scans.

use std::{collections::HashMap, sync::Arc};

use chat_store::{ReadCursor, Seq, UserId};

/// Members' read cursors.
#[derive(Debug, Clone, Default)]
pub struct ReadCursors {
    by_user: HashMap<UserId, ReadCursor>,
    /// Every member's cursor, ascending. Shared copy-on-write with history readers.
    sorted: Arc<Vec<Seq>>,
}

/// Members (of `sorted` cursors) that have not read `seq`.
pub fn unread_in(sorted: &[Seq], seq: Seq) -> u32 {
    u32::try_from(sorted.partition_point(|&c| c < seq)).unwrap_or(u32::MAX)
}

impl ReadCursors {
    /// Cursors for `members`, from `stored` (missing ones start at 0).
    pub fn new(
        members: impl IntoIterator<Item = UserId>,
        stored: &HashMap<UserId, ReadCursor>,
    ) -> Self {
        let by_user: HashMap<UserId, ReadCursor> = members
            .into_iter()
            .map(|u| (u, stored.get(&u).copied().unwrap_or_default()))
            .collect();
        let mut sorted: Vec<Seq> = by_user.values().map(|c| c.seq).collect();
        sorted.sort_unstable();
        Self {
            by_user,
            sorted: Arc::new(sorted),
        }
    }

    /// A member's cursor seq.
    pub fn get(&self, user: UserId) -> Option<Seq> {
        self.by_user.get(&user).map(|c| c.seq)
    }

    /// A member's cursor with its ordinal.
    pub fn cursor(&self, user: UserId) -> Option<ReadCursor> {
        self.by_user.get(&user).copied()
    }

    /// The lowest cursor of any member (entries at or below it are read by everyone).
    pub fn min(&self) -> Option<Seq> {
        self.sorted.first().copied()
    }

    /// Moves a member's cursor forward to `to`; returns the seq it was at, or None when it did
    /// not move (not a member, or not forward).
    pub fn advance(&mut self, user: UserId, to: ReadCursor) -> Option<Seq> {
        let cursor = self.by_user.get_mut(&user)?;
        if to.seq <= cursor.seq {
            return None;
        }
        let seq = to.seq;
        let from = std::mem::replace(cursor, to).seq;
        let sorted = Arc::make_mut(&mut self.sorted);
        if let Ok(i) = sorted.binary_search(&from) {
            sorted.remove(i);
        }
        let at = sorted.partition_point(|&c| c < seq);
        sorted.insert(at, seq);
        Some(from)
    }

    /// Adds a member at `at` (no-op for an existing member).
    pub fn insert(&mut self, user: UserId, at: ReadCursor) {
        if self.by_user.contains_key(&user) {
            return;
        }
        self.by_user.insert(user, at);
        let seq = at.seq;
        let sorted = Arc::make_mut(&mut self.sorted);
        let at = sorted.partition_point(|&c| c < seq);
        sorted.insert(at, seq);
    }

    /// Removes a member; returns their cursor.
    pub fn remove(&mut self, user: UserId) -> Option<Seq> {
        let seq = self.by_user.remove(&user)?.seq;
        let sorted = Arc::make_mut(&mut self.sorted);
        if let Ok(i) = sorted.binary_search(&seq) {
            sorted.remove(i);
        }
        Some(seq)
    }

    /// Members that have not read `seq`.
    pub fn unread(&self, seq: Seq) -> u32 {
        unread_in(&self.sorted, seq)
    }

    /// A snapshot of the sorted cursors (cheap: shared until the next change).
    pub fn snapshot(&self) -> Arc<Vec<Seq>> {
        self.sorted.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious O(members) count, to check the sorted one against.
    fn naive(c: &ReadCursors, seq: Seq) -> u32 {
        c.by_user.values().filter(|v| v.seq < seq).count() as u32
    }

    fn at(seq: Seq) -> ReadCursor {
        ReadCursor::legacy(seq)
    }

    #[test]
    fn counts_match_a_naive_scan_through_moves_joins_and_leaves() {
        let stored: HashMap<UserId, ReadCursor> = [(1, at(3)), (2, at(0)), (3, at(7))].into();
        let mut c = ReadCursors::new([1, 2, 3, 4], &stored);
        let check = |c: &ReadCursors| {
            for seq in 0..12 {
                assert_eq!(c.unread(seq), naive(c, seq), "seq {seq}");
            }
        };
        check(&c);
        assert_eq!(c.advance(2, at(5)), Some(0));
        assert_eq!(c.advance(2, at(4)), None, "cursors never move back");
        assert_eq!(c.advance(9, at(4)), None, "not a member");
        check(&c);
        c.insert(5, at(10));
        c.insert(5, at(1));
        assert_eq!(c.get(5), Some(10));
        check(&c);
        assert_eq!(c.remove(3), Some(7));
        check(&c);
        assert_eq!(c.unread(11), 4);
        assert_eq!(
            c.unread(1),
            1,
            "only member 4 (cursor 0) has not read seq 1"
        );
    }

    #[test]
    fn snapshots_do_not_see_later_moves() {
        let mut c = ReadCursors::new([1, 2], &HashMap::new());
        let snap = c.snapshot();
        c.advance(1, at(5));
        assert_eq!(unread_in(&snap, 3), 2);
        assert_eq!(c.unread(3), 1);
    }
}
