//! Fixtures for the range-proof bench.

use std::collections::BTreeMap;

use alloy_primitives::B256;

/// A small deterministic generator (SplitMix64): benches must be reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// The trie of go-ethereum's range-proof benchmarks, as sorted `(key, value)` leaves: the 110
/// fixed keys `LeftPad32(i)` (i as big-endian in the last bytes) with 1-byte values, plus
/// `random` random 32-byte keys with 20-byte values.
pub fn geth_range_trie(random: usize, seed: u64) -> Vec<(B256, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let mut leaves = BTreeMap::new();
    for i in 0..100u64 {
        leaves.insert(B256::left_padding_from(&i.to_be_bytes()), vec![i as u8]);
        leaves.insert(B256::left_padding_from(&(i + 10).to_be_bytes()), vec![i as u8]);
    }
    while leaves.len() < 110 + random {
        leaves.insert(B256::from_slice(&rng.bytes(32)), rng.bytes(20));
    }
    leaves.into_iter().collect()
}
