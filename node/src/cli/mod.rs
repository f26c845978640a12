//! The command line: subcommands, logging, the runtime and exit codes.

mod chains;
mod demo;
mod discovery;
mod progress;
mod query;
mod serve;
mod sync;
mod verify;

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use alloy_primitives::B256;
use clap::{Parser, Subcommand};
use snap_node::{
    metrics::{Metrics, install_prometheus},
    network::Network,
};
use snap_tokio_adapter::{chains::ChainChoice, enode::Enode};

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

/// Which network to announce: a built-in chain, the demo network, or a geth genesis file.
#[derive(Debug, Clone, clap::Args)]
struct NetworkArgs {
    /// The chain: mainnet, sepolia, hoodi, classic, mordor, demo, or a geth genesis.json
    /// (default: mainnet for sync, demo for serve and query).
    #[arg(long, alias = "genesis", value_name = "NAME|PATH")]
    chain: Option<String>,
    /// Override the network id (default: the chain's, or the genesis chainId).
    #[arg(long)]
    network_id: Option<u64>,
}

/// What `--chain` named.
#[derive(Debug, Clone)]
enum ChainArg {
    /// The demo network.
    Demo,
    /// A built-in chain or a genesis file.
    Chain(ChainChoice),
}

impl NetworkArgs {
    /// The chain named, or `default` without `--chain`.
    fn choice(&self, default: &str) -> Result<ChainArg, String> {
        let name = self.chain.as_deref().unwrap_or(default);
        if name.eq_ignore_ascii_case("demo") {
            return Ok(ChainArg::Demo);
        }
        ChainChoice::parse(name).map(ChainArg::Chain).map_err(|e| e.to_string())
    }
}

/// Discovery: where to start, whether at all, and on which port.
#[derive(Debug, Clone, clap::Args)]
struct DiscoveryArgs {
    /// Discovery bootnodes, comma-separated enode URLs (default: the chain's).
    #[arg(long, value_name = "ENODES", value_delimiter = ',', value_parser = parse_enode)]
    bootnodes: Option<Vec<Enode>>,
    /// Do not run peer discovery.
    #[arg(long)]
    no_discovery: bool,
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
}

/// A failure that ends the program with a message and exit code 1.
type CliResult = Result<ExitCode, String>;

fn parse_b256(s: &str) -> Result<B256, String> {
    s.parse::<B256>().map_err(|e| format!("{s}: {e}"))
}

/// The network `args` name (`default` without `--chain`); `headers` are served with a genesis
/// file. `None` for the demo network, whose description depends on the command.
fn network(
    args: &NetworkArgs,
    default: &str,
    headers: Option<&std::path::Path>,
) -> Result<Option<(Network, Vec<Enode>)>, String> {
    let spec = match args.choice(default)? {
        ChainArg::Demo => {
            if headers.is_some() {
                return Err("--headers needs --chain PATH/genesis.json".into());
            }
            return Ok(None);
        }
        ChainArg::Chain(ChainChoice::Named(chain)) => {
            if headers.is_some() {
                return Err("--headers needs --chain PATH/genesis.json".into());
            }
            chain.spec()
        }
        ChainArg::Chain(ChainChoice::GenesisFile(path)) => {
            let network = Network::from_genesis(&path, headers, args.network_id)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(Some((network, Vec::new())));
        }
    };
    let mut network = Network::from_spec(&spec);
    if let Some(id) = args.network_id {
        network.info.network_id = id;
    }
    Ok(Some((network, spec.bootnodes)))
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
