//! Shared fixtures for the criterion benches in `benches/benches/`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use snap_core::wire::{AccountData, AccountRange};

/// A deterministic pseudo-random 32-byte value for `(tag, i)`.
fn draw(tag: &[u8], i: u64) -> B256 {
    let mut seed = tag.to_vec();
    seed.extend_from_slice(&i.to_be_bytes());
    keccak256(seed)
}

/// A realistic `AccountRange` response: `accounts` accounts sorted by hash, about a quarter of
/// them contracts (own storage root and code hash), the rest externally owned accounts with
/// varied nonces and balances (slim bodies), plus `proof_nodes` branch-node-sized proof nodes
/// (532 bytes, the size of a full branch node).
pub fn account_range_fixture(accounts: usize, proof_nodes: usize) -> AccountRange {
    let mut hashes: Vec<B256> = (0..accounts as u64).map(|i| draw(b"account", i)).collect();
    hashes.sort_unstable();
    let accounts = hashes
        .into_iter()
        .enumerate()
        .map(|(i, hash)| {
            let r = draw(b"body", i as u64);
            let nonce = u64::from(r[0]) * u64::from(r[1]);
            // Balances from dust to thousands of ether.
            let balance = U256::from_be_slice(&r[2..2 + 6 + (r[8] % 6) as usize]);
            let account = if r[9].is_multiple_of(4) {
                TrieAccount::new(
                    nonce % 4,
                    balance,
                    draw(b"root", i as u64),
                    draw(b"code", i as u64),
                )
            } else {
                TrieAccount::new(nonce, balance, EMPTY_ROOT_HASH, KECCAK_EMPTY)
            };
            AccountData { hash, account }
        })
        .collect();
    let proof = (0..proof_nodes as u64)
        .map(|i| {
            let mut node = Vec::with_capacity(532);
            node.extend_from_slice(&[0xf9, 0x02, 0x11]);
            for j in 0..16 {
                node.push(0xa0);
                node.extend_from_slice(draw(b"proof", i * 16 + j).as_slice());
            }
            node.push(0x80);
            Bytes::from(node)
        })
        .collect();
    AccountRange { request_id: 0x1234_5678, accounts, proof }
}

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
