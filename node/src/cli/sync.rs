//! `snap sync`: sync from peers into a datadir, then verify.

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Instant};

use alloy_primitives::B256;
use snap_core::sync::SyncConfig;
use snap_node::{
    DriverConfig, SyncOutcome, TargetChoice, metrics::Metrics, network::Network, run_sync,
};
use snap_store::{RedbStore, verify};
use snap_tokio_adapter::{enode::Enode, nodekey::load_or_generate_key};

use super::{CliResult, NetworkArgs, parse_b256, parse_enode, progress::Display};

/// Arguments of `snap sync`.
#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    /// A peer to sync from (repeatable).
    #[arg(long = "peer", value_name = "ENODE", required = true, value_parser = parse_enode)]
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
    /// Blocks below the peers' head to pick the pivot at.
    #[arg(long, default_value_t = 64)]
    pivot_offset: u64,
    /// Snap requests in flight per peer.
    #[arg(long, default_value_t = 16)]
    requests_per_peer: usize,
    /// Seconds between progress reports.
    #[arg(long, default_value_t = 2)]
    progress_secs: u64,
    /// Log lines instead of progress bars.
    #[arg(long)]
    quiet: bool,
}

impl SyncArgs {
    fn target(&self) -> TargetChoice {
        match (self.root, self.block_hash) {
            (Some(root), _) => TargetChoice::Root(root),
            (None, Some(hash)) => TargetChoice::BlockHash(hash),
            (None, None) => TargetChoice::Peers { offset: self.pivot_offset },
        }
    }
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

/// Runs one sync to its end (or Ctrl-C) with progress display, then verifies on success.
/// Exit code: 0 with a verified root equal to the target's, 130 when interrupted, 1 otherwise.
pub(crate) async fn sync_and_verify(
    config: DriverConfig,
    store: RedbStore,
    metrics: Arc<Metrics>,
    quiet: bool,
) -> Result<(ExitCode, Option<(SyncOutcome, f64)>), String> {
    let display = Display::new(quiet);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = run_sync(config, store, shutdown, metrics, |event| display.event(event)).await;
    display.finish();
    let (outcome, store) = result.map_err(|e| e.to_string())?;
    let Some(target) = outcome.target else {
        println!("interrupted before a target was chosen");
        return Ok((ExitCode::from(130), None));
    };
    if !outcome.done {
        println!(
            "interrupted at {} accounts, {} slots; progress is saved, run the same command to resume",
            outcome.counters.accounts, outcome.counters.slots
        );
        return Ok((ExitCode::from(130), Some((outcome, 0.0))));
    }
    let started = Instant::now();
    let report = verify(&store).map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    super::verify::print_report(&report, seconds);
    let ok = super::verify::passed(&report) && report.computed_root == target.root;
    if !ok {
        println!("sync FAILED: the target root is {}", target.root);
        return Ok((ExitCode::FAILURE, Some((outcome, seconds))));
    }
    Ok((ExitCode::SUCCESS, Some((outcome, seconds))))
}

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

pub(crate) async fn run(args: SyncArgs, metrics: Arc<Metrics>) -> CliResult {
    let network = if args.network.genesis.is_some() {
        super::network(&args.network, None).map_err(|e| e.to_string())?
    } else {
        Network::demo_client()
    };
    std::fs::create_dir_all(&args.datadir).map_err(|e| e.to_string())?;
    let key = load_or_generate_key(&args.datadir.join("nodekey")).map_err(|e| e.to_string())?;
    let store = super::open_store(&args.datadir)?;
    let mut config = DriverConfig::new(args.peers.clone(), args.target(), network);
    config.key = key;
    config.sync = sync_config(args.requests_per_peer, args.progress_secs);
    let (code, outcome) = sync_and_verify(config, store, metrics, args.quiet).await?;
    if let (Some((outcome, _)), true) = (&outcome, code == ExitCode::SUCCESS) {
        print_summary(outcome);
    }
    Ok(code)
}
