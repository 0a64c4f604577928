//! The rules of changes to the timeline (edit, delete for everyone) and replies: which entry
//! a new one refers to, who may change it and until when, and what the change leaves on
//! it; the head's preview and deleted list after a batch; reply snapshots kept current when
//! served; and the start-up repair of changes a lost append left unapplied.

use std::collections::HashMap;

use chat_store::{EntryKind, HeadChange, MessageRecord, ReadCursor, ReplyRecord, Seq, UserId};

use super::{ops::SendRequest, state::RoomState};
use crate::error::{ChatError, Reason};

/// What a new entry refers to, checked.
#[derive(Default)]
pub(super) struct Checked {
    /// A reply's snapshot of the quoted message.
    pub(super) reply: Option<ReplyRecord>,
    /// A change's target, as it is now (before the change).
    pub(super) target: Option<MessageRecord>,
}

/// An entry as it is now: changes not yet durable first, then the recent cache, then the
/// store. Only durable seqs exist for clients (they learn seqs from acks and events).
pub(super) async fn entry(state: &RoomState, seq: Seq) -> Result<Option<MessageRecord>, ChatError> {
    if seq == 0 || seq > state.durable_seq {
        return Ok(None);
    }
    if let Some(m) = state.overlay.get(&seq) {
        return Ok(Some(m.clone()));
    }
    if let Some(m) = state.recent_entry(seq) {
        return Ok(Some(m.clone()));
    }
    Ok(state.core.store.message(state.record.id, seq).await?)
}

/// A read cursor at `seq` (a durable seq), with the count of real messages up to it.
pub(super) async fn cursor_at(state: &RoomState, seq: Seq) -> Result<ReadCursor, ChatError> {
    if seq == state.durable_seq {
        return Ok(state.durable_cursor());
    }
    match entry(state, seq).await? {
        Some(m) => Ok(ReadCursor::at(&m)),
        None if seq == 0 => Ok(ReadCursor::default()),
        None => Err(ChatError::Internal(format!(
            "room {}: no entry at durable seq {seq}",
            state.record.id
        ))),
    }
}

pub(super) fn no_message(seq: Seq) -> ChatError {
    ChatError::NotFound(Reason::MessageNotFound, format!("no message at seq {seq}"))
}

/// The message at `seq`: a real message, not a change, that `viewer` may see (one from
/// before they joined is not there for them).
pub(super) async fn message_at(
    state: &RoomState,
    viewer: UserId,
    seq: Seq,
) -> Result<MessageRecord, ChatError> {
    if seq <= state.visible_from(viewer) {
        return Err(no_message(seq));
    }
    let m = entry(state, seq).await?.ok_or_else(|| no_message(seq))?;
    if !m.is_message() {
        return Err(ChatError::invalid(
            Reason::NotAMessage,
            format!("seq {seq} is a change to another message, not a message"),
        ));
    }
    Ok(m)
}

pub(super) fn require_not_deleted(m: &MessageRecord) -> Result<(), ChatError> {
    if m.state.deleted.is_some() {
        return Err(ChatError::FailedPrecondition(
            Reason::MessageDeleted,
            format!("the message at seq {} was deleted", m.seq),
        ));
    }
    Ok(())
}

