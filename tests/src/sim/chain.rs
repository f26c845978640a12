//! The simulated chain: a mutable model of the state (sorted maps) that evolves block by block
//! from a generated or loaded state, seeded, so that the sync's target can move.
//!
//! Each block applies a fixed number of changes drawn from a seeded mix: balance and nonce
//! updates, slot writes and clears (a share aimed at the largest contracts), new accounts,
//! deployments (new accounts with code and a little storage) and deletions (now and then of an
//! account with storage, rarely of a large contract). Only the blocks that become targets are
//! materialized ([`Chain::state`]): peers are never asked for any other root.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use snap_core::serve::InMemoryState;

use super::rng::SimRng;

/// Contracts with at least this many slots count as large (changed and deleted on purpose).
const LARGE_SLOTS: usize = 64;

/// How many changes of each kind the chain applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainStats {
    /// Balance and nonce updates.
    pub balances: u64,
    /// Slot writes (new or changed values).
    pub slot_writes: u64,
    /// Slot writes into a large contract.
    pub large_slot_writes: u64,
    /// Slots cleared.
    pub slot_clears: u64,
    /// Accounts created without code.
    pub created: u64,
    /// Accounts created with code (and some storage).
    pub deployed: u64,
    /// Accounts deleted.
    pub deleted: u64,
    /// Of which had storage.
    pub deleted_with_storage: u64,
    /// Of which were large contracts.
    pub deleted_large: u64,
}

/// The evolving state of the simulated chain.
#[derive(Clone, Debug)]
pub struct Chain {
    rng: SimRng,
    number: u64,
    changes_per_block: usize,
    accounts: BTreeMap<B256, TrieAccount>,
    storage: BTreeMap<B256, BTreeMap<B256, Bytes>>,
    /// Every code ever deployed (content-addressed; the materialized states hold the
    /// referenced ones).
    codes: BTreeMap<B256, Bytes>,
    /// What was changed so far.
    pub stats: ChainStats,
}

impl Chain {
    /// The chain at block `number` holding `state`; `seed` drives every change.
    pub fn new(state: &InMemoryState, number: u64, changes_per_block: usize, seed: u64) -> Self {
        let accounts: BTreeMap<B256, TrieAccount> = state.account_list().iter().copied().collect();
        let storage = accounts
            .keys()
            .filter_map(|hash| {
                let slots = state.slot_list(hash);
                (!slots.is_empty()).then(|| (*hash, slots.iter().cloned().collect()))
            })
            .collect();
        Self {
            rng: SimRng::derive(seed, "chain"),
            number,
            changes_per_block,
            accounts,
            storage,
            codes: state.codes().clone(),
            stats: ChainStats::default(),
        }
    }

    /// The current block number.
    pub const fn number(&self) -> u64 {
        self.number
    }

    /// Applies `blocks` blocks of changes.
    pub fn advance(&mut self, blocks: u64) {
        for _ in 0..blocks {
            for _ in 0..self.changes_per_block {
                self.change();
            }
            self.number += 1;
        }
    }

    /// The current state, built for serving (storage roots computed from the slots).
    pub fn state(&self) -> Result<InMemoryState, String> {
        let accounts: Vec<(B256, TrieAccount)> =
            self.accounts.iter().map(|(hash, account)| (*hash, *account)).collect();
        let storage = self.storage.iter().map(|(owner, slots)| {
            (*owner, slots.iter().map(|(key, value)| (*key, value.clone())).collect())
        });
        let codes = self
            .accounts
            .values()
            .filter_map(|account| self.codes.get(&account.code_hash))
            .map(|code| (keccak256(code), code.clone()))
            .collect::<BTreeMap<_, _>>()
            .into_values();
        InMemoryState::from_sorted(accounts, storage, codes)
            .map_err(|error| format!("chain state at block {}: {error}", self.number))
    }

    /// Storage owners with at least [`LARGE_SLOTS`] slots.
    pub fn large_contracts(&self) -> Vec<B256> {
        self.storage
            .iter()
            .filter(|(_, slots)| slots.len() >= LARGE_SLOTS)
            .map(|(owner, _)| *owner)
            .collect()
    }

