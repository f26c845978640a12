//! The host's store: applies write batches atomically through the core's reference applier
//! (`snap_core::sync::host::apply_batch`), answers the syncer's lookups from what it has
//! applied, and checks, before applying, that everything written is the data of a target the
//! sync was given and that progress never goes backwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;
use snap_core::{
    sync::{
        Counters, NodeQuery, ProgressRecord, WriteBatch,
        host::{BatchStore, apply_batch},
    },
    trie::NodeKey,
};

use super::state::TargetState;

/// Keep the written data, or only verify and count it (for memory measurements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// Keep everything, for the exact end check.
    Keep,
    /// Verify and count, keep nothing but the progress record and a fingerprint of every
    /// stored trie node (to answer node lookups). Fixed targets only: pruned ranges are counted,
    /// not applied (with a fixed target every stored node is the target's, which a correct
    /// prune never covers; the keeping store's end check is what proves it).
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
    /// Pruned ranges applied.
    pub pruned: u64,
    /// Accounts, slots and nodes the pruned ranges removed.
    pub pruned_items: u64,
    /// Accounts the pruned ranges removed.
    pub pruned_accounts: u64,
    /// Accounts the pruned ranges removed together with storage they held.
    pub pruned_with_storage: u64,
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
    /// Discard mode: a fingerprint of (owner, path) to a fingerprint of the node's hash.
    node_prints: HashMap<u64, u64>,
    /// Accounts removed with their storage by pruned ranges.
    pruned: BTreeSet<B256>,
    progress: Option<Bytes>,
    record: Option<ProgressRecord>,
    /// What was written.
    pub written: Written,
}

impl Store {
    /// An empty store.
    pub fn new(mode: StoreMode) -> Self {
        Self {
            mode,
            accounts: BTreeMap::new(),
            slots: BTreeMap::new(),
            codes: BTreeMap::new(),
            nodes: BTreeMap::new(),
            node_prints: HashMap::new(),
            pruned: BTreeSet::new(),
            progress: None,
            record: None,
            written: Written::default(),
        }
    }

    /// The last applied progress record, encoded.
    pub const fn progress(&self) -> Option<&Bytes> {
        self.progress.as_ref()
    }

    /// Checks `batch` against the targets the sync was given (`targets`, first to current)
    /// and applies it, all or nothing.
    pub fn apply(&mut self, batch: WriteBatch, targets: &[&TargetState]) -> Result<(), String> {
        let record = check_batch(&batch, targets)?;
        if let Some(previous) = &self.record {
            check_progress(previous, &record)?;
        }
        self.written.batches += 1;
        self.written.accounts += batch.accounts.len() as u64;
        self.written.slots += batch.storage.len() as u64;
        self.written.codes += batch.codes.len() as u64;
        self.written.nodes += batch.nodes.writes.len() as u64;
        self.written.deletes += batch.nodes.deletes.len() as u64;
        self.written.pruned += batch.pruned.len() as u64;
        apply_batch(self, &batch);
        self.record = Some(record);
        Ok(())
    }

    /// Whether the store holds, at the query's owner and path, a node with the query's hash.
    pub fn has_node(&self, query: &NodeQuery) -> bool {
        match self.mode {
            StoreMode::Keep => self
                .nodes
                .get(&(query.owner, query.path))
                .is_some_and(|node| keccak256(node) == query.hash),
            StoreMode::Discard => {
                self.node_prints.get(&path_print(&query.owner, &query.path))
                    == Some(&hash_print(&query.hash))
            }
        }
    }

