//! prost + pbjson output, kept private to this crate's module tree and re-exported as `v1`.

#![allow(missing_docs, clippy::all, clippy::unwrap_used)]

/// Package `chat`.
pub mod chat {
    /// Package `chat.v1`.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/chat.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/chat.v1.serde.rs"));
    }

    /// Package `chat.cluster`.
    pub mod cluster {
        /// Package `chat.cluster.v1`.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/chat.cluster.v1.rs"));
        }
    }
}
