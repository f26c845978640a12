//! The store's write path, backend against backend, on the same batches: a generated
//! mainnet-like state (`snap-gen`'s streaming generator, the batches `snap generate` writes) or
//! the contents of a synced datadir, held in memory and replayed into a fresh store of each
//! backend named, each batch one atomic, synced commit. Only the commits are timed.
//!
//! ```sh
//! cargo run --release -p snap-store --features fjall,mdbx --example store_bench -- \
//!     --accounts 100000 --slots 1000000 redb fjall mdbx
//! # bytes on disk per item of each kind (each kind replayed alone into a fresh store)
//! cargo run --release -p snap-store --example store_bench -- --kinds redb
//! # the items of a synced store instead of a generated state
//! cargo run --release -p snap-store --example store_bench -- --from DATADIR redb
//! ```
//!
//! Prints, per backend: wall time, items/s, MiB/s of keys and values, the process's CPU time
//! over the commits (the machine may be shared: CPU seconds are the steadier number), and the
//! bytes the store takes on disk (allocated blocks) per item.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy_primitives::B256;
use nybbles::Nibbles;
use snap_core::{
    sync::{BatchId, WriteBatch},
    trie::{NodeKey, PrunedRange},
};
use snap_gen::stream::{StreamSpec, generate};
use snap_store::{StoreError, SyncStore};

struct Args {
    accounts: u64,
    slots: u64,
    seed: u64,
    batch_mib: usize,
    from: Option<PathBuf>,
    dir: PathBuf,
    kinds: bool,
    cache_mib: Option<usize>,
    backends: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        accounts: 100_000,
        slots: 1_000_000,
        seed: 1,
        batch_mib: 8,
        from: None,
        dir: std::env::temp_dir(),
        kinds: false,
        cache_mib: None,
        backends: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let number = |text: String| text.parse::<u64>().map_err(|e| format!("{text}: {e}"));
        match arg.as_str() {
            "--accounts" => args.accounts = number(value()?)?,
            "--slots" => args.slots = number(value()?)?,
            "--seed" => args.seed = number(value()?)?,
            "--batch-mib" => args.batch_mib = number(value()?)? as usize,
            "--cache-mib" => args.cache_mib = Some(number(value()?)? as usize),
            "--from" => args.from = Some(PathBuf::from(value()?)),
            "--dir" => args.dir = PathBuf::from(value()?),
            "--kinds" => args.kinds = true,
            backend if !backend.starts_with("--") => args.backends.push(backend.to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.backends.is_empty() {
        args.backends.push("redb".into());
    }
    Ok(args)
}

fn open(
    backend: &str,
    dir: &Path,
    cache_mib: Option<usize>,
) -> Result<Box<dyn SyncStore>, StoreError> {
    let mut options = snap_store::StoreOptions::default();
    if let Some(mib) = cache_mib {
        options.cache_bytes = mib << 20;
    }
    match backend {
        #[cfg(feature = "redb")]
        "redb" => Ok(Box::new(snap_store::RedbStore::open_with(dir, &options)?)),
        #[cfg(feature = "fjall")]
        "fjall" => Ok(Box::new(snap_store::FjallStore::open_with(dir, &options)?)),
        #[cfg(feature = "mdbx")]
        "mdbx" => Ok(Box::new(snap_store::MdbxStore::open_with(dir, &options)?)),
        other => Err(StoreError::Io(std::io::Error::other(format!(
            "backend {other} is not built in (features: redb, fjall, mdbx)"
        )))),
    }
}

/// The process's CPU time (user and system, all threads) so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: state is field 3, utime 14 and stime 15 (in clock ticks).
    let ticks =
        |index: usize| fields.get(index - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// Bytes allocated on disk under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => total += meta.blocks() * 512,
                Err(_) => {}
            }
        }
    }
    total
}

#[derive(Clone, Copy, Default)]
struct Counts {
    accounts: u64,
    slots: u64,
    codes: u64,
    nodes: u64,
    /// Bytes of keys and values as the store lays them out.
    key_bytes: u64,
    value_bytes: u64,
}

