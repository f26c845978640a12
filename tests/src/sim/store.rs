//! The host's store: applies write batches atomically and checks, before applying, that
//! everything written is exactly the target's data and that progress never goes backwards.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;
use snap_core::sync::{Counters, ProgressRecord, WriteBatch};

use super::state::TargetState;

/// Keep the written data, or only verify and count it (for memory measurements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// Keep everything, for the exact end check.
    Keep,
    /// Verify and count, keep nothing but the progress record.
    Discard,
}

/// Totals written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Account writes.
    pub accounts: u64,
    /// Slot writes.
    pub slots: u64,
    /// Code writes.
    pub codes: u64,
    /// Node writes.
    pub nodes: u64,
    /// Node deletions.
    pub deletes: u64,
    /// Batches applied.
    pub batches: u64,
}

/// An in-memory key-value store with atomic batches.
#[derive(Debug)]
pub struct Store {
    mode: StoreMode,
    accounts: BTreeMap<B256, TrieAccount>,
    slots: BTreeMap<(B256, B256), Bytes>,
    codes: BTreeMap<B256, Bytes>,
    nodes: BTreeMap<(B256, Nibbles), Bytes>,
    progress: Option<Bytes>,
    record: Option<ProgressRecord>,
    /// What was written.
    pub written: Written,
}

impl Store {
    /// An empty store.
    pub const fn new(mode: StoreMode) -> Self {
        Self {
            mode,
            accounts: BTreeMap::new(),
            slots: BTreeMap::new(),
            codes: BTreeMap::new(),
            nodes: BTreeMap::new(),
            progress: None,
            record: None,
            written: Written { accounts: 0, slots: 0, codes: 0, nodes: 0, deletes: 0, batches: 0 },
        }
    }

    /// The last applied progress record, encoded.
    pub const fn progress(&self) -> Option<&Bytes> {
        self.progress.as_ref()
    }

    /// Checks `batch` against `target` and applies it, all or nothing.
    pub fn apply(&mut self, batch: WriteBatch, target: &TargetState) -> Result<(), String> {
        let record = check_batch(&batch, target)?;
        if let Some(previous) = &self.record {
            check_progress(previous, &record)?;
        }
        self.written.batches += 1;
        self.written.accounts += batch.accounts.len() as u64;
        self.written.slots += batch.storage.len() as u64;
        self.written.codes += batch.codes.len() as u64;
        self.written.nodes += batch.nodes.writes.len() as u64;
        self.written.deletes += batch.nodes.deletes.len() as u64;
        if self.mode == StoreMode::Keep {
            self.accounts.extend(batch.accounts);
            self.slots.extend(batch.storage.into_iter().map(|(a, s, v)| ((a, s), v)));
            self.codes.extend(batch.codes);
            for key in batch.nodes.deletes {
                self.nodes.remove(&(key.owner, key.path));
            }
            self.nodes.extend(
                batch.nodes.writes.into_iter().map(|(key, node)| ((key.owner, key.path), node)),
            );
        }
        self.progress = Some(batch.progress);
        self.record = Some(record);
        Ok(())
    }

