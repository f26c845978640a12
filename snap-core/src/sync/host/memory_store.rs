//! The contract's reference store: write batches applied in memory exactly as the contract
//! says, and lookups answered from what was applied. Tests, simulations and small hosts use it
//! as is; a database-backed host follows the same rules.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;

use super::{
    apply::{BatchStore, apply_batch, in_bounds},
    flat::{FlatSource, read_flat},
};
use crate::{
    sync::contract::{Lookup, LookupAnswer, WriteBatch},
    trie::NodeKey,
};

impl FlatSource for MemoryStore {
    fn accounts_from(&self, from: B256) -> impl Iterator<Item = (B256, TrieAccount)> + '_ {
        self.accounts.range(from..).map(|(hash, account)| (*hash, *account))
    }

    fn slots_from(&self, account: B256, from: B256) -> impl Iterator<Item = (B256, Bytes)> + '_ {
        self.storage
            .range((account, from)..)
            .take_while(move |((owner, _), _)| *owner == account)
            .map(|((_, slot), value)| (*slot, value.clone()))
    }
}

/// Flat state, codes, path-keyed trie nodes and the last progress record, in ordered maps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStore {
    accounts: BTreeMap<B256, TrieAccount>,
    storage: BTreeMap<(B256, B256), Bytes>,
    codes: BTreeMap<B256, Bytes>,
    nodes: BTreeMap<(B256, Nibbles), Bytes>,
    progress: Option<Bytes>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a batch exactly as the contract says ([`apply_batch`]); the batch's progress
    /// record becomes the store's.
    pub fn apply(&mut self, batch: WriteBatch) {
        apply_batch(self, &batch);
    }

    /// Answers a lookup from what was applied.
    pub fn answer(&self, lookup: &Lookup) -> LookupAnswer {
        match lookup {
            Lookup::Codes(hashes) => LookupAnswer::Codes(
                hashes.iter().map(|hash| self.codes.contains_key(hash)).collect(),
            ),
            Lookup::Nodes(queries) => LookupAnswer::Nodes(
                queries
                    .iter()
                    .map(|query| {
                        self.nodes
                            .get(&(query.owner, query.path))
                            .is_some_and(|node| keccak256(node) == query.hash)
                    })
                    .collect(),
            ),
            Lookup::Accounts(hashes) => LookupAnswer::Accounts(
                hashes.iter().map(|hash| self.accounts.get(hash).copied()).collect(),
            ),
            Lookup::Flat { from, limit } => LookupAnswer::Flat(read_flat(self, *from, *limit)),
        }
    }

    /// The progress record of the last batch applied.
    pub const fn progress(&self) -> Option<&Bytes> {
        self.progress.as_ref()
    }

    /// Flat accounts by hash.
    pub const fn accounts(&self) -> &BTreeMap<B256, TrieAccount> {
        &self.accounts
    }

    /// Flat storage slots by (account hash, slot hash).
    pub const fn storage(&self) -> &BTreeMap<(B256, B256), Bytes> {
        &self.storage
    }

    /// Bytecodes by hash.
    pub const fn codes(&self) -> &BTreeMap<B256, Bytes> {
        &self.codes
    }

    /// Trie nodes by (owner, path).
    pub const fn nodes(&self) -> &BTreeMap<(B256, Nibbles), Bytes> {
        &self.nodes
    }
}

impl BatchStore for MemoryStore {
    fn clear_nodes(&mut self) {
        self.nodes.clear();
    }

    fn delete_nodes_in(&mut self, owner: B256, from: &Nibbles, to: Option<&Nibbles>) {
        let paths: Vec<(B256, Nibbles)> = self
            .nodes
            .range((owner, *from)..)
            .take_while(|((o, path), _)| *o == owner && to.is_none_or(|to| path < to))
            .map(|(key, _)| *key)
            .collect();
        for key in paths {
            self.nodes.remove(&key);
        }
    }

    fn delete_accounts_in(&mut self, first: B256, end: Option<B256>) {
        let accounts: Vec<B256> = self
            .accounts
            .range(first..)
            .take_while(|(key, _)| end.is_none_or(|end| **key < end))
            .map(|(key, _)| *key)
            .collect();
        for key in accounts {
            self.accounts.remove(&key);
        }
    }

