//! The range phase: account ranges, storage (chunks of large contracts and batches of small
//! ones) and bytecodes: the requests for them, their answers, and accounts held until their
//! storage and code are in. Bytecodes are also what healing finds missing.

use std::time::Instant;

use alloy_primitives::{B256, Bytes};
use nybbles::Nibbles;

use super::{
    Syncer,
    request::{Processed, Request},
};
use crate::{
    sync::{
        accounts::{HeldAccount, Waiting, has_code, has_storage},
        codes::Need,
        contract::{Lookup, LookupId, Misbehaviour, PeerId},
        range::HashRange,
        rates::RequestKind,
        storage::{ChunkRequest, StorageDone, StorageJob},
    },
    trie::{PrunedRange, verify_range_nodes},
    wire::{
        AccountData, AccountRange, ByteCodes, GetAccountRange, GetByteCodes, GetStorageRanges,
        SnapMessage, StorageRanges,
    },
};

/// One account task's next range, asked under `root` in range `generation`.
#[derive(Debug)]
pub(super) struct Accounts {
    task: usize,
    root: B256,
    generation: u64,
    /// Tells this request from a later one for the same task.
    ticket: u64,
}

/// A batch of small contracts' whole storage (all verified in one state root, the root it is
/// asked under), asked in range `generation`.
#[derive(Debug)]
pub(super) struct SmallStorage {
    jobs: Vec<StorageJob>,
    generation: u64,
}

/// One chunk of a large contract's storage.
#[derive(Debug)]
pub(super) struct StorageChunk(ChunkRequest);

/// Bytecodes by hash (never stale: a code is a code whatever the target).
#[derive(Debug)]
pub(super) struct Codes(Vec<B256>);

fn account_range(message: SnapMessage) -> Option<AccountRange> {
    match message {
        SnapMessage::AccountRange(response) => Some(response),
        _ => None,
    }
}

fn storage_ranges(message: SnapMessage) -> Option<StorageRanges> {
    match message {
        SnapMessage::StorageRanges(response) => Some(response),
        _ => None,
    }
}

impl Request<Syncer> for Accounts {
    const KIND: RequestKind = RequestKind::AccountRange;
    type Response = AccountRange;

    fn response(message: SnapMessage) -> Option<AccountRange> {
        account_range(message)
    }

    fn is_stale(&self, syncer: &Syncer) -> bool {
        // A task keeps its root until its answer is in: only a voided generation (or a task
        // list rebuilt since) makes the answer useless.
        self.generation != syncer.generation
            || syncer.accounts.get(self.task).is_none_or(|task| task.root != self.root)
    }

    fn on_response(
        &self,
        syncer: &mut Syncer,
        _: PeerId,
        response: AccountRange,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        let empty = response.accounts.is_empty() && response.proof.is_empty();
        if syncer.storage.is_voided(&self.root) {
            // Peers dropped this root while the request was out: storage verified in it could
            // no longer be asked for, so the task fetches its range again under the target.
            let current = syncer.target.root;
            if let Some(task) = syncer.accounts.get_mut(self.task) {
                task.retarget(current, &mut syncer.batch);
            }
            return Ok(Processed::Superseded);
        }
        if empty && self.root != syncer.target.root {
            // The task moves to the current root before its next request.
            return Ok(Processed::Superseded);
        }
        syncer.on_accounts(self.task, response, size)
    }

    fn give_back(self, syncer: &mut Syncer) {
        if let Some(task) = syncer.accounts.get_mut(self.task)
            && task.ticket == self.ticket
        {
            task.in_flight = false;
        }
    }
}

impl Request<Syncer> for SmallStorage {
    const KIND: RequestKind = RequestKind::StorageRanges;
    type Response = StorageRanges;

    fn response(message: SnapMessage) -> Option<StorageRanges> {
        storage_ranges(message)
    }

    fn is_stale(&self, syncer: &Syncer) -> bool {
        // Verified against each contract's storage root, whatever the target is now.
        self.generation != syncer.generation
    }

