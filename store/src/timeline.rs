//! The rules of timeline records (their types are in `records`): what a change (an edit, a
//! delete for everyone) leaves on its target, reply snapshots, and read cursors at an entry.
//!
//! Every change is an entry of its own at a new seq (so ordering, recovery by seq and
//! idempotency work unchanged), and its effect is also written onto the target's record (so a
//! history page shows each message as it is now, with no second lookup).

use crate::records::{
    DeletionRecord, EntryKind, MentionMark, MessageRecord, ReactionRecord, ReadCursor, ReplyRecord,
    Seq, UserId, VersionRecord,
};

/// How many characters of the quoted message a reply keeps.
pub const REPLY_PREVIEW_CHARS: usize = 100;

impl ReadCursor {
    /// A cursor at an entry.
    pub fn at(m: &MessageRecord) -> Self {
        Self {
            seq: m.seq,
            ordinal: m.ordinal,
        }
    }

    /// A cursor stored before ordinals existed: every entry then was a message.
    pub fn legacy(seq: Seq) -> Self {
        Self { seq, ordinal: seq }
    }
}

impl MessageRecord {
    /// A real message (not an edit, delete or other event).
    pub fn is_message(&self) -> bool {
        self.kind == EntryKind::Message
    }

    /// Applies an already-validated change entry to this, its target. Idempotent: an entry
    /// at or below the last applied one changes nothing (a replay after a failover).
    /// Returns whether it changed anything.
    pub fn apply(&mut self, entry: &MessageRecord, max_versions: usize) -> bool {
        if entry.target_seq != self.seq || entry.seq <= self.state.changed_seq {
            return false;
        }
        match entry.kind {
            EntryKind::Message | EntryKind::System => return false,
            EntryKind::Edit => {
                if self.state.deleted.is_some() {
                    return false;
                }
                let since_ms = if self.state.edited_at_ms == 0 {
                    self.sent_at_ms
                } else {
                    self.state.edited_at_ms
                };
                let old = std::mem::replace(&mut self.body, entry.body.clone());
                self.state.versions.push(VersionRecord {
                    body: old,
                    since_ms,
                });
                let excess = self.state.versions.len().saturating_sub(max_versions);
                self.state.versions.drain(..excess);
                self.state.edited_at_ms = entry.sent_at_ms;
                self.mentions.clone_from(&entry.mentions);
            }
            EntryKind::ReactionAdd | EntryKind::ReactionRemove if self.state.deleted.is_some() => {
                return false;
            }
            EntryKind::ReactionAdd => self.add_reaction(&entry.body, entry.sender_id),
            EntryKind::ReactionRemove => self.remove_reaction(&entry.body, entry.sender_id),
            EntryKind::Delete => {
                self.body.clear();
                self.attachments.clear();
                self.state.versions.clear();
                self.state.reactions.clear();
                self.reply = None;
                self.mentions.clear();
                self.state.deleted = Some(DeletionRecord {
                    by: entry.sender_id,
                    at_ms: entry.sent_at_ms,
                });
            }
        }
        self.state.changed_seq = entry.seq;
        true
    }

    /// The users who reacted with `emoji` (empty when nobody did).
    pub fn reactors(&self, emoji: &str) -> &[UserId] {
        self.state
            .reactions
            .iter()
            .find(|r| r.emoji == emoji)
            .map_or(&[], |r| r.users.as_slice())
    }

