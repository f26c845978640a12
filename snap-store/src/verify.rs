//! [`verify`]: recomputes the state root from the store's flat state and checks the stored
//! trie nodes against it, streaming (memory does not grow with the state).
//!
//! What is checked:
//!
//! - the account root, recomputed from the flat accounts with alloy-trie's `HashBuilder`, is
//!   the hash of the stored root node;
//! - each account's storage root, recomputed from its flat slots the same way, is the root the
//!   account names;
//! - the stored nodes of every trie are exactly that trie's path-keyed nodes: the nodes
//!   snap-core's `TrieGenerator` derives from the flat leaves are each stored, byte for byte,
//!   at their path, and the store holds no other node for that trie (counts match);
//! - no slot or storage-trie node belongs to an account hash the store does not hold;
//! - every account's code is stored, and every stored code hashes to its key.

use std::iter::Peekable;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY};
use nybbles::Nibbles;
use snap_core::trie::{NodeChanges, TrieGenerator};

use crate::{StoreError, StoreIter, SyncStore};

/// Changes are checked against the store after this many leaves, to keep memory flat.
const CHECK_EVERY: usize = 4096;

/// The first thing found wrong, or one of the things counted in [`VerifyReport::mismatches`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The root recomputed from the flat accounts is not the stored root node's hash (`None`:
    /// no root node is stored).
    StateRoot {
        /// The stored root node's hash.
        stored: Option<B256>,
        /// The root of the flat accounts.
        computed: B256,
    },
    /// An account names another storage root than its flat slots give.
    StorageRoot {
        /// The account hash.
        account: B256,
        /// The root the account names.
        stored: B256,
        /// The root of its flat slots.
        computed: B256,
    },
    /// A node of the trie the flat state gives is not stored at its path.
    MissingNode {
        /// The trie's owner (zero: the account trie).
        owner: B256,
        /// The node's path.
        path: Nibbles,
    },
    /// A different node is stored where the flat state's trie has one.
    WrongNode {
        /// The trie's owner (zero: the account trie).
        owner: B256,
        /// The node's path.
        path: Nibbles,
    },
    /// A trie holds more stored nodes than the flat state's trie has.
    ExtraNodes {
        /// The trie's owner (zero: the account trie).
        owner: B256,
        /// Nodes stored for that owner.
        stored: u64,
        /// Nodes the flat state's trie has.
        expected: u64,
    },
    /// A slot of an account hash the store holds no account for.
    OrphanSlot {
        /// The owner hash.
        account: B256,
        /// The slot hash.
        slot: B256,
    },
    /// A storage-trie node of an account hash the store holds no account for.
    OrphanNode {
        /// The owner hash.
        owner: B256,
        /// The node's path.
        path: Nibbles,
    },
    /// A slot with an empty value (a zero slot is absent from the trie, never stored empty).
    EmptySlot {
        /// The account hash.
        account: B256,
        /// The slot hash.
        slot: B256,
    },
    /// An account's code is not stored.
    MissingCode {
        /// The account hash.
        account: B256,
        /// The code hash it names.
        code_hash: B256,
    },
    /// The store handed out a trie's leaves out of order (a broken [`SyncStore`]); the leaf
    /// is left out of the recomputation.
    Unordered {
        /// The trie's owner (zero: the account trie).
        owner: B256,
        /// The key out of order.
        key: B256,
    },
    /// A stored code does not hash to its key.
    WrongCode {
        /// The key it is stored under.
        hash: B256,
    },
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The hash of the stored account-trie root node, if any.
    pub stored_root: Option<B256>,
    /// The root recomputed from the flat accounts.
    pub computed_root: B256,
    /// Flat accounts.
    pub accounts: u64,
    /// Flat storage slots (of accounts that exist).
    pub slots: u64,
    /// Accounts with non-empty storage.
    pub storage_tries: u64,
    /// Stored bytecodes.
    pub codes: u64,
    /// Stored trie nodes checked (of tries that exist).
    pub nodes: u64,
    /// How many mismatches were found.
    pub mismatches: u64,
    /// The first mismatches found, in the order found (at most [`MAX_LISTED_MISMATCHES`]).
    pub listed: Vec<Mismatch>,
}

/// How many mismatches a [`VerifyReport`] lists (it counts them all).
pub const MAX_LISTED_MISMATCHES: usize = 32;