impl Counts {
    fn items(&self) -> u64 {
        self.accounts + self.slots + self.codes + self.nodes
    }

    fn add(&mut self, batch: &WriteBatch) {
        self.accounts += batch.accounts.len() as u64;
        self.slots += batch.storage.len() as u64;
        self.codes += batch.codes.len() as u64;
        self.nodes += batch.nodes.writes.len() as u64;
        for (_, account) in &batch.accounts {
            self.key_bytes += 32;
            self.value_bytes += alloy_rlp::Encodable::length(account) as u64;
        }
        for (_, _, value) in &batch.storage {
            self.key_bytes += 64;
            self.value_bytes += value.len() as u64;
        }
        for (_, code) in &batch.codes {
            self.key_bytes += 32;
            self.value_bytes += code.len() as u64;
        }
        for (key, node) in &batch.nodes.writes {
            self.key_bytes += snap_store::keys::node_key(&key.owner, &key.path).len() as u64;
            self.value_bytes += node.len() as u64;
        }
    }
}

fn load_batches(args: &Args) -> Result<Vec<WriteBatch>, Box<dyn std::error::Error>> {
    let mut batches = Vec::new();
    match &args.from {
        None => {
            let spec = StreamSpec {
                batch_bytes: args.batch_mib << 20,
                ..StreamSpec::new(args.seed, args.accounts, args.slots)
            };
            let summary = generate(&spec, |batch| -> Result<(), std::convert::Infallible> {
                batches.push(batch);
                Ok(())
            })
            .unwrap_or_else(|never| match never {});
            println!("generated root {} ({} batches)", summary.root, summary.batches);
        }
        #[cfg(feature = "redb")]
        Some(dir) => {
            let source = snap_store::RedbStore::open(dir)?;
            let limit = args.batch_mib << 20;
            let mut batch = WriteBatch::default();
            let mut bytes = 0;
            let mut push = |batch: &mut WriteBatch, bytes: &mut usize, size: usize, force: bool| {
                *bytes += size;
                if force || *bytes >= limit {
                    let id = batches.len() as u64 + 1;
                    let mut full = std::mem::take(batch);
                    full.id = BatchId(id);
                    batches.push(full);
                    *bytes = 0;
                }
            };
            for entry in source.accounts_from(&B256::ZERO)? {
                batch.accounts.push(entry?);
                push(&mut batch, &mut bytes, 120, false);
            }
            for entry in source.all_storage()? {
                let entry = entry?;
                let size = 64 + entry.2.len();
                batch.storage.push(entry);
                push(&mut batch, &mut bytes, size, false);
            }
            for entry in source.all_codes()? {
                let entry = entry?;
                let size = 32 + entry.1.len();
                batch.codes.push(entry);
                push(&mut batch, &mut bytes, size, false);
            }
            for entry in source.all_nodes()? {
                let (owner, path, node) = entry?;
                let size = 40 + node.len();
                batch.nodes.writes.push((NodeKey { owner, path }, node));
                push(&mut batch, &mut bytes, size, false);
            }
            push(&mut batch, &mut bytes, 0, true);
        }
        #[cfg(not(feature = "redb"))]
        Some(_) => return Err("--from reads a redb datadir: build with the redb feature".into()),
    }
    Ok(batches)
}

/// What one replay measured.
struct Replay {
    wall: Duration,
    cpu: Duration,
    disk: u64,
    /// Opening the written store again.
    reopen: Duration,
    /// One batch pruning a sixteenth of the account trie (its accounts, their storage and
    /// storage tries, the account-trie nodes under the first nibble 0).
    prune: Duration,
}

