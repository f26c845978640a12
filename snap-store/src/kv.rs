//! [`KvBackend`], the ordered key-value interface a database provides, and [`KvStore`], the
//! [`SyncStore`] built on it: batch semantics, key layout and value encoding live here once,
//! for every backend.

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::TrieAccount;
use nybbles::Nibbles;
use snap_core::sync::WriteBatch;

use crate::{
    BatchOps, KvOp, StoreError, StoreIter, SyncStore,
    keys::{
        PROGRESS_KEY, Table, hash_key, node_key, prefix_end, slot_key, split_node_key,
        split_slot_key,
    },
};

/// Key-value pairs of one table in increasing key order.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a>;

/// An ordered, transactional key-value database with the tables of [`Table`].
pub trait KvBackend {
    /// The value of `key`.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entries with keys in `start..end` (`None`: to the end), in increasing key order.
    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<KvIter<'_>, StoreError>;

    /// Applies `ops` in order, all or none, durably (synced to disk) before returning `Ok`.
    fn commit(&mut self, ops: &[KvOp]) -> Result<(), StoreError>;

    /// Applies the operations of one batch the same way. The default collects them owned and
    /// calls [`commit`](Self::commit); a backend overrides it to write them straight from the
    /// batch (no allocation per item).
    fn commit_batch(&mut self, ops: &BatchOps<'_>) -> Result<(), StoreError> {
        self.commit(&ops.to_vec())
    }
}

/// A [`SyncStore`] on any [`KvBackend`], with the layout of [`crate::keys`].
#[derive(Debug)]
pub struct KvStore<B> {
    backend: B,
}

impl<B: KvBackend> KvStore<B> {
    /// A store over `backend`.
    pub const fn new(backend: B) -> Self {
        Self { backend }
    }

    /// The backend.
    pub const fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, to close or inspect it.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Stores raw block access lists by block hash, to serve them (what a node keeps of the
    /// blocks it imports), in one atomic, synced commit. Each must be one RLP list (a reply
    /// embeds it as is): anything else is refused and nothing is written.
    pub fn put_block_access_lists(&mut self, lists: &[(B256, Bytes)]) -> Result<(), StoreError> {
        for (hash, list) in lists {
            let mut rest = &list[..];
            let whole = alloy_rlp::Header::decode(&mut rest)
                .is_ok_and(|header| header.list && header.payload_length == rest.len());
            if !whole {
                let key = Bytes::copy_from_slice(hash.as_slice());
                return Err(StoreError::Corrupt {
                    table: Table::Bals,
                    key,
                    reason: "not one RLP list",
                });
            }
        }
        let ops: Vec<KvOp> = lists
            .iter()
            .map(|(hash, list)| KvOp::Put {
                table: Table::Bals,
                key: hash.to_vec(),
                value: list.to_vec(),
            })
            .collect();
        self.backend.commit(&ops)
    }

    /// Forgets the block access lists of these blocks (past the retention), in one commit.
    pub fn prune_block_access_lists(&mut self, hashes: &[B256]) -> Result<(), StoreError> {
        let ops: Vec<KvOp> = hashes
            .iter()
            .map(|hash| KvOp::Delete { table: Table::Bals, key: hash.to_vec() })
            .collect();
        self.backend.commit(&ops)
    }

    fn scan_from(
        &self,
        table: Table,
        start: &[u8],
        end: Option<Vec<u8>>,
    ) -> Result<KvIter<'_>, StoreError> {
        self.backend.scan(table, start, end.as_deref())
    }
}

fn decode_account(key: &[u8], mut value: &[u8]) -> Result<TrieAccount, StoreError> {
    let account = TrieAccount::decode(&mut value)
        .map_err(|_| StoreError::corrupt(Table::Accounts, key, "account is not RLP"))?;
    if !value.is_empty() {
        return Err(StoreError::corrupt(Table::Accounts, key, "bytes after the account"));
    }
    Ok(account)
}

