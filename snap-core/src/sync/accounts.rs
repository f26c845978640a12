//! Account tasks: the hash space split into ranges, each with a cursor and its own trie
//! generator.
//!
//! A verified response is held by its task until the storage and code of its accounts are in;
//! accounts are then written in order, as far as they are complete, and the cursor advances
//! past them. Unlike geth, nothing after the first incomplete account is downloaded again: the
//! held response is forwarded further as soon as more of it completes.

use alloy_primitives::B256;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};

use super::{
    contract::WriteBatch,
    progress::RangeCursor,
    range::{HashRange, fraction_of_space, next_hash},
};
use crate::trie::{VerifiedNodes, generate::TrieGenerator};

/// What a held account still waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub(crate) code: bool,
    pub(crate) storage: bool,
    /// Its storage came in chunks: leave its leaf out of the account trie so healing visits it.
    pub(crate) chunked: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct HeldAccount {
    pub(crate) hash: B256,
    pub(crate) account: TrieAccount,
    /// The account's trie leaf (its full RLP), as verified against the root.
    pub(crate) leaf: Vec<u8>,
    pub(crate) waiting: Waiting,
}

/// What an account task has not fetched, for the progress estimate.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Unfetched {
    /// The share of the key space not fetched yet (what the task holds, verified and waiting
    /// for storage or code, counts as fetched).
    pub(crate) space: f64,
    /// Accounts held.
    pub(crate) held: u64,
    /// Held accounts waiting for their storage.
    pub(crate) storage_pending: u64,
    /// Held accounts with storage, all of it in.
    pub(crate) storage_settled: u64,
}

/// One range of the account hash space.
#[derive(Debug)]
pub(crate) struct AccountTask {
    /// The first hash not yet written.
    pub(crate) next: B256,
    /// The last hash of the range.
    pub(crate) last: B256,
    /// The state root its requests, held response and trie generator belong to.
    pub(crate) root: B256,
    generator: TrieGenerator,
    /// A request for this task is in flight.
    pub(crate) in_flight: bool,
    /// The ticket of the last request sent for this task (tickets are unique in a sync).
    pub(crate) ticket: u64,
    /// A verified response being forwarded, and whether the trie holds more after it.
    held: Option<(Vec<HeldAccount>, bool)>,
    /// The trie nodes its verification computed, until the generator takes them.
    held_nodes: Option<VerifiedNodes>,
    /// The held accounts waiting for a code: `(code hash, account hash)`, sorted.
    code_waiters: Vec<(B256, B256)>,
    /// The whole range is written.
    pub(crate) done: bool,
    /// Accounts with storage this task wrote (in memory: the progress estimate's measure of
    /// slots per contract).
    pub(crate) written_with_storage: u64,
}

impl AccountTask {
    /// A task for `next..=last` of the state `root`; the trie's left boundary is skipped
    /// unless `next` is zero.
    pub(crate) fn new(cursor: RangeCursor, root: B256) -> Self {
        Self {
            next: cursor.next,
            last: cursor.last,
            root,
            generator: TrieGenerator::new(B256::ZERO, cursor.next),
            in_flight: false,
            ticket: 0,
            held: None,
            held_nodes: None,
            code_waiters: Vec::new(),
            done: false,
            written_with_storage: 0,
        }
    }

    /// The target's root changed in a way that voids what this task holds (a reorg): the held
    /// response is dropped and fetched again from the cursor under `root`, and the trie
    /// generator restarts at the cursor. Nothing written is lost.
    pub(crate) fn retarget(&mut self, root: B256, batch: &mut WriteBatch) {
        if self.done {
            return;
        }
        self.held = None;
        self.held_nodes = None;
        self.code_waiters.clear();
        self.switch_root(root, batch);
    }

    /// Moves the task to `root` between two responses (nothing held, nothing in flight), so
    /// that a response verified against an older root is always used, never dropped: the trie
    /// generator restarts at the cursor so that no node mixes two roots' leaves (healing
    /// repairs the difference), and the next range is asked under `root`.
    pub(crate) fn switch_root(&mut self, root: B256, batch: &mut WriteBatch) {
        if self.root == root || self.done {
            return;
        }
        debug_assert!(self.held.is_none(), "a held response keeps its root");
        self.root = root;
        self.generator.take_changes_into(&mut batch.nodes);
        self.generator = TrieGenerator::new(B256::ZERO, self.next);
    }

    /// Whether a request may be sent for this task.
    pub(crate) fn wants_request(&self) -> bool {
        !self.done && !self.in_flight && self.held.is_none()
    }

    /// The range this task still covers.
    pub(crate) fn remaining(&self) -> HashRange {
        HashRange { first: self.next, last: self.last }
    }

