//! `snap serve`: serve a store or a state dump, and headers, to peers.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use k256::SecretKey;
use snap_core::serve::{InMemoryState, ServeLimits};
use snap_node::{demo_state, metrics::Metrics, network::Network, store_server::StoreServer};
use snap_store::SyncStore;
use snap_tokio_adapter::{
    connection::ConnectionConfig,
    discv5,
    enode::Enode,
    nodekey::load_or_generate_key,
    peers::{PeerEvent, PeerSet, PeerSetConfig},
    server::{Server, StateServer, served_snap_versions},
    session::Node,
};
use tokio::net::TcpListener;

use super::shared::{CliResult, DiscoveryArgs, NetworkArgs};

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
    #[command(flatten)]
    limits: PeerLimitArgs,
}

/// How many peers a serving node takes.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct PeerLimitArgs {
    /// Most peers at once; others are refused with TooManyPeers.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Most peers from one IP address.
    #[arg(long, default_value_t = 8)]
    max_peers_per_ip: usize,
}

impl PeerLimitArgs {
    pub(crate) fn config(self) -> PeerSetConfig {
        PeerSetConfig {
            max_peers: self.max_peers.max(1),
            max_peers_per_ip: self.max_peers_per_ip.max(1),
            ..PeerSetConfig::default()
        }
    }
}

impl Default for PeerLimitArgs {
    fn default() -> Self {
        Self { max_peers: 50, max_peers_per_ip: 8 }
    }
}

/// Serves the peers of `set` forever (a serving node asks nothing: it logs what happens and
/// counts it).
pub(crate) fn serve_forever(
    mut set: PeerSet,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match set.next_event().await {
                PeerEvent::Ready { enode, client, .. } => {
                    metrics.peers.increment(1.0);
                    tracing::debug!(peer = %enode.addr, %client, "peer ready");
                }
                PeerEvent::Gone { enode, reason, ready, .. } => {
                    if ready {
                        metrics.peers.decrement(1.0);
                    }
                    let addr = enode.map(|e| e.addr.to_string()).unwrap_or_default();
                    tracing::debug!(peer = %addr, %reason, "peer gone");
                }
                PeerEvent::Refused { addr } => {
                    metrics.error("refused");
                    tracing::debug!(peer = %addr, "refused: too many peers");
                }
                PeerEvent::AcceptError { error, retry_in } => {
                    metrics.error("accept");
                    tracing::warn!(
                        "accepting a peer: {error}; retrying in {} ms",
                        retry_in.as_millis()
                    );
                }
                _ => {}
            }
        }
    })
}

/// Binds `listen`, starts serving with `server` announcing `network` to at most `limits`
/// peers, and returns our enode.
pub(crate) async fn start(
    key: SecretKey,
    network: &Network,
    server: Arc<dyn Server>,
    listen: SocketAddr,
    limits: PeerSetConfig,
    metrics: Arc<Metrics>,
) -> Result<(Enode, tokio::task::JoinHandle<()>), String> {
    let listener =
        TcpListener::bind(listen).await.map_err(|e| format!("listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut config = ConnectionConfig::new(network.info.clone());
    // snap/2 only when there are block access lists to serve: a peer that negotiates it with us
    // can no longer ask for trie nodes.
    config.snap_versions = served_snap_versions(server.as_ref());
    let node = Node::new(key, config, server);
    let enode = Enode { id: node.id(), addr };
    let mut set = PeerSet::new(node, limits);
    set.listen(listener);
    Ok((enode, serve_forever(set, metrics)))
}

/// The network served and its bootnodes: the chain named, or the demo network with one
/// block holding `root`.
fn state_network(
    args: &ServeArgs,
    root: alloy_primitives::B256,
) -> Result<(Network, Vec<Enode>), String> {
    Ok(super::shared::network(&args.network, "demo", args.headers.as_deref())?
        .unwrap_or_else(|| (Network::demo_server(root), Vec::new())))
}

pub(crate) async fn run(args: ServeArgs, metrics: Arc<Metrics>) -> CliResult {
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
            let store = Arc::new(super::shared::open_store(datadir)?);
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
    let (enode, task) =
        start(key.clone(), &network, server, listen, args.limits.config(), metrics).await?;
    // Discovery answers on the UDP port of our TCP listener, so our enode serves as a
    // bootnode as it is.
    // discv5 answers on its own port (`--discovery.v5.port`, default 9200).
    let _discovery = if args.discovery.no_discovery {
        None
    } else {
        let (bootnodes, enr_bootnodes) = args.discovery.bootnodes(chain_bootnodes);
        let required = args.port.is_some();
        let v4 = super::discovery::start(
            key.clone(),
            enode.addr,
            enode.addr.port(),
            &network,
            bootnodes,
            required,
        )
        .await?;
        let v5 = if args.discovery.disable_discv5 {
            None
        } else {
            let port = args.discovery.discv5_port.unwrap_or(discv5::DEFAULT_PORT);
            super::discovery::start_v5(
                key,
                SocketAddr::new(enode.addr.ip(), port),
                enode.addr.port(),
                &network,
                enr_bootnodes,
                args.discovery.discv5_port.is_some(),
            )
            .await?
        };
        (v4.is_some() || v5.is_some()).then(|| super::discovery::log_candidates(v4, v5))
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
