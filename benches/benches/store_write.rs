//! The store under the snap write pattern, per backend (redb, fjall): large sorted batches of
//! flat accounts, slots, codes and path-keyed trie nodes, each committed atomically with its
//! progress record and synced to disk (as crash safety requires).
//!
//! - `store_write/<backend>`: four ~8 MiB batches (20k accounts, 20k slots, their nodes)
//!   applied in sequence to a fresh store; throughput in bytes of keys and values;
//! - `store_prune/<backend>`: one batch pruning a sixteenth of a four-batch store (its
//!   accounts, their storage and storage tries, and the account-trie nodes under it);
//! - `store_reopen/<backend>`: opening a four-batch store and reading its progress record.
//!
//! The on-disk size after the writes is printed once per backend (`store size ...`).

use std::{
    hint::black_box,
    path::Path,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use nybbles::Nibbles;
use snap_core::{
    sync::{BatchId, WriteBatch},
    trie::{NodeChanges, NodeKey, PrunedRange, build_trie},
};
use snap_store::{FjallStore, RedbStore, StoreError, SyncStore};

const BATCHES: u64 = 4;
const ACCOUNTS: u64 = 20_000;
const STORAGE_ACCOUNTS: u64 = 1_000;
const SLOTS_PER_ACCOUNT: u64 = 20;

type Open = fn(&Path) -> Result<Box<dyn SyncStore>, StoreError>;

fn backends() -> [(&'static str, Open); 2] {
    [
        ("redb", |dir| Ok(Box::new(RedbStore::open(dir)?))),
        ("fjall", |dir| Ok(Box::new(FjallStore::open(dir)?))),
    ]
}

/// Batch `i` (from 0): accounts whose hashes start with byte `i * 16` (one sixteenth of the key
/// space each), sorted, a twentieth of them with 20 slots, some codes, every node of the
/// batch's account trie and storage tries, and a 200-byte progress record.
fn snap_batch(i: u64) -> WriteBatch {
    let mut storage = Vec::new();
    let mut writes = Vec::new();
    let mut accounts: Vec<(B256, TrieAccount)> = (0..ACCOUNTS)
        .map(|j| {
            let mut hash = keccak256([i.to_be_bytes(), j.to_be_bytes()].concat());
            hash.0[0] = (i * 16) as u8;
            let account = TrieAccount {
                nonce: j,
                balance: U256::from(j) * U256::from(1_000_000_007u64),
                storage_root: alloy_trie::EMPTY_ROOT_HASH,
                code_hash: KECCAK_EMPTY,
            };
            (hash, account)
        })
        .collect();
    accounts.sort_by_key(|(hash, _)| *hash);
    for (index, (hash, account)) in accounts.iter_mut().enumerate() {
        if !(index as u64).is_multiple_of(ACCOUNTS / STORAGE_ACCOUNTS) {
            continue;
        }
        let mut slots: Vec<(B256, Bytes)> = (0..SLOTS_PER_ACCOUNT)
            .map(|k| {
                let slot = keccak256([hash.as_slice(), &k.to_be_bytes()].concat());
                (slot, Bytes::from(alloy_rlp::encode(U256::from_be_bytes(slot.0) >> 8)))
            })
            .collect();
        slots.sort();
        let trie = build_trie(&slots);
        account.storage_root = trie.root;
        writes.extend(
            trie.nodes.into_iter().map(|(path, node)| (NodeKey { owner: *hash, path }, node)),
        );
        storage.extend(slots.into_iter().map(|(slot, value)| (*hash, slot, value)));
    }
    let codes: Vec<(B256, Bytes)> = (0..20u64)
        .map(|k| {
            let code = Bytes::from(vec![(i + k) as u8; 5_000]);
            (keccak256(&code), code)
        })
        .collect();
    if let Some((_, account)) = accounts.first_mut() {
        account.code_hash = codes[0].0;
    }
    let leaves: Vec<(B256, Vec<u8>)> =
        accounts.iter().map(|(hash, account)| (*hash, alloy_rlp::encode(account))).collect();
    writes.extend(
        build_trie(&leaves)
            .nodes
            .into_iter()
            .map(|(path, node)| (NodeKey { owner: B256::ZERO, path }, node)),
    );
    WriteBatch {
        id: BatchId(i + 1),
        accounts,
        storage,
        codes,
        nodes: NodeChanges { writes, deletes: Vec::new() },
        pruned: Vec::new(),
        clear_tries: false,
        progress: Bytes::from(vec![0x02; 200]),
    }
}

/// The bytes of keys and values a batch writes (as the store lays them out), and its items.
fn batch_size(batch: &WriteBatch) -> (u64, u64) {
    let bytes = batch.accounts.iter().map(|(_, a)| 32 + alloy_rlp::encode(a).len()).sum::<usize>()
        + batch.storage.iter().map(|(_, _, v)| 64 + v.len()).sum::<usize>()
        + batch.codes.iter().map(|(_, c)| 32 + c.len()).sum::<usize>()
        + batch.nodes.writes.iter().map(|(k, n)| 32 + k.path.len() + n.len()).sum::<usize>()
        + batch.progress.len();
    let items =
        batch.accounts.len() + batch.storage.len() + batch.codes.len() + batch.nodes.writes.len();
    (bytes as u64, items as u64)
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn filled(open: Open, batches: &[WriteBatch]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = open(dir.path()).expect("open");
    for batch in batches {
        store.apply(batch).expect("apply");
    }
    dir
}

fn bench(c: &mut Criterion) {
    let batches: Vec<WriteBatch> = (0..BATCHES).map(snap_batch).collect();
    let (bytes, items) =
        batches.iter().map(batch_size).fold((0, 0), |(b, i), (b2, i2)| (b + b2, i + i2));
    eprintln!(
        "store_write: {BATCHES} batches, {:.1} MiB of keys and values, {items} items ({} nodes)",
        bytes as f64 / (1 << 20) as f64,
        batches.iter().map(|b| b.nodes.writes.len()).sum::<usize>()
    );

    let mut group = c.benchmark_group("store_write");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Bytes(bytes));
    for (name, open) in backends() {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let mut store = open(dir.path()).expect("open");
                    let start = Instant::now();
                    for batch in &batches {
                        store.apply(batch).expect("apply");
                    }
                    total += start.elapsed();
                    drop(store);
                }
                total
            });
        });
    }
    group.finish();

    for (name, open) in backends() {
        let dir = filled(open, &batches);
        let size = dir_size(dir.path());
        let reopened = open(dir.path()).expect("reopen");
        drop(reopened);
        eprintln!(
            "store size {name}: {:.1} MiB after {BATCHES} batches ({:.2}x the data), {:.1} MiB after reopening",
            size as f64 / (1 << 20) as f64,
            size as f64 / bytes as f64,
            dir_size(dir.path()) as f64 / (1 << 20) as f64,
        );
    }

    // Prune one batch's sixteenth of the key space, then (untimed) write it back.
    let prune = WriteBatch {
        id: BatchId(100),
        pruned: vec![PrunedRange::subtree(B256::ZERO, Nibbles::from_nibbles([1, 0]))],
        progress: Bytes::from(vec![0x02; 200]),
        ..WriteBatch::default()
    };
    let mut group = c.benchmark_group("store_prune");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(batch_size(&batches[1]).1));
    for (name, open) in backends() {
        let dir = filled(open, &batches);
        let mut store = open(dir.path()).expect("open");
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let start = Instant::now();
                    store.apply(&prune).expect("prune");
                    total += start.elapsed();
                    store.apply(&batches[1]).expect("refill");
                }
                total
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("store_reopen");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for (name, open) in backends() {
        let dir = filled(open, &batches);
        group.bench_function(name, |b| {
            b.iter(|| {
                let store = open(dir.path()).expect("open");
                black_box(store.progress().expect("progress"));
            });
        });
    }
    group.finish();
}

