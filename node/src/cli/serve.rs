//! `snap serve`: serve a store or a state dump, and headers, to peers.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use k256::SecretKey;
use snap_core::serve::{InMemoryState, ServeLimits};
use snap_node::{demo_state, network::Network, store_server::StoreServer};
use snap_store::SyncStore;
use snap_tokio_adapter::{
    connection::ConnectionConfig,
    server::{Server, StateServer},
    session::{Enode, Node, load_or_generate_key},
};
use tokio::net::TcpListener;

use super::{CliResult, DiscoveryArgs, NetworkArgs};

/// Arguments of `snap serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Serve the state synced into this data directory.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["state", "generate"], conflicts_with = "state")]
    datadir: Option<PathBuf>,
    /// Serve the state of this JSON dump (geth dump, genesis alloc or hivechain headstate).
    #[arg(long, value_name = "DUMP.json")]
    state: Option<PathBuf>,
    /// Serve a generated state of this many accounts (with `--slots` slots, seed `--seed`).
    #[arg(long, value_name = "ACCOUNTS", conflicts_with_all = ["state", "datadir"])]
    generate: Option<usize>,
    /// Storage slots of the generated state.
    #[arg(long, default_value_t = 1_000_000)]
    slots: usize,
    /// The generated state's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    network: NetworkArgs,
    /// Headers to serve (an exported chain.rlp; needs --chain PATH/genesis.json).
    #[arg(long, value_name = "FILE")]
    headers: Option<PathBuf>,
    /// The address to listen on (TCP for RLPx, UDP for discovery on the same port).
    #[arg(long, default_value = "127.0.0.1:30303")]
    listen: SocketAddr,
    /// The TCP and UDP port (overrides --listen's port).
    #[arg(long)]
    port: Option<u16>,
    #[command(flatten)]
    discovery: DiscoveryArgs,
    /// The node key file (created if missing; default: DIR/nodekey, or a fresh key).
    #[arg(long, value_name = "FILE")]
    nodekey: Option<PathBuf>,
}

/// Accepts peers on `listener` forever, each session answered by `node`'s server; session
/// events are read and dropped (a serving node asks nothing).
pub(crate) fn accept_forever(node: Node, listener: TcpListener) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match node.accept_from(&listener).await {
                Ok(mut handle) => {
                    tokio::spawn(async move {
                        while let Some(event) = handle.next_event().await {
                            tracing::debug!(peer = %handle.addr, ?event, "served session");
                        }
                    });
                }
                Err(error) => tracing::warn!(%error, "accepting a peer"),
            }
        }
    })
}

/// Binds `listen`, starts serving with `server` announcing `network`, and returns our enode.
pub(crate) async fn start(
    key: SecretKey,
    network: &Network,
    server: Arc<dyn Server>,
    listen: SocketAddr,
) -> Result<(Enode, tokio::task::JoinHandle<()>), String> {
    let listener =
        TcpListener::bind(listen).await.map_err(|e| format!("listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let node = Node::new(key, ConnectionConfig::new(network.info.clone()), server);
    let enode = Enode { id: node.id(), addr };
    Ok((enode, accept_forever(node, listener)))
}

/// The network served and its bootnodes: the chain named, or the demo network with one
/// block holding `root`.
fn state_network(
    args: &ServeArgs,
    root: alloy_primitives::B256,
) -> Result<(Network, Vec<Enode>), String> {
    Ok(super::network(&args.network, "demo", args.headers.as_deref())?
        .unwrap_or_else(|| (Network::demo_server(root), Vec::new())))
}

pub(crate) async fn run(args: ServeArgs) -> CliResult {
    let key_path =
        args.nodekey.clone().or_else(|| args.datadir.as_ref().map(|d| d.join("nodekey")));
    let key = match key_path {
        Some(path) => {
            load_or_generate_key(&path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => SecretKey::random(&mut rand_core::OsRng),
    };
    let limits = ServeLimits::default();
    type Served = (Network, Vec<Enode>, Arc<dyn Server>, alloy_primitives::B256);
    let (network, chain_bootnodes, server, root): Served = match (&args.datadir, &args.state) {
        (Some(datadir), _) => {
            let store = Arc::new(super::open_store(datadir)?);
            let root = store
                .state_root()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} holds no state root", datadir.display()))?;
            let (network, bootnodes) = state_network(&args, root)?;
            let chain = network.chain.clone();
            (network, bootnodes, Arc::new(StoreServer { store, chain, limits }), root)
        }
        (None, state) => {
            let state: InMemoryState = match (state, args.generate) {
                (Some(dump), _) => demo_state::from_dump_file(dump)?,
                (None, Some(accounts)) => demo_state::generated(args.seed, accounts, args.slots)?,
                (None, None) => return Err("give --datadir, --state or --generate".into()),
            };
            let root = state.root();
            let (network, bootnodes) = state_network(&args, root)?;
            let chain = network.chain.clone();
            (network, bootnodes, Arc::new(StateServer { state, chain, limits }), root)
        }
    };
    let mut listen = args.listen;
    if let Some(port) = args.port {
        listen.set_port(port);
    }
    let (enode, task) = start(key.clone(), &network, server, listen).await?;
    // Discovery answers on the UDP port of our TCP listener, so our enode serves as a
    // bootnode as it is.
    let _discovery = if args.discovery.no_discovery {
        None
    } else {
        let bootnodes = args.discovery.bootnodes.clone().unwrap_or(chain_bootnodes);
        let required = args.port.is_some();
        super::discovery::start(key, enode.addr, enode.addr.port(), &network, bootnodes, required)
            .await?
            .map(super::discovery::log_candidates)
    };
    tracing::info!(
        "serving state root {root}, head block {} ({})",
        network.info.head_number,
        network.info.head_hash
    );
    println!("{enode}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = task => {}
    }
    Ok(ExitCode::SUCCESS)
}
