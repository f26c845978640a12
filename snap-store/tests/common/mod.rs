//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::{collections::BTreeMap, path::Path};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;
use snap_core::{
    serve::InMemoryState,
    sync::{BatchId, WriteBatch},
    trie::{NodeChanges, NodeKey, build_trie},
};
use snap_store::{StoreError, SyncStore};

/// A store constructor.
pub type Open = fn(&Path) -> Result<Box<dyn SyncStore>, StoreError>;

/// Every backend this build has, by name.
pub fn backends() -> Vec<(&'static str, Open)> {
    let all: Vec<(&'static str, Open)> = vec![
        #[cfg(feature = "redb")]
        ("redb", |dir| Ok(Box::new(snap_store::RedbStore::open(dir)?))),
        #[cfg(feature = "fjall")]
        ("fjall", |dir| Ok(Box::new(snap_store::FjallStore::open(dir)?))),
        #[cfg(feature = "mdbx")]
        ("mdbx", |dir| Ok(Box::new(snap_store::MdbxStore::open(dir)?))),
    ];
    assert!(!all.is_empty(), "no backend feature enabled");
    all
}

/// A small deterministic pseudo-random generator (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn hash(&mut self) -> B256 {
        keccak256(self.next().to_be_bytes())
    }
}

/// A generated state: `accounts` accounts, about a third with storage (up to `max_slots`
/// slots), some with code.
pub fn generated_state(seed: u64, accounts: usize, max_slots: u64) -> InMemoryState {
    let mut rng = Rng(seed);
    let mut list = Vec::new();
    let mut storage = Vec::new();
    let mut codes = Vec::new();
    for index in 0..accounts {
        let hash = rng.hash();
        let code = (index % 5 == 0).then(|| Bytes::from(vec![0x60u8; 1 + rng.below(300) as usize]));
        let account = TrieAccount {
            nonce: rng.below(1000),
            balance: U256::from(rng.next()),
            storage_root: B256::ZERO,
            code_hash: code.as_ref().map_or(KECCAK_EMPTY, keccak256),
        };
        if let Some(code) = code {
            codes.push(code);
        }
        if index % 3 == 0 {
            let mut slots: Vec<(B256, Bytes)> = (0..1 + rng.below(max_slots))
                .map(|_| {
                    (rng.hash(), Bytes::from(alloy_rlp::encode(U256::from(1 + rng.below(1 << 40)))))
                })
                .collect();
            slots.sort();
            slots.dedup_by_key(|(slot, _)| *slot);
            storage.push((hash, slots));
        }
        list.push((hash, account));
    }
    list.sort_by_key(|(hash, _)| *hash);
    list.dedup_by_key(|(hash, _)| *hash);
    InMemoryState::from_sorted(list, storage, codes).expect("a consistent generated state")
}

/// The whole state as one write batch: flat entries, codes, and every stored node of every
/// trie (from `build_trie`).
pub fn state_batch(state: &InMemoryState, progress: &[u8]) -> WriteBatch {
    let accounts = state.account_list().to_vec();
    let mut storage = Vec::new();
    let mut writes = Vec::new();
    for (hash, _) in &accounts {
        let slots = state.slot_list(hash);
        for (slot, value) in slots {
            storage.push((*hash, *slot, value.clone()));
        }
        if !slots.is_empty() {
            for (path, node) in build_trie(slots).nodes {
                writes.push((NodeKey { owner: *hash, path }, node));
            }
        }
    }
    let leaves: Vec<(B256, Vec<u8>)> =
        accounts.iter().map(|(hash, account)| (*hash, alloy_rlp::encode(account))).collect();
    let trie = build_trie(&leaves);
    assert_eq!(trie.root, state.root());
    for (path, node) in trie.nodes {
        writes.push((NodeKey { owner: B256::ZERO, path }, node));
    }
    WriteBatch {
        id: BatchId(1),
        accounts,
        storage,
        codes: state.codes().iter().map(|(hash, code)| (*hash, code.clone())).collect(),
        nodes: NodeChanges { writes, deletes: Vec::new() },
        pruned: Vec::new(),
        clear_tries: false,
        progress: Bytes::copy_from_slice(progress),
    }
}

/// The model: what the contract says a store holds.
#[derive(Debug, Default, PartialEq)]
pub struct Model {
    pub accounts: BTreeMap<B256, TrieAccount>,
    pub slots: BTreeMap<(B256, B256), Bytes>,
    pub codes: BTreeMap<B256, Bytes>,
    pub nodes: BTreeMap<(B256, Nibbles), Bytes>,
    pub progress: Option<Bytes>,
}

impl Model {
    pub fn apply(&mut self, batch: &WriteBatch) {
        if batch.clear_tries {
            self.nodes.clear();
        }
        for range in &batch.pruned {
            self.nodes.retain(|(owner, path), _| !(*owner == range.owner && range.contains(path)));
            if range.owner.is_zero() {
                self.accounts.retain(|hash, _| !range.contains_key(hash));
                self.slots.retain(|(account, _), _| !range.contains_key(account));
                self.nodes.retain(|(owner, _), _| owner.is_zero() || !range.contains_key(owner));
            } else {
                self.slots.retain(|(account, slot), _| {
                    *account != range.owner || !range.contains_key(slot)
                });
            }
        }
        for key in &batch.nodes.deletes {
            self.nodes.remove(&(key.owner, key.path));
        }
        self.accounts.extend(batch.accounts.iter().copied());
        self.slots.extend(batch.storage.iter().map(|(a, s, v)| ((*a, *s), v.clone())));
        self.codes.extend(batch.codes.iter().cloned());
        self.nodes.extend(batch.nodes.writes.iter().map(|(k, v)| ((k.owner, k.path), v.clone())));
        self.progress = Some(batch.progress.clone());
    }

    pub fn read(store: &dyn SyncStore) -> Self {
        Self {
            accounts: store.accounts_from(&B256::ZERO).unwrap().map(Result::unwrap).collect(),
            slots: store
                .all_storage()
                .unwrap()
                .map(|entry| entry.map(|(a, s, v)| ((a, s), v)).unwrap())
                .collect(),
            codes: store.all_codes().unwrap().map(Result::unwrap).collect(),
            nodes: store
                .all_nodes()
                .unwrap()
                .map(|entry| entry.map(|(o, p, v)| ((o, p), v)).unwrap())
                .collect(),
            progress: store.progress().unwrap(),
        }
    }
}
