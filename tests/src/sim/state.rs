//! The target state of a simulation: generated from a seed, served by the peers, and the oracle
//! every write is checked against.
//!
//! The state is built twice over: `snap_core::serve::InMemoryState` (whose tries come from
//! `snap_core::trie::build_trie`) for serving, and alloy-trie's `HashBuilder` with a proof
//! retainer over every key as the independent oracle for roots and stored nodes. The two must
//! agree before a simulation starts.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY, TrieAccount, proof::ProofRetainer};
use nybbles::Nibbles;
use snap_core::{
    serve::{InMemoryState, StateView},
    sync::HashRange,
    trie::build_trie,
};

use super::rng::SimRng;

/// How to generate a state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateSpec {
    /// Accounts (besides boundary accounts).
    pub accounts: usize,
    /// Storage slots in total, approximately.
    pub slots: usize,
    /// Contracts holding `large_percent` of all slots between them.
    pub large_contracts: usize,
    /// Share of the slots held by the large contracts.
    pub large_percent: u64,
    /// Share of accounts with (small) storage.
    pub storage_percent: u64,
    /// Share of accounts with code.
    pub code_percent: u64,
    /// Share of code accounts whose code is unique; the others share a small pool.
    pub unique_code_percent: u64,
    /// Size of the pool of shared codes.
    pub shared_codes: usize,
    /// Add accounts exactly at the 16 account-task boundaries, and slots at the same hashes in
    /// every large contract (geth's boundary tries).
    pub boundary: bool,
    /// Slot keys fall in only three first-nibble buckets out of `0..=0xe` (geth's uneven
    /// storage), so chunks of large contracts come back empty.
    pub uneven: bool,
    /// Build the node oracle (alloy-trie's proof retainer over every key). Costs memory; the
    /// bench turns it off and checks nodes against the served tries instead.
    pub node_oracle: bool,
    /// The generator's seed.
    pub seed: u64,
}

impl StateSpec {
    /// A state of `accounts` accounts and about `slots` slots, with default proportions: a
    /// quarter of accounts with small storage, a few very large contracts holding half of the
    /// slots, 40 % of accounts with code, most of it shared.
    pub fn new(seed: u64, accounts: usize, slots: usize) -> Self {
        Self {
            accounts,
            slots,
            large_contracts: if slots == 0 { 0 } else { (accounts / 500).clamp(1, 8) },
            large_percent: 50,
            storage_percent: 25,
            code_percent: 40,
            unique_code_percent: 30,
            shared_codes: 8,
            boundary: false,
            uneven: false,
            node_oracle: true,
            seed,
        }
    }
}

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
        let (accounts, storage, codes) = generate_parts(spec);
        let state = InMemoryState::from_sorted(accounts, storage, codes)
            .map_err(|error| format!("state generation: {error}"))?;
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

/// A slot key and the range of its value in the packed value buffer.
type PackedSlot = (B256, std::ops::Range<usize>);

type Parts = (Vec<(B256, TrieAccount)>, Vec<(B256, Vec<(B256, Bytes)>)>, Vec<Bytes>);

