//! A [`WriteBatch`] as backend operations, in the order [`SyncStore::apply`] defines:
//! [`BatchOps`] hands them out borrowed, keys built in a reused buffer and values read from the
//! batch in place, so a backend writes a batch without an allocation per item; [`batch_ops`]
//! collects them owned. Within a table the puts come in increasing key order (a stable sort:
//! of two puts of one key the later still wins), which B-trees insert fastest.
//!
//! [`SyncStore::apply`]: crate::SyncStore::apply

use alloy_primitives::B256;
use alloy_rlp::Encodable;
use snap_core::{sync::WriteBatch, trie::PrunedRange};

use crate::keys::{PROGRESS_KEY, Table, node_key, node_trie_end, prefix_end, slot_key};

/// One change of a [`KvBackend::commit`](crate::KvBackend::commit).
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
    /// Never empty: [`KvStore`](crate::KvStore) drops ranges with `end <= start`.
    DeleteRange {
        /// The table.
        table: Table,
        /// The first key removed.
        start: Vec<u8>,
        /// The first key kept after the range.
        end: Option<Vec<u8>>,
    },
}

/// One change, borrowed: what [`BatchOps::for_each`] hands a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOpRef<'a> {
    /// Set `key` to `value`.
    Put {
        /// The table.
        table: Table,
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove `key` if present.
    Delete {
        /// The table.
        table: Table,
        /// The key.
        key: &'a [u8],
    },
    /// Remove every key in `start..end` (`None`: to the end of the table); never empty.
    DeleteRange {
        /// The table.
        table: Table,
        /// The first key removed.
        start: &'a [u8],
        /// The first key kept after the range.
        end: Option<&'a [u8]>,
    },
}

impl KvOpRef<'_> {
    /// The owned operation.
    pub fn to_owned_op(&self) -> KvOp {
        match *self {
            Self::Put { table, key, value } => {
                KvOp::Put { table, key: key.to_vec(), value: value.to_vec() }
            }
            Self::Delete { table, key } => KvOp::Delete { table, key: key.to_vec() },
            Self::DeleteRange { table, start, end } => {
                KvOp::DeleteRange { table, start: start.to_vec(), end: end.map(<[u8]>::to_vec) }
            }
        }
    }
}

impl KvOp {
    /// The operation, borrowed.
    pub fn as_op_ref(&self) -> KvOpRef<'_> {
        match self {
            Self::Put { table, key, value } => KvOpRef::Put { table: *table, key, value },
            Self::Delete { table, key } => KvOpRef::Delete { table: *table, key },
            Self::DeleteRange { table, start, end } => {
                KvOpRef::DeleteRange { table: *table, start, end: end.as_deref() }
            }
        }
    }
}

/// The operations of one [`WriteBatch`], produced on the fly (see the [module](self) docs).
#[derive(Debug)]
pub struct BatchOps<'a> {
    batch: &'a WriteBatch,
    /// The range deletions (`clear_tries`, then each pruned range's), few per batch.
    ranges: Vec<KvOp>,
    /// The node writes' keys, one after another, and where each ends.
    node_keys: Vec<u8>,
    node_key_ends: Vec<usize>,
    /// Put orders: indices into the batch's lists in increasing key order (`None`: as they are,
    /// already sorted).
    accounts: Option<Vec<u32>>,
    storage: Option<Vec<u32>>,
    codes: Option<Vec<u32>>,
    nodes: Option<Vec<u32>>,
}

/// The indices of `items` in increasing key order, or `None` when they are in order already.
fn order<T, K: Ord>(items: &[T], key: impl Fn(&T) -> K) -> Option<Vec<u32>> {
    if items.windows(2).all(|pair| key(&pair[0]) <= key(&pair[1])) {
        return None;
    }
    let mut indices: Vec<u32> = (0..items.len() as u32).collect();
    indices.sort_by_key(|index| key(&items[*index as usize]));
    Some(indices)
}

/// Key `index` of keys stored one after another in `arena`, each ending at its `ends` entry.
fn arena_key<'k>(arena: &'k [u8], ends: &[usize], index: usize) -> &'k [u8] {
    let start = if index == 0 { 0 } else { ends[index - 1] };
    &arena[start..ends[index]]
}

