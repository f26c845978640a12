//! `snap sync`: sync from peers into a datadir, then verify.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::Instant,
};

use alloy_primitives::B256;
use snap_core::serve::ServeLimits;
use snap_core::sync::SyncConfig;
use snap_node::{
    DriverConfig, SyncOutcome, TargetChoice,
    engine::{self, AnchorReceiver, EngineConfig, EngineServer},
    identity::{AskedTarget, IDENTITY_FILE, SyncIdentity, read_identity, write_identity},
    metrics::Metrics,
    network::Network,
};
use snap_node::{
    run_sync_serving,
    serving::{HELD_HEADERS, HeldHeaders, LiveServer},
    store_server::StoreServer,
};
use snap_store::{RedbStore, verify};
use snap_tokio_adapter::{
    discv5, enode::Enode, nodekey::load_or_generate_key, p2p::DisconnectReason, peers::PeerSet,
};
use tokio::net::TcpListener;

use super::{
    progress::Display,
    shared::{CliResult, DiscoveryArgs, NetworkArgs, parse_b256, parse_enode},
};

/// Arguments of `snap sync`.
#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    /// A peer to sync from (repeatable; kept and redialled). Others come from discovery.
    #[arg(long = "peer", value_name = "ENODE", value_parser = parse_enode)]
    peers: Vec<Enode>,
    /// Sync exactly this state root (no headers needed).
    #[arg(long, value_parser = parse_b256, conflicts_with = "block_hash")]
    root: Option<B256>,
    /// Sync the state of the block with this hash.
    #[arg(long, value_parser = parse_b256)]
    block_hash: Option<B256>,
    /// The data directory (store and node key); a sync in it resumes.
    #[arg(long, value_name = "DIR")]
    datadir: PathBuf,
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    discovery: DiscoveryArgs,
    /// The address peers connect to us on (TCP) and discovery answers on (UDP).
    #[arg(long, default_value = "0.0.0.0")]
    addr: IpAddr,
    /// The TCP and UDP port (default 30303, or any free port when that one is taken).
    #[arg(long)]
    port: Option<u16>,
    #[command(flatten)]
    limits: super::serve::PeerLimitArgs,
    /// Once the state is synced and verified, go on serving it (and the headers held) to
    /// peers until interrupted, without dropping the peers connected.
    #[arg(long)]
    serve: bool,
    /// Where the target comes from without --root or --block-hash: `consensus` (the
    /// consensus client's fork choice through the Engine API; the default on built-in public
    /// chains) or `peers` (headers --pivot-quorum peers agree on; the default elsewhere).
    #[arg(long, value_name = "SOURCE", value_parser = ["consensus", "peers"])]
    pivot: Option<String>,
    /// Distinct peers that must send the same header before it is trusted as the pivot
    /// (`--pivot peers`) [default: 2 on built-in public chains, 1 on test networks].
    #[arg(long, value_name = "N")]
    pivot_quorum: Option<usize>,
    /// Blocks below the trusted head to pick the pivot at.
    #[arg(long, default_value_t = 64)]
    pivot_offset: u64,
    /// Start over: delete the sync this datadir holds (its store), whatever it was.
    #[arg(long)]
    restart: bool,
    /// Snap requests in flight per peer.
    #[arg(long, default_value_t = 16)]
    requests_per_peer: usize,
    /// Seconds between progress reports.
    #[arg(long, default_value_t = 2)]
    progress_secs: u64,
    /// Log lines instead of progress bars.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    authrpc: AuthRpcArgs,
}

/// The Engine API a consensus client drives. It runs when the pivot comes from the network of a
/// genesis file, or when any of these flags is given.
#[derive(Debug, clap::Args)]
pub(crate) struct AuthRpcArgs {
    /// Engine API listen address [default: 127.0.0.1].
    #[arg(id = "authrpc.addr", long = "authrpc.addr", value_name = "IP")]
    addr: Option<IpAddr>,
    /// Engine API port (0: any free port) [default: 8551].
    #[arg(id = "authrpc.port", long = "authrpc.port", value_name = "PORT")]
    port: Option<u16>,
    /// The JWT secret shared with the consensus client, created when absent
    /// [default: DIR/jwt.hex].
    #[arg(id = "authrpc.jwtsecret", long = "authrpc.jwtsecret", value_name = "FILE")]
    jwtsecret: Option<PathBuf>,
}

impl AuthRpcArgs {
    fn given(&self) -> bool {
        self.addr.is_some() || self.port.is_some() || self.jwtsecret.is_some()
    }
}