    /// The end check: the flat state equals the target exactly and every stored node is the
    /// target's node at its path. In discard mode, the write counts must equal the target's
    /// item counts (every write was checked against the target on the way in).
    pub fn check_complete(&self, target: &TargetState) -> Result<(), String> {
        let state = &target.state;
        if self.mode == StoreMode::Discard {
            let expected = (
                state.account_list().len() as u64,
                target.slot_count as u64,
                state.codes().len() as u64,
            );
            let got = (self.written.accounts, self.written.slots, self.written.codes);
            return if got == expected {
                Ok(())
            } else {
                Err(format!("written (accounts, slots, codes) {got:?} != target {expected:?}"))
            };
        }
        if self.accounts.len() != state.account_list().len() {
            return Err(format!(
                "{} accounts stored, target has {}",
                self.accounts.len(),
                state.account_list().len()
            ));
        }
        for ((hash, account), (stored_hash, stored)) in
            state.account_list().iter().zip(&self.accounts)
        {
            if hash != stored_hash || account != stored {
                return Err(format!("account {hash} missing or different (stored {stored_hash})"));
            }
        }
        if self.slots.len() != target.slot_count {
            return Err(format!(
                "{} slots stored, target has {}",
                self.slots.len(),
                target.slot_count
            ));
        }
        let expected_slots = state.account_list().iter().flat_map(|(hash, _)| {
            state.slot_list(hash).iter().map(move |(slot, value)| (hash, slot, value))
        });
        for ((account, slot, value), ((stored_account, stored_slot), stored)) in
            expected_slots.zip(&self.slots)
        {
            if account != stored_account || slot != stored_slot || value != stored {
                return Err(format!("slot {slot} of {account} missing or different"));
            }
        }
        if self.codes.len() != state.codes().len()
            || self.codes.iter().zip(state.codes()).any(|(a, b)| a != b)
        {
            return Err(format!(
                "{} codes stored, target has {} (or they differ)",
                self.codes.len(),
                state.codes().len()
            ));
        }
        for ((owner, path), node) in &self.nodes {
            if target.node(owner, path).as_ref() != Some(node) {
                return Err(format!("stored node of {owner} at {path:?} is not the target's"));
            }
        }
        Ok(())
    }

    /// Whether the store keeps what it applies (and so can answer lookups).
    pub fn keeps_data(&self) -> bool {
        self.mode == StoreMode::Keep
    }

    /// Whether the store holds bytecode `hash` (never, in discard mode).
    pub fn has_code(&self, hash: &B256) -> bool {
        self.codes.contains_key(hash)
    }

    /// Accounts, slots and codes stored (written counts in discard mode).
    pub fn totals(&self) -> (u64, u64, u64) {
        match self.mode {
            StoreMode::Keep => {
                (self.accounts.len() as u64, self.slots.len() as u64, self.codes.len() as u64)
            }
            StoreMode::Discard => (self.written.accounts, self.written.slots, self.written.codes),
        }
    }