    fn delete_storage_in(&mut self, first: B256, end: Option<B256>) {
        let in_range = |account: &B256| in_bounds(account, &first, end.as_ref());
        let slots: Vec<(B256, B256)> = self
            .storage
            .range((first, B256::ZERO)..)
            .take_while(|((account, _), _)| in_range(account))
            .map(|(key, _)| *key)
            .collect();
        for key in slots {
            self.storage.remove(&key);
        }
        // Owner zero is the account trie's.
        let start = (first.max(B256::with_last_byte(1)), Nibbles::new());
        let nodes: Vec<(B256, Nibbles)> = self
            .nodes
            .range(start..)
            .take_while(|((account, _), _)| in_range(account))
            .map(|(key, _)| *key)
            .collect();
        for key in nodes {
            self.nodes.remove(&key);
        }
    }

    fn delete_slots_in(&mut self, owner: B256, first: B256, end: Option<B256>) {
        let slots: Vec<(B256, B256)> = self
            .storage
            .range((owner, first)..)
            .take_while(|((account, slot), _)| {
                *account == owner && end.is_none_or(|end| *slot < end)
            })
            .map(|(key, _)| *key)
            .collect();
        for key in slots {
            self.storage.remove(&key);
        }
    }

    fn delete_node(&mut self, key: NodeKey) {
        self.nodes.remove(&(key.owner, key.path));
    }

    fn put_account(&mut self, hash: B256, account: TrieAccount) {
        self.accounts.insert(hash, account);
    }

    fn put_slot(&mut self, account: B256, slot: B256, value: Bytes) {
        self.storage.insert((account, slot), value);
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::trie::PrunedRange;

    fn b256() -> impl Strategy<Value = B256> {
        // Few distinct first bytes, so ranges and owners collide often.
        (0u8..4, any::<[u8; 31]>()).prop_map(|(first, rest)| {
            let mut bytes = [0u8; 32];
            bytes[0] = first * 0x40;
            bytes[1..].copy_from_slice(&rest);
            B256::from(bytes)
        })
    }

    fn nibbles() -> impl Strategy<Value = Nibbles> {
        proptest::collection::vec(0u8..16, 0..4)
            .prop_map(|n| Nibbles::from_nibbles(n.iter().map(|x| x & 0xc).collect::<Vec<u8>>()))
    }

    fn range() -> impl Strategy<Value = PrunedRange> {
        let owner = prop_oneof![Just(B256::ZERO), b256()];
        prop_oneof![
            (owner.clone(), nibbles())
                .prop_map(|(owner, prefix)| PrunedRange::subtree(owner, prefix)),
            (owner.clone(), nibbles())
                .prop_map(|(owner, prefix)| PrunedRange::below(owner, prefix)),
            (owner, nibbles(), proptest::option::of(nibbles()))
                .prop_map(|(owner, from, to)| PrunedRange { owner, from, to }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Range pruning equals deleting, one by one, every entry the range names.
        #[test]
        fn pruning_deletes_exactly_the_named_entries(
            accounts in proptest::collection::vec(b256(), 0..20),
            slots in proptest::collection::vec((b256(), b256()), 0..30),
            nodes in proptest::collection::vec((prop_oneof![Just(B256::ZERO), b256()], nibbles()), 0..30),
            range in range(),
        ) {
            let mut batch = WriteBatch {
                accounts: accounts.iter().map(|hash| (*hash, TrieAccount::default())).collect(),
                storage: slots.iter().map(|(a, s)| (*a, *s, Bytes::from_static(&[1]))).collect(),
                ..WriteBatch::default()
            };
            batch.nodes.writes = nodes
                .iter()
                .map(|(owner, path)| (NodeKey { owner: *owner, path: *path }, Bytes::from_static(&[2])))
                .collect();
            let mut store = MemoryStore::new();
            store.apply(batch);
            let mut expected = store.clone();
            expected.accounts.retain(|hash, _| range.owner != B256::ZERO || !range.contains_key(hash));
            expected.storage.retain(|(account, slot), _| {
                if range.owner == B256::ZERO { !range.contains_key(account) } else { *account != range.owner || !range.contains_key(slot) }
            });
            expected.nodes.retain(|(owner, path), _| {
                let own = *owner == range.owner && range.contains(path);
                let of_pruned_account = range.owner == B256::ZERO && *owner != B256::ZERO && range.contains_key(owner);
                !own && !of_pruned_account
            });
            store.apply(WriteBatch { pruned: vec![range], ..WriteBatch::default() });
            expected.progress = store.progress.clone();
            prop_assert_eq!(store, expected);
        }
    }
}