    fn change(&mut self) {
        let roll = self.rng.below(100);
        match roll {
            0..35 => self.update_balance(),
            35..60 => self.write_slot(),
            60..72 => self.clear_slot(),
            72..80 => self.create_account(),
            80..90 => self.deploy(),
            _ => self.delete_account(),
        }
    }

    fn random_key(&mut self) -> B256 {
        B256::from(self.rng.bytes32())
    }

    /// The first key at or after a random point (wrapping), of a non-empty map.
    fn pick<V>(rng: &mut SimRng, map: &BTreeMap<B256, V>) -> Option<B256> {
        let at = B256::from(rng.bytes32());
        map.range(at..).next().or_else(|| map.iter().next()).map(|(key, _)| *key)
    }

    fn slot_value(&mut self) -> Bytes {
        Bytes::from(alloy_rlp::encode(U256::from(self.rng.next_u64() | 1)))
    }

    fn update_balance(&mut self) {
        let Some(hash) = Self::pick(&mut self.rng, &self.accounts) else { return };
        let delta = U256::from(self.rng.below(1 << 40));
        let bump = self.rng.chance(0.5);
        if let Some(account) = self.accounts.get_mut(&hash) {
            account.balance = account.balance.wrapping_add(delta);
            if bump {
                account.nonce += 1;
            }
        }
        self.stats.balances += 1;
    }

    /// An owner for a slot change: a large contract now and then, else any storage owner, or
    /// (for writes) any account.
    fn slot_owner(&mut self, write: bool) -> Option<B256> {
        if self.rng.chance(0.3) {
            let large = self.large_contracts();
            if let Some(owner) = self.rng.pick(&large) {
                return Some(*owner);
            }
        }
        if write && self.rng.chance(0.2) {
            return Self::pick(&mut self.rng, &self.accounts);
        }
        Self::pick(&mut self.rng, &self.storage)
    }

    fn write_slot(&mut self) {
        let Some(owner) = self.slot_owner(true) else { return };
        let large = self.storage.get(&owner).is_some_and(|slots| slots.len() >= LARGE_SLOTS);
        let value = self.slot_value();
        let fresh = self.rng.chance(0.5);
        let new_key = self.random_key();
        let slots = self.storage.entry(owner).or_default();
        let key = if fresh || slots.is_empty() {
            new_key
        } else {
            slots
                .range(new_key..)
                .next()
                .or_else(|| slots.iter().next())
                .map(|(k, _)| *k)
                .unwrap_or(new_key)
        };
        slots.insert(key, value);
        self.stats.slot_writes += 1;
        if large {
            self.stats.large_slot_writes += 1;
        }
    }

    fn clear_slot(&mut self) {
        let Some(owner) = self.slot_owner(false) else { return };
        let at = self.random_key();
        let Some(slots) = self.storage.get_mut(&owner) else { return };
        let Some(key) = slots.range(at..).next().or_else(|| slots.iter().next()).map(|(k, _)| *k)
        else {
            return;
        };
        slots.remove(&key);
        if slots.is_empty() {
            self.storage.remove(&owner);
        }
        self.stats.slot_clears += 1;
    }

    fn new_account(&mut self, code_hash: B256) -> B256 {
        let hash = self.random_key();
        let account = TrieAccount {
            nonce: self.rng.below(3),
            balance: U256::from(self.rng.next_u64()),
            storage_root: EMPTY_ROOT_HASH,
            code_hash,
        };
        self.accounts.insert(hash, account);
        hash
    }

    fn create_account(&mut self) {
        self.new_account(KECCAK_EMPTY);
        self.stats.created += 1;
    }

    fn deploy(&mut self) {
        let code = if self.rng.chance(0.5) || self.codes.is_empty() {
            let len = self.rng.between(1, 2048) as usize;
            Bytes::from(self.rng.bytes(len))
        } else {
            let hash = Self::pick(&mut self.rng, &self.codes).unwrap_or(KECCAK_EMPTY);
            self.codes.get(&hash).cloned().unwrap_or_default()
        };
        let code_hash = keccak256(&code);
        self.codes.insert(code_hash, code);
        let hash = self.new_account(code_hash);
        let count = self.rng.below(9);
        if count > 0 {
            let mut slots = BTreeMap::new();
            for _ in 0..count {
                let key = self.random_key();
                slots.insert(key, self.slot_value());
            }
            self.storage.insert(hash, slots);
        }
        self.stats.deployed += 1;
    }