/// Replays `batches` into a fresh store of `backend`, then reopens it and prunes a sixteenth.
fn replay(
    backend: &str,
    batches: &[WriteBatch],
    args: &Args,
) -> Result<Replay, Box<dyn std::error::Error>> {
    let dir = args.dir.join(format!("store-bench-{backend}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = (|| -> Result<_, Box<dyn std::error::Error>> {
        let mut store = open(backend, &dir, args.cache_mib)?;
        let (mut wall, cpu_before) = (Duration::ZERO, cpu_time());
        for batch in batches {
            let started = Instant::now();
            store.apply(batch)?;
            wall += started.elapsed();
        }
        let cpu = cpu_time().saturating_sub(cpu_before);
        drop(store);
        let disk = disk_bytes(&dir);
        let started = Instant::now();
        let mut store = open(backend, &dir, args.cache_mib)?;
        store.progress()?;
        let reopen = started.elapsed();
        let prune = WriteBatch {
            id: BatchId(batches.len() as u64 + 1),
            pruned: vec![PrunedRange::subtree(B256::ZERO, Nibbles::from_nibbles([0]))],
            ..WriteBatch::default()
        };
        let started = Instant::now();
        store.apply(&prune)?;
        Ok(Replay { wall, cpu, disk, reopen, prune: started.elapsed() })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The batches with only one kind of item kept.
fn only(batches: &[WriteBatch], kind: &str) -> Vec<WriteBatch> {
    batches
        .iter()
        .map(|batch| WriteBatch {
            id: batch.id,
            accounts: if kind == "accounts" { batch.accounts.clone() } else { Vec::new() },
            storage: if kind == "slots" { batch.storage.clone() } else { Vec::new() },
            codes: if kind == "codes" { batch.codes.clone() } else { Vec::new() },
            nodes: snap_core::trie::NodeChanges {
                writes: if kind == "nodes" { batch.nodes.writes.clone() } else { Vec::new() },
                deletes: Vec::new(),
            },
            progress: batch.progress.clone(),
            ..WriteBatch::default()
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let batches = load_batches(&args)?;
    let mut counts = Counts::default();
    batches.iter().for_each(|batch| counts.add(batch));
    let mib = (counts.key_bytes + counts.value_bytes) as f64 / (1024.0 * 1024.0);
    println!(
        "{} batches: {} items ({} accounts, {} slots, {} codes, {} nodes), {mib:.1} MiB of keys and values",
        batches.len(),
        counts.items(),
        counts.accounts,
        counts.slots,
        counts.codes,
        counts.nodes
    );
    for backend in &args.backends {
        let Replay { wall, cpu, disk, reopen, prune } = replay(backend, &batches, &args)?;
        let seconds = wall.as_secs_f64();
        println!(
            "{backend}: {seconds:.2} s, {:.0} items/s, {:.1} MiB/s; cpu {:.2} s ({:.0} items per cpu-s); {:.1} MiB on disk, {:.0} B/item",
            counts.items() as f64 / seconds,
            mib / seconds,
            cpu.as_secs_f64(),
            counts.items() as f64 / cpu.as_secs_f64().max(1e-3),
            disk as f64 / (1024.0 * 1024.0),
            disk as f64 / counts.items() as f64
        );
        println!(
            "{backend}: reopen {:.1} ms, prune a sixteenth {:.1} ms",
            reopen.as_secs_f64() * 1e3,
            prune.as_secs_f64() * 1e3
        );
        if args.kinds {
            for kind in ["accounts", "slots", "codes", "nodes"] {
                let part = only(&batches, kind);
                let mut kind_counts = Counts::default();
                part.iter().for_each(|batch| kind_counts.add(batch));
                let Replay { wall, disk, .. } = replay(backend, &part, &args)?;
                let items = kind_counts.items().max(1) as f64;
                println!(
                    "  {kind}: {} items, {:.1} B key + {:.1} B value per item; alone {:.0} B/item on disk, {:.0} items/s",
                    kind_counts.items(),
                    kind_counts.key_bytes as f64 / items,
                    kind_counts.value_bytes as f64 / items,
                    disk as f64 / items,
                    items / wall.as_secs_f64()
                );
            }
        }
    }
    Ok(())
}
