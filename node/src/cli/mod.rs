//! The command line: subcommands, logging, the runtime and exit codes.

mod chains;
mod demo;
mod discovery;
mod generate;
mod progress;
mod query;
mod serve;
mod shared;
mod sync;
mod verify;

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use snap_node::metrics::{Metrics, install_prometheus};

/// snap: snap-sync an Ethereum state from devp2p peers into an embedded, crash-safe store,
/// serve it, and check it.
#[derive(Debug, Parser)]
#[command(name = "snap", version, about)]
struct Cli {
    /// Expose Prometheus metrics at http://ADDR/metrics.
    #[arg(long, global = true, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Snap-sync a state from peers into DIR; exits 0 only with a verified root.
    Sync(sync::SyncArgs),
    /// Serve a synced store or a state dump (and headers) to peers.
    Serve(serve::ServeArgs),
    /// Serve a built-in state on 127.0.0.1 and sync it over loopback into a fresh datadir.
    Demo(demo::DemoArgs),
    /// Send one snap request to a peer and print the response as JSON.
    Query(query::QueryArgs),
    /// Recompute the root from a store and check its flat state against its trie.
    Verify(verify::VerifyArgs),
    /// List the built-in chains: network id, genesis, current fork id, bootnodes.
    Chains,
    /// Stream a generated mainnet-like state into a store (flat memory at any size).
    Generate(generate::GenerateArgs),
}

fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// A panic is reported as one line, never a backtrace (the failure it causes reaches the
/// user as an error of its own).
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line()));
        eprintln!("panic: {message}{}", place.unwrap_or_default());
    }));
}

/// Parses the command line and runs the command.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    quiet_panics();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        if let Some(addr) = cli.metrics {
            install_prometheus(addr).map_err(|e| format!("metrics on {addr}: {e}"))?;
            tracing::info!("metrics at http://{addr}/metrics");
        }
        // After the exporter: the handles bind to the recorder installed.
        let metrics = Arc::new(Metrics::default());
        match cli.command {
            Command::Sync(args) => sync::run(args, metrics).await,
            Command::Serve(args) => serve::run(args, metrics).await,
            Command::Demo(args) => demo::run(args, metrics).await,
            Command::Query(args) => query::run(args).await,
            Command::Verify(args) => verify::run(&args),
            Command::Chains => Ok(chains::run()),
            Command::Generate(args) => generate::run(&args),
        }
    });
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
