//! `chatnode`: parse the command line, load the layered config, run until SIGTERM/SIGINT.

use std::path::PathBuf;

use anyhow::Context as _;

// glibc malloc fragments under the node's many small, short-lived allocations (frames,
// events, futures); profiles showed a fifth of the send path in it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use chat_node::{NodeConfig, logging, run};
use clap::Parser;

/// One node of the chat cluster. With no flags it runs on its embedded defaults: data in
/// ./data, HTTP and WebSocket on 127.0.0.1:8080. Every setting can also be given as an
/// environment variable CHAT__SECTION__KEY (e.g. CHAT__HTTP__LISTEN=0.0.0.0:8080).
#[derive(Debug, Parser)]
#[command(name = "chatnode", version, about, long_about = None)]
struct Cli {
    /// A TOML config file (see chatnode.example.toml); values in it override the defaults.
    #[arg(short, long, env = "CHAT_CONFIG")]
    config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = NodeConfig::load(cli.config.as_deref())?;
    if cli.print_config {
        println!("{}", toml_string(&config)?);
        return Ok(());
    }
    logging::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let result = run(config, shutdown_signal()).await;
        if let Err(e) = &result {
            tracing::error!(error = %format!("{e:#}"), "chatnode failed");
        }
        result
    })
}

fn toml_string(config: &NodeConfig) -> anyhow::Result<String> {
    toml::to_string_pretty(config).context("cannot render the configuration")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
