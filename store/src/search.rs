//! Records of the message search index (see [`crate::SearchIndex`]).

use crate::records::Seq;

/// A message as the index keeps it: where it is and the terms it is found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedMessage {
    /// The message.
    pub seq: Seq,
    /// Its sequencing time, which names its bucket.
    pub sent_at_ms: i64,
    /// Distinct terms, each at most [`MAX_TERM_BYTES`]; empty to take it out of the index.
    pub terms: Vec<String>,
}

/// Longest term the index stores, in bytes (analysis cuts longer words).
pub const MAX_TERM_BYTES: usize = 64;

/// Most terms one message is indexed under (analysis keeps the first ones).
pub const MAX_TERMS_PER_MESSAGE: usize = 2048;

/// One bucket of a room's log: its id and the seq of its first entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBucket {
    /// `sent_at_ms / bucket_width_ms` of its entries.
    pub bucket: u64,
    /// Its first entry's seq: a seq below it is in an older bucket.
    pub first_seq: Seq,
}