    fn delete_account(&mut self) {
        let chose_large = self.rng.chance(0.01);
        let victim = if chose_large {
            let large = self.large_contracts();
            self.rng.pick(&large).copied()
        } else if self.rng.chance(0.4) {
            Self::pick(&mut self.rng, &self.storage)
        } else {
            Self::pick(&mut self.rng, &self.accounts)
        };
        let Some(hash) = victim else { return };
        // Keep at least one account: an empty state is not a chain worth syncing. Large
        // contracts go only through the rare path above.
        let large = self.storage.get(&hash).is_some_and(|slots| slots.len() >= LARGE_SLOTS);
        if self.accounts.len() <= 1 || (large && !chose_large) {
            return;
        }
        self.accounts.remove(&hash);
        if let Some(slots) = self.storage.remove(&hash) {
            self.stats.deleted_with_storage += 1;
            if slots.len() >= LARGE_SLOTS {
                self.stats.deleted_large += 1;
            }
        }
        self.stats.deleted += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::state::{StateSpec, TargetState};

    fn start() -> InMemoryState {
        TargetState::generate(&StateSpec::new(11, 300, 6000)).unwrap().state
    }

    #[test]
    fn the_chain_is_seed_determined_and_every_block_changes_the_root() {
        let state = start();
        let mut a = Chain::new(&state, 1, 4, 9);
        let mut b = Chain::new(&state, 1, 4, 9);
        assert_eq!(a.state().unwrap().root(), state.root(), "an unchanged chain is the state");
        let mut roots = vec![state.root()];
        for _ in 0..20 {
            a.advance(1);
            b.advance(1);
            let root = a.state().unwrap().root();
            assert_eq!(root, b.state().unwrap().root());
            assert!(!roots.contains(&root), "a block of changes gives a new root");
            roots.push(root);
        }
        assert_eq!(a.number(), 21);
        let mut c = Chain::new(&state, 1, 4, 10);
        c.advance(20);
        assert_ne!(c.state().unwrap().root(), a.state().unwrap().root());
    }

    #[test]
    fn every_kind_of_change_happens_and_the_materialized_state_is_the_model() {
        let state = start();
        let mut chain = Chain::new(&state, 1, 8, 3);
        chain.advance(400);
        let s = chain.stats;
        assert!(s.balances > 0 && s.slot_writes > 0 && s.slot_clears > 0);
        assert!(s.created > 0 && s.deployed > 0 && s.deleted > 0 && s.deleted_with_storage > 0);
        assert!(s.large_slot_writes > 0, "{s:?}");
        let built = chain.state().unwrap();
        // The materialized state holds exactly the model's accounts and slots, and the codes
        // its accounts reference; its storage roots are the roots of the model's slots.
        assert_eq!(built.account_list().len(), chain.accounts.len());
        for (hash, account) in built.account_list() {
            let model = chain.accounts[hash];
            assert_eq!(
                (account.nonce, account.balance, account.code_hash),
                (model.nonce, model.balance, model.code_hash)
            );
            let slots: Vec<(B256, Bytes)> = chain
                .storage
                .get(hash)
                .map(|slots| slots.iter().map(|(k, v)| (*k, v.clone())).collect())
                .unwrap_or_default();
            assert_eq!(built.slot_list(hash), slots.as_slice());
            let expected_root = if slots.is_empty() {
                EMPTY_ROOT_HASH
            } else {
                snap_core::trie::build_trie(&slots).root
            };
            assert_eq!(account.storage_root, expected_root);
            if account.code_hash != KECCAK_EMPTY {
                assert!(built.codes().contains_key(&account.code_hash));
            }
        }
        // The checked state (with its node oracle) accepts it.
        TargetState::from_state(built, true).unwrap();
    }
}
