//! Applying fetched block access lists to the flat state, in block order, through a write
//! batch: accounts get their new fields, slots their new values, and what ends empty or zero is
//! deleted.

use std::collections::BTreeMap;

use alloy_primitives::{B256, U256};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;

use crate::{
    bal::{BlockDiff, apply_account},
    sync::contract::WriteBatch,
    trie::PrunedRange,
};

/// How much one application wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Flat accounts written or deleted.
    pub accounts: u64,
    /// Flat slots written or deleted.
    pub slots: u64,
}

/// The accounts whose fields `diffs` change: what the store must be asked for before
/// [`apply_blocks`], sorted and without duplicates.
pub fn accounts_to_read<'a>(diffs: impl IntoIterator<Item = &'a BlockDiff>) -> Vec<B256> {
    let mut hashes: Vec<B256> = diffs
        .into_iter()
        .flat_map(|diff| diff.accounts.iter())
        .filter(|account| account.changes_fields())
        .map(|account| account.hash)
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// Applies consecutive blocks' diffs in block order on top of `stored` (the flat accounts the
/// store holds for [`accounts_to_read`]; absent means none), writing the outcome into `batch`:
/// what the `Syncer` does with verified access lists, public for hosts and fuzzing. Deletions
/// are pruned right away (a batch deletes before it writes); the final writes are added last,
/// so a key deleted and written again in the group ends written. Storage roots are left as
/// they were: the tries are rebuilt from the flat state afterwards.
pub fn apply_blocks<'a>(
    diffs: impl IntoIterator<Item = &'a BlockDiff>,
    stored: &BTreeMap<B256, TrieAccount>,
    batch: &mut WriteBatch,
) -> Applied {
    let mut accounts: BTreeMap<B256, Option<TrieAccount>> = BTreeMap::new();
    let mut slots: BTreeMap<(B256, B256), U256> = BTreeMap::new();
    let mut applied = Applied::default();
    for diff in diffs {
        for account in &diff.accounts {
            if account.changes_fields() {
                let before = match accounts.get(&account.hash) {
                    Some(current) => current.as_ref(),
                    None => stored.get(&account.hash),
                };
                let after = apply_account(before, account);
                if after.is_none() {
                    batch.prune(PrunedRange::subtree(B256::ZERO, Nibbles::unpack(account.hash)));
                    slots.retain(|(owner, _), _| *owner != account.hash);
                }
                accounts.insert(account.hash, after);
            }
            for (slot, value) in &account.storage {
                if value.is_zero() {
                    slots.remove(&(account.hash, *slot));
                    batch.prune(PrunedRange::subtree(account.hash, Nibbles::unpack(slot)));
                    applied.slots += 1;
                } else {
                    slots.insert((account.hash, *slot), *value);
                }
            }
        }
        for (hash, code) in diff.codes() {
            if !batch.codes.iter().any(|(known, _)| *known == hash) {
                batch.codes.push((hash, code.clone()));
            }
        }
    }
    applied.accounts = accounts.len() as u64;
    applied.slots += slots.len() as u64;
    batch.accounts.extend(accounts.into_iter().filter_map(|(hash, a)| Some((hash, a?))));
    batch.storage.extend(
        slots
            .into_iter()
            .map(|((owner, slot), value)| (owner, slot, alloy_rlp::encode(value).into())),
    );
    applied
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Bytes;
    use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY};

    use super::*;
    use crate::{bal::AccountDiff, sync::host::MemoryStore};

    fn account(balance: u64) -> TrieAccount {
        TrieAccount {
            nonce: 1,
            balance: U256::from(balance),
            storage_root: EMPTY_ROOT_HASH,
            code_hash: KECCAK_EMPTY,
        }
    }

    /// Applying blocks one batch each and all in one batch leave the same store.
    #[test]
    fn one_batch_per_block_equals_one_batch_for_all() {
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        let slot = B256::repeat_byte(9);
        let blocks = vec![
            BlockDiff {
                accounts: vec![AccountDiff {
                    hash: a,
                    balance: Some(U256::from(5)),
                    storage: vec![(slot, U256::from(7))],
                    ..AccountDiff::default()
                }],
            },
            // `a` is destroyed (empty), `b` gets code.
            BlockDiff {
                accounts: vec![
                    AccountDiff {
                        hash: a,
                        balance: Some(U256::ZERO),
                        nonce: Some(0),
                        ..AccountDiff::default()
                    },
                    AccountDiff {
                        hash: b,
                        code: Some(Bytes::from_static(&[1, 2, 3])),
                        ..AccountDiff::default()
                    },
                ],
            },
            // `a` comes back with a slot; `b`'s slot is written then cleared.
            BlockDiff {
                accounts: vec![
                    AccountDiff {
                        hash: a,
                        balance: Some(U256::from(1)),
                        storage: vec![(slot, U256::from(8))],
                        ..AccountDiff::default()
                    },
                    AccountDiff {
                        hash: b,
                        storage: vec![(slot, U256::ZERO)],
                        ..AccountDiff::default()
                    },
                ],
            },
        ];
        let mut base = MemoryStore::new();
        base.apply(WriteBatch {
            accounts: vec![(a, account(3)), (b, account(4))],
            storage: vec![(b, slot, Bytes::from_static(&[0x05]))],
            ..WriteBatch::default()
        });
        let read = |store: &MemoryStore| -> BTreeMap<B256, TrieAccount> {
            store.accounts().iter().map(|(h, a)| (*h, *a)).collect()
        };
        let mut one_by_one = base.clone();
        for block in &blocks {
            let mut batch = WriteBatch::default();
            apply_blocks([block], &read(&one_by_one), &mut batch);
            one_by_one.apply(batch);
        }
        let mut together = base.clone();
        let mut batch = WriteBatch::default();
        apply_blocks(&blocks, &read(&together), &mut batch);
        together.apply(batch);
        assert_eq!(one_by_one, together);
        assert_eq!(together.accounts()[&a].balance, U256::from(1));
        assert_eq!(together.accounts()[&a].nonce, 0);
        assert_eq!(together.storage().get(&(a, slot)), Some(&Bytes::from_static(&[0x08])));
        assert_eq!(together.storage().get(&(b, slot)), None);
        assert!(together.codes().contains_key(&alloy_primitives::keccak256([1, 2, 3])));
    }
}