/// Checks a new entry against the room's rules at time `now_ms`.
pub(super) async fn check(
    state: &RoomState,
    req: &SendRequest,
    now_ms: i64,
) -> Result<Checked, ChatError> {
    let config = &state.core.config;
    match req.kind {
        EntryKind::Message if req.reply_to == 0 => Ok(Checked::default()),
        EntryKind::Message => {
            let quoted = message_at(state, req.sender, req.reply_to).await?;
            require_not_deleted(&quoted)?;
            Ok(Checked {
                reply: Some(quoted.reply_snapshot()),
                target: None,
            })
        }
        EntryKind::Edit => {
            let target = message_at(state, req.sender, req.target).await?;
            require_not_deleted(&target)?;
            if target.sender_id != req.sender {
                return Err(ChatError::PermissionDenied(
                    Reason::NotYourMessage,
                    "only its sender may edit a message".into(),
                ));
            }
            let window = window_ms(config.edit_window_secs);
            if now_ms.saturating_sub(target.sent_at_ms) > window {
                return Err(ChatError::FailedPrecondition(
                    Reason::EditWindowClosed,
                    format!(
                        "a message can be edited for {} s after sending",
                        config.edit_window_secs
                    ),
                ));
            }
            Ok(Checked {
                reply: None,
                target: Some(target),
            })
        }
        EntryKind::ReactionAdd | EntryKind::ReactionRemove => {
            let target = message_at(state, req.sender, req.target).await?;
            require_not_deleted(&target)?;
            check_reaction(state, req, &target)?;
            Ok(Checked {
                reply: None,
                target: Some(target),
            })
        }
        // The room writes these itself (`system.rs`); they never arrive as sends.
        EntryKind::System => Err(ChatError::Internal("members send no system entries".into())),
        EntryKind::Delete => {
            let target = message_at(state, req.sender, req.target).await?;
            require_not_deleted(&target)?;
            if !is_owner(state, req.sender) {
                if target.sender_id != req.sender {
                    return Err(ChatError::PermissionDenied(
                        Reason::NotYourMessage,
                        "only its sender or the group's owner may delete a message".into(),
                    ));
                }
                let window = window_ms(config.unsend_window_secs);
                if now_ms.saturating_sub(target.sent_at_ms) > window {
                    return Err(ChatError::FailedPrecondition(
                        Reason::UnsendWindowClosed,
                        format!(
                            "a message can be deleted for everyone for {} s after sending",
                            config.unsend_window_secs
                        ),
                    ));
                }
            }
            Ok(Checked {
                reply: None,
                target: Some(target),
            })
        }
    }
}

/// A reaction added once per user and emoji, within the limits; removed only if there.
fn check_reaction(
    state: &RoomState,
    req: &SendRequest,
    target: &MessageRecord,
) -> Result<(), ChatError> {
    let config = &state.core.config;
    let emoji = req.body.as_str();
    let mine = target.reactors(emoji).contains(&req.sender);
    if req.kind == EntryKind::ReactionRemove {
        if !mine {
            return Err(ChatError::NotFound(
                Reason::ReactionNotFound,
                format!("you have not reacted with {emoji} to this message"),
            ));
        }
        return Ok(());
    }
    if mine {
        return Err(ChatError::AlreadyExists(
            Reason::AlreadyReacted,
            format!("you already reacted with {emoji} to this message"),
        ));
    }
    let reactions = &target.state.reactions;
    let by_me = reactions
        .iter()
        .filter(|r| r.users.contains(&req.sender))
        .count();
    let new_emoji = !reactions.iter().any(|r| r.emoji == emoji);
    if by_me >= config.max_reactions_per_user
        || (new_emoji && reactions.len() >= config.max_reactions_per_message)
    {
        return Err(ChatError::ResourceExhausted(
            Reason::TooManyReactions,
            format!(
                "a message takes at most {} different reactions, {} from each member",
                config.max_reactions_per_message, config.max_reactions_per_user
            ),
            0,
        ));
    }
    Ok(())
}

fn window_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The owner of a group; direct rooms have none.
fn is_owner(state: &RoomState, user: UserId) -> bool {
    user != 0 && state.owner() == user
}