    /// Stored trie nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// Every item of the batch must be the target's; returns the batch's decoded progress record.
fn check_batch(batch: &WriteBatch, target: &TargetState) -> Result<ProgressRecord, String> {
    let id = batch.id.0;
    for (hash, account) in &batch.accounts {
        if target.account(hash) != Some(account) {
            return Err(format!("batch {id}: unverified account {hash} written"));
        }
    }
    for (account, slot, value) in &batch.storage {
        if target.slot(account, slot) != Some(value) {
            return Err(format!("batch {id}: unverified slot {slot} of {account} written"));
        }
    }
    for (hash, code) in &batch.codes {
        if keccak256(code) != *hash || target.state.codes().get(hash) != Some(code) {
            return Err(format!("batch {id}: unverified code {hash} written"));
        }
    }
    for (key, node) in &batch.nodes.writes {
        if target.node(&key.owner, &key.path).as_ref() != Some(node) {
            return Err(format!(
                "batch {id}: trie node of {} at {:?} is not the target's node at that path",
                key.owner, key.path
            ));
        }
    }
    let record = ProgressRecord::decode_versioned(&batch.progress)
        .map_err(|error| format!("batch {id}: progress record does not decode: {error}"))?;
    if record.target.root != target.root() {
        return Err(format!("batch {id}: progress record for root {}", record.target.root));
    }
    Ok(record)
}

/// Progress never goes backwards: the fraction done and every counter only grow.
fn check_progress(previous: &ProgressRecord, next: &ProgressRecord) -> Result<(), String> {
    let (before, after) = (previous.account_fraction_done(), next.account_fraction_done());
    if after + 1e-12 < before {
        return Err(format!("progress went backwards: fraction {before} -> {after}"));
    }
    let fields = |c: &Counters| {
        [
            c.accounts,
            c.account_bytes,
            c.slots,
            c.slot_bytes,
            c.codes,
            c.code_bytes,
            c.nodes,
            c.node_bytes,
        ]
    };
    let names = [
        "accounts",
        "account_bytes",
        "slots",
        "slot_bytes",
        "codes",
        "code_bytes",
        "nodes",
        "node_bytes",
    ];
    for ((name, a), b) in names.iter().zip(fields(&previous.counters)).zip(fields(&next.counters)) {
        if b < a {
            return Err(format!("progress went backwards: counter {name} {a} -> {b}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloy_primitives::U256;
    use snap_core::sync::{BatchId, Target};

    use super::*;
    use crate::sim::state::StateSpec;

    fn target() -> TargetState {
        TargetState::generate(&StateSpec::new(5, 40, 400)).unwrap()
    }

    fn batch(target: &TargetState, id: u64, accounts: usize) -> WriteBatch {
        let state = &target.state;
        let mut record = ProgressRecord::fresh(Target { root: target.root(), number: 1 }, 16);
        record.account_tasks.drain(..id as usize);
        record.counters.accounts = accounts as u64;
        WriteBatch {
            id: BatchId(id),
            accounts: state.account_list()[..accounts].to_vec(),
            progress: Bytes::from(record.encode_versioned()),
            ..WriteBatch::default()
        }
    }

    #[test]
    fn verified_batches_apply_and_complete_state_passes_the_end_check() {
        let target = target();
        let state = &target.state;
        let mut store = Store::new(StoreMode::Keep);
        let mut full = batch(&target, 1, state.account_list().len());
        for (hash, _) in state.account_list() {
            full.storage.extend(state.slot_list(hash).iter().map(|(s, v)| (*hash, *s, v.clone())));
        }
        full.codes = state.codes().iter().map(|(h, c)| (*h, c.clone())).collect();
        let path = Nibbles::new();
        let node = target.node(&B256::ZERO, &path).expect("the root is stored");
        full.nodes.writes.push((snap_core::trie::NodeKey { owner: B256::ZERO, path }, node));
        assert!(store.check_complete(&target).is_err(), "empty store is incomplete");
        store.apply(full, &target).unwrap();
        store.check_complete(&target).unwrap();
    }

    #[test]
    fn anything_not_in_the_target_is_refused_and_nothing_of_the_batch_applied() {
        let target = target();
        let state = &target.state;
        let mut store = Store::new(StoreMode::Keep);
        let mut wrong_account = batch(&target, 1, 3);
        wrong_account.accounts[2].1.balance += U256::from(1);
        assert!(store.apply(wrong_account, &target).unwrap_err().contains("unverified account"));
        assert_eq!(store.written.batches, 0);
        let mut wrong_slot = batch(&target, 1, 1);
        let owner =
            state.account_list().iter().find(|(h, _)| !state.slot_list(h).is_empty()).unwrap().0;
        let (slot, _) = state.slot_list(&owner)[0].clone();
        wrong_slot.storage.push((owner, slot, Bytes::from_static(&[0x05])));
        assert!(store.apply(wrong_slot, &target).unwrap_err().contains("unverified slot"));
        let mut wrong_code = batch(&target, 1, 1);
        let code = Bytes::from_static(b"not a code of the state");
        wrong_code.codes.push((keccak256(&code), code));
        assert!(store.apply(wrong_code, &target).unwrap_err().contains("unverified code"));
        let mut wrong_node = batch(&target, 1, 1);
        let path = Nibbles::from_nibbles([0xf, 0xf, 0xf, 0xf, 0xf, 0xf]);
        wrong_node.nodes.writes.push((
            snap_core::trie::NodeKey { owner: B256::ZERO, path },
            Bytes::from_static(&[0xc0]),
        ));
        assert!(store.apply(wrong_node, &target).unwrap_err().contains("trie node"));
        assert_eq!(store.written.batches, 0);
        assert!(store.progress().is_none());
    }

    #[test]
    fn progress_may_not_go_backwards() {
        let target = target();
        let mut store = Store::new(StoreMode::Keep);
        store.apply(batch(&target, 4, 10), &target).unwrap();
        assert!(
            store.apply(batch(&target, 5, 9), &target).unwrap_err().contains("counter accounts")
        );
        assert!(store.apply(batch(&target, 3, 12), &target).unwrap_err().contains("fraction"));
        store.apply(batch(&target, 5, 12), &target).unwrap();
        assert!(store.check_complete(&target).unwrap_err().contains("accounts stored"));
    }
}
