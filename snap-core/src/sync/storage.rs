//! Storage tries: small contracts batched several to a request, large ones split into chunks
//! sized by the density of their first response and fetched in parallel.
//!
//! Every list is verified against its account's storage root before any slot reaches a batch.
//! A small contract's storage is written whole, trie included. A chunked contract's slots are
//! written as chunks arrive; its trie nodes are written per chunk without the chunk boundaries,
//! so its storage trie stays incomplete until healing, and the account's leaf is left out of the
//! account trie (healing then visits it).

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    ops::Range,
};

use alloy_primitives::{B256, Bytes};

use super::{
    contract::{Misbehaviour, PendingContract, WriteBatch},
    estimate::LargeContract,
    progress::{RangeCursor, StorageTaskRecord},
    range::{HashRange, fraction_of_space, next_hash, plan_chunks},
};
use crate::{
    trie::{
        VerifiedNodes,
        generate::{NodeChanges, TrieGenerator},
        proof::verify_range_nodes,
    },
    wire::StorageSlot,
};

/// A contract whose storage is wanted, with the storage root it must verify against and the
/// state root the account was verified in (the root to request it under).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StorageJob {
    pub(crate) account: B256,
    pub(crate) root: B256,
    pub(crate) state_root: B256,
}

/// A contract whose storage was completely written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StorageDone {
    pub(crate) account: B256,
    /// The storage came in chunks, so its trie has holes at the chunk boundaries.
    pub(crate) chunked: bool,
}

#[derive(Debug)]
struct Chunk {
    next: B256,
    last: B256,
    generator: TrieGenerator,
    in_flight: bool,
}

#[derive(Debug)]
struct LargeStorage {
    /// The storage root the chunks verify against.
    root: B256,
    /// The state root in which the account had that storage root.
    state_root: B256,
    chunks: Vec<Chunk>,
    /// Slots received for it since this `Syncer` began following it (in memory only: the
    /// progress estimate's measure of its density).
    slots_measured: u64,
    /// The share of its key space left when counting began: the whole space for a contract
    /// chunked by this `Syncer`, what its chunks had left for one resumed from a record.
    measured_from: f64,
}

impl LargeStorage {
    /// The share of its key space still to fetch.
    fn space_left(&self) -> f64 {
        self.chunks.iter().map(|chunk| fraction_of_space(&chunk.next, &chunk.last)).sum()
    }

    /// What the progress estimate needs of it.
    fn estimate(&self) -> LargeContract {
        let space_left = self.space_left();
        LargeContract {
            space_left,
            slots_measured: self.slots_measured,
            space_measured: (self.measured_from - space_left).max(0.0),
        }
    }
}

/// A request for one chunk of a large contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkRequest {
    pub(crate) account: B256,
    pub(crate) root: B256,
    pub(crate) state_root: B256,
    pub(crate) origin: B256,
    pub(crate) limit: B256,
}

/// Storage completed but its account not yet written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Completed {
    /// The storage root it completed with (`None`: unknown, after a restart).
    root: Option<B256>,
    chunked: bool,
}

