//! The store conformance suite: every backend must pass every check here. Each check takes
//! a fresh, empty store and a bucket width (ms) matching the store's configuration.
#![allow(missing_docs)]

mod accounts;
mod files;
mod fixtures;
mod rooms;
mod search;
mod settings;

pub use accounts::*;
pub use files::*;
pub use rooms::*;
pub use search::*;
pub use settings::*;
