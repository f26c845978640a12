//! The store's raw write throughput on a synced state: reads everything a datadir holds and
//! writes it again into a fresh store in batches of about 8 MiB, timing only the writes
//! (each batch one durable transaction, as during a sync).
//!
//! `cargo run --release -p snap-node --example store_throughput -- DATADIR`

use std::time::{Duration, Instant};

use alloy_primitives::B256;
use snap_core::{
    sync::{BatchId, WriteBatch},
    trie::NodeKey,
};
use snap_store::{RedbStore, SyncStore};

const BATCH_BYTES: usize = 8 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = std::env::args().nth(1).ok_or("usage: store_throughput DATADIR")?;
    let source = RedbStore::open(std::path::Path::new(&source))?;
    let target_dir = tempfile::tempdir()?;
    let mut target = RedbStore::open(target_dir.path())?;
    let (mut spent, mut bytes, mut items, mut batches) = (Duration::ZERO, 0usize, 0usize, 0u64);
    let mut batch = WriteBatch::default();
    // The batch's size, kept as items are added (`estimated_bytes` walks the whole batch, which
    // made this loop quadratic).
    let mut pending = 0usize;
    let mut flush =
        |batch: &mut WriteBatch, added: usize, force: bool| -> Result<(), snap_store::StoreError> {
            pending += added;
            if !force && pending < BATCH_BYTES {
                return Ok(());
            }
            pending = 0;
            batches += 1;
            batch.id = BatchId(batches);
            bytes += batch.estimated_bytes();
            items += batch.accounts.len()
                + batch.storage.len()
                + batch.codes.len()
                + batch.nodes.writes.len();
            let started = Instant::now();
            target.apply(batch)?;
            spent += started.elapsed();
            *batch = WriteBatch::default();
            Ok(())
        };
    for entry in source.accounts_from(&B256::ZERO)? {
        batch.accounts.push(entry?);
        flush(&mut batch, 120, false)?;
    }
    for entry in source.all_storage()? {
        let entry = entry?;
        let size = 64 + entry.2.len();
        batch.storage.push(entry);
        flush(&mut batch, size, false)?;
    }
    for entry in source.all_codes()? {
        let entry = entry?;
        let size = 32 + entry.1.len();
        batch.codes.push(entry);
        flush(&mut batch, size, false)?;
    }
    for entry in source.all_nodes()? {
        let (owner, path, node) = entry?;
        let size = 40 + node.len();
        batch.nodes.writes.push((NodeKey { owner, path }, node));
        flush(&mut batch, size, false)?;
    }
    flush(&mut batch, 0, true)?;
    let seconds = spent.as_secs_f64();
    println!(
        "raw store writes: {batches} batches, {items} items, {:.1} MiB in {seconds:.2} s: {:.1} MiB/s, {:.0} items/s",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / (1024.0 * 1024.0) / seconds,
        items as f64 / seconds
    );
    Ok(())
}
