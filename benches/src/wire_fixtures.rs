//! Fixtures for the wire-decoding bench.

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
