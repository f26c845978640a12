//! The harness's host store: a tiny model that applies write batches through the core's
//! reference applier (`snap_core::sync::host::apply_batch`) over its own map operations,
//! answers lookups from what it applied, and is compared with the target state when the sync
//! says it is done.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;
use snap_core::{
    sync::{
        NodeQuery, ProgressRecord, WriteBatch,
        host::{BatchStore, apply_batch},
    },
    trie::NodeKey,
};

use crate::sim::TargetState;

/// Flat state, codes and trie nodes, keyed as a path-scheme database keys them.
#[derive(Debug, Default)]
pub struct ModelStore {
    accounts: BTreeMap<B256, TrieAccount>,
    slots: BTreeMap<(B256, B256), Bytes>,
    codes: BTreeMap<B256, Bytes>,
    nodes: BTreeMap<(B256, Nibbles), Bytes>,
    /// The progress record of the last applied batch.
    pub progress: Option<Bytes>,
}

impl ModelStore {
    /// Applies one batch, atomically (nothing here can fail half-way), through the core's
    /// reference applier.
    pub fn apply(&mut self, batch: &WriteBatch) {
        apply_batch(self, batch);
    }

    /// Whether the store holds bytecode `hash`.
    pub fn has_code(&self, hash: &B256) -> bool {
        self.codes.contains_key(hash)
    }

    /// Whether the store holds exactly the node asked about.
    pub fn has_node(&self, query: &NodeQuery) -> bool {
        self.nodes.get(&(query.owner, query.path)).is_some_and(|node| keccak256(node) == query.hash)
    }

    /// The decoded record of the last applied batch.
    pub fn record(&self) -> Option<ProgressRecord> {
        self.progress.as_ref().map(|bytes| {
            ProgressRecord::decode_versioned(bytes).expect("applied records were checked")
        })
    }

    /// The end check: the flat state equals `target` exactly, every code its accounts use is
    /// stored, every stored trie node is the target's node at its path, and every node of the
    /// target is stored. Panics with the first difference.
    pub fn assert_complete(&self, target: &TargetState) {
        let state = &target.state;
        let expected: BTreeMap<B256, TrieAccount> = state.account_list().iter().copied().collect();
        if self.accounts != expected {
            let missing = expected.iter().find(|(h, a)| self.accounts.get(*h) != Some(*a));
            let extra = self.accounts.iter().find(|(h, a)| expected.get(*h) != Some(*a));
            panic!("done, but the stored accounts differ: missing {missing:?}, extra {extra:?}");
        }
        let slots: BTreeMap<(B256, B256), Bytes> = state
            .account_list()
            .iter()
            .flat_map(|(hash, _)| {
                state.slot_list(hash).iter().map(|(s, v)| ((*hash, *s), v.clone()))
            })
            .collect();
        if self.slots != slots {
            let missing = slots.iter().find(|(k, v)| self.slots.get(k) != Some(v));
            let extra = self.slots.iter().find(|(k, v)| slots.get(k) != Some(v));
            panic!("done, but the stored slots differ: missing {missing:?}, extra {extra:?}");
        }
        for (hash, account) in state.account_list() {
            if account.code_hash != KECCAK_EMPTY
                && state.codes().contains_key(&account.code_hash)
                && !self.codes.contains_key(&account.code_hash)
            {
                panic!("done, but the code of account {hash} is not stored");
            }
        }
        for ((owner, path), node) in &self.nodes {
            assert_eq!(
                target.node(owner, path).as_ref(),
                Some(node),
                "done, but the stored node of {owner} at {path:?} is not the target's"
            );
        }
        let owners =
            std::iter::once(B256::ZERO).chain(state.account_list().iter().map(|(h, _)| *h));
        for owner in owners {
            let leaves: Vec<(B256, Vec<u8>)> = if owner.is_zero() {
                state.account_list().iter().map(|(h, a)| (*h, alloy_rlp::encode(a))).collect()
            } else {
                state.slot_list(&owner).iter().map(|(s, v)| (*s, v.to_vec())).collect()
            };
            for path in snap_core::trie::build_trie(&leaves).nodes.keys() {
                assert!(
                    self.nodes.contains_key(&(owner, *path)),
                    "done, but the node of {owner} at {path:?} is missing"
                );
            }
        }
    }
}

/// The model's plain operations, written the simplest way (filters over whole maps), so the
/// reference applier's rules are checked against an implementation independent of the core's
/// `MemoryStore`.
impl BatchStore for ModelStore {
    fn clear_nodes(&mut self) {
        self.nodes.clear();
    }

    fn delete_nodes_in(&mut self, owner: B256, from: &Nibbles, to: Option<&Nibbles>) {
        self.nodes.retain(|(node_owner, path), _| {
            *node_owner != owner || path < from || to.is_some_and(|to| path >= to)
        });
    }

