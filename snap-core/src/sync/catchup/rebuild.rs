//! Rebuilding every trie from the flat state: the flat entries stream in through lookups in
//! trie order; each account's storage trie is generated from its slots (fixing the account's
//! storage root), the account trie from the accounts, and every node goes to the write batch.
//! Memory stays at one storage generator and the account generator's open path.

use alloy_primitives::{B256, Bytes};
use alloy_rlp::Decodable;
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount, nodes::TrieNode};

use crate::{
    sync::{
        contract::{FlatCursor, FlatEntry, WriteBatch},
        host::cursor_after,
        range::{HashRange, fraction_of_space},
    },
    trie::generate::{NodeChanges, TrieGenerator},
};

/// The account whose slots are streaming in.
#[derive(Debug)]
struct Current {
    hash: B256,
    account: TrieAccount,
    storage: Option<TrieGenerator>,
}

/// Rebuilding every trie from the flat state, streaming: feed it the answers to
/// [`Lookup::Flat`](crate::sync::Lookup::Flat) from [`Self::next_cursor`] on; it writes every
/// node (and every account whose stored storage root was stale) into the batch given, and
/// returns the root once the whole flat state was read. Hosts can use it to check a store.
#[derive(Debug)]
pub struct TrieRebuild {
    /// Where the next lookup starts (`None`: everything was read).
    cursor: Option<FlatCursor>,
    accounts: TrieGenerator,
    current: Option<Current>,
    /// The rebuilt account trie's root node, once written.
    root_node: Option<Bytes>,
    /// The id of the lookup in flight.
    pub(crate) awaiting: Option<u64>,
    leaves: u64,
}

/// A finished rebuild: the root it computed and its root node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebuilt {
    /// The account trie's root.
    pub root: B256,
    /// The account trie's root node, as written.
    pub root_node: Option<Bytes>,
}

impl Default for TrieRebuild {
    fn default() -> Self {
        Self::new()
    }
}

impl TrieRebuild {
    /// A rebuild starting at the first account.
    pub fn new() -> Self {
        Self {
            cursor: Some(FlatCursor { account: B256::ZERO, slot: None }),
            accounts: TrieGenerator::new(B256::ZERO, B256::ZERO),
            current: None,
            root_node: None,
            awaiting: None,
            leaves: 0,
        }
    }

    /// Where the next lookup starts, unless one is in flight or everything was read.
    pub(crate) fn next_lookup(&self) -> Option<FlatCursor> {
        if self.awaiting.is_some() { None } else { self.cursor }
    }

    /// Where the next [`Lookup::Flat`](crate::sync::Lookup::Flat) starts (`None`: everything
    /// was read).
    pub const fn next_cursor(&self) -> Option<FlatCursor> {
        self.cursor
    }

    /// The fraction of the account key space read so far.
    pub fn fraction_read(&self) -> f64 {
        match self.cursor {
            Some(cursor) => 1.0 - fraction_of_space(&cursor.account, &B256::repeat_byte(0xff)),
            None => 1.0,
        }
    }

    /// Leaves (accounts and slots) hashed so far.
    pub const fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Takes one lookup's entries (at most `limit` were asked for; fewer means the end).
    /// Returns the result once the whole flat state was read.
    pub fn feed(
        &mut self,
        entries: Vec<FlatEntry>,
        limit: usize,
        batch: &mut WriteBatch,
    ) -> Option<Rebuilt> {
        self.awaiting = None;
        let full = entries.len() >= limit.max(1);
        self.cursor = if full { entries.last().and_then(cursor_after) } else { None };
        for entry in entries {
            match entry {
                FlatEntry::Account(hash, account) => {
                    // Entries only move forward; anything else is a host bug, skipped safely.
                    if self.current.as_ref().is_some_and(|c| hash <= c.hash) {
                        continue;
                    }
                    self.finish_account(batch);
                    self.current = Some(Current { hash, account, storage: None });
                }
                FlatEntry::Slot(owner, slot, value) => {
                    let Some(current) = self.current.as_mut().filter(|c| c.hash == owner) else {
                        continue;
                    };
                    let generator = current
                        .storage
                        .get_or_insert_with(|| TrieGenerator::new(owner, B256::ZERO));
                    if generator.push(slot, &value).is_ok() {
                        self.leaves += 1;
                    }
                    let mut changes = generator.take_changes();
                    batch.nodes.append(&mut changes);
                }
            }
        }
        let mut changes = self.accounts.take_changes();
        self.note_root(&changes);
        batch.nodes.append(&mut changes);
        if self.cursor.is_some() {
            return None;
        }
        self.finish_account(batch);
        let accounts =
            std::mem::replace(&mut self.accounts, TrieGenerator::new(B256::ZERO, B256::ZERO));
        let (mut changes, root) = accounts.finish(true);
        self.note_root(&changes);
        batch.nodes.append(&mut changes);
        Some(Rebuilt { root: root.unwrap_or(EMPTY_ROOT_HASH), root_node: self.root_node.take() })
    }

    fn note_root(&mut self, changes: &NodeChanges) {
        if let Some((_, node)) =
            changes.writes.iter().find(|(key, _)| key.owner == B256::ZERO && key.path.is_empty())
        {
            self.root_node = Some(node.clone());
        }
    }

    /// Closes the current account: its storage root from its slots, its leaf into the account
    /// trie, and the account rewritten if its stored storage root was stale.
    fn finish_account(&mut self, batch: &mut WriteBatch) {
        let Some(current) = self.current.take() else { return };
        let storage_root = match current.storage {
            None => EMPTY_ROOT_HASH,
            Some(generator) => {
                let (mut changes, root) = generator.finish(true);
                batch.nodes.append(&mut changes);
                root.unwrap_or(EMPTY_ROOT_HASH)
            }
        };
        let mut account = current.account;
        if account.storage_root != storage_root {
            account.storage_root = storage_root;
            batch.accounts.push((current.hash, account));
        }
        if self.accounts.push(current.hash, &alloy_rlp::encode(account)).is_ok() {
            self.leaves += 1;
        }
    }
}

/// The account-hash ranges under the root's children that differ between two root nodes: the
/// whole space when either is not a branch.
pub(crate) fn differing_ranges(local: Option<&[u8]>, remote: &[u8]) -> Vec<HashRange> {
    let children = |node: &[u8]| -> Option<[Option<Bytes>; 16]> {
        let TrieNode::Branch(branch) = TrieNode::decode(&mut &node[..]).ok()? else { return None };
        let mut children: [Option<Bytes>; 16] = Default::default();
        let mut stack = branch.stack.iter();
        for (nibble, child) in children.iter_mut().enumerate() {
            if branch.state_mask.is_bit_set(nibble as u8) {
                *child = Some(Bytes::copy_from_slice(stack.next()?.as_ref()));
            }
        }
        Some(children)
    };
    let whole = vec![HashRange { first: B256::ZERO, last: B256::repeat_byte(0xff) }];
    let (Some(local), Some(remote)) = (local.and_then(children), children(remote)) else {
        return whole;
    };
    (0u8..16)
        .filter(|&nibble| local[usize::from(nibble)] != remote[usize::from(nibble)])
        .map(|nibble| {
            let mut first = B256::ZERO;
            first[0] = nibble << 4;
            let mut last = B256::repeat_byte(0xff);
            last[0] = (nibble << 4) | 0x0f;
            HashRange { first, last }
        })
        .collect()
}
