//! [`InMemoryState`]: one complete state held in memory, with its tries' stored nodes.

use std::{collections::BTreeMap, ops::Range};

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use nybbles::Nibbles;

use super::view::{AccountIter, SlotIter, StateError, StateView};
use crate::{
    dump::StateDump,
    trie::{BuiltTrie, build_trie},
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
}

/// One account's storage: its slots in hash order and its trie's stored nodes.
#[derive(Clone, Debug)]
struct StorageTrie {
    slots: Vec<(B256, Bytes)>,
    trie: BuiltTrie,
}

/// One complete state in memory: accounts, storage and codes as sorted collections, plus the
/// stored nodes of the account trie and of every non-empty storage trie, built once.
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
    account_trie: BuiltTrie,
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
        for (owner, slots) in storage {
            if !slots.windows(2).all(|pair| pair[0].0 < pair[1].0) {
                return Err(StateBuildError::UnsortedSlots(owner));
            }
            let Ok(index) = accounts.binary_search_by(|(hash, _)| hash.cmp(&owner)) else {
                return Err(StateBuildError::StorageWithoutAccount(owner));
            };
            if slots.is_empty() {
                continue;
            }
            let trie = build_trie(&slots);
            accounts[index].1.storage_root = trie.root;
            tries.insert(owner, StorageTrie { slots, trie });
        }
        let leaves: Vec<(B256, Vec<u8>)> =
            accounts.iter().map(|(hash, account)| (*hash, alloy_rlp::encode(account))).collect();
        let account_trie = build_trie(&leaves);
        let codes = codes.into_iter().map(|code| (keccak256(&code), code)).collect();
        Ok(Self { accounts, storage: tries, codes, account_trie })
    }

    /// Builds the state held by a geth state dump or genesis alloc. Slot values are packed
    /// into one shared buffer, so a large state costs one allocation for all its values.
    pub fn from_dump(dump: &StateDump) -> Self {
        let mut accounts = Vec::with_capacity(dump.accounts.len());
        let mut leaves = Vec::new();
        let mut packed = Vec::new();
        for (hash, account) in &dump.accounts {
            accounts.push((
                *hash,
                TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    storage_root: EMPTY_ROOT_HASH,
                    code_hash: account.code_hash(),
                },
            ));
            let slots: Vec<(B256, Range<usize>)> = account
                .storage_leaves()
                .into_iter()
                .map(|(slot, value)| {
                    let start = packed.len();
                    packed.extend_from_slice(&value);
                    (slot, start..packed.len())
                })
                .collect();
            leaves.push((*hash, slots));
        }
        let packed = Bytes::from(packed);
        let storage = leaves.into_iter().map(|(hash, slots)| {
            (hash, slots.into_iter().map(|(slot, range)| (slot, packed.slice(range))).collect())
        });
        let codes = dump
            .accounts
            .values()
            .filter(|account| !account.code.is_empty())
            .map(|account| account.code.clone());
        Self::from_sorted(accounts, storage, codes)
            .expect("a dump's accounts and slots are keyed by sorted maps")
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

    /// The stored nodes of the account trie.
    pub const fn account_trie(&self) -> &BuiltTrie {
        &self.account_trie
    }

    /// The stored nodes of one account's storage trie (`None` for empty or unknown storage).
    pub fn storage_trie(&self, account: &B256) -> Option<&BuiltTrie> {
        self.storage.get(account).map(|storage| &storage.trie)
    }

    fn check_root(&self, root: &B256) -> Result<(), StateError> {
        if *root == self.account_trie.root { Ok(()) } else { Err(StateError::UnknownRoot(*root)) }
    }

    fn find_account(&self, hash: &B256) -> Option<&TrieAccount> {
        let index = self.accounts.binary_search_by(|(key, _)| key.cmp(hash)).ok()?;
        self.accounts.get(index).map(|(_, account)| account)
    }

    /// The trie `owner` selects; `Ok(None)` for an existing account with empty storage.
    fn trie_of(&self, owner: Option<&B256>) -> Result<Option<&BuiltTrie>, StateError> {
        match owner {
            None => Ok(Some(&self.account_trie)),
            Some(owner) if owner.is_zero() => Ok(Some(&self.account_trie)),
            Some(owner) => {
                if self.find_account(owner).is_none() {
                    return Err(StateError::UnknownAccount(*owner));
                }
                Ok(self.storage_trie(owner))
            }
        }
    }
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
        Ok(self.trie_of(owner)?.and_then(|trie| trie.nodes.get(path).cloned()))
    }

    fn prove(
        &self,
        root: &B256,
        owner: Option<&B256>,
        key: &B256,
    ) -> Result<Vec<Bytes>, StateError> {
        self.check_root(root)?;
        Ok(self.trie_of(owner)?.map(|trie| trie.prove(key)).unwrap_or_default())
    }
}
