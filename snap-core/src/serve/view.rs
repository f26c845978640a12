//! What the server reads: a view over one or more states, and a store of block access lists.
//!
//! Every state read names the state root it reads from, so one view may hold several states
//! (the last 128 pivots of a chain, say). A root the view does not hold is
//! [`StateError::UnknownRoot`]; the server answers such a request with an empty reply.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{B256, Bytes};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;

/// Accounts in strictly increasing hash order.
pub type AccountIter<'a> = Box<dyn Iterator<Item = (B256, TrieAccount)> + 'a>;

/// Storage slots in strictly increasing hash order; each value is the raw trie-leaf payload (the
/// RLP encoding of the trimmed slot value).
pub type SlotIter<'a> = Box<dyn Iterator<Item = (B256, Bytes)> + 'a>;

/// Why a state read could not be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The view does not hold the state with this root.
    #[error("state root {0} is not available")]
    UnknownRoot(B256),
    /// The account does not exist in the requested state.
    #[error("account {0} does not exist in the requested state")]
    UnknownAccount(B256),
    /// The state exists but the data behind it could not be read.
    #[error("state data unavailable: {0}")]
    Unavailable(String),
}

/// A read-only view over one or more states, addressed by state root.
///
/// Hashes are trie keys: keccak256 of the address for accounts and of the raw slot index for
/// storage. `owner` selects a trie: `None` (or the zero hash) is the account trie, `Some(hash)`
/// the storage trie of the account with that hash.
pub trait StateView {
    /// Whether the view holds the state with this root.
    fn has_root(&self, root: &B256) -> bool;

    /// The accounts of state `root` with hash `>= origin`, in increasing hash order.
    fn accounts(&self, root: &B256, origin: &B256) -> Result<AccountIter<'_>, StateError>;

    /// One account of state `root`, or `None` when it does not exist.
    fn account(&self, root: &B256, hash: &B256) -> Result<Option<TrieAccount>, StateError>;

    /// The storage slots of `account` in state `root` with hash `>= origin`, in increasing
    /// order. An account that does not exist is [`StateError::UnknownAccount`]; an account with
    /// empty storage yields nothing.
    fn storage(
        &self,
        root: &B256,
        account: &B256,
        origin: &B256,
    ) -> Result<SlotIter<'_>, StateError>;

    /// The contract code with this keccak256 hash, if the view has it.
    fn code(&self, hash: &B256) -> Option<Bytes>;

    /// The RLP-encoded trie node stored at `path` in the trie `owner` of state `root`, or
    /// `None` when no stored node sits at that path (including paths that end inside a node
    /// and nodes embedded in their parent). An unknown storage owner is
    /// [`StateError::UnknownAccount`].
    fn trie_node(
        &self,
        root: &B256,
        owner: Option<&B256>,
        path: &Nibbles,
    ) -> Result<Option<Bytes>, StateError>;

    /// The Merkle proof of `key` (of its presence or of its absence) in the trie `owner` of
    /// state `root`: the stored nodes from the root towards `key`, root first.
    fn prove(
        &self,
        root: &B256,
        owner: Option<&B256>,
        key: &B256,
    ) -> Result<Vec<Bytes>, StateError>;
}

impl<T: StateView + ?Sized> StateView for &T {
    fn has_root(&self, root: &B256) -> bool {
        (**self).has_root(root)
    }
    fn accounts(&self, root: &B256, origin: &B256) -> Result<AccountIter<'_>, StateError> {
        (**self).accounts(root, origin)
    }
    fn account(&self, root: &B256, hash: &B256) -> Result<Option<TrieAccount>, StateError> {
        (**self).account(root, hash)
    }
    fn storage(
        &self,
        root: &B256,
        account: &B256,
        origin: &B256,
    ) -> Result<SlotIter<'_>, StateError> {
        (**self).storage(root, account, origin)
    }
    fn code(&self, hash: &B256) -> Option<Bytes> {
        (**self).code(hash)
    }
    fn trie_node(
        &self,
        root: &B256,
        owner: Option<&B256>,
        path: &Nibbles,
    ) -> Result<Option<Bytes>, StateError> {
        (**self).trie_node(root, owner, path)
    }
    fn prove(
        &self,
        root: &B256,
        owner: Option<&B256>,
        key: &B256,
    ) -> Result<Vec<Bytes>, StateError> {
        (**self).prove(root, owner, key)
    }
}

/// Block access lists (snap/2) by block hash.
pub trait BalStore {
    /// The raw RLP-encoded block access list of the block with this hash, if stored.
    fn block_access_list(&self, block_hash: &B256) -> Option<Bytes>;
}

impl<T: BalStore + ?Sized> BalStore for &T {
    fn block_access_list(&self, block_hash: &B256) -> Option<Bytes> {
        (**self).block_access_list(block_hash)
    }
}

impl BalStore for BTreeMap<B256, Bytes> {
    fn block_access_list(&self, block_hash: &B256) -> Option<Bytes> {
        self.get(block_hash).cloned()
    }
}

impl<S: std::hash::BuildHasher> BalStore for HashMap<B256, Bytes, S> {
    fn block_access_list(&self, block_hash: &B256) -> Option<Bytes> {
        self.get(block_hash).cloned()
    }
}

/// A [`BalStore`] that holds nothing: every block access list request is answered with empty
/// entries (a snap/1 node, or a node that keeps no access lists).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoBals;

impl BalStore for NoBals {
    fn block_access_list(&self, _block_hash: &B256) -> Option<Bytes> {
        None
    }
}
