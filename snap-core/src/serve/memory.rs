//! [`InMemoryState`]: one complete state held in memory, with its tries' stored nodes.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use nybbles::Nibbles;

use super::{
    lean_trie::LeanTrie,
    view::{AccountIter, SlotIter, StateError, StateView},
};

/// Why an [`InMemoryState`] could not be built from the data given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateBuildError {
    /// Account hashes are not strictly increasing at this hash.
    #[error("account hashes are not strictly increasing at {0}")]
    UnsortedAccounts(B256),
    /// The slot hashes of this account are not strictly increasing.
    #[error("slot hashes of account {0} are not strictly increasing")]
    UnsortedSlots(B256),
    /// Storage was given for an account that is not in the account list.
    #[error("storage given for unknown account {0}")]
    StorageWithoutAccount(B256),
    /// Storage was given twice for this account.
    #[error("storage given twice for account {0}")]
    DuplicateStorage(B256),
    /// A slot of this account has an empty value (a zero slot is absent from the trie).
    #[error("account {0} has a slot with an empty value")]
    EmptySlotValue(B256),
}

/// One account's storage: its slots in hash order and its trie's inner nodes.
#[derive(Clone, Debug)]
struct StorageTrie {
    slots: Vec<(B256, Bytes)>,
    trie: LeanTrie,
}

/// One complete state in memory: accounts, storage and codes as sorted collections, plus the
/// inner nodes of the account trie and of every non-empty storage trie, built once.
///
/// Leaf nodes are not kept: they are re-encoded from the sorted accounts and slots when asked
/// for, which cuts the memory of a large state several-fold (about 100 bytes per slot plus its
/// value instead of about 450). The nodes served are exactly those [`build_trie`](crate::trie::build_trie) stores.
///
/// Storage roots are computed from the slots given: each account's `storage_root` is
/// overwritten with the root of its slots ([`EMPTY_ROOT_HASH`] for none), so the state is
/// always self-consistent. Code hashes are not checked against the codes: an account may
/// reference code the state does not hold (it is then simply not served).
#[derive(Clone, Debug)]
pub struct InMemoryState {
    accounts: Vec<(B256, TrieAccount)>,
    storage: BTreeMap<B256, StorageTrie>,
    codes: BTreeMap<B256, Bytes>,
    account_trie: LeanTrie,
}

impl InMemoryState {
    /// Builds the state from accounts sorted by hash, per-account slots sorted by hash (values
    /// are raw trie-leaf payloads; accounts without an entry have empty storage) and codes.
    /// Empty slot lists are allowed and mean empty storage.
    pub fn from_sorted(
        mut accounts: Vec<(B256, TrieAccount)>,
        storage: impl IntoIterator<Item = (B256, Vec<(B256, Bytes)>)>,
        codes: impl IntoIterator<Item = Bytes>,
    ) -> Result<Self, StateBuildError> {
        if let Some(pair) = accounts.windows(2).find(|pair| pair[0].0 >= pair[1].0) {
            return Err(StateBuildError::UnsortedAccounts(pair[1].0));
        }
        for (_, account) in &mut accounts {
            account.storage_root = EMPTY_ROOT_HASH;
        }
        let mut tries = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (owner, slots) in storage {
            if !slots.windows(2).all(|pair| pair[0].0 < pair[1].0) {
                return Err(StateBuildError::UnsortedSlots(owner));
            }
            if slots.iter().any(|(_, value)| value.is_empty()) {
                return Err(StateBuildError::EmptySlotValue(owner));
            }
            if !seen.insert(owner) {
                return Err(StateBuildError::DuplicateStorage(owner));
            }
            let Ok(index) = accounts.binary_search_by(|(hash, _)| hash.cmp(&owner)) else {
                return Err(StateBuildError::StorageWithoutAccount(owner));
            };
            if slots.is_empty() {
                continue;
            }
            let trie = LeanTrie::build(&slots);
            accounts[index].1.storage_root = trie.root;
            tries.insert(owner, StorageTrie { slots, trie });
        }
        let account_trie = LeanTrie::build(&accounts);
        let codes = codes.into_iter().map(|code| (keccak256(&code), code)).collect();
        Ok(Self { accounts, storage: tries, codes, account_trie })
    }

    /// The state root.
    pub const fn root(&self) -> B256 {
        self.account_trie.root
    }

