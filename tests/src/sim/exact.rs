//! The end check of a sync into the core's reference store: does a [`MemoryStore`] hold
//! exactly a state?

use std::collections::BTreeMap;

use alloy_primitives::B256;
use alloy_trie::{KECCAK_EMPTY, TrieAccount};
use snap_core::{serve::InMemoryState, sync::host::MemoryStore, trie::build_trie};

/// Checks that `store` holds exactly `state`: the same flat accounts and slots (none missing,
/// none extra), every code the state references, and exactly the stored nodes of every trie of
/// the state. Describes the first difference found.
pub fn check_exact(store: &MemoryStore, state: &InMemoryState) -> Result<(), String> {
    let accounts: BTreeMap<B256, TrieAccount> = state.account_list().iter().copied().collect();
    if *store.accounts() != accounts {
        let extra = store.accounts().keys().find(|key| !accounts.contains_key(*key));
        let missing = accounts.keys().find(|key| store.accounts().get(*key) != accounts.get(*key));
        return Err(format!(
            "flat accounts differ: {} stored, {} expected; extra {extra:?}, missing or \
             different {missing:?}",
            store.accounts().len(),
            accounts.len()
        ));
    }
    let mut storage = BTreeMap::new();
    let mut nodes = BTreeMap::new();
    let leaves: Vec<(B256, Vec<u8>)> =
        state.account_list().iter().map(|(hash, a)| (*hash, alloy_rlp::encode(a))).collect();
    nodes.extend(build_trie(&leaves).nodes.into_iter().map(|(path, n)| ((B256::ZERO, path), n)));
    for (hash, account) in state.account_list() {
        let slots = state.slot_list(hash);
        storage.extend(slots.iter().map(|(slot, value)| ((*hash, *slot), value.clone())));
        nodes.extend(build_trie(slots).nodes.into_iter().map(|(path, n)| ((*hash, path), n)));
        if account.code_hash != KECCAK_EMPTY && !store.codes().contains_key(&account.code_hash) {
            return Err(format!("code {} of account {hash} missing", account.code_hash));
        }
    }
    if *store.storage() != storage {
        let extra = store.storage().keys().find(|key| !storage.contains_key(*key));
        let missing = storage.keys().find(|key| store.storage().get(*key) != storage.get(*key));
        return Err(format!(
            "flat storage differs: {} stored, {} expected; extra {extra:?}, missing or \
             different {missing:?}",
            store.storage().len(),
            storage.len()
        ));
    }
    if *store.nodes() != nodes {
        let extra = store.nodes().keys().find(|key| !nodes.contains_key(*key));
        let missing = nodes.keys().find(|key| store.nodes().get(*key) != nodes.get(*key));
        return Err(format!(
            "trie nodes differ: {} stored, {} expected; extra {extra:?}, missing or different \
             {missing:?}",
            store.nodes().len(),
            nodes.len()
        ));
    }
    Ok(())
}
