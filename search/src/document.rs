//! What of a message is searchable: its body and its files' names, while it is a message
//! nobody deleted.

use std::collections::BTreeSet;

use chat_store::{EntryKind, IndexedMessage, MAX_TERMS_PER_MESSAGE, MessageRecord};

use crate::analysis::index_terms;

/// The text a message is found by, or `None` when it is not searchable (not a message, or
/// deleted for everyone).
pub fn searchable_text(m: &MessageRecord) -> Option<String> {
    if m.kind != EntryKind::Message || m.state.deleted.is_some() {
        return None;
    }
    let mut text = m.body.clone();
    for a in &m.attachments {
        text.push('\n');
        text.push_str(&a.name);
    }
    Some(text)
}

/// The index entry of a message as it is now (no terms: take it out).
pub fn indexed(m: &MessageRecord) -> IndexedMessage {
    let terms: BTreeSet<String> = searchable_text(m)
        .map(|t| index_terms(&t))
        .unwrap_or_default();
    IndexedMessage {
        seq: m.seq,
        sent_at_ms: m.sent_at_ms,
        terms: terms.into_iter().take(MAX_TERMS_PER_MESSAGE).collect(),
    }
}
