//! The target state of a simulation: generated from a seed (by `snap-gen`'s [`StateSpec`]),
//! served by the peers, and the oracle every write is checked against.
//!
//! The state is built twice over: `snap_core::serve::InMemoryState` (whose tries come from
//! `snap_core::trie::build_trie`) for serving, and alloy-trie's `HashBuilder` with a proof
//! retainer over every key as the independent oracle for roots and stored nodes. The two must
//! agree before a simulation starts.

use std::collections::HashMap;

use alloy_primitives::{B256, Bytes, U256};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, TrieAccount, proof::ProofRetainer};
use nybbles::Nibbles;
use snap_core::{
    serve::{InMemoryState, StateView},
    trie::build_trie,
};
pub use snap_gen::StateSpec;

/// The generated state and its oracle.
#[derive(Debug)]
pub struct TargetState {
    /// The state as the honest peers serve it.
    pub state: InMemoryState,
    /// Stored nodes of every trie by owner (`B256::ZERO` for the account trie) and path, from
    /// the independent oracle (or from `state`'s tries when the spec turned the oracle off).
    oracle: Option<HashMap<(B256, Nibbles), Bytes>>,
    /// The number of slots.
    pub slot_count: usize,
}

impl TargetState {
    /// Generates the state for `spec` and checks the two trie builders agree.
    pub fn generate(spec: &StateSpec) -> Result<Self, String> {
        let state = spec.generate_state().map_err(|error| format!("state generation: {error}"))?;
        Self::from_state(state, spec.node_oracle)
    }

    /// Wraps a built state, cross-checking its roots against alloy-trie's `HashBuilder` and,
    /// with `node_oracle`, every stored node: the oracle's nodes (a proof retainer over every
    /// key) must equal `snap_core::trie::build_trie`'s, trie by trie, and each must be what the
    /// state serves at its path.
    pub fn from_state(state: InMemoryState, node_oracle: bool) -> Result<Self, String> {
        let mut oracle = node_oracle.then(HashMap::new);
        let leaves: Vec<(B256, Vec<u8>)> = state
            .account_list()
            .iter()
            .map(|(hash, account)| (*hash, alloy_rlp::encode(account)))
            .collect();
        let (root, recorded) = oracle_trie(B256::ZERO, &leaves, oracle.as_mut());
        if root != state.root() {
            return Err(format!("oracle account root {root} != served root {}", state.root()));
        }
        if let Some(oracle) = &oracle {
            agree_with_build_trie(&state, oracle, recorded, B256::ZERO, &leaves)?;
        }
        drop(leaves);
        let mut slot_count = 0;
        for (hash, account) in state.account_list() {
            let slots = state.slot_list(hash);
            slot_count += slots.len();
            let (root, recorded) = oracle_trie(*hash, slots, oracle.as_mut());
            if root != account.storage_root {
                return Err(format!("oracle storage root of {hash} disagrees with the served one"));
            }
            if let (Some(oracle), false) = (&oracle, slots.is_empty()) {
                agree_with_build_trie(&state, oracle, recorded, *hash, slots)?;
            }
        }
        Ok(Self { state, oracle, slot_count })
    }

    /// The state root.
    pub fn root(&self) -> B256 {
        self.state.root()
    }

    /// The account with this hash.
    pub fn account(&self, hash: &B256) -> Option<&TrieAccount> {
        let accounts = self.state.account_list();
        let index = accounts.binary_search_by(|(key, _)| key.cmp(hash)).ok()?;
        accounts.get(index).map(|(_, account)| account)
    }

    /// The value of one slot.
    pub fn slot(&self, account: &B256, slot: &B256) -> Option<&Bytes> {
        let slots = self.state.slot_list(account);
        let index = slots.binary_search_by(|(key, _)| key.cmp(slot)).ok()?;
        slots.get(index).map(|(_, value)| value)
    }

    /// The stored node of `owner`'s trie at `path`: from the oracle, or (without it) as the
    /// state serves it.
    pub fn node(&self, owner: &B256, path: &Nibbles) -> Option<Bytes> {
        match &self.oracle {
            Some(oracle) => oracle.get(&(*owner, *path)).cloned(),
            None => {
                let owner = (!owner.is_zero()).then_some(owner);
                self.state.trie_node(&self.state.root(), owner, path).ok().flatten()
            }
        }
    }

    /// Every stored node of every trie by owner and path, when the oracle was built.
    pub const fn oracle_nodes(&self) -> Option<&HashMap<(B256, Nibbles), Bytes>> {
        self.oracle.as_ref()
    }

    /// How many trie nodes the state stores over all its tries: the oracle's count, or (without
    /// the oracle) `build_trie`'s over every trie.
    pub fn stored_node_count(&self) -> usize {
        if let Some(oracle) = &self.oracle {
            return oracle.len();
        }
        let state = &self.state;
        let leaves: Vec<(B256, Vec<u8>)> = state
            .account_list()
            .iter()
            .map(|(hash, account)| (*hash, alloy_rlp::encode(account)))
            .collect();
        let mut count = build_trie(&leaves).nodes.len();
        for (hash, _) in state.account_list() {
            let slots = state.slot_list(hash);
            if !slots.is_empty() {
                count += build_trie(slots).nodes.len();
            }
        }
        count
    }