/// How the target is chosen, before a consensus client is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetSpec {
    /// `--root`.
    Root(B256),
    /// `--block-hash`.
    BlockHash(B256),
    /// Headers this many peers agree on.
    Peers(usize),
    /// The consensus client's fork choice.
    Consensus,
}

impl SyncArgs {
    /// The target the flags ask for on a built-in public chain (`public`) or another network.
    pub(crate) fn target_spec(&self, public: bool) -> TargetSpec {
        match (self.root, self.block_hash) {
            (Some(root), _) => TargetSpec::Root(root),
            (None, Some(hash)) => TargetSpec::BlockHash(hash),
            (None, None) => {
                let consensus = match self.pivot.as_deref() {
                    Some(source) => source == "consensus",
                    None => public,
                };
                if consensus {
                    TargetSpec::Consensus
                } else {
                    TargetSpec::Peers(self.pivot_quorum.unwrap_or(if public { 2 } else { 1 }))
                }
            }
        }
    }
}

/// Starts the Engine API when the sync wants a consensus client's head (a pivot from the peers
/// of a real network) or the `--authrpc.*` flags ask for it.
pub(crate) async fn start_engine(
    args: &SyncArgs,
    chain_id: u64,
    spec: TargetSpec,
) -> Result<Option<(EngineServer, AnchorReceiver)>, String> {
    if !(args.authrpc.given() || spec == TargetSpec::Consensus) {
        return Ok(None);
    }
    let secret_path =
        args.authrpc.jwtsecret.clone().unwrap_or_else(|| args.datadir.join("jwt.hex"));
    let (secret, created) =
        engine::load_or_create_secret(&secret_path).map_err(|e| e.to_string())?;
    if created {
        tracing::info!("created the JWT secret {} for the consensus client", secret_path.display());
    }
    let addr = SocketAddr::new(
        args.authrpc.addr.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        args.authrpc.port.unwrap_or(engine::DEFAULT_PORT),
    );
    let (server, anchors) = engine::start(EngineConfig::new(addr, secret, chain_id))
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        "engine API at http://{} (JWT secret {})",
        server.local_addr(),
        secret_path.display()
    );
    Ok(Some((server, anchors)))
}

/// The core's configuration for a node: more requests per peer than the library default
/// (loopback and LAN peers answer fast), progress every `progress_secs`.
pub(crate) fn sync_config(requests_per_peer: usize, progress_secs: u64) -> SyncConfig {
    SyncConfig {
        max_requests_per_peer: requests_per_peer.max(1),
        progress_interval: std::time::Duration::from_secs(progress_secs.max(1)),
        max_unacknowledged_batches: 8,
        ..SyncConfig::default()
    }
}

/// How a sync run ended: the exit code, the outcome with the verification's seconds (when a
/// target was chosen), the store, and the peers still connected.
pub(crate) struct Synced {
    pub(crate) code: ExitCode,
    pub(crate) outcome: Option<(SyncOutcome, f64)>,
    pub(crate) store: RedbStore,
    pub(crate) peers: PeerSet,
}

/// Runs one sync to its end (or Ctrl-C) with progress display, then verifies on success.
/// Exit code: 0 with a verified root equal to the target's, 130 when interrupted, 1 otherwise.
/// The peers stay connected (the caller serves or drops them).
pub(crate) async fn sync_and_verify(
    config: DriverConfig,
    store: RedbStore,
    metrics: Arc<Metrics>,
    quiet: bool,
) -> Result<Synced, String> {
    let display = Display::new(quiet);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result =
        run_sync_serving(config, store, shutdown, metrics, |event| display.event(event)).await;
    display.finish();
    let (outcome, store, peers) = result.map_err(|(error, mut peers)| {
        peers.disconnect_all(DisconnectReason::ClientQuitting);
        error.to_string()
    })?;
    let (code, outcome) = check_outcome(outcome, &store)?;
    Ok(Synced { code: ExitCode::from(code), outcome, store, peers })
}

/// Verifies a finished sync's store against its target: the exit code (0 verified, 130
/// interrupted, 1 failed) and the outcome with the verification's seconds.
fn check_outcome(
    outcome: SyncOutcome,
    store: &RedbStore,
) -> Result<(u8, Option<(SyncOutcome, f64)>), String> {
    let Some(target) = outcome.target else {
        println!("interrupted before a target was chosen");
        return Ok((130, None));
    };
    if !outcome.done {
        println!(
            "interrupted at {} accounts, {} slots; progress is saved, run the same command to resume",
            outcome.counters.accounts, outcome.counters.slots
        );
        return Ok((130, Some((outcome, 0.0))));
    }
    let started = Instant::now();
    let report = verify(store).map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    super::verify::print_report(&report, seconds);
    let ok = super::verify::passed(&report) && report.computed_root == target.root;
    if !ok {
        println!("sync FAILED: the target root is {}", target.root);
        return Ok((1, Some((outcome, seconds))));
    }
    Ok((0, Some((outcome, seconds))))
}

