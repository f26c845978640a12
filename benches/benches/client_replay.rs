//! The client's CPU for a whole sync, on one thread: a recorded sync's responses decoded,
//! verified, turned into trie nodes and write batches by a fresh `Syncer` (see
//! `snap_benches::client_replay`), against the keccak floor (one keccak of every node it
//! writes) and decoding alone.
//!
//! `cargo run --release -p snap-benches --example client_replay` prints the same figures as
//! rates and ratios.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use snap_benches::client_replay::record;

fn client_replay(c: &mut Criterion) {
    let recording = record(1, 20_000, 200_000, 8);
    let mut group = c.benchmark_group("client_replay_20k_accounts_200k_slots");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(recording.response_bytes));
    group.bench_function("sync", |b| b.iter(|| black_box(recording.replay())));
    group.bench_function("decode_only", |b| b.iter(|| black_box(recording.decode_all())));
    group.bench_function("keccak_floor", |b| b.iter(|| black_box(recording.keccak_floor())));
    group.finish();
}

criterion_group!(benches, client_replay);
criterion_main!(benches);