    fn on_response(
        &self,
        syncer: &mut Syncer,
        _: PeerId,
        response: StorageRanges,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        if response.slots.is_empty() && response.proof.is_empty() {
            let root = self.jobs.first().map_or(syncer.target.root, |job| job.state_root);
            return Ok(syncer.state_unavailable(root));
        }
        let before = syncer.batch.storage.len();
        let jobs = self.jobs.clone();
        let wanted = syncer.storage_wanted(&jobs);
        let done = syncer.storage.on_small_response(
            jobs,
            &wanted,
            response.slots,
            &response.proof,
            &mut syncer.batch,
        )?;
        syncer.stored_slots(before, size, &done);
        Ok(Processed::Delivered(size))
    }

    fn give_back(self, syncer: &mut Syncer) {
        if self.generation == syncer.generation {
            let wanted = syncer.storage_wanted(&self.jobs);
            syncer.storage.give_back_small(self.jobs, &wanted);
        }
    }
}

impl Request<Syncer> for StorageChunk {
    const KIND: RequestKind = RequestKind::StorageRanges;
    type Response = StorageRanges;

    fn response(message: SnapMessage) -> Option<StorageRanges> {
        storage_ranges(message)
    }

    fn is_stale(&self, syncer: &Syncer) -> bool {
        !syncer.storage.chunk_is_current(&self.0)
    }

    fn on_response(
        &self,
        syncer: &mut Syncer,
        _: PeerId,
        response: StorageRanges,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        if response.slots.is_empty() && response.proof.is_empty() {
            return Ok(syncer.state_unavailable(self.0.state_root));
        }
        let before = syncer.batch.storage.len();
        let done: Vec<StorageDone> = syncer
            .storage
            .on_chunk_response(&self.0, response.slots, &response.proof, &mut syncer.batch)?
            .into_iter()
            .collect();
        syncer.stored_slots(before, size, &done);
        Ok(Processed::Delivered(size))
    }

    fn give_back(self, syncer: &mut Syncer) {
        syncer.storage.give_back_chunk(&self.0);
    }
}

impl Request<Syncer> for Codes {
    const KIND: RequestKind = RequestKind::ByteCodes;
    type Response = ByteCodes;

    fn response(message: SnapMessage) -> Option<ByteCodes> {
        match message {
            SnapMessage::ByteCodes(response) => Some(response),
            _ => None,
        }
    }

    fn is_stale(&self, _: &Syncer) -> bool {
        false
    }

    fn on_response(
        &self,
        syncer: &mut Syncer,
        _: PeerId,
        response: ByteCodes,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        if response.codes.is_empty() {
            return Ok(Processed::Unavailable);
        }
        let delivery = syncer.codes.deliver(&self.0, response.codes)?;
        let items = delivery.delivered.len() as u64;
        let arrived: Vec<B256> = delivery.delivered.iter().map(|(hash, _)| *hash).collect();
        syncer.counters.codes += items;
        syncer.counters.code_bytes += size;
        syncer.batch.codes.extend(delivery.delivered);
        syncer.codes_arrived(&arrived);
        Ok(Processed::Delivered(items))
    }

    fn give_back(self, syncer: &mut Syncer) {
        syncer.codes.give_back(&self.0);
    }
}

impl Syncer {
    /// Hands each account task that wants one its next range, best capacity first. A task
    /// moves to the current target's root here, between two of its responses.
    pub(super) fn assign_accounts(&mut self, now: Instant) {
        let root = self.target.root;
        for index in 0..self.accounts.len() {
            if !self.accounts[index].wants_request() {
                continue;
            }
            let Some(peer) = self.pick(RequestKind::AccountRange, now) else { break };
            let response_bytes = self.range_bytes(peer, RequestKind::AccountRange);
            let task = &mut self.accounts[index];
            task.switch_root(root, &mut self.batch);
            let (origin, limit) = (task.next, task.last);
            task.in_flight = true;
            self.tickets += 1;
            task.ticket = self.tickets;
            let work =
                Accounts { task: index, root, generation: self.generation, ticket: self.tickets };
            let sent = self.issue(peer, now, work, |request_id| {
                SnapMessage::GetAccountRange(GetAccountRange {
                    request_id,
                    root,
                    origin,
                    limit,
                    response_bytes,
                })
            });
            if !sent {
                break;
            }
        }
    }