/// Binds the TCP listener peers connect to us on: `addr:port`, or any free port when no port
/// was asked for and 30303 is taken (another node on this machine).
async fn bind_listener(addr: IpAddr, port: Option<u16>) -> Result<TcpListener, String> {
    let wanted = SocketAddr::new(addr, port.unwrap_or(DEFAULT_PORT));
    match TcpListener::bind(wanted).await {
        Ok(listener) => Ok(listener),
        Err(error) if port.is_some() => Err(format!("listen on {wanted}: {error}")),
        Err(error) => {
            tracing::warn!("listen on {wanted}: {error}; taking any free port");
            TcpListener::bind(SocketAddr::new(addr, 0))
                .await
                .map_err(|error| format!("listen on {addr}: {error}"))
        }
    }
}

/// The devp2p port when none is given.
const DEFAULT_PORT: u16 = 30303;

/// The summary line of a finished sync.
pub(crate) fn print_summary(outcome: &SyncOutcome) {
    let c = &outcome.counters;
    let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
    let bytes = (c.account_bytes + c.slot_bytes + c.code_bytes + c.node_bytes) as f64;
    let target = outcome.target.map(|t| t.root).unwrap_or_default();
    println!(
        "synced root {target}: {} accounts, {} slots, {} codes, {} healed nodes, {:.1} MiB in {seconds:.2} s ({:.2} MiB/s, {:.0} accounts/s, {:.0} slots/s)",
        c.accounts,
        c.slots,
        c.codes,
        c.nodes,
        bytes / (1024.0 * 1024.0),
        bytes / (1024.0 * 1024.0) / seconds,
        c.accounts as f64 / seconds,
        c.slots as f64 / seconds,
    );
}

/// Opens the datadir's store (emptied first with `--restart`) and checks that the sync it holds,
/// if any, is the one asked for: the same network, and the same `--root` or `--block-hash` (or
/// neither). Records what this run asks for.
fn open_checked_store(
    args: &SyncArgs,
    network: &Network,
    spec: TargetSpec,
) -> Result<RedbStore, String> {
    let datadir = &args.datadir;
    if args.restart {
        for file in [snap_store::REDB_FILE, IDENTITY_FILE] {
            match std::fs::remove_file(datadir.join(file)) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(format!("--restart: removing {file}: {error}")),
            }
        }
    }
    let wanted = SyncIdentity {
        network_id: network.info.network_id,
        genesis: network.info.forks.genesis(),
        target: match spec {
            TargetSpec::Root(root) => AskedTarget::Root(root),
            TargetSpec::BlockHash(hash) => AskedTarget::BlockHash(hash),
            TargetSpec::Peers(_) | TargetSpec::Consensus => AskedTarget::Following,
        },
    };
    let recorded = read_identity(datadir).map_err(|e| format!("{}: {e}", datadir.display()))?;
    let store = super::shared::open_store(datadir)?;
    let holds_sync = snap_store::SyncStore::progress(&store).map_err(|e| e.to_string())?.is_some();
    if holds_sync && let Some(why) = recorded.and_then(|recorded| recorded.contradiction(&wanted)) {
        return Err(format!(
            "{} cannot continue this sync: {why}; pass --restart to start over, or use another \
             --datadir",
            datadir.display()
        ));
    }
    if !holds_sync || recorded.is_none() {
        write_identity(datadir, &wanted).map_err(|e| format!("{}: {e}", datadir.display()))?;
    }
    Ok(store)
}

