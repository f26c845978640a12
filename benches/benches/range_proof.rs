//! Range-proof verification in the shape of go-ethereum's `BenchmarkVerifyRangeProof*` and
//! `BenchmarkVerifyRangeNoProof*`, next to the floor: alloy-trie's `HashBuilder` computing the
//! root of exactly the same leaves. `verify_nodes` also keeps the nodes it computed, as the sync
//! does for the trie generator.

use alloy_primitives::{B256, Bytes};
use alloy_trie::HashBuilder;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nybbles::Nibbles;
use snap_benches::geth_range_trie;
use snap_core::trie::{build_trie, verify_range, verify_range_nodes};

fn floor(keys: &[B256], values: &[Vec<u8>]) -> B256 {
    let mut builder = HashBuilder::default();
    for (key, value) in keys.iter().zip(values) {
        builder.add_leaf(Nibbles::unpack(key), value);
    }
    builder.root()
}

fn with_proof(c: &mut Criterion) {
    let leaves = geth_range_trie(8192, 1);
    let trie = build_trie(&leaves);
    let (keys, values): (Vec<B256>, Vec<Vec<u8>>) = leaves.into_iter().unzip();
    let mut group = c.benchmark_group("range_proof");
    for n in [10usize, 100, 1000, 5000] {
        let range = 2..2 + n;
        let (keys, values) = (&keys[range.clone()], &values[range]);
        let mut proof: Vec<Bytes> = trie.prove(&keys[0]);
        proof.extend(trie.prove(&keys[n - 1]));
        proof.sort();
        proof.dedup();
        assert_eq!(verify_range(trie.root, keys[0], keys, values, &proof), Ok(true));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("verify", n), &n, |b, _| {
            b.iter(|| verify_range(trie.root, keys[0], keys, values, &proof))
        });
        // Keeping the nodes for the trie generator.
        group.bench_with_input(BenchmarkId::new("verify_nodes", n), &n, |b, _| {
            b.iter(|| verify_range_nodes(trie.root, keys[0], keys, values, &proof))
        });
        group.bench_with_input(BenchmarkId::new("floor", n), &n, |b, _| {
            b.iter(|| floor(keys, values))
        });
    }
    group.finish();
}

fn without_proof(c: &mut Criterion) {
    let mut group = c.benchmark_group("range_no_proof");
    for size in [100usize, 500, 1000] {
        let leaves = geth_range_trie(size, 2);
        let root = build_trie(&leaves).root;
        let (keys, values): (Vec<B256>, Vec<Vec<u8>>) = leaves.into_iter().unzip();
        assert_eq!(verify_range::<Vec<u8>>(root, B256::ZERO, &keys, &values, &[]), Ok(false));
        group.throughput(Throughput::Elements(keys.len() as u64));
        group.bench_with_input(BenchmarkId::new("verify", keys.len()), &size, |b, _| {
            b.iter(|| verify_range::<Vec<u8>>(root, B256::ZERO, &keys, &values, &[]))
        });
        group.bench_with_input(BenchmarkId::new("floor", keys.len()), &size, |b, _| {
            b.iter(|| floor(&keys, &values))
        });
    }
    group.finish();
}

criterion_group!(benches, with_proof, without_proof);
criterion_main!(benches);