    /// Hands out storage: chunks of large contracts first, then batches of small ones.
    pub(super) fn assign_storage(&mut self, now: Instant) {
        while let Some(peer) = self.pick(RequestKind::StorageRanges, now) {
            let response_bytes = self.range_bytes(peer, RequestKind::StorageRanges);
            let sent = if let Some(chunk) = self.storage.take_chunk() {
                let message = GetStorageRanges {
                    request_id: 0,
                    root: chunk.state_root,
                    account_hashes: vec![chunk.account],
                    origin: Bytes::copy_from_slice(chunk.origin.as_slice()),
                    limit: Bytes::copy_from_slice(chunk.limit.as_slice()),
                    response_bytes,
                };
                self.issue(peer, now, StorageChunk(chunk), |request_id| {
                    SnapMessage::GetStorageRanges(GetStorageRanges { request_id, ..message })
                })
            } else if self.storage.has_small_work() {
                let most = self.config.max_storage_accounts_per_request as u64;
                let count = (response_bytes / 1024).clamp(1, most);
                let jobs = self.storage.take_small(count as usize);
                let root = jobs.first().map_or(self.target.root, |job| job.state_root);
                let account_hashes = jobs.iter().map(|job| job.account).collect();
                let work = SmallStorage { jobs, generation: self.generation };
                self.issue(peer, now, work, |request_id| {
                    SnapMessage::GetStorageRanges(GetStorageRanges {
                        request_id,
                        root,
                        account_hashes,
                        origin: Bytes::new(),
                        limit: Bytes::new(),
                        response_bytes,
                    })
                })
            } else {
                break;
            };
            if !sent {
                break;
            }
        }
    }

    /// Hands out wanted bytecodes, sized by each peer's measured capacity.
    pub(super) fn assign_codes(&mut self, now: Instant) {
        while self.codes.has_wanted() {
            let Some(peer) = self.pick(RequestKind::ByteCodes, now) else { break };
            let most = self.config.max_codes_per_request as u64;
            let count = self.peers.capacity(peer, RequestKind::ByteCodes).clamp(1, most) as usize;
            let hashes = self.codes.take_batch(count);
            let response_bytes = self.config.max_request_bytes;
            let work = Codes(hashes.clone());
            let sent = self.issue(peer, now, work, |request_id| {
                SnapMessage::GetByteCodes(GetByteCodes { request_id, hashes, response_bytes })
            });
            if !sent {
                break;
            }
        }
    }

    fn on_accounts(
        &mut self,
        task_index: usize,
        response: AccountRange,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        let Some(task) = self.accounts.get(task_index) else { return Ok(Processed::Delivered(0)) };
        // An empty answer means "not served", except for the empty state: there it is the
        // whole (verified) range.
        if response.accounts.is_empty()
            && response.proof.is_empty()
            && self.target.root != alloy_trie::EMPTY_ROOT_HASH
        {
            return Ok(Processed::Unavailable);
        }
        let origin = task.next;
        let last = task.last;
        let root = task.root;
        let keys: Vec<B256> = response.accounts.iter().map(|a| a.hash).collect();
        let values: Vec<Vec<u8>> =
            response.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
        let (mut more, nodes) = verify_range_nodes(root, origin, &keys, &values, &response.proof)
            .map_err(Misbehaviour::BadRangeProof)?;
        // Keep the verified leaf encodings and trie nodes: the trie generator takes them as
        // they are.
        let mut accounts: Vec<(AccountData, Vec<u8>)> = Vec::with_capacity(values.len());
        for (account, leaf) in response.accounts.into_iter().zip(values) {
            if account.hash > last {
                more = false;
                break;
            }
            if account.hash == last {
                more = false;
            }
            accounts.push((account, leaf));
        }
        // The range proven to hold exactly these accounts: chunked storage of any other account
        // in it belongs to an account that no longer exists.
        let covered_to = if more { accounts.last().map_or(origin, |(a, _)| a.hash) } else { last };
        let present: Vec<B256> = accounts.iter().map(|(a, _)| a.hash).collect();
        let covered = HashRange { first: origin, last: covered_to };
        // Storage written for accounts that are gone (or now have none) must go with them.
        let mut orphans = self.storage.abandon_missing(covered, &present);
        orphans.extend(accounts.iter().filter_map(|(AccountData { hash, account }, _)| {
            (!has_storage(account) && self.storage.forget(hash)).then_some(*hash)
        }));
        for owner in orphans {
            self.batch.prune(PrunedRange::subtree(owner, Nibbles::new()));
        }
        let mut held = Vec::with_capacity(accounts.len());
        let mut to_check = Vec::new();
        for (AccountData { hash, account }, leaf) in accounts {
            let code = has_code(&account)
                && match self.codes.want(account.code_hash) {
                    Need::Known => false,
                    Need::Pending => true,
                    Need::Check => {
                        to_check.push(account.code_hash);
                        true
                    }
                };
            let (storage, chunked) = if has_storage(&account) {
                let job =
                    StorageJob { account: hash, root: account.storage_root, state_root: root };
                match self.storage.want(job) {
                    Some(done) => (false, done.chunked),
                    None => (true, false),
                }
            } else {
                (false, false)
            };
            let waiting = Waiting { code, storage, chunked };
            held.push(HeldAccount { hash, account, leaf, waiting });
        }
        self.ask_codes(to_check);
        self.counters.account_bytes += size;
        let task = &mut self.accounts[task_index];
        task.in_flight = false;
        task.hold(held, more, nodes);
        self.forward(task_index);
        Ok(Processed::Delivered(size))
    }

