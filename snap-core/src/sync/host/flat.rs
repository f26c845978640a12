//! Reading the flat state in trie order, the way
//! [`Lookup::Flat`](crate::sync::Lookup::Flat) asks for it: one function every host can answer
//! the lookup with, given ordered iteration over its accounts and slots.

use alloy_primitives::{B256, Bytes};
use alloy_trie::TrieAccount;

use crate::sync::{
    contract::{FlatCursor, FlatEntry},
    range::next_hash,
};

/// Ordered iteration over a store's flat state.
pub trait FlatSource {
    /// Flat accounts with hash `>= from`, by increasing hash.
    fn accounts_from(&self, from: B256) -> impl Iterator<Item = (B256, TrieAccount)> + '_;
    /// `account`'s slots with hash `>= from`, by increasing hash, as RLP-encoded values.
    fn slots_from(&self, account: B256, from: B256) -> impl Iterator<Item = (B256, Bytes)> + '_;
}

/// Up to `limit` entries from `from` on: each account, then its slots, in trie order.
pub fn read_flat<S: FlatSource + ?Sized>(
    source: &S,
    from: FlatCursor,
    limit: usize,
) -> Vec<FlatEntry> {
    let mut entries = Vec::new();
    if limit == 0 {
        return entries;
    }
    let mut accounts = source.accounts_from(from.account).peekable();
    if let Some(slot) = from.slot {
        // Continue inside the cursor's account; its own entry was reported before.
        if accounts.peek().is_some_and(|(hash, _)| *hash == from.account) {
            accounts.next();
        }
        for (key, value) in source.slots_from(from.account, slot) {
            entries.push(FlatEntry::Slot(from.account, key, value));
            if entries.len() == limit {
                return entries;
            }
        }
    }
    for (hash, account) in accounts {
        entries.push(FlatEntry::Account(hash, account));
        if entries.len() == limit {
            return entries;
        }
        for (key, value) in source.slots_from(hash, B256::ZERO) {
            entries.push(FlatEntry::Slot(hash, key, value));
            if entries.len() == limit {
                return entries;
            }
        }
    }
    entries
}

/// Where a [`Lookup::Flat`](crate::sync::Lookup::Flat) continues after `last`, the last entry
/// a full answer held.
pub fn cursor_after(last: &FlatEntry) -> Option<FlatCursor> {
    match last {
        FlatEntry::Account(hash, _) => Some(FlatCursor { account: *hash, slot: Some(B256::ZERO) }),
        FlatEntry::Slot(account, slot, _) => next_hash(slot)
            .map(|next| FlatCursor { account: *account, slot: Some(next) })
            .or_else(|| next_hash(account).map(|next| FlatCursor { account: next, slot: None })),
    }
}
