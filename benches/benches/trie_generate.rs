//! Trie generation throughput: the chunk generator (every node encoded and keyed by path)
//! against alloy-trie's `HashBuilder` (root only, the floor) over the same 100k leaves; and a
//! range verified then generated as the sync does it, in one pass (the generator takes the
//! nodes the verification computed) and in two (it computes them again).

use std::hint::black_box;

use alloy_primitives::{B256, U256, keccak256};
use alloy_trie::HashBuilder;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nybbles::Nibbles;
use snap_core::trie::{TrieGenerator, verify_range, verify_range_nodes};

const LEAVES: usize = 100_000;

/// Sorted keccak keys with account-sized (70-byte) values.
fn leaves() -> Vec<(B256, Vec<u8>)> {
    let mut leaves: Vec<(B256, Vec<u8>)> = (0..LEAVES as u64)
        .map(|i| {
            let key = keccak256(i.to_be_bytes());
            let value = alloy_rlp::encode(alloy_trie::TrieAccount {
                nonce: i,
                balance: U256::from(i) * U256::from(1_000_000_007u64),
                storage_root: alloy_trie::EMPTY_ROOT_HASH,
                code_hash: alloy_trie::KECCAK_EMPTY,
            });
            (key, value)
        })
        .collect();
    leaves.sort();
    leaves
}

fn bench(c: &mut Criterion) {
    let leaves = leaves();
    let mut group = c.benchmark_group("trie_generate_100k");
    group.throughput(Throughput::Elements(LEAVES as u64));
    group.sample_size(10);
    group.bench_function("hash_builder_root", |b| {
        b.iter(|| {
            let mut builder = HashBuilder::default();
            for (key, value) in &leaves {
                builder.add_leaf(Nibbles::unpack(key), value);
            }
            black_box(builder.root())
        })
    });
    group.bench_function("generator_complete_chunk", |b| {
        b.iter(|| {
            let mut generator = TrieGenerator::new(B256::ZERO, B256::ZERO);
            let mut nodes = 0;
            for (i, (key, value)) in leaves.iter().enumerate() {
                generator.push(*key, value).expect("sorted");
                if i % 10_000 == 0 {
                    nodes += generator.take_changes().writes.len();
                }
            }
            let (changes, root) = generator.finish(true);
            black_box((nodes + changes.writes.len(), root))
        })
    });
    let keys: Vec<B256> = leaves.iter().map(|(key, _)| *key).collect();
    let values: Vec<&[u8]> = leaves.iter().map(|(_, value)| value.as_slice()).collect();
    let root = {
        let mut builder = HashBuilder::default();
        for (key, value) in &leaves {
            builder.add_leaf(Nibbles::unpack(key), value);
        }
        builder.root()
    };
    group.bench_function("verify_and_generate_one_pass", |b| {
        b.iter(|| {
            let (_, nodes) =
                verify_range_nodes(root, B256::ZERO, &keys, &values, &[]).expect("verifies");
            let mut generator = TrieGenerator::new(B256::ZERO, B256::ZERO);
            generator.use_verified(nodes);
            for (key, value) in &leaves {
                generator.push(*key, value).expect("sorted");
            }
            black_box(generator.finish(true))
        })
    });
    group.bench_function("verify_and_generate_two_passes", |b| {
        b.iter(|| {
            verify_range(root, B256::ZERO, &keys, &values, &[]).expect("verifies");
            let mut generator = TrieGenerator::new(B256::ZERO, B256::ZERO);
            for (key, value) in &leaves {
                generator.push(*key, value).expect("sorted");
            }
            black_box(generator.finish(true))
        })
    });
    group.bench_function("generator_partial_chunk", |b| {
        b.iter(|| {
            let start = B256::repeat_byte(0x01);
            let mut generator = TrieGenerator::new(B256::ZERO, start);
            for (key, value) in leaves.iter().filter(|(key, _)| *key >= start) {
                generator.push(*key, value).expect("sorted");
            }
            black_box(generator.finish(false))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
