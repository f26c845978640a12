//! The command line: subcommands, logging, the runtime and exit codes.

mod demo;
mod generate;
mod progress;
mod query;
mod serve;
mod sync;
mod verify;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use alloy_primitives::B256;
use clap::{Parser, Subcommand};
use snap_node::{
    metrics::{Metrics, serve_metrics},
    network::{Network, NetworkError},
};
use snap_tokio_adapter::session::Enode;

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

/// Which network to announce: a geth genesis file, or the built-in demo network.
#[derive(Debug, Clone, clap::Args)]
struct NetworkArgs {
    /// A geth genesis.json (network id, genesis hash and forks); default: the demo network.
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,
    /// Override the network id (default: the genesis chainId).
    #[arg(long)]
    network_id: Option<u64>,
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
    /// Stream a generated mainnet-like state into a store (flat memory at any size).
    Generate(generate::GenerateArgs),
}

/// A failure that ends the program with a message and exit code 1.
type CliResult = Result<ExitCode, String>;

fn parse_b256(s: &str) -> Result<B256, String> {
    s.parse::<B256>().map_err(|e| format!("{s}: {e}"))
}

fn network(args: &NetworkArgs, chain: Option<&std::path::Path>) -> Result<Network, NetworkError> {
    match &args.genesis {
        Some(genesis) => Network::from_genesis(genesis, chain, args.network_id),
        None => Ok(Network::demo_client()),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Parses the command line and runs the command.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let metrics = Arc::new(Metrics::default());
        if let Some(addr) = cli.metrics {
            let bound = serve_metrics(addr, metrics.clone())
                .await
                .map_err(|e| format!("metrics on {addr}: {e}"))?;
            tracing::info!("metrics at http://{bound}/metrics");
        }
        match cli.command {
            Command::Sync(args) => sync::run(args, metrics).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => demo::run(args, metrics).await,
            Command::Query(args) => query::run(args).await,
            Command::Verify(args) => verify::run(&args),
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

fn parse_enode(s: &str) -> Result<Enode, String> {
    s.parse::<Enode>().map_err(|e| e.to_string())
}

fn open_store(datadir: &std::path::Path) -> Result<snap_store::RedbStore, String> {
    snap_store::RedbStore::open(datadir)
        .map_err(|e| format!("opening the store in {}: {e}", datadir.display()))
}