pub(crate) async fn run(args: SyncArgs, metrics: Arc<Metrics>) -> CliResult {
    let chain = super::shared::network(&args.network, "mainnet", None)?;
    let public = matches!(
        args.network.choice("mainnet")?,
        super::shared::ChainArg::Chain(snap_tokio_adapter::chains::ChainChoice::Named(_))
    );
    let (network, chain_bootnodes) = chain.unwrap_or((Network::demo_client(), Vec::new()));
    std::fs::create_dir_all(&args.datadir).map_err(|e| e.to_string())?;
    let key = load_or_generate_key(&args.datadir.join("nodekey")).map_err(|e| e.to_string())?;
    let spec = args.target_spec(public);
    // The store first: a datadir that cannot be used fails before anything starts.
    let store = open_checked_store(&args, &network, spec)?;
    let (bootnodes, enr_bootnodes) = args.discovery.bootnodes(chain_bootnodes);
    // Peers may connect to us: they are answered from what we hold (nothing of the state
    // until it is complete) and may serve us too.
    let listener = bind_listener(args.addr, args.port).await?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let tcp_port = local.port();
    // Listening on every interface: name the loopback one (as geth does without NAT).
    let shown = if local.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), tcp_port)
    } else {
        local
    };
    let enode = Enode { id: snap_tokio_adapter::rlpx::node_id(&key.public_key()), addr: shown };
    tracing::info!("peers may connect to {enode}");
    // Discovery runs beside the sync when there is somewhere to start from.
    let v4 = if args.discovery.no_discovery || bootnodes.is_empty() {
        None
    } else {
        let udp = SocketAddr::new(args.addr, tcp_port);
        match super::discovery::start(
            key.clone(),
            udp,
            tcp_port,
            &network,
            bootnodes.clone(),
            args.port.is_some(),
        )
        .await?
        {
            Some(found) => Some(found),
            // The default port is taken (another node here): any free one will do.
            None => {
                let any = SocketAddr::new(args.addr, 0);
                super::discovery::start(key.clone(), any, tcp_port, &network, bootnodes, false)
                    .await?
            }
        }
    };
    // discv5 on its own port, from the ENRs given (the built-in chains have none).
    let v5 =
        if args.discovery.no_discovery || args.discovery.disable_discv5 || enr_bootnodes.is_empty()
        {
            None
        } else {
            let port = args.discovery.discv5_port.unwrap_or(discv5::DEFAULT_PORT);
            super::discovery::start_v5(
                key.clone(),
                SocketAddr::new(args.addr, port),
                tcp_port,
                &network,
                enr_bootnodes,
                args.discovery.discv5_port.is_some(),
            )
            .await?
        };
    let discovery =
        (v4.is_some() || v5.is_some()).then(|| super::discovery::forward_candidates(v4, v5));
    let (_discovery, candidates) = match discovery {
        Some((task, candidates)) => (Some(task), Some(candidates)),
        None => (None, None),
    };
    let engine = start_engine(&args, network.info.network_id, spec).await?;
    let offset = args.pivot_offset;
    let (target, _engine_server) = match (spec, engine) {
        (TargetSpec::Root(root), engine) => (TargetChoice::Root(root), engine.map(|e| e.0)),
        (TargetSpec::BlockHash(hash), engine) => {
            (TargetChoice::BlockHash(hash), engine.map(|e| e.0))
        }
        (TargetSpec::Peers(quorum), engine) => {
            (TargetChoice::Peers { offset, quorum }, engine.map(|e| e.0))
        }
        (TargetSpec::Consensus, Some((server, anchors))) => {
            (TargetChoice::Consensus { offset, anchors }, Some(server))
        }
        (TargetSpec::Consensus, None) => return Err("the Engine API did not start".into()),
    };
    let held = Arc::new(HeldHeaders::new(HELD_HEADERS));
    let server = Arc::new(LiveServer::new(held.clone()));
    let mut config = DriverConfig::new(args.peers.clone(), target, network);
    config.candidates = candidates;
    config.key = key;
    config.sync = sync_config(args.requests_per_peer, args.progress_secs);
    config.peer_set = args.limits.config();
    config.listener = Some(listener);
    config.held_headers = Some(held);
    config.server = server.clone();
    let Synced { code, outcome, store, mut peers } =
        sync_and_verify(config, store, metrics.clone(), args.quiet).await?;
    if let (Some((outcome, _)), true) = (&outcome, code == ExitCode::SUCCESS) {
        print_summary(outcome);
    }
    if code != ExitCode::SUCCESS || !args.serve {
        peers.disconnect_all(DisconnectReason::ClientQuitting);
        return Ok(code);
    }
    // The same sessions are served the verified state from now on.
    server.serve_state(Arc::new(StoreServer {
        store: Arc::new(store),
        chain: None,
        limits: ServeLimits::default(),
    }));
    tracing::info!("serving the synced state to peers at {enode}");
    println!("serving {enode}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let task = super::serve::serve_forever(peers, metrics);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = task => {}
    }
    Ok(ExitCode::SUCCESS)
}