    fn delete_accounts_in(&mut self, first: B256, end: Option<B256>) {
        self.accounts.retain(|hash, _| !in_bounds(hash, first, end));
    }

    fn delete_storage_in(&mut self, first: B256, end: Option<B256>) {
        self.slots.retain(|(account, _), _| !in_bounds(account, first, end));
        self.nodes.retain(|(owner, _), _| owner.is_zero() || !in_bounds(owner, first, end));
    }

    fn delete_slots_in(&mut self, owner: B256, first: B256, end: Option<B256>) {
        self.slots.retain(|(account, slot), _| *account != owner || !in_bounds(slot, first, end));
    }

    fn delete_node(&mut self, key: NodeKey) {
        self.nodes.remove(&(key.owner, key.path));
    }

    fn put_account(&mut self, hash: B256, account: TrieAccount) {
        self.accounts.insert(hash, account);
    }

    fn put_slot(&mut self, account: B256, slot: B256, value: Bytes) {
        self.slots.insert((account, slot), value);
    }

    fn put_code(&mut self, hash: B256, code: Bytes) {
        self.codes.insert(hash, code);
    }

    fn put_node(&mut self, key: NodeKey, node: Bytes) {
        self.nodes.insert((key.owner, key.path), node);
    }

    fn set_progress(&mut self, record: Bytes) {
        self.progress = Some(record);
    }
}

fn in_bounds(key: &B256, first: B256, end: Option<B256>) -> bool {
    *key >= first && end.is_none_or(|end| *key < end)
}

#[cfg(test)]
mod tests {
    use snap_core::trie::PrunedRange;

    use super::*;
    use crate::fuzzing::syncer::world::World;

    /// A store holding all of `target`: every account, slot, code and node.
    fn full(target: &TargetState) -> ModelStore {
        let state = &target.state;
        let mut batch =
            WriteBatch { accounts: state.account_list().to_vec(), ..Default::default() };
        let mut owners = vec![B256::ZERO];
        for (hash, _) in state.account_list() {
            batch.storage.extend(state.slot_list(hash).iter().map(|(s, v)| (*hash, *s, v.clone())));
            owners.push(*hash);
        }
        batch.codes = state.codes().iter().map(|(h, c)| (*h, c.clone())).collect();
        for owner in owners {
            let leaves: Vec<(B256, Vec<u8>)> = if owner.is_zero() {
                state.account_list().iter().map(|(h, a)| (*h, alloy_rlp::encode(a))).collect()
            } else {
                state.slot_list(&owner).iter().map(|(s, v)| (*s, v.to_vec())).collect()
            };
            for (path, node) in snap_core::trie::build_trie(&leaves).nodes {
                batch.nodes.writes.push((NodeKey { owner, path }, node));
            }
        }
        let mut store = ModelStore::default();
        store.apply(&batch);
        store
    }

    #[test]
    fn a_complete_store_passes_and_any_difference_fails() {
        let target = &World::get().states[0];
        full(target).assert_complete(target);
        let other = &World::get().states[1];
        let result = std::panic::catch_unwind(|| full(target).assert_complete(other));
        assert!(result.is_err(), "the first state passed as the second");
        let mut missing_node = full(target);
        let first = *missing_node.nodes.keys().next().expect("nodes");
        missing_node.nodes.remove(&first);
        assert!(std::panic::catch_unwind(|| missing_node.assert_complete(target)).is_err());
    }

    #[test]
    fn pruning_an_account_range_deletes_accounts_their_storage_and_nodes() {
        let target = &World::get().states[0];
        let state = &target.state;
        let owner = state
            .account_list()
            .iter()
            .map(|(h, _)| *h)
            .find(|h| !state.slot_list(h).is_empty())
            .expect("a contract");
        let mut store = full(target);
        let prefix = Nibbles::unpack(owner).slice(..2);
        let batch = WriteBatch {
            pruned: vec![PrunedRange::subtree(B256::ZERO, prefix)],
            ..Default::default()
        };
        store.apply(&batch);
        let range = PrunedRange::subtree(B256::ZERO, prefix);
        assert!(!store.accounts.contains_key(&owner));
        assert!(store.accounts.keys().all(|hash| !range.contains_key(hash)));
        assert!(store.accounts.len() < state.account_list().len());
        assert!(store.slots.keys().all(|(account, _)| *account != owner));
        assert!(
            store
                .nodes
                .keys()
                .all(|(o, path)| *o != owner && !(o.is_zero() && range.contains(path)))
        );
        // Storage pruning touches only its owner's slots.
        let mut store = full(target);
        let slots_before = store.slots.len();
        let own = state.slot_list(&owner).len();
        store.apply(&WriteBatch {
            pruned: vec![PrunedRange::subtree(owner, Nibbles::new())],
            ..Default::default()
        });
        assert_eq!(store.slots.len(), slots_before - own);
        assert!(store.accounts.contains_key(&owner));
    }
}