    /// Holds a verified response, already cut at the task's last hash, whether the trie holds
    /// more accounts after it within the task, and the trie nodes its verification computed.
    pub(crate) fn hold(&mut self, accounts: Vec<HeldAccount>, more: bool, nodes: VerifiedNodes) {
        self.code_waiters.clear();
        self.code_waiters.extend(
            accounts
                .iter()
                .filter(|held| held.waiting.code)
                .map(|held| (held.account.code_hash, held.hash)),
        );
        self.code_waiters.sort_unstable();
        self.held = Some((accounts, more));
        self.held_nodes = Some(nodes);
    }

    /// These codes arrived (or are known stored): the held accounts waiting for them no longer
    /// wait.
    pub(crate) fn codes_arrived(&mut self, arrived: &[B256]) {
        let Some((held, _)) = &mut self.held else { return };
        for code in arrived {
            let from = self.code_waiters.partition_point(|(waited, _)| waited < code);
            for (_, account) in self.code_waiters[from..].iter().take_while(|(c, _)| c == code) {
                if let Ok(at) = held.binary_search_by(|held| held.hash.cmp(account)) {
                    held[at].waiting.code = false;
                }
            }
        }
    }

    /// What the progress estimate needs of this task.
    pub(crate) fn unfetched(&self) -> Unfetched {
        let none = Unfetched::default();
        if self.done {
            return none;
        }
        match &self.held {
            None => Unfetched { space: fraction_of_space(&self.next, &self.last), ..none },
            Some((held, more)) => {
                let left = match held.last() {
                    _ if !*more => 0.0,
                    None => fraction_of_space(&self.next, &self.last),
                    Some(account) => match next_hash(&account.hash) {
                        Some(after) if after <= self.last => fraction_of_space(&after, &self.last),
                        _ => 0.0,
                    },
                };
                let waiting = held.iter().filter(|account| account.waiting.storage).count();
                let settled = held
                    .iter()
                    .filter(|account| !account.waiting.storage && has_storage(&account.account))
                    .count();
                Unfetched {
                    space: left,
                    held: held.len() as u64,
                    storage_pending: waiting as u64,
                    storage_settled: settled as u64,
                }
            }
        }
    }

    /// Whether this task holds account `hash`, verified in `state_root`, waiting for its
    /// storage.
    pub(crate) fn waits_for_storage(&self, hash: &B256, state_root: &B256) -> bool {
        self.root == *state_root
            && self.held.as_ref().is_some_and(|(held, _)| {
                held.binary_search_by(|account| account.hash.cmp(hash))
                    .is_ok_and(|at| held[at].waiting.storage)
            })
    }

    /// Applies `update` to the held account `hash`, if there is one.
    pub(crate) fn update_held_account(
        &mut self,
        hash: &B256,
        update: impl FnOnce(&mut HeldAccount),
    ) {
        if let Some((held, _)) = &mut self.held
            && let Ok(at) = held.binary_search_by(|account| account.hash.cmp(hash))
        {
            update(&mut held[at]);
        }
    }

    /// Writes the leading complete held accounts into `batch`, advances the cursor, and
    /// finishes the task when the range is exhausted. Returns the accounts written.
    pub(crate) fn forward(&mut self, batch: &mut WriteBatch) -> Vec<B256> {
        let Some((held, more)) = &mut self.held else { return Vec::new() };
        let complete = held
            .iter()
            .take_while(|account| !account.waiting.code && !account.waiting.storage)
            .count();
        let mut written = Vec::with_capacity(complete);
        if complete > 0
            && let Some(nodes) = self.held_nodes.take()
        {
            self.generator.use_verified(nodes);
        }
        for account in held.drain(..complete) {
            if account.waiting.chunked {
                self.generator.forget(account.hash).expect("verified: strictly increasing");
            } else {
                self.generator
                    .push(account.hash, &account.leaf)
                    .expect("verified: strictly increasing");
            }
            self.written_with_storage += u64::from(has_storage(&account.account));
            batch.accounts.push((account.hash, account.account));
            written.push(account.hash);
            match next_hash(&account.hash) {
                Some(next) => self.next = next,
                None => *more = false,
            }
        }
        if held.is_empty() {
            let more = *more;
            self.held = None;
            self.held_nodes = None;
            self.code_waiters.clear();
            self.generator.release_verified();
            if !more {
                self.done = true;
                self.next = self.last;
                let generator = std::mem::replace(
                    &mut self.generator,
                    TrieGenerator::new(B256::ZERO, self.last),
                );
                // The whole range up to `last` is covered: its right-edge nodes are final too.
                let (mut changes, _) = generator.finish_through(self.last);
                batch.nodes.append(&mut changes);
                return written;
            }
        }
        self.generator.take_changes_into(&mut batch.nodes);
        written
    }
}

/// Whether an account has storage to fetch.
pub(crate) fn has_storage(account: &TrieAccount) -> bool {
    account.storage_root != EMPTY_ROOT_HASH
}

/// Whether an account has code to fetch.
pub(crate) fn has_code(account: &TrieAccount) -> bool {
    account.code_hash != KECCAK_EMPTY
}