/// Accounts (sorted, storage roots left for the state to compute), storage lists and the codes
/// the accounts reference.
fn generate_parts(spec: &StateSpec) -> Parts {
    let mut rng = SimRng::derive(spec.seed, "state");
    let boundaries: Vec<B256> =
        HashRange::split_from(B256::ZERO, 16).into_iter().map(|range| range.last).collect();
    let mut hashes: Vec<B256> = (0..spec.accounts).map(|_| B256::from(rng.bytes32())).collect();
    if spec.boundary {
        hashes.extend(&boundaries);
    }
    hashes.sort_unstable();
    hashes.dedup();

    // Codes: a shared pool and unique ones; only referenced codes are part of the state.
    let shared: Vec<Bytes> = (0..spec.shared_codes.max(1)).map(|_| random_code(&mut rng)).collect();
    let mut codes: BTreeMap<B256, Bytes> = BTreeMap::new();

    // Storage owners: large contracts first, then small ones.
    let mut owners: Vec<usize> =
        (0..hashes.len()).filter(|_| rng.chance(spec.storage_percent as f64 / 100.0)).collect();
    if spec.slots == 0 {
        owners.clear();
    }
    let large = spec.large_contracts.min(owners.len());
    let mut large_owners = Vec::with_capacity(large);
    for _ in 0..large {
        let index = rng.below(owners.len() as u64) as usize;
        large_owners.push(owners.swap_remove(index));
    }
    let large_slots = spec.slots * spec.large_percent.min(100) as usize / 100;
    let small_slots = spec.slots - large_slots;
    let per_large = large_slots.checked_div(large).unwrap_or(0);
    let per_small = small_slots.checked_div(owners.len()).unwrap_or(0).max(1);
    let buckets: Vec<u8> = {
        let mut all: Vec<u8> = (0..15).collect();
        (0..3).map(|_| all.swap_remove(rng.below(all.len() as u64) as usize)).collect()
    };

    let mut packed = Vec::new();
    let mut slot_lists: Vec<(B256, Vec<PackedSlot>)> = Vec::new();
    let mut push_slots = |rng: &mut SimRng, owner: B256, count: usize, boundary: bool| {
        let mut keys: Vec<B256> = (0..count)
            .map(|_| {
                let mut key = rng.bytes32();
                if spec.uneven {
                    let bucket = buckets[rng.below(3) as usize];
                    key[0] = (bucket << 4) | (key[0] & 0x0f);
                }
                B256::from(key)
            })
            .collect();
        if boundary {
            keys.extend(&boundaries);
        }
        keys.sort_unstable();
        keys.dedup();
        let slots = keys
            .into_iter()
            .map(|key| {
                let start = packed.len();
                let len = rng.between(1, 32) as usize;
                let mut value = rng.bytes(len);
                value[0] |= 1; // non-zero, no leading zero byte
                alloy_rlp::Encodable::encode(&U256::from_be_slice(&value), &mut packed);
                (key, start..packed.len())
            })
            .collect();
        slot_lists.push((owner, slots));
    };
    for &index in &large_owners {
        let count = rng.between(per_large as u64 / 2, per_large as u64 * 3 / 2) as usize;
        push_slots(&mut rng, hashes[index], count.max(1), spec.boundary);
    }
    for &index in &owners {
        let count = rng.between(1, 2 * per_small as u64) as usize;
        push_slots(&mut rng, hashes[index], count, false);
    }
    let packed = Bytes::from(packed);
    let mut storage: Vec<(B256, Vec<(B256, Bytes)>)> = slot_lists
        .into_iter()
        .map(|(owner, slots)| {
            (owner, slots.into_iter().map(|(key, range)| (key, packed.slice(range))).collect())
        })
        .collect();
    storage.sort_unstable_by_key(|(owner, _)| *owner);

    let accounts = hashes
        .into_iter()
        .map(|hash| {
            let code_hash = if rng.chance(spec.code_percent as f64 / 100.0) {
                let code = if rng.chance(spec.unique_code_percent as f64 / 100.0) {
                    random_code(&mut rng)
                } else {
                    rng.pick(&shared).cloned().unwrap_or_default()
                };
                let hash = keccak256(&code);
                codes.insert(hash, code);
                hash
            } else {
                KECCAK_EMPTY
            };
            let balance = if rng.chance(0.1) { U256::ZERO } else { U256::from(rng.next_u64()) };
            let account = TrieAccount {
                nonce: rng.below(1000),
                balance,
                storage_root: EMPTY_ROOT_HASH,
                code_hash,
            };
            (hash, account)
        })
        .collect();
    (accounts, storage, codes.into_values().collect())
}

/// A code of 1 byte to 4 KiB, now and then up to 24 KiB.
fn random_code(rng: &mut SimRng) -> Bytes {
    let len = if rng.chance(0.05) { rng.between(4096, 24 * 1024) } else { rng.between(1, 4096) };
    Bytes::from(rng.bytes(len as usize))
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