/// The head's preview and deleted list once `entries` (with their rewrites) are durable,
/// starting from the durable ones. Deleted seqs at or below every member's cursor are
/// dropped: nobody counts them any more.
pub(super) fn next_head<'a>(
    state: &RoomState,
    entries: impl Iterator<Item = (&'a MessageRecord, Option<&'a MessageRecord>)> + Clone,
) -> HeadChange {
    let mentions = super::mentions::next_marks(state, entries.clone());
    // The newest message of the batch, and changes to it or to the durable preview; cloned
    // once at the end (this runs for every batch).
    let mut newest: Option<&MessageRecord> = None;
    let mut changed: Option<&MessageRecord> = None;
    let mut deleted = state.durable_deleted.clone();
    for (record, rewrite) in entries {
        if record.is_message() {
            newest = Some(record);
            changed = None;
        }
        if let Some(r) = rewrite {
            let current = newest.or(state.durable_preview.as_ref());
            if current.is_some_and(|p| p.seq == r.seq) {
                changed = Some(r);
            }
            if record.kind == EntryKind::Delete {
                deleted.push(r.seq);
            }
        }
    }
    let preview = changed
        .or(newest)
        .cloned()
        .or_else(|| state.durable_preview.clone());
    if !deleted.is_empty() {
        deleted.sort_unstable();
        deleted.dedup();
        let everyone_read = state.cursors.min().unwrap_or(Seq::MAX);
        deleted.retain(|&d| d > everyone_read);
    }
    HeadChange {
        preview,
        deleted,
        mentions,
        // The settings come with the entries that change them (`Pending::meta`).
        meta: state.durable_meta.clone(),
    }
}

/// Reply snapshots refreshed from the quoted messages' current state where it is at hand
/// (the page itself, then `known`); returns the quoted seqs it could not find.
pub(super) fn refresh_replies(
    page: &mut [MessageRecord],
    known: impl Fn(Seq) -> Option<MessageRecord>,
) -> Vec<Seq> {
    let in_page: HashMap<Seq, ReplyRecord> =
        page.iter().map(|m| (m.seq, m.reply_snapshot())).collect();
    let mut missing = Vec::new();
    for m in page.iter_mut() {
        let Some(reply) = m.reply.as_mut() else {
            continue;
        };
        match in_page
            .get(&reply.seq)
            .cloned()
            .or_else(|| known(reply.seq).map(|q| q.reply_snapshot()))
        {
            Some(now) => *reply = now,
            None => missing.push(reply.seq),
        }
    }
    missing
}

/// [`refresh_replies`], then the store for quoted messages not at hand.
pub(super) async fn refresh_replies_from(
    store: &chat_store::SharedStore,
    room: chat_store::RoomId,
    page: &mut [MessageRecord],
    known: impl Fn(Seq) -> Option<MessageRecord>,
) -> Result<(), ChatError> {
    let missing = refresh_replies(page, known);
    if missing.is_empty() {
        return Ok(());
    }
    let mut found = HashMap::new();
    for seq in missing {
        if let Some(m) = store.message(room, seq).await? {
            found.insert(seq, m);
        }
    }
    refresh_replies(page, |seq| found.get(&seq).cloned());
    Ok(())
}

/// Changes among the newest entries whose targets do not show them yet: the CQL store
/// writes rewrites after the commit, so an owner that stopped in between leaves them to the
/// next one. Returns the targets as the changes leave them (an append to write).
pub(super) async fn unapplied_changes(state: &RoomState) -> Result<Vec<MessageRecord>, ChatError> {
    // Each target read once, however many changes it has (a popular message's reactions).
    let mut targets: HashMap<Seq, Option<MessageRecord>> = HashMap::new();
    let mut fixed = std::collections::BTreeSet::new();
    // System entries refer to messages (pins) but change none.
    let changes = state
        .recent
        .iter()
        .filter(|m| !m.is_message() && m.kind != EntryKind::System);
    for change in changes {
        let seq = change.target_seq;
        if let std::collections::hash_map::Entry::Vacant(slot) = targets.entry(seq) {
            slot.insert(entry(state, seq).await?);
        }
        if let Some(Some(target)) = targets.get_mut(&seq)
            && target.apply(change, state.core.config.max_edit_versions)
        {
            fixed.insert(seq);
        }
    }
    let mut out: Vec<MessageRecord> = fixed
        .into_iter()
        .filter_map(|seq| targets.remove(&seq).flatten())
        .collect();
    out.sort_unstable_by_key(|m| m.seq);
    Ok(out)
}