    /// All accounts, in increasing hash order.
    pub fn account_list(&self) -> &[(B256, TrieAccount)] {
        &self.accounts
    }

    /// The slots of one account in increasing hash order (empty for none or unknown).
    pub fn slot_list(&self, account: &B256) -> &[(B256, Bytes)] {
        self.storage.get(account).map_or(&[], |storage| &storage.slots)
    }

    /// The total number of storage slots over all accounts.
    pub fn slot_count(&self) -> usize {
        self.storage.values().map(|storage| storage.slots.len()).sum()
    }

    /// All codes held, keyed by hash.
    pub const fn codes(&self) -> &BTreeMap<B256, Bytes> {
        &self.codes
    }

    fn check_root(&self, root: &B256) -> Result<(), StateError> {
        if *root == self.account_trie.root { Ok(()) } else { Err(StateError::UnknownRoot(*root)) }
    }

    fn find_account(&self, hash: &B256) -> Option<&TrieAccount> {
        let index = self.accounts.binary_search_by(|(key, _)| key.cmp(hash)).ok()?;
        self.accounts.get(index).map(|(_, account)| account)
    }

    /// The account trie (`None`) or the storage trie of `owner`, with its leaves; `Ok(None)`
    /// for an existing account with empty storage.
    fn with_trie<R>(
        &self,
        owner: Option<&B256>,
        read: impl FnOnce(&LeanTrie, Leaves<'_>) -> R,
    ) -> Result<Option<R>, StateError> {
        match owner {
            Some(owner) if !owner.is_zero() => {
                if self.find_account(owner).is_none() {
                    return Err(StateError::UnknownAccount(*owner));
                }
                Ok(self
                    .storage
                    .get(owner)
                    .map(|storage| read(&storage.trie, Leaves::Slots(&storage.slots))))
            }
            _ => Ok(Some(read(&self.account_trie, Leaves::Accounts(&self.accounts)))),
        }
    }
}

/// The leaves of one of the state's tries.
enum Leaves<'a> {
    Accounts(&'a [(B256, TrieAccount)]),
    Slots(&'a [(B256, Bytes)]),
}

impl StateView for InMemoryState {
    fn has_root(&self, root: &B256) -> bool {
        *root == self.account_trie.root
    }

    fn accounts(&self, root: &B256, origin: &B256) -> Result<AccountIter<'_>, StateError> {
        self.check_root(root)?;
        let start = self.accounts.partition_point(|(hash, _)| hash < origin);
        Ok(Box::new(self.accounts[start..].iter().cloned()))
    }

    fn account(&self, root: &B256, hash: &B256) -> Result<Option<TrieAccount>, StateError> {
        self.check_root(root)?;
        Ok(self.find_account(hash).cloned())
    }

    fn storage(
        &self,
        root: &B256,
        account: &B256,
        origin: &B256,
    ) -> Result<SlotIter<'_>, StateError> {
        self.check_root(root)?;
        if self.find_account(account).is_none() {
            return Err(StateError::UnknownAccount(*account));
        }
        let slots = self.slot_list(account);
        let start = slots.partition_point(|(hash, _)| hash < origin);
        Ok(Box::new(slots[start..].iter().cloned()))
    }

    fn code(&self, hash: &B256) -> Option<Bytes> {
        self.codes.get(hash).cloned()
    }

    fn trie_node(
        &self,
        root: &B256,
        owner: Option<&B256>,
        path: &Nibbles,
    ) -> Result<Option<Bytes>, StateError> {
        self.check_root(root)?;
        let node = self.with_trie(owner, |trie, leaves| match leaves {
            Leaves::Accounts(accounts) => trie.node(accounts, path),
            Leaves::Slots(slots) => trie.node(slots, path),
        })?;
        Ok(node.flatten())
    }

    fn prove(
        &self,
        root: &B256,
        owner: Option<&B256>,
        key: &B256,
    ) -> Result<Vec<Bytes>, StateError> {
        self.check_root(root)?;
        let proof = self.with_trie(owner, |trie, leaves| match leaves {
            Leaves::Accounts(accounts) => trie.prove(accounts, key),
            Leaves::Slots(slots) => trie.prove(slots, key),
        })?;
        Ok(proof.unwrap_or_default())
    }
}