/// All storage work of a sync.
#[derive(Debug, Default)]
pub(crate) struct Storage {
    small: VecDeque<StorageJob>,
    large: BTreeMap<B256, LargeStorage>,
    completed: BTreeMap<B256, Completed>,
    config: StorageConfig,
    /// The generator of small contracts' tries, reused from one to the next.
    small_generator: Option<TrieGenerator>,
    /// State roots peers dropped: nothing more is asked under them.
    voided: BTreeSet<B256>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StorageConfig {
    pub(crate) max_chunks: usize,
    pub(crate) min_slots_per_chunk: u64,
}

impl Storage {
    pub(crate) fn new(config: StorageConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// Rebuilds the large-contract chunks and the completed set from a progress record. Storage
    /// completed before a restart is treated as chunked: its trie is not known to be whole.
    pub(crate) fn resume(
        config: StorageConfig,
        tasks: &[StorageTaskRecord],
        completed: &[B256],
    ) -> Self {
        let mut storage = Self::new(config);
        for task in tasks {
            let chunks = task
                .chunks
                .iter()
                .map(|cursor| Chunk {
                    next: cursor.next,
                    last: cursor.last,
                    generator: TrieGenerator::new(task.account, cursor.next),
                    in_flight: false,
                })
                .collect();
            let mut large = LargeStorage {
                root: task.storage_root,
                state_root: task.state_root,
                chunks,
                slots_measured: 0,
                measured_from: 0.0,
            };
            // The slots fetched before the resume are not known apart: measure from here on.
            large.measured_from = large.space_left();
            storage.large.insert(task.account, large);
        }
        let unknown = Completed { root: None, chunked: true };
        storage.completed = completed.iter().map(|account| (*account, unknown)).collect();
        storage
    }

    /// Registers that `job.account`'s storage is needed. Returns the completion right away when
    /// it is already complete. Storage completed for another storage root (the account changed
    /// between targets) counts as chunked: its trie is not the account's, and healing repairs
    /// it.
    pub(crate) fn want(&mut self, job: StorageJob) -> Option<StorageDone> {
        if let Some(completed) = self.completed.get(&job.account) {
            let chunked = completed.chunked || completed.root != Some(job.root);
            return Some(StorageDone { account: job.account, chunked });
        }
        if let Some(large) = self.large.get_mut(&job.account) {
            // Re-fetched under another target. A changed storage root restarts the chunks'
            // tries at their cursors (a trie may not mix two roots' leaves); the slots already
            // written stay, and healing reconciles them.
            if large.root != job.root {
                for chunk in &mut large.chunks {
                    chunk.generator = TrieGenerator::new(job.account, chunk.next);
                }
            }
            large.root = job.root;
            large.state_root = job.state_root;
            return None;
        }
        // An account is held by one task and re-requested only after it was forwarded, so it is
        // never queued twice.
        debug_assert!(!self.small.iter().any(|queued| queued.account == job.account));
        self.small.push_back(job);
        None
    }

    /// A reorg voided the accounts held: small contracts queued for them are asked again when
    /// their accounts are re-fetched.
    pub(crate) fn retarget(&mut self) {
        self.small.clear();
    }

    /// Whether a chunk request still verifies against its contract's current storage root.
    pub(crate) fn chunk_is_current(&self, request: &ChunkRequest) -> bool {
        self.large.get(&request.account).is_some_and(|large| large.root == request.root)
    }

    /// The account was written: forget its completion.
    pub(crate) fn forget_completed(&mut self, account: &B256) {
        self.completed.remove(account);
    }

    /// Forgets the storage of accounts in `range` that the account trie no longer holds
    /// (`present`, sorted, are the accounts it holds there): chunk work is dropped, and every
    /// such account whose storage was already (partly) written is returned, so that its slots
    /// and nodes can be deleted.
    pub(crate) fn abandon_missing(&mut self, range: HashRange, present: &[B256]) -> Vec<B256> {
        let gone =
            |account: &B256| range.contains(account) && present.binary_search(account).is_err();
        let mut written: Vec<B256> = self.large.keys().filter(|a| gone(a)).copied().collect();
        written.extend(self.completed.keys().filter(|a| gone(a)).copied());
        for account in &written {
            self.large.remove(account);
            self.completed.remove(account);
        }
        written.sort_unstable();
        written
    }

    /// Forgets `account`'s storage, complete or in chunks; returns whether any of it was
    /// written (the account now has no storage, so it must be deleted).
    pub(crate) fn forget(&mut self, account: &B256) -> bool {
        let large = self.large.remove(account).is_some();
        let completed = self.completed.remove(account).is_some();
        large || completed
    }

    /// Whether there is no storage work at all.
    pub(crate) fn is_idle(&self) -> bool {
        self.small.is_empty() && self.large.is_empty()
    }

    pub(crate) fn has_small_work(&self) -> bool {
        !self.small.is_empty()
    }

    /// Takes up to `count` small contracts for one request, all verified in the same state
    /// root (the root the request is asked under).
    pub(crate) fn take_small(&mut self, count: usize) -> Vec<StorageJob> {
        let Some(first) = self.small.front().map(|job| job.state_root) else { return Vec::new() };
        let same = self.small.iter().take(count.max(1)).take_while(|job| job.state_root == first);
        let count = same.count();
        self.small.drain(..count).collect()
    }

    /// Peers dropped the state `root`: small contracts queued under it are dropped (asked
    /// again with their accounts), and chunks verified in it wait until their account is
    /// fetched again under a newer root.
    pub(crate) fn void_root(&mut self, root: B256) {
        self.voided.insert(root);
        self.small.retain(|job| job.state_root != root);
    }

    /// Whether peers dropped the state `root` (and it is not the target again).
    pub(crate) fn is_voided(&self, root: &B256) -> bool {
        self.voided.contains(root)
    }

    /// The sync targets `root` (again): peers serve it, so work verified in it is asked again.
    pub(crate) fn unvoid_root(&mut self, root: &B256) {
        self.voided.remove(root);
    }

    /// Whether a small contract's job is still to be done by a response: its storage is
    /// neither complete nor in chunks. (The caller checks that its account still waits for it.)
    pub(crate) fn small_is_open(&self, job: &StorageJob) -> bool {
        !self.completed.contains_key(&job.account) && !self.large.contains_key(&job.account)
    }

    /// Puts small contracts back at the front of the queue (unless their root was voided).
    /// `wanted` holds, per job, whether its account still waits for it.
    pub(crate) fn give_back_small(&mut self, jobs: Vec<StorageJob>, wanted: &[bool]) {
        let jobs = jobs.into_iter().zip(wanted.iter().copied().chain(std::iter::repeat(false)));
        let back: Vec<StorageJob> = jobs
            .filter(|(job, wanted)| {
                *wanted && !self.voided.contains(&job.state_root) && self.small_is_open(job)
            })
            .map(|(job, _)| job)
            .collect();
        for job in back.into_iter().rev() {
            self.small.push_front(job);
        }
    }

    /// The next chunk not in flight, lowest account first.
    pub(crate) fn take_chunk(&mut self) -> Option<ChunkRequest> {
        let voided = &self.voided;
        self.large.iter_mut().find_map(|(account, large)| {
            if voided.contains(&large.state_root) {
                return None;
            }
            let chunk = large.chunks.iter_mut().find(|chunk| !chunk.in_flight)?;
            chunk.in_flight = true;
            Some(ChunkRequest {
                account: *account,
                root: large.root,
                state_root: large.state_root,
                origin: chunk.next,
                limit: chunk.last,
            })
        })
    }

    /// A chunk request failed: it may be asked again.
    pub(crate) fn give_back_chunk(&mut self, request: &ChunkRequest) {
        if let Some(chunk) = self.chunk_mut(request) {
            chunk.in_flight = false;
        }
    }

    fn chunk_mut(&mut self, request: &ChunkRequest) -> Option<&mut Chunk> {
        self.large
            .get_mut(&request.account)?
            .chunks
            .iter_mut()
            .find(|chunk| chunk.next == request.origin && chunk.last == request.limit)
    }

    /// Verifies and writes the answer to a small-contract request. Returns the contracts whose
    /// storage is now complete; contracts the response did not reach go back to the queue, and
    /// a contract cut short becomes a chunked one. `wanted` holds, per job, whether its
    /// account still waits for it: the list of a job no longer wanted is verified (the proof
    /// covers it) but not written, since its account may since have changed or gone.
    pub(crate) fn on_small_response(
        &mut self,
        jobs: Vec<StorageJob>,
        wanted: &[bool],
        mut lists: Vec<Vec<StorageSlot>>,
        proof: &[Bytes],
        batch: &mut WriteBatch,
    ) -> Result<Vec<StorageDone>, Misbehaviour> {
        if lists.len() > jobs.len() {
            return Err(Misbehaviour::TooManyStorageLists {
                got: lists.len(),
                requested: jobs.len(),
            });
        }
        // A proof without lists proves the first contract's range empty (and fails to verify
        // for a non-empty storage root); give it a list so the proof is checked.
        if lists.is_empty() && !proof.is_empty() {
            lists.push(Vec::new());
        }
        let answered = lists.len();
        // Verify everything before writing anything. A list without a proof must be its
        // contract's whole trie: verifying it builds every node, straight into the batch, taken
        // out again if any list fails.
        let mark = (batch.nodes.writes.len(), batch.nodes.deletes.len());
        let verified = match self.verify_small(&jobs, &lists, proof, &mut batch.nodes) {
            Ok(verified) => verified,
            Err(error) => {
                batch.nodes.writes.truncate(mark.0);
                batch.nodes.deletes.truncate(mark.1);
                return Err(error);
            }
        };
        // The whole tries' changes of contracts not to be written after all, removed last.
        let mut unwanted = Vec::new();
        let mut done = Vec::new();
        for (index, ((job, list), verdict)) in jobs.iter().zip(lists).zip(verified).enumerate() {
            let wanted = wanted.get(index).copied().unwrap_or(false) && self.small_is_open(job);
            let nodes = match verdict {
                Verdict::Whole { writes, deletes } => {
                    if !wanted {
                        unwanted.push((writes, deletes));
                        continue;
                    }
                    write_slots(batch, job.account, list);
                    self.complete_small(job, &mut done);
                    continue;
                }
                Verdict::Edge { .. } if !wanted => continue,
                Verdict::Edge { more, nodes } => {
                    let mut nodes = Some(nodes);
                    if more && self.start_chunks(*job, &list, &mut nodes, batch) {
                        write_slots(batch, job.account, list);
                        continue;
                    }
                    nodes
                }
            };
            let generator = self
                .small_generator
                .get_or_insert_with(|| TrieGenerator::new(job.account, B256::ZERO));
            generator.restart(job.account, B256::ZERO);
            generator.use_verified(nodes.unwrap_or_default());
            for slot in &list {
                generator.push(slot.hash, &slot.value).expect("verified: strictly increasing");
            }
            generator.finish_through_into(B256::repeat_byte(0xff), &mut batch.nodes);
            write_slots(batch, job.account, list);
            self.complete_small(job, &mut done);
        }
        for (writes, deletes) in unwanted.into_iter().rev() {
            batch.nodes.writes.drain(writes);
            batch.nodes.deletes.drain(deletes);
        }
        let rest = wanted.get(answered..).unwrap_or_default();
        self.give_back_small(jobs.into_iter().skip(answered).collect(), rest);
        Ok(done)
    }

    /// Verifies each list of a small-storage answer (the last one with `proof`). A list
    /// without a proof must be its contract's whole trie: verifying it builds every node, and
    /// those are appended to `whole`.
    fn verify_small(
        &mut self,
        jobs: &[StorageJob],
        lists: &[Vec<StorageSlot>],
        proof: &[Bytes],
        whole: &mut NodeChanges,
    ) -> Result<Vec<Verdict>, Misbehaviour> {
        let mut verified = Vec::with_capacity(lists.len());
        for (index, (job, list)) in jobs.iter().zip(lists).enumerate() {
            let last = index + 1 == lists.len();
            let edge_proof = if last { proof } else { &[] };
            if !edge_proof.is_empty() {
                let (keys, values) = split(list);
                let (more, nodes) =
                    verify_range_nodes(job.root, B256::ZERO, &keys, &values, edge_proof)
                        .map_err(Misbehaviour::BadRangeProof)?;
                verified.push(Verdict::Edge { more, nodes });
                continue;
            }
            let generator = self
                .small_generator
                .get_or_insert_with(|| TrieGenerator::new(job.account, B256::ZERO));
            let before = (whole.writes.len(), whole.deletes.len());
            let leaves = list.iter().map(|slot| (slot.hash, slot.value.as_ref()));
            generator
                .verify_whole(job.account, job.root, leaves, whole)
                .map_err(Misbehaviour::BadRangeProof)?;
            verified.push(Verdict::Whole {
                writes: before.0..whole.writes.len(),
                deletes: before.1..whole.deletes.len(),
            });
        }
        Ok(verified)
    }

    /// Marks a small contract's storage, written whole, complete.
    fn complete_small(&mut self, job: &StorageJob, done: &mut Vec<StorageDone>) {
        self.completed.insert(job.account, Completed { root: Some(job.root), chunked: false });
        done.push(StorageDone { account: job.account, chunked: false });
    }

    /// Splits the rest of a contract cut short after `fetched` into chunks; the first chunk
    /// continues from the fetched slots (taking `nodes`, verified with them) with a generator
    /// that already holds them. Returns `false`, creating nothing, when no key can follow the
    /// fetched ones: the contract is complete after all.
    fn start_chunks(
        &mut self,
        job: StorageJob,
        fetched: &[StorageSlot],
        nodes: &mut Option<VerifiedNodes>,
        batch: &mut WriteBatch,
    ) -> bool {
        let Some(last_key) = fetched.last().map(|slot| slot.hash) else { return false };
        let ranges = plan_chunks(
            fetched.len() as u64,
            &last_key,
            self.config.max_chunks,
            self.config.min_slots_per_chunk,
        );
        if ranges.is_empty() {
            return false;
        }
        let mut chunks = Vec::with_capacity(ranges.len());
        for (index, range) in ranges.into_iter().enumerate() {
            let mut generator =
                TrieGenerator::new(job.account, if index == 0 { B256::ZERO } else { range.first });
            if index == 0 {
                generator.use_verified(nodes.take().unwrap_or_default());
                for slot in fetched {
                    generator.push(slot.hash, &slot.value).expect("verified: strictly increasing");
                }
                generator.release_verified();
                generator.take_changes_into(&mut batch.nodes);
            }
            chunks.push(Chunk { next: range.first, last: range.last, generator, in_flight: false });
        }
        let large = LargeStorage {
            root: job.root,
            state_root: job.state_root,
            chunks,
            slots_measured: fetched.len() as u64,
            measured_from: 1.0,
        };
        self.large.insert(job.account, large);
        true
    }

    /// Verifies and writes the answer to a chunk request. Returns the contract when its last
    /// chunk finished.
    pub(crate) fn on_chunk_response(
        &mut self,
        request: &ChunkRequest,
        mut lists: Vec<Vec<StorageSlot>>,
        proof: &[Bytes],
        batch: &mut WriteBatch,
    ) -> Result<Option<StorageDone>, Misbehaviour> {
        if lists.len() > 1 {
            return Err(Misbehaviour::TooManyStorageLists { got: lists.len(), requested: 1 });
        }
        let list = lists.pop().unwrap_or_default();
        let (keys, values) = split(&list);
        let (mut more, nodes) =
            verify_range_nodes(request.root, request.origin, &keys, &values, proof)
                .map_err(Misbehaviour::BadRangeProof)?;
        drop((keys, values));
        let Some(chunk) = self.chunk_mut(request) else { return Ok(None) };
        chunk.in_flight = false;
        chunk.generator.use_verified(nodes);
        // Without a proof the list was the whole trie: keep only what this chunk still lacks.
        let mut pushed = 0u64;
        let start = chunk.next;
        let (answered, first_kept) = (list.len(), batch.storage.len());
        for slot in list.into_iter().filter(|slot| slot.hash >= start) {
            if slot.hash > chunk.last {
                more = false;
                break;
            }
            if slot.hash == chunk.last {
                more = false;
            }
            chunk.generator.push(slot.hash, &slot.value).expect("verified: strictly increasing");
            chunk.next = slot.hash;
            batch.storage.push((request.account, slot.hash, slot.value));
            pushed += 1;
        }
        if (pushed as usize) < answered {
            // Slots were left out: those kept are copied, so that they do not keep the whole
            // answer alive (decoded from a shared buffer, a value is a slice of it) while the
            // batch counts only them.
            for (_, _, value) in &mut batch.storage[first_kept..] {
                *value = Bytes::copy_from_slice(value);
            }
        }
        chunk.generator.release_verified();
        // "More" with nothing new in this chunk would mean the next key lies past it: done too.
        let next = if more && pushed > 0 { next_hash(&chunk.next) } else { None };
        let finished = match next {
            Some(next) => {
                chunk.next = next;
                false
            }
            None => true,
        };
        if !finished {
            chunk.generator.take_changes_into(&mut batch.nodes);
        }
        let large = self.large.get_mut(&request.account).expect("chunk found above");
        large.slots_measured = large.slots_measured.saturating_add(pushed);
        if !finished {
            return Ok(None);
        }
        let position = large
            .chunks
            .iter()
            .position(|chunk| chunk.last == request.limit)
            .expect("chunk found above");
        let chunk = large.chunks.remove(position);
        let (mut changes, _) = chunk.generator.finish_through(chunk.last);
        batch.nodes.append(&mut changes);
        if !large.chunks.is_empty() {
            return Ok(None);
        }
        self.large.remove(&request.account);
        let completed = Completed { root: Some(request.root), chunked: true };
        self.completed.insert(request.account, completed);
        Ok(Some(StorageDone { account: request.account, chunked: true }))
    }

    /// Large contracts in progress, for the progress record.
    pub(crate) fn records(&self) -> Vec<StorageTaskRecord> {
        self.large
            .iter()
            .map(|(account, large)| StorageTaskRecord {
                account: *account,
                storage_root: large.root,
                state_root: large.state_root,
                chunks: large
                    .chunks
                    .iter()
                    .map(|chunk| RangeCursor { next: chunk.next, last: chunk.last })
                    .collect(),
            })
            .collect()
    }

    /// Accounts whose storage is complete but not yet written with their account.
    pub(crate) fn completed_accounts(&self) -> Vec<B256> {
        self.completed.keys().copied().collect()
    }

    /// Large contracts in progress, as the progress estimate sees them.
    pub(crate) fn large_contracts(&self) -> Vec<LargeContract> {
        self.large.values().map(LargeStorage::estimate).collect()
    }

    /// Up to `count` large contracts in progress, the most slots left first (those not yet
    /// measured first of all: they may be the largest), then the most key space left.
    pub(crate) fn largest_pending(&self, count: usize) -> Vec<PendingContract> {
        let mut pending: Vec<PendingContract> = self
            .large
            .iter()
            .map(|(account, large)| {
                let estimate = large.estimate();
                PendingContract {
                    account: *account,
                    fraction_left: estimate.space_left.clamp(0.0, 1.0),
                    // Saturating: an estimate beyond u64 shows as u64::MAX.
                    slots_left: estimate.slots_left().map(|slots| slots.round() as u64),
                }
            })
            .collect();
        pending.sort_by(|a, b| {
            let slots = |p: &PendingContract| p.slots_left.unwrap_or(u64::MAX);
            slots(b)
                .cmp(&slots(a))
                .then(b.fraction_left.total_cmp(&a.fraction_left))
                .then(a.account.cmp(&b.account))
        });
        pending.truncate(count);
        pending
    }
}

/// What verifying one list of a storage answer gave.
enum Verdict {
    /// A whole trie without a proof, verified by building it: where its nodes' writes and
    /// deletions lie in the batch.
    Whole { writes: Range<usize>, deletes: Range<usize> },
    /// A range with an edge proof: whether the trie holds more, and the verified nodes.
    Edge { more: bool, nodes: VerifiedNodes },
}

fn split(list: &[StorageSlot]) -> (Vec<B256>, Vec<&[u8]>) {
    list.iter().map(|slot| (slot.hash, slot.value.as_ref())).unzip()
}

fn write_slots(batch: &mut WriteBatch, account: B256, list: Vec<StorageSlot>) {
    batch.storage.extend(list.into_iter().map(|slot| (account, slot.hash, slot.value)));
}

#[cfg(test)]
mod tests;
