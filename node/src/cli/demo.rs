//! `snap demo`: a serving node and a syncing node in one process, over real loopback sockets.

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Instant};

use k256::SecretKey;
use snap_core::serve::{InMemoryState, ServeLimits};
use snap_node::{DriverConfig, TargetChoice, demo_state, metrics::Metrics, network::Network};
use snap_tokio_adapter::{p2p::DisconnectReason, server::StateServer};

use super::{
    shared::CliResult,
    sync::{print_summary, sync_and_verify, sync_config},
};

/// Arguments of `snap demo` (all optional).
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Accounts in the generated state.
    #[arg(long, default_value_t = 40_000)]
    accounts: usize,
    /// Storage slots in the generated state (about; a few large contracts hold half).
    #[arg(long, default_value_t = 400_000)]
    slots: usize,
    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve this state dump instead of a generated state (e.g. hivechain's headstate.json).
    #[arg(long, value_name = "DUMP.json")]
    state: Option<PathBuf>,
    /// Sync into this directory (kept); default: a fresh temporary one, removed at the end.
    #[arg(long, value_name = "DIR")]
    datadir: Option<PathBuf>,
    /// Log lines instead of progress bars.
    #[arg(long)]
    quiet: bool,
}

pub(crate) async fn run(args: DemoArgs, metrics: Arc<Metrics>) -> CliResult {
    let started = Instant::now();
    let state: InMemoryState = match &args.state {
        Some(path) => demo_state::from_dump_file(path)?,
        None => demo_state::generated(args.seed, args.accounts, args.slots)?,
    };
    let root = state.root();
    println!(
        "demo: serving {} accounts, {} slots (root {root}), built in {:.2} s",
        state.account_list().len(),
        state.slot_count(),
        started.elapsed().as_secs_f64()
    );
    let network = Network::demo_server(root);
    let server = Arc::new(StateServer {
        state,
        chain: network.chain.clone(),
        limits: ServeLimits::default(),
    });
    let listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let (enode, serving) = super::serve::start(
        SecretKey::random(&mut rand_core::OsRng),
        &network,
        server,
        listen,
        super::serve::PeerLimitArgs::default().config(),
        metrics.clone(),
    )
    .await?;
    println!("demo: serving node {enode}");
    let (datadir, temporary) = match &args.datadir {
        Some(dir) => (dir.clone(), false),
        None => {
            let dir = std::env::temp_dir().join(format!("snap-demo-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            (dir, true)
        }
    };
    std::fs::create_dir_all(&datadir).map_err(|e| e.to_string())?;
    let store = super::shared::open_store(&datadir)?;
    // One peer: the demo network is a test network, where one peer's headers are trusted.
    let target = TargetChoice::Peers { offset: 64, quorum: 1 };
    let mut config = DriverConfig::new(vec![enode], target, Network::demo_client());
    config.sync = sync_config(16, 1);
    println!("demo: syncing into {}", datadir.display());
    let result = sync_and_verify(config, store, metrics, args.quiet).await.map(|mut synced| {
        synced.peers.disconnect_all(DisconnectReason::ClientQuitting);
        (synced.code, synced.outcome)
    });
    serving.abort();
    if temporary {
        let _ = std::fs::remove_dir_all(&datadir);
    }
    let (code, outcome) = result?;
    if let (Some((outcome, verify_seconds)), true) = (&outcome, code == ExitCode::SUCCESS) {
        print_summary(outcome);
        // What was synced and verified: a datadir holding another state's sync resumes that
        // one, whatever this run serves.
        let synced = outcome.target.map(|t| t.root).unwrap_or_default();
        if synced != root {
            println!(
                "demo: {} holds the sync of another state (root {synced}), not of the served \
                 root {root}; pass a fresh --datadir",
                datadir.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        println!(
            "demo: verified root {synced} in {:.2} s total (sync {:.2} s, verify {verify_seconds:.2} s)",
            started.elapsed().as_secs_f64(),
            outcome.elapsed.as_secs_f64()
        );
    }
    Ok(code)
}