fn account_entry(
    entry: Result<(Vec<u8>, Vec<u8>), StoreError>,
) -> Result<(B256, TrieAccount), StoreError> {
    let (key, value) = entry?;
    let hash = hash_key(&key)
        .ok_or_else(|| StoreError::corrupt(Table::Accounts, &key, "key is not a hash"))?;
    Ok((hash, decode_account(&key, &value)?))
}

fn slot_entry(
    entry: Result<(Vec<u8>, Vec<u8>), StoreError>,
) -> Result<(B256, B256, Bytes), StoreError> {
    let (key, value) = entry?;
    let (account, slot) = split_slot_key(&key)
        .ok_or_else(|| StoreError::corrupt(Table::Storage, &key, "key is not account and slot"))?;
    Ok((account, slot, Bytes::from(value)))
}

impl<B: KvBackend> SyncStore for KvStore<B> {
    fn apply(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        self.backend.commit_batch(&BatchOps::new(batch))
    }

    fn progress(&self) -> Result<Option<Bytes>, StoreError> {
        Ok(self.backend.get(Table::Meta, PROGRESS_KEY)?.map(Bytes::from))
    }

    fn account(&self, hash: &B256) -> Result<Option<TrieAccount>, StoreError> {
        self.backend
            .get(Table::Accounts, hash.as_slice())?
            .map(|value| decode_account(hash.as_slice(), &value))
            .transpose()
    }

    fn accounts_from(
        &self,
        origin: &B256,
    ) -> Result<StoreIter<'_, (B256, TrieAccount)>, StoreError> {
        Ok(Box::new(self.scan_from(Table::Accounts, origin.as_slice(), None)?.map(account_entry)))
    }

    fn storage_from(
        &self,
        account: &B256,
        origin: &B256,
    ) -> Result<StoreIter<'_, (B256, Bytes)>, StoreError> {
        let entries = self.scan_from(
            Table::Storage,
            &slot_key(account, origin),
            prefix_end(account.as_slice()),
        )?;
        Ok(Box::new(entries.map(|entry| slot_entry(entry).map(|(_, slot, value)| (slot, value)))))
    }

    fn all_storage(&self) -> Result<StoreIter<'_, (B256, B256, Bytes)>, StoreError> {
        Ok(Box::new(self.scan_from(Table::Storage, &[], None)?.map(slot_entry)))
    }

    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StoreError> {
        Ok(self.backend.get(Table::Codes, hash.as_slice())?.map(Bytes::from))
    }

    fn block_access_list(&self, block_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        Ok(self.backend.get(Table::Bals, block_hash.as_slice())?.map(Bytes::from))
    }

    fn holds_block_access_lists(&self) -> Result<bool, StoreError> {
        Ok(self.scan_from(Table::Bals, &[], None)?.next().transpose()?.is_some())
    }

    fn all_codes(&self) -> Result<StoreIter<'_, (B256, Bytes)>, StoreError> {
        Ok(Box::new(self.scan_from(Table::Codes, &[], None)?.map(|entry| {
            let (key, value) = entry?;
            let hash = hash_key(&key)
                .ok_or_else(|| StoreError::corrupt(Table::Codes, &key, "key is not a hash"))?;
            Ok((hash, Bytes::from(value)))
        })))
    }

    fn node(&self, owner: &B256, path: &Nibbles) -> Result<Option<Bytes>, StoreError> {
        Ok(self.backend.get(Table::Nodes, &node_key(owner, path))?.map(Bytes::from))
    }

    fn all_nodes(&self) -> Result<StoreIter<'_, (B256, Nibbles, Bytes)>, StoreError> {
        Ok(Box::new(self.scan_from(Table::Nodes, &[], None)?.map(|entry| {
            let (key, value) = entry?;
            let (owner, path) = split_node_key(&key).ok_or_else(|| {
                StoreError::corrupt(Table::Nodes, &key, "key is not owner and path")
            })?;
            Ok((owner, path, Bytes::from(value)))
        })))
    }

    fn state_root(&self) -> Result<Option<B256>, StoreError> {
        Ok(self.backend.get(Table::Nodes, &node_key(&B256::ZERO, &Nibbles::new()))?.map(keccak256))
    }
}
