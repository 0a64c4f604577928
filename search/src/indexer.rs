//! Follows a room's log from its watermark and keeps the index in step: a message is
//! indexed under its current text, an edit re-indexes its target, a delete takes its target
//! out. Every step indexes the entries' targets *as they are now*, so replaying a stretch
//! of the log after a crash (or by a new owner) writes the same rows again.

use std::collections::BTreeSet;

use chat_store::{EntryKind, MessageRecord, RoomId, Seq, SharedStore, StoreResult};

use crate::document::indexed;

/// Log entries read and indexed per step.
pub const STEP_ENTRIES: usize = 256;

/// The entry whose searchable state an entry changes, if any.
fn target(e: &MessageRecord) -> Option<Seq> {
    match e.kind {
        EntryKind::Message => Some(e.seq),
        EntryKind::Edit | EntryKind::Delete => Some(e.target_seq),
        EntryKind::ReactionAdd | EntryKind::ReactionRemove | EntryKind::System => None,
    }
}

/// Indexes one step of a room's log after `watermark`, up to `head`; returns the new
/// watermark (`watermark` itself when there was nothing to do).
pub async fn step(
    store: &SharedStore,
    room: RoomId,
    watermark: Seq,
    head: Seq,
) -> StoreResult<Seq> {
    if watermark >= head {
        return Ok(watermark);
    }
    let upto = head.min(watermark.saturating_add(STEP_ENTRIES as Seq));
    let limit = usize::try_from(upto - watermark).unwrap_or(STEP_ENTRIES);
    let page = store.history(room, upto.saturating_add(1), limit).await?;
    let mut targets = BTreeSet::new();
    for e in &page {
        if e.seq > watermark {
            targets.extend(target(e));
        }
    }
    let mut docs = Vec::with_capacity(targets.len());
    for seq in targets {
        let current = match page.iter().find(|m| m.seq == seq) {
            Some(m) => Some(m.clone()),
            None => store.message(room, seq).await?,
        };
        if let Some(m) = current {
            docs.push(indexed(&m));
        }
    }
    store.index_messages(room, docs, upto).await?;
    Ok(upto)
}

/// Indexes a room's log up to `head` from where it was left; returns the watermark reached.
pub async fn catch_up(store: &SharedStore, room: RoomId, head: Seq) -> StoreResult<Seq> {
    let mut watermark = store.index_watermark(room).await?;
    while watermark < head {
        watermark = step(store, room, watermark, head).await?;
    }
    Ok(watermark)
}

#[cfg(test)]
#[path = "indexer_tests.rs"]
mod tests;
