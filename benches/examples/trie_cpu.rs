//! CPU time of verifying and generating one trie, against the keccak floor of its stored nodes
//! (one keccak of each node's RLP) and alloy-trie's `HashBuilder` root. Medians of thread CPU
//! time, each ratio the median of per-round ratios (every round runs every variant), so that
//! the ratios hold on a shared machine. Argument: `[leaves] [rounds]`.
//!
//! - `verify`: `verify_range` of the whole trie (no proof);
//! - `verify_nodes`: the same, keeping the nodes (`verify_range_nodes`);
//! - `generate`: the generator alone, computing every node;
//! - `one_pass`: `verify_range_nodes`, then the generator fed those nodes;
//! - `two_passes`: `verify_range`, then the generator computing every node again;
//! - `range_*`: the same for the middle half of the trie with an edge proof.

use std::hint::black_box;

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::HashBuilder;
use nybbles::Nibbles;
use snap_benches::cpu_time::interleaved;
use snap_core::trie::{TrieGenerator, build_trie, verify_range, verify_range_nodes};

fn main() {
    let args: Vec<usize> =
        std::env::args().skip(1).map(|a| a.parse().expect("numeric argument")).collect();
    let count = args.first().copied().unwrap_or(100_000);
    let runs = args.get(1).copied().unwrap_or(9);
    let mut leaves: Vec<(B256, Vec<u8>)> = (0..count as u64)
        .map(|i| {
            let value = alloy_rlp::encode(alloy_trie::TrieAccount {
                nonce: i,
                balance: U256::from(i) * U256::from(1_000_000_007u64),
                storage_root: alloy_trie::EMPTY_ROOT_HASH,
                code_hash: alloy_trie::KECCAK_EMPTY,
            });
            (keccak256(i.to_be_bytes()), value)
        })
        .collect();
    leaves.sort();
    let trie = build_trie(&leaves);
    let nodes: Vec<&Bytes> = trie.nodes.values().collect();
    let keys: Vec<B256> = leaves.iter().map(|(key, _)| *key).collect();
    let values: Vec<&[u8]> = leaves.iter().map(|(_, value)| value.as_slice()).collect();
    let (from, to) = (count / 4, count * 3 / 4);
    let mut proof = trie.prove(&keys[from]);
    proof.extend(trie.prove(&keys[to - 1]));

    let generate = |nodes: Option<snap_core::trie::VerifiedNodes>,
                    range: std::ops::Range<usize>| {
        let mut generator = TrieGenerator::new(B256::ZERO, keys[range.start]);
        if let Some(nodes) = nodes {
            generator.use_verified(nodes);
        }
        for (key, value) in &leaves[range.clone()] {
            generator.push(*key, value).expect("sorted");
        }
        black_box(generator.finish_through(keys[range.end - 1]))
    };
    let whole = 0..count;
    let part = from..to;
    let names = [
        "keccak_floor",
        "hash_builder",
        "verify",
        "verify_nodes",
        "generate",
        "one_pass",
        "two_passes",
        "range_one_pass",
        "range_two_passes",
    ];
    let results = interleaved(
        runs,
        &mut [
            &mut || {
                black_box(nodes.iter().fold(B256::ZERO, |acc, node| acc ^ keccak256(node)));
            },
            &mut || {
                let mut builder = HashBuilder::default();
                for (key, value) in &leaves {
                    builder.add_leaf(Nibbles::unpack(key), value);
                }
                black_box(builder.root());
            },
            &mut || {
                black_box(verify_range(trie.root, B256::ZERO, &keys, &values, &[]).unwrap());
            },
            &mut || {
                black_box(verify_range_nodes(trie.root, B256::ZERO, &keys, &values, &[]).unwrap());
            },
            &mut || drop(generate(None, whole.clone())),
            &mut || {
                let (_, nodes) =
                    verify_range_nodes(trie.root, B256::ZERO, &keys, &values, &[]).unwrap();
                drop(generate(Some(nodes), whole.clone()));
            },
            &mut || {
                verify_range(trie.root, B256::ZERO, &keys, &values, &[]).unwrap();
                drop(generate(None, whole.clone()));
            },
            &mut || {
                let (_, nodes) = verify_range_nodes(
                    trie.root,
                    keys[from],
                    &keys[part.clone()],
                    &values[part.clone()],
                    &proof,
                )
                .unwrap();
                drop(generate(Some(nodes), part.clone()));
            },
            &mut || {
                verify_range(
                    trie.root,
                    keys[from],
                    &keys[part.clone()],
                    &values[part.clone()],
                    &proof,
                )
                .unwrap();
                drop(generate(None, part.clone()));
            },
        ],
    );
    let floor = results[0].0;
    println!(
        "{count} account leaves, {} stored nodes; keccak floor {:.1} ms ({:.0} ns per node)",
        nodes.len(),
        floor.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e9 / nodes.len() as f64
    );
    for (name, (time, ratio)) in names.iter().zip(results) {
        // The range is half the trie: compare it with half the floor.
        let ratio = if name.starts_with("range") { ratio * 2.0 } else { ratio };
        println!("{name:>18}: {:7.1} ms  {ratio:.2}x floor", time.as_secs_f64() * 1e3);
    }
}