impl VerifyReport {
    /// Whether the store holds a complete, consistent state.
    pub const fn is_ok(&self) -> bool {
        self.mismatches == 0
    }

    /// The first mismatch found.
    pub fn first_mismatch(&self) -> Option<&Mismatch> {
        self.listed.first()
    }

    fn record(&mut self, mismatch: Mismatch) {
        self.mismatches += 1;
        if self.listed.len() < MAX_LISTED_MISMATCHES {
            self.listed.push(mismatch);
        }
    }
}

/// Checks the whole store; see the module documentation. Errors are failures to read;
/// inconsistencies are reported in the [`VerifyReport`].
pub fn verify<S: SyncStore + ?Sized>(store: &S) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport { stored_root: store.state_root()?, ..VerifyReport::default() };
    let mut slots = store.all_storage()?.peekable();
    let mut nodes = store.all_nodes()?.peekable();
    // The account trie's nodes come first in the node order (owner zero).
    let stored_account_nodes = count_owner(&mut nodes, &B256::ZERO)?;

    let mut account_hashes = HashBuilder::default();
    let mut account_nodes = TrieChecker::new(B256::ZERO);
    let mut leaf = Vec::new();
    for entry in store.accounts_from(&B256::ZERO)? {
        let (hash, account) = entry?;
        report.accounts += 1;
        // Everything owned by hashes before this account has no account.
        skip_orphans(&mut slots, &mut nodes, &hash, &mut report)?;
        let (computed, expected_nodes) = check_storage(store, &mut slots, &hash, &mut report)?;
        if computed != account.storage_root {
            report.record(Mismatch::StorageRoot {
                account: hash,
                stored: account.storage_root,
                computed,
            });
        }
        let stored_nodes = count_owner(&mut nodes, &hash)?;
        if stored_nodes > expected_nodes {
            report.record(Mismatch::ExtraNodes {
                owner: hash,
                stored: stored_nodes,
                expected: expected_nodes,
            });
        }
        report.nodes += stored_nodes;
        report.storage_tries += u64::from(computed != EMPTY_ROOT_HASH);
        if account.code_hash != KECCAK_EMPTY && !store.has_code(&account.code_hash)? {
            report.record(Mismatch::MissingCode { account: hash, code_hash: account.code_hash });
        }
        leaf.clear();
        account.encode(&mut leaf);
        if account_nodes.push(store, hash, &leaf, &mut report)? {
            account_hashes.add_leaf(Nibbles::unpack(hash), &leaf);
        }
    }
    // Whatever is left is owned by hashes after the last account.
    for entry in slots {
        let (account, slot, _) = entry?;
        report.record(Mismatch::OrphanSlot { account, slot });
    }
    for entry in nodes {
        let (owner, path, _) = entry?;
        report.record(Mismatch::OrphanNode { owner, path });
    }
    report.computed_root = account_hashes.root();
    // The empty trie stores no node: a sync of the empty state (its progress record written)
    // holds the empty root. A store nothing was written to holds no state at all.
    if report.stored_root.is_none()
        && report.computed_root == EMPTY_ROOT_HASH
        && store.progress()?.is_some()
    {
        report.stored_root = Some(EMPTY_ROOT_HASH);
    }
    if report.stored_root != Some(report.computed_root) {
        report.record(Mismatch::StateRoot {
            stored: report.stored_root,
            computed: report.computed_root,
        });
    }
    let expected = account_nodes.finish(store, &mut report)?;
    if stored_account_nodes > expected {
        report.record(Mismatch::ExtraNodes {
            owner: B256::ZERO,
            stored: stored_account_nodes,
            expected,
        });
    }
    report.nodes += stored_account_nodes;

    for entry in store.all_codes()? {
        let (hash, code) = entry?;
        report.codes += 1;
        if keccak256(&code) != hash {
            report.record(Mismatch::WrongCode { hash });
        }
    }
    Ok(report)
}

type Slots<'a> = Peekable<StoreIter<'a, (B256, B256, Bytes)>>;
type Nodes<'a> = Peekable<StoreIter<'a, (B256, Nibbles, Bytes)>>;