    /// Per job, whether its account is still held, verified in the job's state root, waiting
    /// for this storage: an answer for a job whose account was fetched again (or found gone)
    /// since must not be written.
    fn storage_wanted(&self, jobs: &[StorageJob]) -> Vec<bool> {
        jobs.iter()
            .map(|job| {
                self.accounts.iter().any(|task| {
                    !task.done
                        && task.remaining().contains(&job.account)
                        && task.waits_for_storage(&job.account, &job.state_root)
                })
            })
            .collect()
    }

    /// Counts the slots a storage answer added to the batch (from `before` on) and releases the
    /// accounts whose storage it completed.
    fn stored_slots(&mut self, before: usize, size: u64, done: &[StorageDone]) {
        self.counters.slots += (self.batch.storage.len() - before) as u64;
        self.counters.slot_bytes += size;
        for completion in done {
            let Some(index) = self
                .accounts
                .iter()
                .position(|task| !task.done && task.remaining().contains(&completion.account))
            else {
                continue;
            };
            self.accounts[index].update_held_account(&completion.account, |held| {
                if held.waiting.storage {
                    held.waiting.storage = false;
                    held.waiting.chunked = completion.chunked;
                }
            });
            self.forward(index);
        }
    }

    /// A peer answered empty for storage asked under `root`. For the current root the peer
    /// lacks the state. For a root the sync moved past, peers are dropping it: the work
    /// verified against it that still needs it moves to the current root (the tasks holding its
    /// accounts fetch them again there; its queued small contracts are dropped with them).
    fn state_unavailable(&mut self, root: B256) -> Processed {
        if root == self.target.root {
            return Processed::Unavailable;
        }
        let current = self.target.root;
        for task in &mut self.accounts {
            if task.root == root && !task.in_flight {
                task.retarget(current, &mut self.batch);
            }
        }
        self.storage.void_root(root);
        Processed::Superseded
    }

    /// Asks the store which of these codes it holds.
    pub(super) fn ask_codes(&mut self, hashes: Vec<B256>) {
        if hashes.is_empty() {
            return;
        }
        let id = self.ask(Lookup::Codes(hashes.clone()));
        self.lookups.insert(id, hashes);
    }

    /// The store answered a code lookup: held codes release their accounts; the others are
    /// fetched from peers.
    pub(super) fn on_codes_held(&mut self, id: LookupId, held: &[bool]) {
        let Some(hashes) = self.lookups.remove(&id.0) else { return };
        let known: Vec<B256> = hashes
            .iter()
            .enumerate()
            .filter(|&(index, hash)| {
                self.codes.checked(*hash, held.get(index).copied().unwrap_or(false))
            })
            .map(|(_, hash)| *hash)
            .collect();
        self.codes_arrived(&known);
    }

    /// These codes are stored now: accounts waiting for them may be written.
    pub(super) fn codes_arrived(&mut self, arrived: &[B256]) {
        if arrived.is_empty() {
            return;
        }
        for index in 0..self.accounts.len() {
            self.accounts[index].codes_arrived(arrived);
            self.forward(index);
        }
        self.heal(|healer, ctx| healer.codes_arrived(arrived, ctx));
    }

    /// Writes the task's leading accounts whose storage and code are in.
    fn forward(&mut self, index: usize) {
        let written = self.accounts[index].forward(&mut self.batch);
        for account in &written {
            self.storage.forget_completed(account);
        }
        self.counters.accounts += written.len() as u64;
    }
}
