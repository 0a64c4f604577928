//! The room's notice (KakaoTalk's 공지) and pinned messages: who may set them, what they
//! leave in the room's settings (`RoomMeta`, written with their system entry, so every node
//! and every open reads the same), and the pinned list as one member may see it.

use chat_proto::v1::{self, server_frame::Payload};
use chat_store::{NoticeRecord, RoomKind, Seq, SystemEvent, UserId};
use ractor::ActorRef;

use super::{
    admin, hidden,
    ops::{Reply, RoomMessage, RoomOutcome},
    state::{Answer, RoomState},
    system::{self, SystemEntry},
    timeline,
};
use crate::{
    config::ChatConfig,
    error::{ChatError, Reason},
};

/// A notice's text, trimmed (empty: take the notice down); `INVALID_NOTICE` when longer
/// than a message may be, or with control characters other than line breaks and tabs.
fn check_notice(config: &ChatConfig, text: &str) -> Result<String, ChatError> {
    let text = text.trim();
    let max = config.max_message_bytes;
    let bad_char = text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'));
    if text.len() > max || bad_char {
        return Err(ChatError::invalid(
            Reason::InvalidNotice,
            format!("a notice is at most {max} bytes, without control characters"),
        ));
    }
    Ok(text.to_owned())
}

/// The owner sets a group's notice; either member a direct room's (unless blocked).
fn may_set_notice(state: &RoomState, by: UserId) -> Result<(), ChatError> {
    if state.record.kind == RoomKind::Group {
        return admin::require_owner(state, by);
    }
    state.require_member(by)?;
    state.require_unblocked()
}

pub(super) fn on_set_notice(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    by: UserId,
    text: String,
    reply: Reply,
) {
    let checked = may_set_notice(state, by).and_then(|()| check_notice(&state.core.config, &text));
    let text = match checked {
        Ok(t) => t,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let current = state.meta.notice.as_ref().map_or("", |n| n.text.as_str());
    if current == text {
        let _ = reply.send(Ok(RoomOutcome::Snapshot(state.snapshot())));
        return;
    }
    // Stamped with its entry's seq and time when sequenced (`system::sequence`).
    state.meta.notice = (!text.is_empty()).then(|| NoticeRecord {
        text: text.clone(),
        by,
        ..NoticeRecord::default()
    });
    let entry = SystemEntry {
        body: text,
        changes_meta: true,
        ..SystemEntry::new(by, SystemEvent::NoticeChanged, Vec::new())
    };
    system::sequence(myself, state, entry, Some(reply), Answer::Snapshot);
}

pub(super) async fn on_pin(
    myself: &ActorRef<RoomMessage>,
    state: &mut RoomState,
    (by, seq, pinned): (UserId, Seq, bool),
    reply: Reply,
) {
    let message = match check_pin(state, by, seq, pinned).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            let _ = reply.send(Ok(RoomOutcome::Done));
            return;
        }
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let event = if pinned {
        state.meta.pins.insert(0, seq);
        SystemEvent::Pinned
    } else {
        state.meta.pins.retain(|&s| s != seq);
        SystemEvent::Unpinned
    };
    let entry = SystemEntry {
        changes_meta: true,
        target: seq,
        carries: Some(message),
        ..SystemEntry::new(by, event, Vec::new())
    };
    system::sequence(myself, state, entry, Some(reply), Answer::Done);
}

/// The message a pin or unpin by `by` is about, when it changes the list (`None`: it is
/// pinned already, or not pinned).
async fn check_pin(
    state: &RoomState,
    by: UserId,
    seq: Seq,
    pinned: bool,
) -> Result<Option<chat_store::MessageRecord>, ChatError> {
    state.require_member(by)?;
    state.require_unblocked()?;
    if state.record.kind == RoomKind::Group && state.meta.pins_owner_only && state.owner() != by {
        return Err(ChatError::PermissionDenied(
            Reason::NotRoomOwner,
            "only the room's owner may pin and unpin messages here".into(),
        ));
    }
    // A message the member cannot see (from before they joined) is not there to pin.
    let message = timeline::message_at(state, by, seq).await?;
    let is_pinned = state.meta.pins.contains(&seq);
    if !pinned {
        return Ok(is_pinned.then_some(message));
    }
    timeline::require_not_deleted(&message)?;
    if is_pinned {
        return Ok(None);
    }
    let max = state.core.config.max_pins_per_room;
    if state.meta.pins.len() >= max {
        return Err(ChatError::ResourceExhausted(
            Reason::PinListFull,
            format!("a room pins at most {max} messages: unpin one first"),
            0,
        ));
    }
    Ok(Some(message))
}

/// The pinned messages `user` may see, as they are now, newest pin first: none from
/// before their view of the log starts, none they hid.
pub(super) async fn pinned_for(
    state: &mut RoomState,
    user: UserId,
) -> Result<Vec<v1::Message>, ChatError> {
    if state.meta.pins.is_empty() {
        return Ok(Vec::new());
    }
    let from = state.visible_from(user);
    let hidden = hidden::of(state, user).await?;
    let mut records = Vec::new();
    for &seq in &state.meta.pins {
        if seq <= from || hidden.binary_search(&seq).is_ok() {
            continue;
        }
        if let Some(m) = timeline::entry(state, seq).await? {
            records.push(m);
        }
    }
    let known = |seq| state.recent_entry(seq).cloned();
    timeline::refresh_replies_from(&state.core.store, state.record.id, &mut records, known).await?;
    Ok(records
        .iter()
        .map(|m| state.message_proto_for(m, user))
        .collect())
}

pub(super) async fn on_list(state: &mut RoomState, user: UserId) -> Result<RoomOutcome, ChatError> {
    state.require_member(user)?;
    let messages = pinned_for(state, user).await?;
    Ok(RoomOutcome::Reply(Box::new(Payload::PinnedMessages(
        v1::PinnedMessages {
            room_id: state.record.id,
            messages,
        },
    ))))
}