    /// The end check against the final target: the flat accounts and slots equal it exactly,
    /// every code it references is stored, and the stored trie nodes are exactly its stored
    /// nodes (every one present, none extra, in the account trie and every storage trie). In
    /// discard mode (fixed targets only), the write counts less healing's rewrites (from the
    /// final `counters`) must equal the target's item counts (every write was checked against
    /// the target on the way in).
    pub fn check_complete(&self, target: &TargetState, counters: &Counters) -> Result<(), String> {
        let state = &target.state;
        if self.mode == StoreMode::Discard {
            let expected = (
                state.account_list().len() as u64,
                target.slot_count as u64,
                state.codes().len() as u64,
            );
            let got = (
                self.written.accounts.saturating_sub(counters.healed_accounts),
                self.written.slots.saturating_sub(counters.healed_slots),
                self.written.codes,
            );
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
            let extra = self.slots.keys().find(|(owner, slot)| target.slot(owner, slot).is_none());
            let detail = match extra {
                Some((owner, slot)) => format!(
                    "; first extra: slot {slot} of {owner} (account {} in the target, {} slots of it stored, {} in the target)",
                    if target.account(owner).is_some() { "present" } else { "absent" },
                    self.slots
                        .range((*owner, B256::ZERO)..)
                        .take_while(|((o, _), _)| o == owner)
                        .count(),
                    state.slot_list(owner).len(),
                ),
                None => String::new(),
            };
            return Err(format!(
                "{} slots stored, target has {}{detail}",
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
        for (hash, code) in state.codes() {
            if self.codes.get(hash) != Some(code) {
                return Err(format!("code {hash} of the target is not stored"));
            }
        }
        for ((owner, path), node) in &self.nodes {
            if target.node(owner, path).as_ref() != Some(node) {
                return Err(format!("stored node of {owner} at {path:?} is not the target's"));
            }
        }
        let expected = target.stored_node_count();
        if self.nodes.len() != expected {
            return Err(format!(
                "{} trie nodes stored, the target stores {expected} (all stored ones are its)",
                self.nodes.len()
            ));
        }
        Ok(())
    }

    /// Whether the store keeps what it applies (and so can answer code lookups).
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

    /// Accounts that pruned ranges removed together with their stored storage.
    pub const fn pruned_with_storage(&self) -> &BTreeSet<B256> {
        &self.pruned
    }

    /// Stored trie nodes.
    pub fn node_count(&self) -> usize {
        match self.mode {
            StoreMode::Keep => self.nodes.len(),
            StoreMode::Discard => self.node_prints.len(),
        }
    }
}

/// The store's side of the core's reference applier ([`apply_batch`]), which fixes the order
/// and the account-to-storage cascade. Keep mode deletes and writes for real, counting what
/// pruned ranges remove. Discard mode keeps only node fingerprints: it applies node deletions,
/// node writes and `clear_tries`, and leaves range deletions undone (fingerprints have no
/// order to delete a range by; with a fixed target every stored node is the target's and a
/// correct prune never covers one, which the keeping store's end check proves).
impl BatchStore for Store {
    fn clear_nodes(&mut self) {
        self.nodes.clear();
        self.node_prints.clear();
    }

    fn delete_nodes_in(&mut self, owner: B256, from: &Nibbles, to: Option<&Nibbles>) {
        let nodes: Vec<(B256, Nibbles)> = self
            .nodes
            .range((owner, *from)..)
            .map(|(key, _)| *key)
            .take_while(|(o, path)| *o == owner && to.is_none_or(|to| path < to))
            .collect();
        self.written.pruned_items += nodes.len() as u64;
        for key in nodes {
            self.nodes.remove(&key);
        }
    }

    fn delete_accounts_in(&mut self, first: B256, end: Option<B256>) {
        let in_range = |key: &B256| end.is_none_or(|end| *key < end);
        let accounts: Vec<B256> =
            self.accounts.range(first..).map(|(hash, _)| *hash).take_while(in_range).collect();
        self.written.pruned_accounts += accounts.len() as u64;
        self.written.pruned_items += accounts.len() as u64;
        for hash in accounts {
            self.accounts.remove(&hash);
        }
    }

    fn delete_storage_in(&mut self, first: B256, end: Option<B256>) {
        let in_range = |key: &B256| end.is_none_or(|end| *key < end);
        // Whether or not the account entry itself is stored (its storage may have been written
        // before it).
        let mut owners: BTreeSet<B256> = self
            .slots
            .range((first, B256::ZERO)..)
            .map(|((owner, _), _)| *owner)
            .take_while(in_range)
            .collect();
        owners.extend(
            self.nodes
                .range((first, Nibbles::new())..)
                .map(|((owner, _), _)| *owner)
                .take_while(in_range)
                .filter(|owner| !owner.is_zero()),
        );
        for account in owners {
            let slots: Vec<(B256, B256)> = self
                .slots
                .range((account, B256::ZERO)..)
                .map(|(key, _)| *key)
                .take_while(|(owner, _)| *owner == account)
                .collect();
            let nodes: Vec<(B256, Nibbles)> = self
                .nodes
                .range((account, Nibbles::new())..)
                .map(|(key, _)| *key)
                .take_while(|(owner, _)| *owner == account && !owner.is_zero())
                .collect();
            let removed = (slots.len() + nodes.len()) as u64;
            for key in slots {
                self.slots.remove(&key);
            }
            for key in nodes {
                self.nodes.remove(&key);
            }
            if removed > 0 {
                self.written.pruned_with_storage += 1;
                self.pruned.insert(account);
            }
            self.written.pruned_items += removed;
        }
    }

    fn delete_slots_in(&mut self, owner: B256, first: B256, end: Option<B256>) {
        let slots: Vec<(B256, B256)> = self
            .slots
            .range((owner, first)..)
            .map(|(key, _)| *key)
            .take_while(|(o, slot)| *o == owner && end.is_none_or(|end| *slot < end))
            .collect();
        self.written.pruned_items += slots.len() as u64;
        for key in slots {
            self.slots.remove(&key);
        }
    }

    fn delete_node(&mut self, key: NodeKey) {
        self.node_prints.remove(&path_print(&key.owner, &key.path));
        self.nodes.remove(&(key.owner, key.path));
    }

    fn put_account(&mut self, hash: B256, account: TrieAccount) {
        if self.keeps_data() {
            self.accounts.insert(hash, account);
        }
    }

    fn put_slot(&mut self, account: B256, slot: B256, value: Bytes) {
        if self.keeps_data() {
            self.slots.insert((account, slot), value);
        }
    }

    fn put_code(&mut self, hash: B256, code: Bytes) {
        if self.keeps_data() {
            self.codes.insert(hash, code);
        }
    }

    fn put_node(&mut self, key: NodeKey, node: Bytes) {
        if self.keeps_data() {
            self.nodes.insert((key.owner, key.path), node);
        } else {
            self.node_prints
                .insert(path_print(&key.owner, &key.path), hash_print(&keccak256(node)));
        }
    }

    fn set_progress(&mut self, record: Bytes) {
        self.progress = Some(record);
    }
}

/// A 64-bit fingerprint of a node's place.
fn path_print(owner: &B256, path: &Nibbles) -> u64 {
    let mut bytes = owner.to_vec();
    bytes.extend(path.iter());
    bytes.push(path.len() as u8);
    hash_print(&keccak256(bytes))
}

fn hash_print(hash: &B256) -> u64 {
    u64::from_be_bytes(hash[..8].try_into().unwrap_or_default())
}

/// Every item of the batch must be the data of one of `targets` (any of them: a batch may
/// carry data fetched for an earlier target); returns the batch's decoded progress record,
/// which must be for one of them.
fn check_batch(batch: &WriteBatch, targets: &[&TargetState]) -> Result<ProgressRecord, String> {
    let id = batch.id.0;
    for (hash, account) in &batch.accounts {
        if !targets.iter().any(|target| target.account(hash) == Some(account)) {
            return Err(format!("batch {id}: unverified account {hash} written"));
        }
    }
    for (account, slot, value) in &batch.storage {
        if !targets.iter().any(|target| target.slot(account, slot) == Some(value)) {
            return Err(format!("batch {id}: unverified slot {slot} of {account} written"));
        }
    }
    for (hash, code) in &batch.codes {
        if keccak256(code) != *hash
            || !targets.iter().any(|target| target.state.codes().get(hash) == Some(code))
        {
            return Err(format!("batch {id}: unverified code {hash} written"));
        }
    }
    for (key, node) in &batch.nodes.writes {
        if !targets.iter().any(|target| target.node(&key.owner, &key.path).as_ref() == Some(node)) {
            return Err(format!(
                "batch {id}: trie node of {} at {:?} is no target's node at that path",
                key.owner, key.path
            ));
        }
    }
    let record = ProgressRecord::decode_versioned(&batch.progress)
        .map_err(|error| format!("batch {id}: progress record does not decode: {error}"))?;
    if !targets.iter().any(|target| target.root() == record.target.root) {
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
    if let Some((name, before, now)) = next.counters.first_below(&previous.counters) {
        return Err(format!("progress went backwards: counter {name} {before} -> {now}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloy_primitives::U256;
    use snap_core::{
        sync::{BatchId, Target, host::apply_pruned},
        trie::PrunedRange,
    };

    use super::*;
    use crate::sim::{chain::Chain, state::StateSpec};

    fn target() -> TargetState {
        TargetState::generate(&StateSpec::new(5, 40, 400)).unwrap()
    }

    fn record(target: &TargetState, tasks_done: usize, accounts: u64) -> Bytes {
        let mut record = ProgressRecord::fresh(Target { root: target.root(), number: 1 }, 16);
        record.account_tasks.drain(..tasks_done);
        record.counters.accounts = accounts;
        Bytes::from(record.encode_versioned())
    }

    fn batch(target: &TargetState, id: u64, accounts: usize) -> WriteBatch {
        WriteBatch {
            id: BatchId(id),
            accounts: target.state.account_list()[..accounts].to_vec(),
            progress: record(target, id as usize, accounts as u64),
            ..WriteBatch::default()
        }
    }

    /// Everything of `target`: accounts, slots, codes and every stored node.
    fn full(target: &TargetState, id: u64) -> WriteBatch {
        let state = &target.state;
        let mut full = batch(target, id, state.account_list().len());
        for (hash, _) in state.account_list() {
            full.storage.extend(state.slot_list(hash).iter().map(|(s, v)| (*hash, *s, v.clone())));
        }
        full.codes = state.codes().iter().map(|(h, c)| (*h, c.clone())).collect();
        full.nodes.writes = target
            .oracle_nodes()
            .unwrap()
            .iter()
            .map(|((owner, path), node)| (NodeKey { owner: *owner, path: *path }, node.clone()))
            .collect();
        full
    }

    #[test]
    fn a_complete_store_passes_the_end_check_and_one_missing_node_fails_it() {
        let target = target();
        let mut store = Store::new(StoreMode::Keep);
        assert!(
            store.check_complete(&target, &Counters::default()).is_err(),
            "empty store is incomplete"
        );
        let mut almost = full(&target, 1);
        let (key, _) = almost.nodes.writes.pop().unwrap();
        store.apply(almost, &[&target]).unwrap();
        assert!(
            store
                .check_complete(&target, &Counters::default())
                .unwrap_err()
                .contains("trie nodes stored")
        );
        let mut store = Store::new(StoreMode::Keep);
        store.apply(full(&target, 1), &[&target]).unwrap();
        store.check_complete(&target, &Counters::default()).unwrap();
        let root = target.node(&B256::ZERO, &Nibbles::new()).unwrap();
        let query = |path, hash| NodeQuery { owner: B256::ZERO, path, hash };
        assert!(store.has_node(&query(Nibbles::new(), keccak256(&root))));
        assert!(!store.has_node(&query(Nibbles::new(), B256::repeat_byte(1))));
        let node = target.node(&key.owner, &key.path).unwrap();
        assert!(store.has_node(&NodeQuery {
            owner: key.owner,
            path: key.path,
            hash: keccak256(&node)
        }));
    }

    #[test]
    fn anything_not_in_the_target_is_refused_and_nothing_of_the_batch_applied() {
        let target = target();
        let state = &target.state;
        let mut store = Store::new(StoreMode::Keep);
        let mut wrong_account = batch(&target, 1, 3);
        wrong_account.accounts[2].1.balance += U256::from(1);
        assert!(store.apply(wrong_account, &[&target]).unwrap_err().contains("unverified account"));
        assert_eq!(store.written.batches, 0);
        let mut wrong_slot = batch(&target, 1, 1);
        let owner =
            state.account_list().iter().find(|(h, _)| !state.slot_list(h).is_empty()).unwrap().0;
        let (slot, _) = state.slot_list(&owner)[0].clone();
        wrong_slot.storage.push((owner, slot, Bytes::from_static(&[0x05])));
        assert!(store.apply(wrong_slot, &[&target]).unwrap_err().contains("unverified slot"));
        let mut wrong_code = batch(&target, 1, 1);
        let code = Bytes::from_static(b"not a code of the state");
        wrong_code.codes.push((keccak256(&code), code));
        assert!(store.apply(wrong_code, &[&target]).unwrap_err().contains("unverified code"));
        let mut wrong_node = batch(&target, 1, 1);
        let path = Nibbles::from_nibbles([0xf, 0xf, 0xf, 0xf, 0xf, 0xf]);
        wrong_node
            .nodes
            .writes
            .push((NodeKey { owner: B256::ZERO, path }, Bytes::from_static(&[0xc0])));
        assert!(store.apply(wrong_node, &[&target]).unwrap_err().contains("trie node"));
        assert_eq!(store.written.batches, 0);
        assert!(store.progress().is_none());
    }

    #[test]
    fn progress_may_not_go_backwards() {
        let target = target();
        let mut store = Store::new(StoreMode::Keep);
        store.apply(batch(&target, 4, 10), &[&target]).unwrap();
        assert!(
            store.apply(batch(&target, 5, 9), &[&target]).unwrap_err().contains("counter accounts")
        );
        assert!(store.apply(batch(&target, 3, 12), &[&target]).unwrap_err().contains("fraction"));
        store.apply(batch(&target, 5, 12), &[&target]).unwrap();
        assert!(
            store
                .check_complete(&target, &Counters::default())
                .unwrap_err()
                .contains("accounts stored")
        );
    }

    /// The batch taking a store holding exactly `from` to exactly `to`, the way healing
    /// expresses it: deleted accounts and cleared slots as pruned ranges of their full key,
    /// stale nodes as node deletions, and every new or changed item written.
    fn diff(from: &TargetState, to: &TargetState, id: u64) -> WriteBatch {
        let mut batch =
            WriteBatch { id: BatchId(id), progress: record(to, 16, 1 << 20), ..Default::default() };
        for (hash, account) in to.state.account_list() {
            if from.account(hash) != Some(account) {
                batch.accounts.push((*hash, *account));
            }
            for (slot, value) in to.state.slot_list(hash) {
                if from.slot(hash, slot) != Some(value) {
                    batch.storage.push((*hash, *slot, value.clone()));
                }
            }
        }
        for (hash, _) in from.state.account_list() {
            if to.account(hash).is_none() {
                batch.pruned.push(PrunedRange::subtree(B256::ZERO, Nibbles::unpack(hash)));
                continue;
            }
            for (slot, _) in from.state.slot_list(hash) {
                if to.slot(hash, slot).is_none() {
                    batch.pruned.push(PrunedRange::subtree(*hash, Nibbles::unpack(slot)));
                }
            }
        }
        batch.codes = to.state.codes().iter().map(|(h, c)| (*h, c.clone())).collect();
        let (old, new) = (from.oracle_nodes().unwrap(), to.oracle_nodes().unwrap());
        for ((owner, path), node) in new {
            if old.get(&(*owner, *path)) != Some(node) {
                batch.nodes.writes.push((NodeKey { owner: *owner, path: *path }, node.clone()));
            }
        }
        for (owner, path) in old.keys() {
            // Nodes of deleted accounts go with their account's pruned range.
            if !new.contains_key(&(*owner, *path))
                && (owner.is_zero() || to.account(owner).is_some())
            {
                batch.nodes.deletes.push(NodeKey { owner: *owner, path: *path });
            }
        }
        batch
    }

    #[test]
    fn pruned_ranges_node_deletions_and_writes_take_one_state_to_the_next_exactly() {
        let first = TargetState::generate(&StateSpec::new(8, 200, 3000)).unwrap();
        let mut chain = Chain::new(&first.state, 1, 12, 8);
        chain.advance(16);
        let second = TargetState::from_state(chain.state().unwrap(), true).unwrap();
        assert!(chain.stats.deleted_with_storage > 0 && chain.stats.slot_clears > 0);
        let mut store = Store::new(StoreMode::Keep);
        store.apply(full(&first, 1), &[&first]).unwrap();
        store.check_complete(&first, &Counters::default()).unwrap();
        let step = diff(&first, &second, 2);
        assert!(!step.pruned.is_empty());
        // Without the pruned ranges the deleted accounts, their storage and the cleared slots
        // stay behind.
        let mut partial = Store::new(StoreMode::Keep);
        partial.apply(full(&first, 1), &[&first]).unwrap();
        partial
            .apply(WriteBatch { pruned: Vec::new(), ..step.clone() }, &[&first, &second])
            .unwrap();
        assert!(partial.check_complete(&second, &Counters::default()).is_err());
        // The second state's data is refused while only the first is given.
        assert!(store.apply(step.clone(), &[&first]).is_err());
        store.apply(step, &[&first, &second]).unwrap();
        store.check_complete(&second, &Counters::default()).unwrap();
        assert!(store.written.pruned_items > 0);
    }

    #[test]
    fn pruning_an_account_range_removes_storage_stored_without_its_account() {
        let target = TargetState::generate(&StateSpec::new(10, 100, 2000)).unwrap();
        let mut only_storage = full(&target, 1);
        only_storage.accounts.clear();
        only_storage.nodes.writes.retain(|(key, _)| !key.owner.is_zero());
        let mut store = Store::new(StoreMode::Keep);
        store.apply(only_storage, &[&target]).unwrap();
        let owners: BTreeSet<B256> = store.slots.keys().map(|(owner, _)| *owner).collect();
        let victim = *owners.iter().nth(owners.len() / 2).unwrap();
        apply_pruned(&mut store, &PrunedRange::subtree(B256::ZERO, Nibbles::unpack(victim)));
        assert!(store.slots.keys().all(|(owner, _)| *owner != victim));
        assert!(store.nodes.keys().all(|(owner, _)| *owner != victim));
        assert_eq!(store.pruned_with_storage().iter().collect::<Vec<_>>(), vec![&victim]);
        let left: BTreeSet<B256> = store.slots.keys().map(|(owner, _)| *owner).collect();
        assert_eq!(left.len(), owners.len() - 1);
    }

    #[test]
    fn a_pruned_range_removes_exactly_the_entries_under_its_prefix() {
        let target = TargetState::generate(&StateSpec::new(9, 300, 3000)).unwrap();
        for prefix in [vec![], vec![0x3], vec![0x7, 0xa], vec![0xf], vec![0x0, 0x0, 0x1]] {
            let prefix = Nibbles::from_nibbles(prefix);
            let mut store = Store::new(StoreMode::Keep);
            store.apply(full(&target, 1), &[&target]).unwrap();
            let (accounts, slots, nodes) =
                (store.accounts.clone(), store.slots.clone(), store.nodes.clone());
            let range = PrunedRange::subtree(B256::ZERO, prefix);
            apply_pruned(&mut store, &range);
            let gone: Vec<B256> =
                accounts.keys().filter(|hash| range.contains_key(hash)).copied().collect();
            let kept = |key: &(B256, Nibbles)| {
                if key.0.is_zero() { !range.contains(&key.1) } else { !gone.contains(&key.0) }
            };
            assert_eq!(
                store.accounts.keys().collect::<Vec<_>>(),
                accounts.keys().filter(|hash| !gone.contains(hash)).collect::<Vec<_>>()
            );
            assert_eq!(
                store.slots.keys().collect::<Vec<_>>(),
                slots.keys().filter(|(owner, _)| !gone.contains(owner)).collect::<Vec<_>>()
            );
            assert_eq!(
                store.nodes.keys().collect::<Vec<_>>(),
                nodes.keys().filter(|key| kept(key)).collect::<Vec<_>>()
            );
            // A storage range removes that owner's slots and nodes under the prefix only.
            let owner = *slots.keys().next().map(|(owner, _)| owner).unwrap();
            let mut store = Store::new(StoreMode::Keep);
            store.apply(full(&target, 1), &[&target]).unwrap();
            let range = PrunedRange::below(owner, prefix);
            apply_pruned(&mut store, &range);
            assert_eq!(store.accounts.len(), accounts.len());
            assert_eq!(
                store.slots.keys().collect::<Vec<_>>(),
                slots
                    .keys()
                    .filter(|(o, slot)| *o != owner || !range.contains_key(slot))
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                store.nodes.keys().collect::<Vec<_>>(),
                nodes
                    .keys()
                    .filter(|(o, path)| *o != owner || !range.contains(path))
                    .collect::<Vec<_>>()
            );
        }
    }
}
