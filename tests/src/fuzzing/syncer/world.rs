//! The two small states the syncer harness syncs (the first target, and a second one that
//! differs from it in every way a moving chain can), each with its node oracle, plus what a peer
//! holding one or both of them serves bytecodes from.

use std::{collections::BTreeMap, sync::OnceLock};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use snap_core::serve::InMemoryState;

use crate::sim::{StateSpec, TargetState};

/// The states, built once per process.
#[derive(Debug)]
pub struct World {
    /// State 0 is the first target; state 1 the one `NewTarget` moves to (and back).
    pub states: [TargetState; 2],
    /// Bytecode servers: state 0's codes, state 1's, and both.
    code_servers: [InMemoryState; 3],
}

/// Which states a peer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// Only the first state.
    First,
    /// Only the second state.
    Second,
    /// Both.
    Both,
}

impl Holds {
    /// From a fuzzer byte: mostly both, so honest peers can serve whatever the target is.
    pub const fn from_byte(byte: u8) -> Self {
        match byte % 4 {
            0 => Self::First,
            1 => Self::Second,
            _ => Self::Both,
        }
    }

    /// Whether the peer holds state `index`.
    pub const fn holds(self, index: usize) -> bool {
        matches!((self, index), (Self::Both, _) | (Self::First, 0) | (Self::Second, 1))
    }
}

impl World {
    /// The process-wide world.
    pub fn get() -> &'static Self {
        static WORLD: OnceLock<World> = OnceLock::new();
        WORLD.get_or_init(Self::build)
    }

    fn build() -> Self {
        // Boundary accounts sit exactly on the account-task edges; one large contract (chunked
        // under the harness's small budgets) holds most slots.
        let spec = StateSpec {
            accounts: 36,
            slots: 160,
            large_contracts: 1,
            large_percent: 60,
            storage_percent: 25,
            code_percent: 40,
            unique_code_percent: 30,
            shared_codes: 3,
            boundary: true,
            uneven: false,
            node_oracle: true,
            seed: 0x5eed,
        };
        let first = TargetState::generate(&spec).expect("the first state generates");
        let second = TargetState::from_state(moved(&first.state), true)
            .expect("the second state agrees with its oracle");
        assert_ne!(first.root(), second.root());
        let server = |codes: Vec<Bytes>| {
            InMemoryState::from_sorted(Vec::new(), Vec::<(B256, Vec<(B256, Bytes)>)>::new(), codes)
                .expect("codes alone always build")
        };
        let codes = |state: &TargetState| state.state.codes().values().cloned().collect::<Vec<_>>();
        let both = [codes(&first), codes(&second)].concat();
        let code_servers = [server(codes(&first)), server(codes(&second)), server(both)];
        Self { states: [first, second], code_servers }
    }

    /// The state with this root, if it is one of the two.
    pub fn index_of(&self, root: &B256) -> Option<usize> {
        self.states.iter().position(|state| state.root() == *root)
    }

    /// The bytecodes a peer holding `holds` serves.
    pub const fn code_server(&self, holds: Holds) -> &InMemoryState {
        match holds {
            Holds::First => &self.code_servers[0],
            Holds::Second => &self.code_servers[1],
            Holds::Both => &self.code_servers[2],
        }
    }

    /// Whether `hash` is the hash of a code in one of the states.
    pub fn is_code(&self, hash: &B256, code: &Bytes) -> bool {
        keccak256(code) == *hash
            && self.states.iter().any(|s| s.state.codes().get(hash) == Some(code))
    }
}

/// The first state after a few blocks: balances changed, accounts deleted (some with storage)
/// and created (some with storage or code), a code replaced, slots of the large contract
/// changed, deleted and added, and one contract's storage wiped.
fn moved(first: &InMemoryState) -> InMemoryState {
    let mut accounts: BTreeMap<B256, TrieAccount> = first.account_list().iter().copied().collect();
    let mut storage: BTreeMap<B256, BTreeMap<B256, Bytes>> = first
        .account_list()
        .iter()
        .map(|(hash, _)| (*hash, first.slot_list(hash).iter().cloned().collect()))
        .collect();
    let mut codes: BTreeMap<B256, Bytes> = first.codes().clone();
    let slot_value = |n: u64| Bytes::from(alloy_rlp::encode(U256::from(n * 31 + 5)));

    let hashes: Vec<B256> = accounts.keys().copied().collect();
    let large = *storage.iter().max_by_key(|(_, slots)| slots.len()).expect("accounts").0;
    let wiped = hashes
        .iter()
        .copied()
        .find(|hash| *hash != large && !storage[hash].is_empty())
        .expect("a small contract");
    for (index, hash) in hashes.iter().enumerate() {
        if *hash == large || *hash == wiped {
            continue;
        }
        if index % 7 == 3 {
            accounts.remove(hash);
            storage.remove(hash);
        } else if index % 5 == 0 {
            accounts.get_mut(hash).expect("present").balance += U256::from(1);
        }
    }
    storage.insert(wiped, BTreeMap::new());
    let large_slots = storage.get_mut(&large).expect("large contract");
    let keys: Vec<B256> = large_slots.keys().copied().collect();
    for (index, key) in keys.iter().enumerate() {
        if index % 9 == 4 {
            large_slots.remove(key);
        } else if index % 4 == 1 {
            large_slots.insert(*key, slot_value(index as u64));
        }
    }
    for n in 0..10u64 {
        large_slots.insert(keccak256(format!("new slot {n}")), slot_value(n + 100));
    }
    // A replaced code, and new accounts.
    let new_code =
        |n: u64| Bytes::from(format!("moved code {n}").repeat(n as usize + 3).into_bytes());
    if let Some(account) = accounts.values_mut().find(|account| account.code_hash != KECCAK_EMPTY) {
        let code = new_code(0);
        account.code_hash = keccak256(&code);
        codes.insert(account.code_hash, code);
    }
    for n in 0..6u64 {
        let hash = keccak256(format!("new account {n}"));
        let mut account = TrieAccount {
            nonce: n,
            balance: U256::from(n + 1),
            storage_root: EMPTY_ROOT_HASH,
            code_hash: KECCAK_EMPTY,
        };
        if n % 3 == 1 {
            let code = new_code(n);
            account.code_hash = keccak256(&code);
            codes.insert(account.code_hash, code);
        }
        if n % 3 == 2 {
            let slots =
                (0..3).map(|s| (keccak256(format!("slot {n} {s}")), slot_value(s))).collect();
            storage.insert(hash, slots);
        }
        accounts.insert(hash, account);
    }
    // Only referenced codes belong to the state.
    let referenced: Vec<Bytes> = codes
        .into_iter()
        .filter(|(hash, _)| accounts.values().any(|account| account.code_hash == *hash))
        .map(|(_, code)| code)
        .collect();
    let storage = storage
        .into_iter()
        .filter(|(hash, _)| accounts.contains_key(hash))
        .map(|(hash, slots)| (hash, slots.into_iter().collect()))
        .collect::<Vec<(B256, Vec<(B256, Bytes)>)>>();
    InMemoryState::from_sorted(accounts.into_iter().collect(), storage, referenced)
        .expect("sorted maps build")
}