/// Not a criterion bench, run once: a longer write (24 batches, about 270 MiB) that reaches
/// past the LSM's write buffer and the B-tree's first levels, printed per backend with the
/// throughput of the first and last four batches and the size on disk.
fn sustained(_: &mut Criterion) {
    const SUSTAINED: u64 = 24;
    let batches: Vec<WriteBatch> = (0..SUSTAINED).map(snap_batch).collect();
    let sizes: Vec<u64> = batches.iter().map(|batch| batch_size(batch).0).collect();
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    for (name, open) in backends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = open(dir.path()).expect("open");
        let mut times = Vec::new();
        for batch in &batches {
            let start = Instant::now();
            store.apply(batch).expect("apply");
            times.push(start.elapsed());
        }
        drop(store);
        let rate = |range: std::ops::Range<usize>| {
            mib(sizes[range.clone()].iter().sum())
                / times[range].iter().sum::<Duration>().as_secs_f64()
        };
        let last = batches.len();
        let start = Instant::now();
        let store = open(dir.path()).expect("reopen");
        let reopen = start.elapsed();
        drop(store);
        eprintln!(
            "store_sustained {name}: {SUSTAINED} batches ({:.0} MiB) at {:.1} MiB/s overall, first four {:.1} MiB/s, last four {:.1} MiB/s; {:.0} MiB on disk; reopen {:.0} ms",
            mib(sizes.iter().sum()),
            rate(0..last),
            rate(0..4),
            rate(last - 4..last),
            mib(dir_size(dir.path())),
            reopen.as_secs_f64() * 1e3,
        );
    }
}

criterion_group!(benches, bench, sustained);
criterion_main!(benches);
