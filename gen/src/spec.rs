//! The in-memory generator: a state of a given size and shape ([`StateSpec`]), fixed by a seed,
//! built as an [`InMemoryState`]. The simulator's target states, the node's demo and the
//! benches use it; the same spec gives the same state everywhere.
//!
//! Accounts are random hashes (sorted); a share of them own storage, a few "large" contracts
//! hold a fixed share of all slots, a share have code, drawn from a small shared pool or unique;
//! optional boundary accounts and uneven slot keys exercise a syncer's edge cases.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use snap_core::{
    serve::{InMemoryState, StateBuildError},
    sync::HashRange,
};

use crate::SeededRng;

/// How to generate a state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateSpec {
    /// Accounts (besides boundary accounts).
    pub accounts: usize,
    /// Storage slots in total, approximately.
    pub slots: usize,
    /// Contracts holding `large_percent` of all slots between them.
    pub large_contracts: usize,
    /// Share of the slots held by the large contracts.
    pub large_percent: u64,
    /// Share of accounts with (small) storage.
    pub storage_percent: u64,
    /// Share of accounts with code.
    pub code_percent: u64,
    /// Share of code accounts whose code is unique; the others share a small pool.
    pub unique_code_percent: u64,
    /// Size of the pool of shared codes.
    pub shared_codes: usize,
    /// Add accounts exactly at the 16 account-task boundaries, and slots at the same hashes in
    /// every large contract (geth's boundary tries).
    pub boundary: bool,
    /// Slot keys fall in only three first-nibble buckets out of `0..=0xe` (geth's uneven
    /// storage), so chunks of large contracts come back empty.
    pub uneven: bool,
    /// For the simulator's `TargetState`: build its node oracle (alloy-trie's proof retainer
    /// over every key). Costs memory; the bench turns it off and checks nodes against the
    /// served tries instead. The state itself does not depend on it.
    pub node_oracle: bool,
    /// The generator's seed.
    pub seed: u64,
}

impl StateSpec {
    /// A state of `accounts` accounts and about `slots` slots, with default proportions: a
    /// quarter of accounts with small storage, a few very large contracts holding half of the
    /// slots, 40 % of accounts with code, most of it shared.
    pub fn new(seed: u64, accounts: usize, slots: usize) -> Self {
        Self {
            accounts,
            slots,
            large_contracts: if slots == 0 { 0 } else { (accounts / 500).clamp(1, 8) },
            large_percent: 50,
            storage_percent: 25,
            code_percent: 40,
            unique_code_percent: 30,
            shared_codes: 8,
            boundary: false,
            uneven: false,
            node_oracle: true,
            seed,
        }
    }

    /// The state's parts (see [`StateParts`]), a pure function of the spec.
    pub fn parts(&self) -> StateParts {
        generate_parts(self)
    }

    /// The state, with its tries built.
    pub fn generate_state(&self) -> Result<InMemoryState, StateBuildError> {
        let (accounts, storage, codes) = self.parts();
        InMemoryState::from_sorted(accounts, storage, codes)
    }
}

/// A slot key and the range of its value in the packed value buffer.
type PackedSlot = (B256, std::ops::Range<usize>);

/// A generated state in parts: accounts sorted by hash (storage roots left for the state to
/// compute), storage lists by account (sorted by account, each sorted by slot), and the codes
/// the accounts reference.
pub type StateParts = (Vec<(B256, TrieAccount)>, Vec<(B256, Vec<(B256, Bytes)>)>, Vec<Bytes>);

