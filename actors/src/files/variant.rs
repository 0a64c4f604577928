//! Which bytes of a file a request means.

/// Which bytes of a file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The uploaded bytes.
    Original,
    /// The server-made thumbnail.
    Thumbnail,
}