    fn add_reaction(&mut self, emoji: &str, user: UserId) {
        match self.state.reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) if !r.users.contains(&user) => r.users.push(user),
            Some(_) => {}
            None => self.state.reactions.push(ReactionRecord {
                emoji: emoji.into(),
                users: vec![user],
            }),
        }
    }

    fn remove_reaction(&mut self, emoji: &str, user: UserId) {
        for r in &mut self.state.reactions {
            if r.emoji == emoji {
                r.users.retain(|&u| u != user);
            }
        }
        self.state.reactions.retain(|r| !r.users.is_empty());
    }

    /// What the room head keeps of this message's mentions (`None`: it mentions nobody but
    /// perhaps its sender).
    pub fn mention_mark(&self) -> Option<MentionMark> {
        let mut users: Vec<UserId> = self
            .mentions
            .iter()
            .map(|m| m.user_id)
            .filter(|&u| u != 0 && u != self.sender_id)
            .collect();
        users.sort_unstable();
        users.dedup();
        let all = self.mentions.iter().any(|m| m.user_id == 0);
        (all || !users.is_empty()).then_some(MentionMark {
            seq: self.seq,
            sender_id: self.sender_id,
            users,
            all,
        })
    }

    /// The snapshot a reply to this message keeps.
    pub fn reply_snapshot(&self) -> ReplyRecord {
        ReplyRecord {
            seq: self.seq,
            sender_id: self.sender_id,
            preview: self.body.chars().take(REPLY_PREVIEW_CHARS).collect(),
            attachment_type: self
                .attachments
                .first()
                .map(|a| a.content_type.clone())
                .unwrap_or_default(),
            deleted: self.state.deleted.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: Seq, body: &str) -> MessageRecord {
        MessageRecord {
            room_id: 1,
            seq,
            ordinal: seq,
            sender_id: 5,
            body: body.into(),
            sent_at_ms: i64::try_from(seq).unwrap_or(0) * 10,
            ..Default::default()
        }
    }

    fn change(seq: Seq, kind: EntryKind, target: Seq, body: &str) -> MessageRecord {
        MessageRecord {
            kind,
            target_seq: target,
            ..msg(seq, body)
        }
    }

    #[test]
    fn edits_keep_bounded_versions_and_replays_change_nothing() {
        let mut m = msg(1, "a");
        assert!(m.apply(&change(2, EntryKind::Edit, 1, "b"), 2));
        assert!(m.apply(&change(3, EntryKind::Edit, 1, "c"), 2));
        assert!(m.apply(&change(4, EntryKind::Edit, 1, "d"), 2));
        assert_eq!(m.body, "d");
        assert_eq!(m.state.edited_at_ms, 40);
        let bodies: Vec<_> = m.state.versions.iter().map(|v| v.body.as_str()).collect();
        assert_eq!(bodies, ["b", "c"]);
        assert_eq!(m.state.versions[0].since_ms, 20);
        let before = m.clone();
        assert!(!m.apply(&change(3, EntryKind::Edit, 1, "x"), 2), "replay");
        assert!(
            !m.apply(&change(9, EntryKind::Edit, 2, "x"), 2),
            "other target"
        );
        assert_eq!(m, before);
    }

    #[test]
    fn reactions_add_once_per_user_remove_and_end_with_a_delete() {
        let mut m = msg(1, "a");
        let react = |seq, kind, emoji: &str, who| MessageRecord {
            sender_id: who,
            ..change(seq, kind, 1, emoji)
        };
        assert!(m.apply(&react(2, EntryKind::ReactionAdd, "👍", 7), 5));
        assert!(m.apply(&react(3, EntryKind::ReactionAdd, "👍", 8), 5));
        assert!(m.apply(&react(4, EntryKind::ReactionAdd, "👍", 7), 5));
        assert!(m.apply(&react(5, EntryKind::ReactionAdd, "❤️", 7), 5));
        assert_eq!(m.reactors("👍"), [7, 8]);
        assert!(m.apply(&react(6, EntryKind::ReactionRemove, "❤️", 7), 5));
        assert!(m.apply(&react(7, EntryKind::ReactionRemove, "👍", 8), 5));
        assert_eq!(m.state.reactions.len(), 1);
        assert_eq!(m.reactors("👍"), [7]);
        assert!(m.apply(&change(8, EntryKind::Delete, 1, ""), 5));
        assert!(m.state.reactions.is_empty());
        assert!(!m.apply(&react(9, EntryKind::ReactionAdd, "👍", 7), 5));
    }

    #[test]
    fn a_delete_erases_and_ends_edits() {
        let mut m = msg(1, "secret");
        m.reply = Some(msg(0, "q").reply_snapshot());
        assert!(m.apply(&change(2, EntryKind::Edit, 1, "b"), 5));
        assert!(m.apply(&change(3, EntryKind::Delete, 1, ""), 5));
        assert!(m.body.is_empty() && m.state.versions.is_empty() && m.reply.is_none());
        assert_eq!(m.state.deleted.map(|d| d.at_ms), Some(30));
        assert!(!m.apply(&change(4, EntryKind::Edit, 1, "again"), 5));
        assert!(m.reply_snapshot().deleted);
    }
}