/// Reports every slot and storage node owned by a hash before `hash` as an orphan.
fn skip_orphans(
    slots: &mut Slots<'_>,
    nodes: &mut Nodes<'_>,
    hash: &B256,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    while let Some(entry) = slots.next_if(|entry| entry.as_ref().map_or(true, |(a, _, _)| a < hash))
    {
        let (account, slot, _) = entry?;
        report.record(Mismatch::OrphanSlot { account, slot });
    }
    while let Some(entry) = nodes.next_if(|entry| entry.as_ref().map_or(true, |(o, _, _)| o < hash))
    {
        let (owner, path, _) = entry?;
        report.record(Mismatch::OrphanNode { owner, path });
    }
    Ok(())
}

/// Counts (and consumes) the stored nodes of `owner` at the head of `nodes`.
fn count_owner(nodes: &mut Nodes<'_>, owner: &B256) -> Result<u64, StoreError> {
    let mut count = 0;
    while let Some(entry) =
        nodes.next_if(|entry| entry.as_ref().map_or(true, |(o, _, _)| o == owner))
    {
        entry?;
        count += 1;
    }
    Ok(count)
}

/// Checks the storage of `account` (the slots at the head of `slots`) against the store.
/// Returns its root recomputed and the number of nodes its trie has.
fn check_storage<S: SyncStore + ?Sized>(
    store: &S,
    slots: &mut Slots<'_>,
    account: &B256,
    report: &mut VerifyReport,
) -> Result<(B256, u64), StoreError> {
    let mut hashes = HashBuilder::default();
    let mut checker = TrieChecker::new(*account);
    let mut any = false;
    while let Some(entry) =
        slots.next_if(|entry| entry.as_ref().map_or(true, |(a, _, _)| a == account))
    {
        let (_, slot, value) = entry?;
        report.slots += 1;
        if value.is_empty() {
            report.record(Mismatch::EmptySlot { account: *account, slot });
            continue;
        }
        if checker.push(store, slot, &value, report)? {
            hashes.add_leaf(Nibbles::unpack(slot), &value);
            any = true;
        }
    }
    if !any {
        return Ok((EMPTY_ROOT_HASH, 0));
    }
    let expected = checker.finish(store, report)?;
    Ok((hashes.root(), expected))
}

/// Generates one trie's nodes from its leaves and checks each against the store.
struct TrieChecker {
    owner: B256,
    generator: TrieGenerator,
    previous: Option<B256>,
    pushed: usize,
    expected: u64,
}

impl TrieChecker {
    fn new(owner: B256) -> Self {
        Self {
            owner,
            generator: TrieGenerator::new(owner, B256::ZERO),
            previous: None,
            pushed: 0,
            expected: 0,
        }
    }

    /// Adds the next leaf; `false` (with a mismatch recorded) when the store handed the keys
    /// out of order, so the leaf is left out.
    fn push<S: SyncStore + ?Sized>(
        &mut self,
        store: &S,
        key: B256,
        value: &[u8],
        report: &mut VerifyReport,
    ) -> Result<bool, StoreError> {
        if self.previous.is_some_and(|previous| key <= previous)
            || self.generator.push(key, value).is_err()
        {
            report.record(Mismatch::Unordered { owner: self.owner, key });
            return Ok(false);
        }
        self.previous = Some(key);
        self.pushed += 1;
        if self.pushed.is_multiple_of(CHECK_EVERY) {
            let changes = self.generator.take_changes();
            self.expected += check_nodes(store, changes, report)?;
        }
        Ok(true)
    }

    /// Checks the remaining nodes; returns how many nodes the trie has.
    fn finish<S: SyncStore + ?Sized>(
        self,
        store: &S,
        report: &mut VerifyReport,
    ) -> Result<u64, StoreError> {
        let (changes, _) = self.generator.finish(true);
        Ok(self.expected + check_nodes(store, changes, report)?)
    }
}

/// Checks that each node written by `changes` is stored at its path; returns how many.
fn check_nodes<S: SyncStore + ?Sized>(
    store: &S,
    changes: NodeChanges,
    report: &mut VerifyReport,
) -> Result<u64, StoreError> {
    let mut count = 0;
    for (key, node) in changes.writes {
        count += 1;
        match store.node(&key.owner, &key.path)? {
            None => report.record(Mismatch::MissingNode { owner: key.owner, path: key.path }),
            Some(stored) if stored != node => {
                report.record(Mismatch::WrongNode { owner: key.owner, path: key.path });
            }
            Some(_) => {}
        }
    }
    Ok(count)
}