/// Accounts (sorted, storage roots left for the state to compute), storage lists and the codes
/// the accounts reference.
fn generate_parts(spec: &StateSpec) -> StateParts {
    let mut rng = SeededRng::derive(spec.seed, "state");
    let boundaries: Vec<B256> =
        HashRange::split_from(B256::ZERO, 16).into_iter().map(|range| range.last).collect();
    let mut hashes: Vec<B256> = (0..spec.accounts).map(|_| B256::from(rng.bytes32())).collect();
    if spec.boundary {
        hashes.extend(&boundaries);
    }
    hashes.sort_unstable();
    hashes.dedup();

    // Codes: a shared pool and unique ones; only referenced codes are part of the state.
    let shared: Vec<Bytes> = (0..spec.shared_codes.max(1)).map(|_| random_code(&mut rng)).collect();
    let mut codes: BTreeMap<B256, Bytes> = BTreeMap::new();

    // Storage owners: large contracts first, then small ones.
    let mut owners: Vec<usize> =
        (0..hashes.len()).filter(|_| rng.chance(spec.storage_percent as f64 / 100.0)).collect();
    if spec.slots == 0 {
        owners.clear();
    }
    let large = spec.large_contracts.min(owners.len());
    let mut large_owners = Vec::with_capacity(large);
    for _ in 0..large {
        let index = rng.below(owners.len() as u64) as usize;
        large_owners.push(owners.swap_remove(index));
    }
    let large_slots = spec.slots * spec.large_percent.min(100) as usize / 100;
    let small_slots = spec.slots - large_slots;
    let per_large = large_slots.checked_div(large).unwrap_or(0);
    let per_small = small_slots.checked_div(owners.len()).unwrap_or(0).max(1);
    let buckets: Vec<u8> = {
        let mut all: Vec<u8> = (0..15).collect();
        (0..3).map(|_| all.swap_remove(rng.below(all.len() as u64) as usize)).collect()
    };

    let mut packed = Vec::new();
    let mut slot_lists: Vec<(B256, Vec<PackedSlot>)> = Vec::new();
    let mut push_slots = |rng: &mut SeededRng, owner: B256, count: usize, boundary: bool| {
        let mut keys: Vec<B256> = (0..count)
            .map(|_| {
                let mut key = rng.bytes32();
                if spec.uneven {
                    let bucket = buckets[rng.below(3) as usize];
                    key[0] = (bucket << 4) | (key[0] & 0x0f);
                }
                B256::from(key)
            })
            .collect();
        if boundary {
            keys.extend(&boundaries);
        }
        keys.sort_unstable();
        keys.dedup();
        let slots = keys
            .into_iter()
            .map(|key| {
                let start = packed.len();
                let len = rng.between(1, 32) as usize;
                let mut value = rng.bytes(len);
                value[0] |= 1; // non-zero, no leading zero byte
                alloy_rlp::Encodable::encode(&U256::from_be_slice(&value), &mut packed);
                (key, start..packed.len())
            })
            .collect();
        slot_lists.push((owner, slots));
    };
    for &index in &large_owners {
        let count = rng.between(per_large as u64 / 2, per_large as u64 * 3 / 2) as usize;
        push_slots(&mut rng, hashes[index], count.max(1), spec.boundary);
    }
    for &index in &owners {
        let count = rng.between(1, 2 * per_small as u64) as usize;
        push_slots(&mut rng, hashes[index], count, false);
    }
    let packed = Bytes::from(packed);
    let mut storage: Vec<(B256, Vec<(B256, Bytes)>)> = slot_lists
        .into_iter()
        .map(|(owner, slots)| {
            (owner, slots.into_iter().map(|(key, range)| (key, packed.slice(range))).collect())
        })
        .collect();
    storage.sort_unstable_by_key(|(owner, _)| *owner);

    let accounts = hashes
        .into_iter()
        .map(|hash| {
            let code_hash = if rng.chance(spec.code_percent as f64 / 100.0) {
                let code = if rng.chance(spec.unique_code_percent as f64 / 100.0) {
                    random_code(&mut rng)
                } else {
                    rng.pick(&shared).cloned().unwrap_or_default()
                };
                let hash = keccak256(&code);
                codes.insert(hash, code);
                hash
            } else {
                KECCAK_EMPTY
            };
            let balance = if rng.chance(0.1) { U256::ZERO } else { U256::from(rng.next_u64()) };
            let account = TrieAccount {
                nonce: rng.below(1000),
                balance,
                storage_root: EMPTY_ROOT_HASH,
                code_hash,
            };
            (hash, account)
        })
        .collect();
    (accounts, storage, codes.into_values().collect())
}

/// A code of 1 byte to 4 KiB, now and then up to 24 KiB.
fn random_code(rng: &mut SeededRng) -> Bytes {
    let len = if rng.chance(0.05) { rng.between(4096, 24 * 1024) } else { rng.between(1, 4096) };
    Bytes::from(rng.bytes(len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_seed_determined_sorted_and_sized() {
        let spec = StateSpec { boundary: true, uneven: true, ..StateSpec::new(3, 300, 3000) };
        let (accounts, storage, codes) = spec.parts();
        assert_eq!(spec.parts(), (accounts.clone(), storage.clone(), codes.clone()));
        assert!(accounts.len() >= 300);
        assert!(accounts.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(storage.windows(2).all(|pair| pair[0].0 < pair[1].0));
        let slots: usize = storage.iter().map(|(_, slots)| slots.len()).sum();
        assert!((1000..=6000).contains(&slots), "{slots} slots");
        for (_, slots) in &storage {
            assert!(slots.windows(2).all(|pair| pair[0].0 < pair[1].0));
        }
        // Every referenced code is present, and no other.
        let hashes: std::collections::BTreeSet<B256> = codes.iter().map(keccak256).collect();
        let referenced: std::collections::BTreeSet<B256> = accounts
            .iter()
            .map(|(_, account)| account.code_hash)
            .filter(|hash| *hash != KECCAK_EMPTY)
            .collect();
        assert_eq!(hashes, referenced);
        assert_ne!(StateSpec::new(4, 300, 3000).parts().0, accounts);
    }

    #[test]
    fn the_state_is_built_from_the_parts() {
        let spec = StateSpec::new(6, 200, 2000);
        let state = spec.generate_state().unwrap();
        assert_eq!(state.account_list().len(), spec.parts().0.len());
        assert_eq!(state.root(), spec.generate_state().unwrap().root());
    }
}
