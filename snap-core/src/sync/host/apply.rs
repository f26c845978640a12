//! The one way to apply a [`WriteBatch`]: the order the contract fixes and the cascade of an
//! account range onto storage, over a store's plain operations.
//!
//! A store implements [`BatchStore`] (map operations: delete a range, delete a key, write a
//! key) and calls [`apply_batch`] inside its atomic write; the rules live here once:
//!
//! 1. `clear_tries`: every trie node goes, of every trie; flat entries and codes stay.
//! 2. Each pruned range ([`apply_pruned`]): the owner's trie nodes with a path in the range;
//!    for the account trie also the flat accounts with a hash in it and **all storage** (slots
//!    and storage-trie nodes) of every account hash in it, flat account or not; for a storage
//!    trie the owner's slots with a hash in it.
//! 3. The node deletions.
//! 4. Every write: accounts, slots, codes, nodes.
//! 5. The progress record, last.
//!
//! A batch never writes what it deletes, so the order only matters across batches: a later
//! batch may write into a range an earlier one pruned.

use alloy_primitives::{B256, Bytes};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;

use crate::{
    sync::contract::WriteBatch,
    trie::{NodeKey, PrunedRange},
};

/// A store as the reference applier sees it: flat accounts and slots keyed by hash, codes by
/// hash, trie nodes by owner (`B256::ZERO` for the account trie) and path, and one progress
/// record. Every range is `first..end`, `end` exclusive, `None` for the end of the key space.
pub trait BatchStore {
    /// Deletes every trie node, of the account trie and of every storage trie.
    fn clear_nodes(&mut self);

    /// Deletes `owner`'s trie nodes whose path lies in `from..to`.
    fn delete_nodes_in(&mut self, owner: B256, from: &Nibbles, to: Option<&Nibbles>);

    /// Deletes the flat accounts whose hash lies in `first..end`.
    fn delete_accounts_in(&mut self, first: B256, end: Option<B256>);

    /// Deletes the storage of every account hash in `first..end`: its slots and its
    /// storage-trie nodes (owners other than `B256::ZERO`, the account trie's), whether or not
    /// a flat account is stored for it.
    fn delete_storage_in(&mut self, first: B256, end: Option<B256>);

    /// Deletes `owner`'s slots whose hash lies in `first..end`.
    fn delete_slots_in(&mut self, owner: B256, first: B256, end: Option<B256>);

    /// Deletes one trie node.
    fn delete_node(&mut self, key: NodeKey);

    /// Writes a flat account.
    fn put_account(&mut self, hash: B256, account: TrieAccount);

    /// Writes a slot: `value` is RLP-encoded.
    fn put_slot(&mut self, account: B256, slot: B256, value: Bytes);

    /// Writes a bytecode by its hash.
    fn put_code(&mut self, hash: B256, code: Bytes);

    /// Writes a trie node.
    fn put_node(&mut self, key: NodeKey, node: Bytes);

    /// Replaces the progress record.
    fn set_progress(&mut self, record: Bytes);
}

/// Applies `batch` to `store` in the contract's order (see the module documentation). The host
/// makes the call atomic (one transaction), then acknowledges the batch. Values are handed
/// over as [`Bytes`] clones (reference counts, not copies).
pub fn apply_batch<S: BatchStore + ?Sized>(store: &mut S, batch: &WriteBatch) {
    if batch.clear_tries {
        store.clear_nodes();
    }
    for range in &batch.pruned {
        apply_pruned(store, range);
    }
    for key in &batch.nodes.deletes {
        store.delete_node(*key);
    }
    for (hash, account) in &batch.accounts {
        store.put_account(*hash, *account);
    }
    for (account, slot, value) in &batch.storage {
        store.put_slot(*account, *slot, value.clone());
    }
    for (hash, code) in &batch.codes {
        store.put_code(*hash, code.clone());
    }
    for (key, node) in &batch.nodes.writes {
        store.put_node(*key, node.clone());
    }
    store.set_progress(batch.progress.clone());
}

/// Deletes what one pruned range names: the owner's nodes in it, and its flat entries (for the
/// account trie, accounts and the storage of every account hash in it).
pub fn apply_pruned<S: BatchStore + ?Sized>(store: &mut S, range: &PrunedRange) {
    if range.is_empty() {
        return;
    }
    store.delete_nodes_in(range.owner, &range.from, range.to.as_ref());
    let (first, end) = range.key_bounds();
    if range.owner == B256::ZERO {
        store.delete_accounts_in(first, end);
        store.delete_storage_in(first, end);
    } else {
        store.delete_slots_in(range.owner, first, end);
    }
}

/// Whether `key` lies in `first..end`.
pub(crate) fn in_bounds(key: &B256, first: &B256, end: Option<&B256>) -> bool {
    key >= first && end.is_none_or(|end| key < end)
}

#[cfg(test)]
mod tests {
    use alloy_primitives::keccak256;

    use super::*;
    use crate::sync::host::MemoryStore;

    /// `clear_tries` deletes every node of every trie before the batch's writes, and nothing
    /// else: flat entries and codes stay, and the nodes the same batch writes are kept.
    #[test]
    fn clearing_the_tries_comes_first_and_takes_only_nodes() {
        let node = |owner: u8, path: &[u8]| NodeKey {
            owner: B256::repeat_byte(owner),
            path: Nibbles::from_nibbles(path),
        };
        let code = Bytes::from_static(&[0x60, 0x00]);
        let mut first = WriteBatch {
            accounts: vec![(B256::repeat_byte(1), TrieAccount::default())],
            storage: vec![(B256::repeat_byte(1), B256::repeat_byte(2), Bytes::from_static(&[1]))],
            codes: vec![(keccak256(&code), code)],
            ..WriteBatch::default()
        };
        first.nodes.writes = vec![
            (node(0, &[1]), Bytes::from_static(&[0xc0])),
            (node(1, &[]), Bytes::from_static(&[0xc1])),
        ];
        let mut store = MemoryStore::new();
        store.apply(first);
        let mut second = WriteBatch { clear_tries: true, ..WriteBatch::default() };
        second.nodes.writes = vec![(node(0, &[2]), Bytes::from_static(&[0xc2]))];
        let (accounts, storage, codes) =
            (store.accounts().clone(), store.storage().clone(), store.codes().clone());
        store.apply(second);
        assert_eq!(
            store.nodes().keys().collect::<Vec<_>>(),
            vec![&(B256::ZERO, Nibbles::from_nibbles([2]))]
        );
        assert_eq!(
            (store.accounts(), store.storage(), store.codes()),
            (&accounts, &storage, &codes)
        );
    }
}
