//! `snap generate`: stream a generated mainnet-like state straight into a store (no in-memory
//! copy), to serve it (`snap serve --datadir`) or measure with it.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::mpsc,
    time::{Duration, Instant},
};

use snap_core::sync::WriteBatch;
use snap_gen::stream::{StreamSpec, Summary, generate};
use snap_store::SyncStore;

use super::shared::CliResult;

/// Arguments of `snap generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Accounts.
    #[arg(long)]
    accounts: u64,
    /// Storage slots, about (a power law of contract sizes decides the exact count).
    #[arg(long)]
    slots: u64,
    /// The generator's seed (the same arguments give the same state and root).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Slots of each of the largest contracts (default: slots/30, at least min(10M, slots/4)).
    #[arg(long)]
    largest: Option<u64>,
    /// Size of each write batch, in MiB of keys and values.
    #[arg(long, default_value_t = 8)]
    batch_mib: usize,
    /// The data directory to write the store into; it must hold no state yet.
    #[arg(long, value_name = "DIR")]
    datadir: PathBuf,
    /// The store's page cache, in MiB (the process's main share of memory).
    #[arg(long, default_value_t = 1024)]
    cache_mib: usize,
    /// Seconds between progress lines (0: none).
    #[arg(long, default_value_t = 5)]
    progress_secs: u64,
}

/// Batches the generator may run ahead of the store by.
const QUEUE: usize = 2;

pub(crate) fn run(args: &GenerateArgs) -> CliResult {
    let options = snap_store::StoreOptions::with_cache_bytes(args.cache_mib << 20);
    let mut store = snap_store::RedbStore::open_with(&args.datadir, &options)
        .map_err(|e| format!("opening the store in {}: {e}", args.datadir.display()))?;
    let held = store.progress().map_err(|e| e.to_string())?.is_some()
        || store.state_root().map_err(|e| e.to_string())?.is_some();
    if held {
        return Err(format!(
            "{} already holds a state; generate into an empty one",
            args.datadir.display()
        ));
    }
    let spec = StreamSpec {
        largest: args.largest,
        batch_bytes: args.batch_mib.max(1) << 20,
        ..StreamSpec::new(args.seed, args.accounts, args.slots)
    };
    let shape = spec.shape();
    println!(
        "generate: {} accounts, about {} slots (giants: {} of {} slots, tail exponent {:.2}), seed {}, into {}",
        args.accounts,
        args.slots,
        shape.giants,
        shape.largest,
        shape.exponent,
        args.seed,
        args.datadir.display()
    );
    let started = Instant::now();
    // The generator (hashing, tries) runs on this thread, the store writes on another.
    let (tx, rx) = mpsc::sync_channel::<WriteBatch>(QUEUE);
    let progress = Duration::from_secs(args.progress_secs);
    let writer = std::thread::spawn(move || -> Result<(WriteStats, _), String> {
        let mut stats = WriteStats::default();
        let mut last = Instant::now();
        for batch in rx {
            let items = batch.accounts.len()
                + batch.storage.len()
                + batch.codes.len()
                + batch.nodes.writes.len();
            let begun = Instant::now();
            store.apply(&batch).map_err(|e| format!("writing batch {}: {e}", batch.id.0))?;
            stats.writing += begun.elapsed();
            stats.items += items as u64;
            stats.batches += 1;
            if !progress.is_zero() && last.elapsed() >= progress {
                last = Instant::now();
                println!(
                    "generate: {} batches, {} items written, {:.0} s",
                    stats.batches,
                    stats.items,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Ok((stats, store))
    });
    let generated = generate(&spec, |batch| tx.send(batch).map_err(|_| "the store writer stopped"));
    drop(tx);
    let written = writer.join().map_err(|_| "the store writer panicked".to_owned())?;
    let (stats, store) = written?;
    let summary: Summary = generated?;
    drop(store);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "generate: {} accounts ({} contracts, {} with storage, {} empty), {} slots (largest storage {}), {} codes ({:.1} MiB), {} trie nodes",
        summary.accounts,
        summary.contracts,
        summary.storage_accounts,
        summary.empty_accounts,
        summary.slots,
        summary.largest_storage,
        summary.codes,
        summary.code_bytes as f64 / (1024.0 * 1024.0),
        summary.nodes
    );
    println!(
        "generate: {} items in {} batches in {seconds:.2} s ({:.0} items/s; store writes {:.2} s)",
        stats.items,
        stats.batches,
        stats.items as f64 / seconds,
        stats.writing.as_secs_f64()
    );
    println!("generated root {}", summary.root);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Default)]
struct WriteStats {
    items: u64,
    batches: u64,
    writing: Duration,
}
