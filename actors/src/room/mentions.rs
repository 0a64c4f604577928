//! Mentions: which ranges of a body name whom, checked against the room's members, and the
//! head's marks that per-member mention counts come from.
//!
//! Ranges are in UTF-16 code units (what JavaScript strings, Android and iOS index by), must
//! fall on character boundaries, be ascending and not overlap, so every client highlights
//! the same text.

use chat_store::{EntryKind, MAX_MENTION_MARKS, MentionMark, MessageRecord, RoomKind, Seq};

use super::{ops::SendRequest, state::RoomState};
use crate::error::{ChatError, Reason};

fn invalid(message: String) -> ChatError {
    ChatError::invalid(Reason::InvalidMention, message)
}

/// Checks a new entry's mentions against its body and the room.
pub(super) fn check(state: &RoomState, req: &SendRequest) -> Result<(), ChatError> {
    if req.mentions.is_empty() {
        return Ok(());
    }
    if !matches!(req.kind, EntryKind::Message | EntryKind::Edit) {
        return Err(invalid("only messages and edits carry mentions".into()));
    }
    let max = state.core.config.max_mentions_per_message;
    if req.mentions.len() > max {
        return Err(ChatError::invalid(
            Reason::TooManyMentions,
            format!("a message carries at most {max} mentions"),
        ));
    }
    // Every UTF-16 offset where a character starts, and the body's end.
    let mut boundaries = Vec::with_capacity(req.body.len() + 1);
    let mut at = 0u32;
    for c in req.body.chars() {
        boundaries.push(at);
        at += c.len_utf16() as u32;
    }
    boundaries.push(at);
    let on_boundary = |n: u32| boundaries.binary_search(&n).is_ok();
    let mut end_of_previous = 0u32;
    for m in &req.mentions {
        let end = m.offset.saturating_add(m.length);
        if m.length == 0 || end > at || !on_boundary(m.offset) || !on_boundary(end) {
            return Err(invalid(format!(
                "mention at {}+{} is not a range of whole characters of the body \
                 (ranges count UTF-16 code units)",
                m.offset, m.length
            )));
        }
        if m.offset < end_of_previous {
            return Err(invalid(
                "mentions must be in ascending order and must not overlap".into(),
            ));
        }
        end_of_previous = end;
        if m.user_id == 0 {
            if state.record.kind != RoomKind::Group {
                return Err(invalid("@all is for group rooms".into()));
            }
        } else if !state.members.contains(&m.user_id) {
            return Err(invalid(format!("user {} is not in this room", m.user_id)));
        }
    }
    Ok(())
}

/// The head's mention marks once `entries` (with their rewrites) are durable: a message
/// with mentions adds its mark, an edit replaces it, a delete drops it; marks every member
/// has read are dropped, and only the newest [`MAX_MENTION_MARKS`] are kept.
pub(super) fn next_marks<'a>(
    state: &RoomState,
    entries: impl Iterator<Item = (&'a MessageRecord, Option<&'a MessageRecord>)>,
) -> Vec<MentionMark> {
    let mut marks = state.durable_mentions.clone();
    for (record, rewrite) in entries {
        if record.is_message() {
            marks.extend(record.mention_mark());
            continue;
        }
        let Some(r) =
            rewrite.filter(|_| matches!(record.kind, EntryKind::Edit | EntryKind::Delete))
        else {
            continue;
        };
        match (
            marks.binary_search_by_key(&r.seq, |m| m.seq),
            r.mention_mark(),
        ) {
            (Ok(i), Some(mark)) => marks[i] = mark,
            (Ok(i), None) => {
                marks.remove(i);
            }
            (Err(i), Some(mark)) => marks.insert(i, mark),
            (Err(_), None) => {}
        }
    }
    if !marks.is_empty() {
        let everyone_read: Seq = state.cursors.min().unwrap_or(Seq::MAX);
        marks.retain(|m| m.seq > everyone_read);
        let excess = marks.len().saturating_sub(MAX_MENTION_MARKS);
        marks.drain(..excess);
    }
    marks
}
