//! Tests for range-proof verification.
//!
//! `scenarios` re-states, in our own words, every range-proof case of go-ethereum's
//! `trie/proof_test.go` plus the pitfalls other verifiers fell into; `differential` checks the
//! verifier against tries and proofs built independently, under random ranges and corruptions.

mod differential;
mod hivechain;
mod hostile;
mod scenarios;

use alloy_primitives::{B256, Bytes};

use crate::trie::{BuiltTrie, build_trie};

/// A tiny deterministic generator (SplitMix64) so that tests need no extra dependency.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(super) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    pub(super) fn key(&mut self) -> B256 {
        B256::from_slice(&self.bytes(32))
    }
}

/// `i` as a big-endian number in a 32-byte key.
pub(super) fn left_pad32(i: u64) -> B256 {
    B256::left_padding_from(&i.to_be_bytes())
}

/// The key one above `key` (wrapping).
pub(super) fn increase(key: &B256) -> B256 {
    let mut out = *key;
    for byte in out.0.iter_mut().rev() {
        *byte = byte.wrapping_add(1);
        if *byte != 0 {
            break;
        }
    }
    out
}

/// The key one below `key` (wrapping).
pub(super) fn decrease(key: &B256) -> B256 {
    let mut out = *key;
    for byte in out.0.iter_mut().rev() {
        *byte = byte.wrapping_sub(1);
        if *byte != 0xff {
            break;
        }
    }
    out
}

/// The fixture of geth's tests: 110 small keys with 1-byte values (embedded nodes) plus `n`
/// random keys with 20-byte values, sorted.
pub(super) fn random_trie(n: usize, rng: &mut Rng) -> Vec<(B256, Vec<u8>)> {
    let mut map = std::collections::BTreeMap::new();
    for i in 0..100u8 {
        map.insert(left_pad32(u64::from(i)), vec![i]);
        map.insert(left_pad32(u64::from(i) + 10), vec![i]);
    }
    while map.len() < 110 + n {
        map.insert(rng.key(), rng.bytes(20));
    }
    map.into_iter().collect()
}

/// The union of the proofs of `keys`, deduplicated (the proof is a set).
pub(super) fn prove_all(trie: &BuiltTrie, keys: &[B256]) -> Vec<Bytes> {
    let mut nodes: Vec<Bytes> = keys.iter().flat_map(|key| trie.prove(key)).collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// A built trie with its sorted keys and values split out.
#[derive(Debug)]
pub(super) struct Fixture {
    pub(super) trie: BuiltTrie,
    pub(super) keys: Vec<B256>,
    pub(super) values: Vec<Vec<u8>>,
}

impl Fixture {
    pub(super) fn new(entries: Vec<(B256, Vec<u8>)>) -> Self {
        let trie = build_trie(&entries);
        let (keys, values) = entries.into_iter().unzip();
        Self { trie, keys, values }
    }

    /// Verifies `keys[range]` from `origin` with the proofs of `origin` and the last key.
    pub(super) fn verify(
        &self,
        origin: B256,
        range: std::ops::Range<usize>,
    ) -> Result<bool, super::ProofError> {
        let keys = &self.keys[range.clone()];
        let mut edges = vec![origin];
        edges.extend(keys.last());
        let proof = prove_all(&self.trie, &edges);
        super::verify_range(self.trie.root, origin, keys, &self.values[range], &proof)
    }
}
