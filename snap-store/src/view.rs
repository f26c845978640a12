//! [`StoreView`]: the server's [`StateView`] over a [`SyncStore`], so a synced node serves
//! what it synced.

use alloy_primitives::{B256, Bytes};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;
use snap_core::serve::{AccountIter, BalStore, SlotIter, StateError, StateView};

use crate::{StoreError, SyncStore};

/// The one state a store holds, as the server reads it. Its root is the hash of the account
/// trie's root node, read once when the view is made (the view borrows the store, so no batch
/// can change it meanwhile).
///
/// Iterators end early if the database fails part-way; the server then answers with fewer
/// items, which is still a valid, provable response.
#[derive(Debug)]
pub struct StoreView<'a, S: ?Sized> {
    store: &'a S,
    root: Option<B256>,
}

impl<'a, S: SyncStore + ?Sized> StoreView<'a, S> {
    /// A view over `store`'s state.
    pub fn new(store: &'a S) -> Result<Self, StoreError> {
        Ok(Self { store, root: store.state_root()? })
    }

    /// The root of the state served, `None` when the store holds no account-trie root node.
    pub const fn root(&self) -> Option<B256> {
        self.root
    }

    fn check_root(&self, root: &B256) -> Result<(), StateError> {
        if self.has_root(root) { Ok(()) } else { Err(StateError::UnknownRoot(*root)) }
    }

    fn check_owner(&self, owner: Option<&B256>) -> Result<B256, StateError> {
        match owner {
            Some(owner) if !owner.is_zero() => {
                if self.store.account(owner).map_err(unavailable)?.is_none() {
                    return Err(StateError::UnknownAccount(*owner));
                }
                Ok(*owner)
            }
            _ => Ok(B256::ZERO),
        }
    }
}

fn unavailable(error: StoreError) -> StateError {
    StateError::Unavailable(error.to_string())
}

/// Block access lists are served from the store's table of them (an unreadable store serves
/// none: the answer then has empty entries, which means "unavailable").
impl<S: SyncStore + ?Sized> BalStore for StoreView<'_, S> {
    fn block_access_list(&self, block_hash: &B256) -> Option<Bytes> {
        self.store.block_access_list(block_hash).ok().flatten()
    }
}

impl<S: SyncStore + ?Sized> StateView for StoreView<'_, S> {
    fn has_root(&self, root: &B256) -> bool {
        self.root == Some(*root)
    }

    fn accounts(&self, root: &B256, origin: &B256) -> Result<AccountIter<'_>, StateError> {
        self.check_root(root)?;
        let iter = self.store.accounts_from(origin).map_err(unavailable)?;
        Ok(Box::new(iter.map_while(Result::ok)))
    }

    fn account(&self, root: &B256, hash: &B256) -> Result<Option<TrieAccount>, StateError> {
        self.check_root(root)?;
        self.store.account(hash).map_err(unavailable)
    }

    fn storage(
        &self,
        root: &B256,
        account: &B256,
        origin: &B256,
    ) -> Result<SlotIter<'_>, StateError> {
        self.check_root(root)?;
        if self.store.account(account).map_err(unavailable)?.is_none() {
            return Err(StateError::UnknownAccount(*account));
        }
        let iter = self.store.storage_from(account, origin).map_err(unavailable)?;
        Ok(Box::new(iter.map_while(Result::ok)))
    }

    fn code(&self, hash: &B256) -> Option<Bytes> {
        self.store.code(hash).ok().flatten()
    }

    fn trie_node(
        &self,
        root: &B256,
        owner: Option<&B256>,
        path: &Nibbles,
    ) -> Result<Option<Bytes>, StateError> {
        self.check_root(root)?;
        let owner = self.check_owner(owner)?;
        self.store.node(&owner, path).map_err(unavailable)
    }

    fn prove(
        &self,
        root: &B256,
        owner: Option<&B256>,
        key: &B256,
    ) -> Result<Vec<Bytes>, StateError> {
        self.check_root(root)?;
        let owner = self.check_owner(owner)?;
        // Every stored node whose path is a prefix of the key lies on its lookup path (the
        // store keeps exactly the nodes of one trie per owner), root first.
        let path = Nibbles::unpack(key);
        let mut proof = Vec::new();
        for len in 0..=path.len() {
            if let Some(node) = self.store.node(&owner, &path.slice(..len)).map_err(unavailable)? {
                proof.push(node);
            }
        }
        Ok(proof)
    }
}
