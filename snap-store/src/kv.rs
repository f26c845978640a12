//! [`KvBackend`], the ordered key-value interface a database provides, and [`KvStore`], the
//! [`SyncStore`] built on it: batch semantics, key layout and value encoding live here once,
//! for every backend.

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;
use snap_core::{sync::WriteBatch, trie::PrunedRange};

use crate::{
    StoreError, StoreIter, SyncStore,
    keys::{
        PROGRESS_KEY, Table, hash_key, node_key, node_trie_end, prefix_end, slot_key,
        split_node_key, split_slot_key,
    },
};

/// Key-value pairs of one table in increasing key order.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a>;

/// One change of a [`KvBackend::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// Set `key` to `value`.
    Put {
        /// The table.
        table: Table,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` if present.
    Delete {
        /// The table.
        table: Table,
        /// The key.
        key: Vec<u8>,
    },
    /// Remove every key in `start..end` (`end` exclusive, `None`: to the end of the table).
    /// Never empty: [`KvStore`] drops ranges with `end <= start`.
    DeleteRange {
        /// The table.
        table: Table,
        /// The first key removed.
        start: Vec<u8>,
        /// The first key kept after the range.
        end: Option<Vec<u8>>,
    },
}

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

/// The RLP encoding of an account, as stored.
pub(crate) fn encode_account(account: &TrieAccount) -> Vec<u8> {
    let mut out = Vec::with_capacity(account.length());
    account.encode(&mut out);
    out
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

/// The operations that delete what `range` names (see [`SyncStore::apply`]).
fn pruned_ops(range: &PrunedRange, ops: &mut Vec<KvOp>) {
    let owner = range.owner;
    let nodes_end =
        range.to.as_ref().map_or_else(|| node_trie_end(&owner), |to| node_key(&owner, to));
    push_range(ops, Table::Nodes, node_key(&owner, &range.from), Some(nodes_end));
    let (first, end) = range.key_bounds();
    if owner.is_zero() {
        let end = end.map(|end| end.to_vec());
        push_range(ops, Table::Accounts, first.to_vec(), end.clone());
        // Storage keys start with the account hash: every slot of every account in the range.
        push_range(ops, Table::Storage, first.to_vec(), end.clone());
        // Storage tries of those accounts; owner zero is the account trie itself and stays.
        let first_owner = if first.is_zero() { B256::with_last_byte(1) } else { first };
        push_range(ops, Table::Nodes, first_owner.to_vec(), end);
    } else {
        let end = match end {
            Some(end) => Some(slot_key(&owner, &end).to_vec()),
            None => prefix_end(owner.as_slice()),
        };
        push_range(ops, Table::Storage, slot_key(&owner, &first).to_vec(), end);
    }
}

fn push_range(ops: &mut Vec<KvOp>, table: Table, start: Vec<u8>, end: Option<Vec<u8>>) {
    if end.as_ref().is_none_or(|end| *end > start) {
        ops.push(KvOp::DeleteRange { table, start, end });
    }
}

/// The backend operations of `batch`, in the order [`SyncStore::apply`] defines.
pub fn batch_ops(batch: &WriteBatch) -> Vec<KvOp> {
    let mut ops = Vec::with_capacity(
        batch.pruned.len() * 4
            + batch.nodes.deletes.len()
            + batch.accounts.len()
            + batch.storage.len()
            + batch.codes.len()
            + batch.nodes.writes.len()
            + 1,
    );
    if batch.clear_tries {
        push_range(&mut ops, Table::Nodes, Vec::new(), None);
    }
    for range in batch.pruned.iter().filter(|range| !range.is_empty()) {
        pruned_ops(range, &mut ops);
    }
    for key in &batch.nodes.deletes {
        ops.push(KvOp::Delete { table: Table::Nodes, key: node_key(&key.owner, &key.path) });
    }
    for (hash, account) in &batch.accounts {
        ops.push(KvOp::Put {
            table: Table::Accounts,
            key: hash.to_vec(),
            value: encode_account(account),
        });
    }
    for (account, slot, value) in &batch.storage {
        ops.push(KvOp::Put {
            table: Table::Storage,
            key: slot_key(account, slot).to_vec(),
            value: value.to_vec(),
        });
    }
    for (hash, code) in &batch.codes {
        ops.push(KvOp::Put { table: Table::Codes, key: hash.to_vec(), value: code.to_vec() });
    }
    for (key, node) in &batch.nodes.writes {
        ops.push(KvOp::Put {
            table: Table::Nodes,
            key: node_key(&key.owner, &key.path),
            value: node.to_vec(),
        });
    }
    ops.push(KvOp::Put {
        table: Table::Meta,
        key: PROGRESS_KEY.to_vec(),
        value: batch.progress.to_vec(),
    });
    ops
}

impl<B: KvBackend> SyncStore for KvStore<B> {
    fn apply(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        self.backend.commit(&batch_ops(batch))
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
