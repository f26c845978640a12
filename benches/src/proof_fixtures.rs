//! Fixtures for the range-proof bench.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use snap_sim::sim::SimRng;

/// The trie of go-ethereum's range-proof benchmarks, as sorted `(key, value)` leaves: the 110
/// fixed keys `LeftPad32(i)` (i as big-endian in the last bytes) with 1-byte values, plus
/// `random` random 32-byte keys with 20-byte values.
pub fn geth_range_trie(random: usize, seed: u64) -> Vec<(B256, Vec<u8>)> {
    let mut rng = SimRng::derive(seed, "geth_range_trie");
    let mut leaves = BTreeMap::new();
    for i in 0..100u64 {
        leaves.insert(B256::left_padding_from(&i.to_be_bytes()), vec![i as u8]);
        leaves.insert(B256::left_padding_from(&(i + 10).to_be_bytes()), vec![i as u8]);
    }
    while leaves.len() < 110 + random {
        leaves.insert(B256::from(rng.bytes32()), rng.bytes(20));
    }
    leaves.into_iter().collect()
}
