//! The post-block state diff of one BAL, keyed as the state trie keys it, and its application
//! to one flat account.

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};

use super::{AccountChanges, BalError, check_order};

/// What one account looks like after the block, as far as the block changed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountDiff {
    /// keccak256 of the address.
    pub hash: B256,
    /// The balance after the block, if the block changed it.
    pub balance: Option<U256>,
    /// The nonce after the block, if the block changed it.
    pub nonce: Option<u64>,
    /// The code after the block, if the block changed it.
    pub code: Option<Bytes>,
    /// Slots written, by increasing slot hash: `(keccak256(slot), value after the block)`. A
    /// zero value deletes the slot.
    pub storage: Vec<(B256, U256)>,
}

impl AccountDiff {
    /// Whether the block changed nothing of the account (it was only read).
    pub fn is_empty(&self) -> bool {
        self.balance.is_none()
            && self.nonce.is_none()
            && self.code.is_none()
            && self.storage.is_empty()
    }

    /// Whether the block changed the account's own fields (not only its storage).
    pub fn changes_fields(&self) -> bool {
        self.balance.is_some() || self.nonce.is_some() || self.code.is_some()
    }
}

/// A block's post-state changes: only the accounts it changed, by increasing address hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockDiff {
    /// The changed accounts.
    pub accounts: Vec<AccountDiff>,
}

impl BlockDiff {
    /// The post-block changes of `list`, which must be in canonical order (every list of a
    /// valid block is; [`super::decode`] checks it for lists from peers).
    pub fn of(list: &[AccountChanges]) -> Result<Self, BalError> {
        check_order(list)?;
        Ok(Self::of_canonical(list))
    }

    /// [`Self::of`] for a list already checked.
    pub(crate) fn of_canonical(list: &[AccountChanges]) -> Self {
        let mut accounts: Vec<AccountDiff> = list
            .iter()
            .map(|changes| {
                let mut storage: Vec<(B256, U256)> = changes
                    .storage_changes
                    .iter()
                    .filter_map(|slot| {
                        let last = slot.changes.last()?;
                        Some((keccak256(slot.slot.to_be_bytes::<32>()), last.new_value))
                    })
                    .collect();
                storage.sort_unstable_by_key(|(hash, _)| *hash);
                AccountDiff {
                    hash: keccak256(changes.address),
                    balance: changes.balance_changes.last().map(|c| c.post_balance),
                    nonce: changes.nonce_changes.last().map(|c| c.new_nonce),
                    code: changes.code_changes.last().map(|c| c.new_code.clone()),
                    storage,
                }
            })
            .filter(|diff| !diff.is_empty())
            .collect();
        accounts.sort_unstable_by_key(|diff| diff.hash);
        Self { accounts }
    }

    /// Every code the block deployed, with its hash.
    pub fn codes(&self) -> impl Iterator<Item = (B256, &Bytes)> {
        self.accounts
            .iter()
            .filter_map(|diff| diff.code.as_ref())
            .filter(|code| !code.is_empty())
            .map(|code| (keccak256(code), code))
    }
}

/// The flat account after applying `diff` to `before` (`None`: the account did not exist).
/// Returns `None` when the account ends empty (no nonce, balance or code: EIP-161 removes it,
/// and a contract created and destroyed within one transaction ends that way).
///
/// The storage root is left as it was (or empty for a new account): the block's storage
/// writes change it, and the tries are rebuilt from the flat state once it is caught up.
pub fn apply_account(before: Option<&TrieAccount>, diff: &AccountDiff) -> Option<TrieAccount> {
    let mut account = before.copied().unwrap_or(TrieAccount {
        nonce: 0,
        balance: U256::ZERO,
        storage_root: EMPTY_ROOT_HASH,
        code_hash: KECCAK_EMPTY,
    });
    if let Some(balance) = diff.balance {
        account.balance = balance;
    }
    if let Some(nonce) = diff.nonce {
        account.nonce = nonce;
    }
    if let Some(code) = &diff.code {
        account.code_hash = if code.is_empty() { KECCAK_EMPTY } else { keccak256(code) };
    }
    let empty =
        account.nonce == 0 && account.balance.is_zero() && account.code_hash == KECCAK_EMPTY;
    let gains_storage = diff.storage.iter().any(|(_, value)| !value.is_zero());
    (!empty || gains_storage).then_some(account)
}
