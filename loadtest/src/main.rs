//! `chatload`: drives running chat nodes through the public protocol (HTTP accounts API and
//! real WebSocket or gRPC clients), creating (or reusing) its own users and rooms, and reports what it
//! measured as a table, as JSON (`--json`) and as an SVG plot (`--plot`).
//!
//! Every scenario is bounded in size and time and stops by itself. Targets must be loopback
//! addresses unless `--allow-remote` is given.
//!
//! Depends on `chat-client` (its connections are the ones integrators use, so the figures
//! are theirs) and `chat-proto`; never on the server crates.

mod accounts;
mod cli;
mod report;
mod scenarios;
mod stats;

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    if let Err(e) = cli.validate() {
        eprintln!("chatload: {e}");
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(scenarios::run(&cli))?;
    report.print();
    if let Some(path) = &cli.json {
        report.write_json(path)?;
    }
    if let Some(path) = &cli.plot {
        report.write_plot(path)?;
    }
    if !report.failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
