//! The honest chain of the pivot simulation: headers linked by parent hash whose state roots
//! are the roots of real (tiny) states, so probes are answered by the project's server with
//! proofs that verify. It grows block by block and can reorg its top blocks; every header it
//! ever had is remembered, so a check can tell an anchored header from a made-up one.

use std::collections::{HashMap, HashSet};

use alloy_primitives::{B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use snap_core::{serve::InMemoryState, sync::Header};

/// The states of the chain's blocks, built when first asked for.
#[derive(Debug, Default)]
pub struct States {
    by_root: HashMap<B256, InMemoryState>,
}

impl States {
    /// The state whose root is `root`, if the chain made one.
    pub fn get(&self, root: &B256) -> Option<&InMemoryState> {
        self.by_root.get(root)
    }

    /// A small state distinct for every `(number, branch)`: three accounts whose balances
    /// encode both. Returns its root.
    fn make(&mut self, number: u64, branch: u64) -> B256 {
        let mut accounts: Vec<(B256, TrieAccount)> = (0..3u64)
            .map(|i| {
                let account = TrieAccount {
                    nonce: i,
                    balance: U256::from(number) << 32 | U256::from(branch << 8 | i),
                    storage_root: EMPTY_ROOT_HASH,
                    code_hash: KECCAK_EMPTY,
                };
                (keccak256(i.to_be_bytes()), account)
            })
            .collect();
        accounts.sort_by_key(|(hash, _)| *hash);
        let state = InMemoryState::from_sorted(accounts, [], []).expect("sorted, storage-less");
        let root = state.root();
        self.by_root.insert(root, state);
        root
    }
}

/// A header's hash in this simulation: keccak of its fields (a stand-in for the RLP hash
/// the adapter computes; what matters is that the hash pins every field).
pub fn header_hash(number: u64, parent: B256, root: B256, salt: u64) -> B256 {
    let mut bytes = Vec::with_capacity(80);
    bytes.extend_from_slice(&number.to_be_bytes());
    bytes.extend_from_slice(parent.as_slice());
    bytes.extend_from_slice(root.as_slice());
    bytes.extend_from_slice(&salt.to_be_bytes());
    keccak256(bytes)
}

/// A header with its hash computed from its fields.
pub fn make_header(number: u64, parent: B256, root: B256, salt: u64) -> Header {
    Header {
        number,
        hash: header_hash(number, parent, root, salt),
        parent_hash: parent,
        state_root: root,
        bal_hash: None,
    }
}

/// The honest chain.
#[derive(Debug)]
pub struct HonestChain {
    blocks: Vec<Header>,
    every: HashSet<B256>,
    by_hash: HashMap<B256, Header>,
    branch: u64,
    /// The states of every block.
    pub states: States,
}

impl HonestChain {
    /// A chain of `length` blocks (numbers `0..length`).
    pub fn new(length: u64) -> Self {
        let mut chain = Self {
            blocks: Vec::new(),
            every: HashSet::new(),
            by_hash: HashMap::new(),
            branch: 0,
            states: States::default(),
        };
        for _ in 0..length.max(1) {
            chain.grow();
        }
        chain
    }

    /// Appends one block.
    pub fn grow(&mut self) {
        let number = self.blocks.len() as u64;
        let parent = self.blocks.last().map_or(B256::ZERO, |h| h.hash);
        let root = self.states.make(number, self.branch);
        let header = make_header(number, parent, root, self.branch);
        self.every.insert(header.hash);
        self.by_hash.insert(header.hash, header);
        self.blocks.push(header);
    }

    /// Replaces the top `depth` blocks by a new branch of `depth + extra` blocks.
    pub fn reorg(&mut self, depth: u64, extra: u64) {
        let keep = self.blocks.len().saturating_sub(depth as usize).max(1);
        self.blocks.truncate(keep);
        self.branch += 1;
        for _ in 0..depth + extra {
            self.grow();
        }
    }

    /// The newest block.
    pub fn tip(&self) -> Header {
        *self.blocks.last().expect("never empty")
    }

    /// The canonical block `number`, as a peer `lag` blocks behind the tip sees it.
    pub fn at(&self, number: u64, lag: u64) -> Option<Header> {
        let visible = (self.blocks.len() as u64).saturating_sub(lag).max(1);
        (number < visible).then(|| self.blocks[number as usize])
    }

    /// The newest block a peer `lag` blocks behind sees.
    pub fn head(&self, lag: u64) -> Header {
        let visible = (self.blocks.len() as u64).saturating_sub(lag).max(1);
        self.blocks[visible as usize - 1]
    }

    /// A header the honest chain ever had (canonical or since orphaned), by hash.
    pub fn known(&self, hash: &B256) -> Option<Header> {
        self.by_hash.get(hash).copied()
    }

    /// Whether the honest chain ever had this header.
    pub fn ever_had(&self, header: &Header) -> bool {
        self.every.contains(&header.hash) && self.by_hash.get(&header.hash) == Some(header)
    }

    /// Whether `header` is canonical now.
    pub fn is_canonical(&self, header: &Header) -> bool {
        self.blocks.get(header.number as usize) == Some(header)
    }
}
