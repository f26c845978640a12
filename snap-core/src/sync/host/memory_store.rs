//! The contract's reference store: write batches applied in memory exactly as the contract
//! says, and lookups answered from what was applied. Tests, simulations and small hosts use it
//! as is; a database-backed host follows the same rules.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;

use super::flat::{FlatSource, read_flat};
use crate::sync::contract::{Lookup, LookupAnswer, WriteBatch};
use crate::{
    serve::InMemoryState,
    trie::{PrunedRange, build_trie},
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

    /// Applies a batch: pruned ranges, then node deletions, then every write; the batch's
    /// progress record becomes the store's.
    pub fn apply(&mut self, batch: WriteBatch) {
        if batch.clear_tries {
            self.nodes.clear();
        }
        for range in &batch.pruned {
            self.prune(range);
        }
        for key in batch.nodes.deletes {
            self.nodes.remove(&(key.owner, key.path));
        }
        self.accounts.extend(batch.accounts);
        self.storage.extend(batch.storage.into_iter().map(|(a, s, v)| ((a, s), v)));
        self.codes.extend(batch.codes);
        self.nodes
            .extend(batch.nodes.writes.into_iter().map(|(k, node)| ((k.owner, k.path), node)));
        self.progress = Some(batch.progress);
    }

    fn prune(&mut self, range: &PrunedRange) {
        let owner = range.owner;
        let paths: Vec<(B256, Nibbles)> = self
            .nodes
            .range((owner, range.from)..)
            .take_while(|((o, path), _)| *o == owner && range.to.is_none_or(|to| *path < to))
            .map(|(key, _)| *key)
            .collect();
        for key in paths {
            self.nodes.remove(&key);
        }
        let (first, end) = range.key_bounds();
        if owner == B256::ZERO {
            let accounts: Vec<B256> = self
                .accounts
                .range(first..)
                .take_while(|(key, _)| end.is_none_or(|end| **key < end))
                .map(|(key, _)| *key)
                .collect();
            for key in accounts {
                self.accounts.remove(&key);
            }
            // The storage of every owner in the range, flat account or not.
            let in_range =
                |account: &B256| *account >= first && end.is_none_or(|end| *account < end);
            let slots: Vec<(B256, B256)> = self
                .storage
                .range((first, B256::ZERO)..)
                .take_while(|((account, _), _)| in_range(account))
                .map(|(key, _)| *key)
                .collect();
            for key in slots {
                self.storage.remove(&key);
            }
            let start = if first == B256::ZERO {
                (B256::with_last_byte(1), Nibbles::new())
            } else {
                (first, Nibbles::new())
            };
            let nodes: Vec<(B256, Nibbles)> = self
                .nodes
                .range(start..)
                .take_while(|((account, _), _)| in_range(account))
                .map(|(key, _)| *key)
                .collect();
            for key in nodes {
                self.nodes.remove(&key);
            }
        } else {
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

    /// Checks that the store holds exactly `state`: the same flat accounts and slots (none
    /// missing, none extra), every code the state references, and exactly the stored nodes of
    /// every trie of the state. Describes the first difference found.
    pub fn check_exact(&self, state: &InMemoryState) -> Result<(), String> {
        let accounts: BTreeMap<B256, TrieAccount> = state.account_list().iter().copied().collect();
        if self.accounts != accounts {
            let extra = self.accounts.keys().find(|key| !accounts.contains_key(*key));
            let missing = accounts.keys().find(|key| self.accounts.get(*key) != accounts.get(*key));
            return Err(format!(
                "flat accounts differ: {} stored, {} expected; extra {extra:?}, missing or \
                 different {missing:?}",
                self.accounts.len(),
                accounts.len()
            ));
        }
        let mut storage = BTreeMap::new();
        let mut nodes = BTreeMap::new();
        let leaves: Vec<(B256, Vec<u8>)> =
            state.account_list().iter().map(|(hash, a)| (*hash, alloy_rlp::encode(a))).collect();
        nodes
            .extend(build_trie(&leaves).nodes.into_iter().map(|(path, n)| ((B256::ZERO, path), n)));
        for (hash, account) in state.account_list() {
            let slots = state.slot_list(hash);
            storage.extend(slots.iter().map(|(slot, value)| ((*hash, *slot), value.clone())));
            nodes.extend(build_trie(slots).nodes.into_iter().map(|(path, n)| ((*hash, path), n)));
            if account.code_hash != KECCAK_EMPTY && !self.codes.contains_key(&account.code_hash) {
                return Err(format!("code {} of account {hash} missing", account.code_hash));
            }
        }
        if self.storage != storage {
            let extra = self.storage.keys().find(|key| !storage.contains_key(*key));
            let missing = storage.keys().find(|key| self.storage.get(*key) != storage.get(*key));
            return Err(format!(
                "flat storage differs: {} stored, {} expected; extra {extra:?}, missing or \
                 different {missing:?}",
                self.storage.len(),
                storage.len()
            ));
        }
        if self.nodes != nodes {
            let extra = self.nodes.keys().find(|key| !nodes.contains_key(*key));
            let missing = nodes.keys().find(|key| self.nodes.get(*key) != nodes.get(*key));
            return Err(format!(
                "trie nodes differ: {} stored, {} expected; extra {extra:?}, missing or \
                 different {missing:?}",
                self.nodes.len(),
                nodes.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::trie::NodeKey;

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
