//! Structured logs to stdout: human-readable text or one JSON object per line.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogSection;

/// Installs the global subscriber. `RUST_LOG` overrides `log.level` when set.
pub fn init(config: &LogSection) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let result = if config.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}