    /// How many of this state's stored trie nodes `earlier` does not hold at the same owner
    /// and path (absent or different): what a sync that finished `earlier` must fetch at least
    /// to reach this state. `None` without both oracles.
    pub fn nodes_not_in(&self, earlier: &Self) -> Option<u64> {
        let (Some(mine), Some(theirs)) = (&self.oracle, &earlier.oracle) else { return None };
        Some(mine.iter().filter(|(key, node)| theirs.get(*key) != Some(*node)).count() as u64)
    }

    /// A variant of this state with other balances and slot values: the same keys, another
    /// root. Served by wrong-root peers.
    pub fn variant(&self) -> Result<InMemoryState, String> {
        let accounts: Vec<(B256, TrieAccount)> = self
            .state
            .account_list()
            .iter()
            .enumerate()
            .map(|(index, (hash, account))| {
                let mut account = *account;
                if index % 3 == 0 {
                    account.balance += U256::from(1);
                }
                (*hash, account)
            })
            .collect();
        let storage: Vec<(B256, Vec<(B256, Bytes)>)> = accounts
            .iter()
            .map(|(hash, _)| {
                let slots = self.state.slot_list(hash);
                let changed = slots
                    .iter()
                    .enumerate()
                    .map(|(index, (key, value))| {
                        if index % 5 == 0 {
                            (*key, Bytes::from(alloy_rlp::encode(U256::from(index as u64 + 7))))
                        } else {
                            (*key, value.clone())
                        }
                    })
                    .collect();
                (*hash, changed)
            })
            .collect();
        InMemoryState::from_sorted(accounts, storage, self.state.codes().values().cloned())
            .map_err(|error| format!("variant state: {error}"))
    }
}

/// `build_trie` over `leaves` stores exactly the oracle's nodes of `owner`'s trie (of which the
/// oracle recorded `oracle_count`), and the state serves each of them at its path.
fn agree_with_build_trie<V: AsRef<[u8]>>(
    state: &InMemoryState,
    oracle: &HashMap<(B256, Nibbles), Bytes>,
    oracle_count: usize,
    owner: B256,
    leaves: &[(B256, V)],
) -> Result<(), String> {
    let built = build_trie(leaves);
    let served_owner = (!owner.is_zero()).then_some(&owner);
    for (path, node) in &built.nodes {
        if oracle.get(&(owner, *path)) != Some(node) {
            return Err(format!("build_trie's node of {owner} at {path:?} is not the oracle's"));
        }
        let served = state.trie_node(&state.root(), served_owner, path).ok().flatten();
        if served.as_ref() != Some(node) {
            return Err(format!("the state serves another node of {owner} at {path:?}"));
        }
    }
    if built.nodes.len() != oracle_count {
        return Err(format!(
            "trie of {owner}: oracle holds {oracle_count} stored nodes, build_trie {}",
            built.nodes.len()
        ));
    }
    Ok(())
}

/// Root of the trie over sorted `leaves` by alloy-trie's `HashBuilder`; with `nodes`, every
/// stored node (the root, and nodes whose RLP is at least 32 bytes) is recorded under `owner`.
/// Also returns how many nodes were recorded.
fn oracle_trie<V: AsRef<[u8]>>(
    owner: B256,
    leaves: &[(B256, V)],
    nodes: Option<&mut HashMap<(B256, Nibbles), Bytes>>,
) -> (B256, usize) {
    if leaves.is_empty() {
        return (EMPTY_ROOT_HASH, 0);
    }
    let mut builder = HashBuilder::default();
    if nodes.is_some() {
        let targets = leaves.iter().map(|(key, _)| Nibbles::unpack(key)).collect();
        builder = builder.with_proof_retainer(ProofRetainer::new(targets));
    }
    for (key, value) in leaves {
        builder.add_leaf(Nibbles::unpack(key), value.as_ref());
    }
    let root = builder.root();
    let mut recorded = 0;
    if let Some(nodes) = nodes {
        for (path, node) in builder.take_proof_nodes().into_nodes_sorted() {
            if path.is_empty() || node.len() >= 32 {
                nodes.insert((owner, path), node);
                recorded += 1;
            }
        }
    }
    (root, recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_states_are_seed_determined_and_agree_with_the_oracle() {
        let spec = StateSpec { boundary: true, uneven: true, ..StateSpec::new(3, 300, 3000) };
        let a = TargetState::generate(&spec).unwrap();
        let b = TargetState::generate(&spec).unwrap();
        assert_eq!(a.root(), b.root());
        assert!(a.state.account_list().len() >= 300);
        assert!(a.slot_count > 1000);
        assert!(!a.state.codes().is_empty());
        let c = TargetState::generate(&StateSpec::new(4, 300, 3000)).unwrap();
        assert_ne!(a.root(), c.root());
        let variant = a.variant().unwrap();
        assert_ne!(variant.root(), a.root());
    }

    #[test]
    fn without_the_oracle_nodes_come_from_the_served_state_and_agree() {
        let spec = StateSpec::new(6, 200, 2000);
        let with = TargetState::generate(&spec).unwrap();
        let without = TargetState::generate(&StateSpec { node_oracle: false, ..spec }).unwrap();
        let oracle = with.oracle.as_ref().unwrap();
        assert!(oracle.len() > 2000);
        for ((owner, path), node) in oracle {
            assert_eq!(without.node(owner, path).as_ref(), Some(node));
        }
        let absent = Nibbles::from_nibbles([0xf; 40]);
        assert_eq!(with.node(&B256::ZERO, &absent), None);
        assert_eq!(without.node(&B256::ZERO, &absent), None);
    }
}
