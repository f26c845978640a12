//! [`SyncStore`]: what a snap node needs from its database.

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;
use snap_core::sync::{FlatCursor, FlatEntry, Lookup, LookupAnswer, WriteBatch};

use crate::StoreError;

/// An iterator over stored entries that can fail part-way.
pub type StoreIter<'a, T> = Box<dyn Iterator<Item = Result<T, StoreError>> + 'a>;

/// A database that holds one state being synced (or synced): flat accounts, storage slots and
/// codes, path-keyed trie nodes, and the progress record of the last applied batch.
///
/// This crate's backends implement it through [`KvStore`](crate::KvStore); a client with its
/// own database implements it directly (or implements [`KvBackend`](crate::KvBackend), the
/// smaller ordered key-value interface, and reuses [`KvStore`](crate::KvStore)). Serving
/// ([`StoreView`](crate::StoreView)) and verification ([`verify`](crate::verify())) work on any
/// implementation.
pub trait SyncStore {
    /// Applies `batch` atomically and durably: when this returns `Ok`, the batch and its
    /// progress record survive a crash together; when the process dies before, neither does.
    ///
    /// Order within the batch: every trie node when `clear_tries` is set, the pruned ranges (trie nodes of the owner with a path in the
    /// range, and flat entries with a key in it: for the account trie the accounts together
    /// with all storage slots and storage-trie nodes of every account hash in the range, for a
    /// storage trie its slots), then the node deletions, then every write, then the progress
    /// record.
    fn apply(&mut self, batch: &WriteBatch) -> Result<(), StoreError>;

    /// The progress record of the last applied batch, if any.
    fn progress(&self) -> Result<Option<Bytes>, StoreError>;

    /// One flat account.
    fn account(&self, hash: &B256) -> Result<Option<TrieAccount>, StoreError>;

    /// The flat accounts with hash `>= origin`, in increasing hash order.
    fn accounts_from(
        &self,
        origin: &B256,
    ) -> Result<StoreIter<'_, (B256, TrieAccount)>, StoreError>;

    /// The flat slots of `account` with hash `>= origin`, in increasing hash order; each value
    /// is the trie-leaf payload.
    fn storage_from(
        &self,
        account: &B256,
        origin: &B256,
    ) -> Result<StoreIter<'_, (B256, Bytes)>, StoreError>;

    /// Every flat slot of every account, in increasing (account, slot) order.
    fn all_storage(&self) -> Result<StoreIter<'_, (B256, B256, Bytes)>, StoreError>;

    /// The bytecode with this hash.
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StoreError>;

    /// Every stored bytecode, in increasing hash order.
    fn all_codes(&self) -> Result<StoreIter<'_, (B256, Bytes)>, StoreError>;

    /// Whether the bytecode with this hash is stored.
    fn has_code(&self, hash: &B256) -> Result<bool, StoreError> {
        Ok(self.code(hash)?.is_some())
    }

    /// The trie node stored at `path` in `owner`'s trie (`B256::ZERO`: the account trie).
    fn node(&self, owner: &B256, path: &Nibbles) -> Result<Option<Bytes>, StoreError>;

    /// Every stored trie node of every trie, in increasing (owner, path) order.
    fn all_nodes(&self) -> Result<StoreIter<'_, (B256, Nibbles, Bytes)>, StoreError>;

    /// The raw block access list (snap/2) stored for this block hash, if any.
    fn block_access_list(&self, block_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        let _ = block_hash;
        Ok(None)
    }

    /// Whether any block access list is stored, so that the store can serve snap/2
    /// `GetBlockAccessLists` (a node advertises snap/2 only then).
    fn holds_block_access_lists(&self) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// The root of the stored state: the hash of the account trie's root node, `None` while it
    /// is not stored.
    fn state_root(&self) -> Result<Option<B256>, StoreError> {
        Ok(self.node(&B256::ZERO, &Nibbles::new())?.map(keccak256))
    }

    /// Answers a `Syncer` lookup from what is applied: codes stored, nodes stored at their path
    /// with the hash asked, flat accounts by hash, and the flat state from a cursor in trie order
    /// (each account followed by its slots, as `snap_core::sync::host::read_flat` defines it).
    fn answer(&self, lookup: &Lookup) -> Result<LookupAnswer, StoreError> {
        match lookup {
            Lookup::Codes(hashes) => Ok(LookupAnswer::Codes(
                hashes.iter().map(|hash| self.has_code(hash)).collect::<Result<_, _>>()?,
            )),
            Lookup::Nodes(queries) => Ok(LookupAnswer::Nodes(
                queries
                    .iter()
                    .map(|query| {
                        Ok(self
                            .node(&query.owner, &query.path)?
                            .is_some_and(|node| keccak256(&node) == query.hash))
                    })
                    .collect::<Result<_, StoreError>>()?,
            )),
            Lookup::Accounts(hashes) => Ok(LookupAnswer::Accounts(
                hashes.iter().map(|hash| self.account(hash)).collect::<Result<_, _>>()?,
            )),
            Lookup::Flat { from, limit } => Ok(LookupAnswer::Flat(read_flat(self, *from, *limit)?)),
            _ => Err(StoreError::UnsupportedLookup),
        }
    }
}

/// `snap_core::sync::host::read_flat` over a fallible store: up to `limit` entries from `from` on,
/// each account followed by its slots.
fn read_flat<S: SyncStore + ?Sized>(
    store: &S,
    from: FlatCursor,
    limit: usize,
) -> Result<Vec<FlatEntry>, StoreError> {
    let mut entries = Vec::new();
    if limit == 0 {
        return Ok(entries);
    }
    if let Some(slot) = from.slot {
        for item in store.storage_from(&from.account, &slot)? {
            let (key, value) = item?;
            entries.push(FlatEntry::Slot(from.account, key, value));
            if entries.len() == limit {
                return Ok(entries);
            }
        }
    }
    for item in store.accounts_from(&from.account)? {
        let (hash, account) = item?;
        if from.slot.is_some() && hash == from.account {
            continue; // reported before the cursor's slots
        }
        entries.push(FlatEntry::Account(hash, account));
        if entries.len() == limit {
            return Ok(entries);
        }
        for item in store.storage_from(&hash, &B256::ZERO)? {
            let (key, value) = item?;
            entries.push(FlatEntry::Slot(hash, key, value));
            if entries.len() == limit {
                return Ok(entries);
            }
        }
    }
    Ok(entries)
}
