//! The store's error type.

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique key (username, ...) is already taken.
    #[error("already exists")]
    AlreadyExists,
    /// The record to change does not exist (any more).
    #[error("not found")]
    NotFound,
    /// A conditional append lost: the log does not end where the writer expected.
    #[error("conflict: log ends at seq {found}, writer expected {expected}")]
    Conflict {
        /// The seq the writer expected the log to end at.
        expected: u64,
        /// The seq the log actually ends at.
        found: u64,
    },
    /// An argument the store cannot accept (e.g. non-consecutive seqs in an append).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The backend is temporarily unable to serve; the operation may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend failed; details are for the log.
    #[error("store failure: {0}")]
    Backend(String),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}

/// Result type of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;