/// `0..len` in `order`, or in sequence.
fn indices(order: Option<&Vec<u32>>, len: usize) -> impl Iterator<Item = usize> + '_ {
    let sorted = order.map(|order| order.iter().map(|index| *index as usize));
    let plain = order.is_none().then_some(0..len);
    sorted.into_iter().flatten().chain(plain.into_iter().flatten())
}

impl<'a> BatchOps<'a> {
    /// The operations of `batch`.
    pub fn new(batch: &'a WriteBatch) -> Self {
        let mut ranges = Vec::new();
        if batch.clear_tries {
            push_range(&mut ranges, Table::Nodes, Vec::new(), None);
        }
        for range in batch.pruned.iter().filter(|range| !range.is_empty()) {
            pruned_ops(range, &mut ranges);
        }
        let mut node_keys = Vec::with_capacity(batch.nodes.writes.len() * 40);
        let mut node_key_ends = Vec::with_capacity(batch.nodes.writes.len());
        for (key, _) in &batch.nodes.writes {
            node_keys.extend_from_slice(key.owner.as_slice());
            node_keys.extend(key.path.iter());
            node_key_ends.push(node_keys.len());
        }
        let written: Vec<usize> = (0..batch.nodes.writes.len()).collect();
        let nodes = order(&written, |index| arena_key(&node_keys, &node_key_ends, *index));
        Self {
            batch,
            ranges,
            accounts: order(&batch.accounts, |(hash, _)| *hash),
            storage: order(&batch.storage, |(account, slot, _)| (*account, *slot)),
            codes: order(&batch.codes, |(hash, _)| *hash),
            nodes,
            node_keys,
            node_key_ends,
        }
    }

    fn node_key(&self, index: usize) -> &[u8] {
        arena_key(&self.node_keys, &self.node_key_ends, index)
    }

    /// How many operations there are.
    pub fn len(&self) -> usize {
        let batch = self.batch;
        self.ranges.len()
            + batch.nodes.deletes.len()
            + batch.accounts.len()
            + batch.storage.len()
            + batch.codes.len()
            + batch.nodes.writes.len()
            + 1
    }

    /// Whether there are no operations (never: the progress record is always written).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Calls `f` with each operation in order; stops at its first error.
    pub fn for_each<E>(&self, mut f: impl FnMut(KvOpRef<'_>) -> Result<(), E>) -> Result<(), E> {
        let batch = self.batch;
        for op in &self.ranges {
            f(op.as_op_ref())?;
        }
        for key in &batch.nodes.deletes {
            f(KvOpRef::Delete { table: Table::Nodes, key: &node_key(&key.owner, &key.path) })?;
        }
        let mut value = Vec::with_capacity(128);
        for index in indices(self.accounts.as_ref(), batch.accounts.len()) {
            let (hash, account) = &batch.accounts[index];
            value.clear();
            account.encode(&mut value);
            f(KvOpRef::Put { table: Table::Accounts, key: hash.as_slice(), value: &value })?;
        }
        for index in indices(self.storage.as_ref(), batch.storage.len()) {
            let (account, slot, value) = &batch.storage[index];
            f(KvOpRef::Put { table: Table::Storage, key: &slot_key(account, slot), value })?;
        }
        for index in indices(self.codes.as_ref(), batch.codes.len()) {
            let (hash, code) = &batch.codes[index];
            f(KvOpRef::Put { table: Table::Codes, key: hash.as_slice(), value: code })?;
        }
        for index in indices(self.nodes.as_ref(), batch.nodes.writes.len()) {
            let value = &batch.nodes.writes[index].1;
            f(KvOpRef::Put { table: Table::Nodes, key: self.node_key(index), value })?;
        }
        f(KvOpRef::Put { table: Table::Meta, key: PROGRESS_KEY, value: &batch.progress })
    }

    /// The operations, owned.
    pub fn to_vec(&self) -> Vec<KvOp> {
        let mut ops = Vec::with_capacity(self.len());
        let _ = self.for_each(|op| -> Result<(), std::convert::Infallible> {
            ops.push(op.to_owned_op());
            Ok(())
        });
        ops
    }
}

/// The backend operations of `batch`, owned, in the order [`SyncStore::apply`] defines.
///
/// [`SyncStore::apply`]: crate::SyncStore::apply
pub fn batch_ops(batch: &WriteBatch) -> Vec<KvOp> {
    BatchOps::new(batch).to_vec()
}

/// The operations that delete what `range` names (see [`SyncStore::apply`]).
///
/// [`SyncStore::apply`]: crate::SyncStore::apply
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
