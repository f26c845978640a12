//! The `Syncer`: one value that downloads a state from untrusted peers. Inputs go in with `now`,
//! outputs are drained until none is left, and the next deadline is returned, never slept on.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes};

mod assign;
#[cfg(test)]
mod tests;

use super::{
    PeerId,
    accounts::{AccountTask, HeldAccount, Waiting, has_code, has_storage},
    codes::{CodeQueue, Need},
    config::SyncConfig,
    contract::{
        BatchId, Input, Lookup, LookupAnswer, LookupId, Misbehaviour, Output, Phase, SyncEvent,
        WriteBatch,
    },
    peers::Peers,
    progress::{Counters, ProgressDecodeError, ProgressRecord, Target},
    range::HashRange,
    rates::RequestKind,
    report::{ProgressMeter, ProgressReport},
    requests::{RequestTable, Unmatched},
    storage::{ChunkRequest, Storage, StorageConfig, StorageDone, StorageJob},
};
use crate::{
    trie::proof::verify_range,
    wire::{AccountData, AccountRange, ByteCodes, SnapMessage, StorageRanges},
};

/// How many recently timed-out request ids are remembered per peer, so that a late answer is
/// dropped quietly instead of being punished as unsolicited.
const EXPIRED_IDS_PER_PEER: usize = 64;

/// A batch that has waited this long is handed out even when small, so a crash loses little.
const BATCH_MAX_AGE: Duration = Duration::from_secs(2);

/// How long a peer that answered empty is not asked again for the same kind of data.
const UNAVAILABLE_FOR: Duration = Duration::from_secs(30);

/// The work a request carries, to be given back if it fails.
#[derive(Clone, Debug)]
enum Work {
    Accounts { task: usize },
    Storage(Vec<StorageJob>),
    Chunk(ChunkRequest),
    Codes(Vec<B256>),
}

/// The storage work a `StorageRanges` response answers.
enum StorageWork {
    Small(Vec<StorageJob>),
    Chunk(ChunkRequest),
}

/// The outcome of processing one response.
enum Processed {
    /// Items (or bytes) delivered, for the peer's rate.
    Delivered(u64),
    /// The peer answered empty: it lacks the state.
    Unavailable,
}

/// The snap sync state machine. See the crate documentation for the contract.
#[derive(Debug)]
pub struct Syncer {
    config: SyncConfig,
    target: Target,
    phase: Phase,
    peers: Peers,
    requests: RequestTable<Work>,
    expired: BTreeMap<PeerId, VecDeque<u64>>,
    accounts: Vec<AccountTask>,
    storage: Storage,
    codes: CodeQueue,
    /// Code lookups asked of the host, by id.
    lookups: BTreeMap<u64, Vec<B256>>,
    next_lookup: u64,
    batch: WriteBatch,
    batch_started: Option<Instant>,
    next_batch_id: u64,
    unacknowledged: VecDeque<BatchId>,
    outputs: VecDeque<Output>,
    counters: Counters,
    meter: ProgressMeter,
    /// When the next progress event is due (`None`: never).
    next_progress: Option<Instant>,
    last_advance: Instant,
    advanced_counters: Counters,
    stall_reported: bool,
    /// The latest `now` seen.
    now: Instant,
}

impl Syncer {
    /// A fresh sync of `target`'s state, starting at `now`.
    pub fn new(config: SyncConfig, target: Target, now: Instant) -> Self {
        let record = ProgressRecord::fresh(target, config.account_tasks);
        Self::resume(config, record, now)
    }

    /// Continues a sync from the progress record of the last batch the host applied.
    pub fn resume(config: SyncConfig, record: ProgressRecord, now: Instant) -> Self {
        let storage_config = StorageConfig {
            max_chunks: config.max_storage_chunks.max(1),
            min_slots_per_chunk: config.min_slots_per_chunk,
        };
        let fraction = record.account_fraction_done();
        Self {
            peers: Peers::new(config.rates.clone(), UNAVAILABLE_FOR),
            requests: RequestTable::new(
                config.seed,
                config.max_requests_per_peer,
                config.max_requests,
            ),
            expired: BTreeMap::new(),
            accounts: record.account_tasks.iter().map(|cursor| AccountTask::new(*cursor)).collect(),
            storage: Storage::resume(
                storage_config,
                &record.storage_tasks,
                &record.storage_completed,
            ),
            codes: CodeQueue::new(config.known_code_cache),
            lookups: BTreeMap::new(),
            next_lookup: 1,
            batch: WriteBatch::default(),
            batch_started: None,
            next_batch_id: 1,
            unacknowledged: VecDeque::new(),
            outputs: VecDeque::new(),
            counters: record.counters,
            meter: ProgressMeter::new(now, fraction),
            next_progress: Some(now),
            last_advance: now,
            advanced_counters: record.counters,
            stall_reported: false,
            now,
            target: record.target,
            phase: Phase::Ranges,
            config,
        }
    }

    /// Continues a sync from an encoded progress record.
    pub fn resume_from_bytes(
        config: SyncConfig,
        record: &[u8],
        now: Instant,
    ) -> Result<Self, ProgressDecodeError> {
        Ok(Self::resume(config, ProgressRecord::decode_versioned(record)?, now))
    }

    /// The target being synced.
    pub const fn target(&self) -> Target {
        self.target
    }

    /// The current phase.
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    /// Totals written so far.
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Batches handed out and not yet acknowledged.
    pub fn unacknowledged_batches(&self) -> usize {
        self.unacknowledged.len()
    }

    /// The progress record describing everything handed out in batches so far.
    pub fn progress_record(&self) -> ProgressRecord {
        ProgressRecord {
            target: self.target,
            account_tasks: self
                .accounts
                .iter()
                .filter(|task| !task.done)
                .map(|task| super::RangeCursor { next: task.next, last: task.last })
                .collect(),
            storage_tasks: self.storage.records(),
            storage_completed: self.storage.completed_accounts(),
            counters: self.counters,
        }
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::PeerConnected { peer, versions } => {
                if !versions.is_empty() {
                    self.peers.connect(peer, versions);
                }
            }
            Input::PeerDisconnected { peer } => self.drop_peer(peer),
            Input::Response { peer, message } => self.on_response(now, peer, message),
            Input::Written(id) => {
                if let Some(position) = self.unacknowledged.iter().position(|&b| b == id) {
                    self.unacknowledged.remove(position);
                }
            }
            Input::LookupDone { id, answer } => self.on_lookup(id, answer),
            Input::NewTarget(_) => {} // healing and moving targets land next
        }
        self.drive(now);
    }

    /// Lets time pass: requests past their deadline are given to other peers, timers fire.
    /// Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (id, request) in self.requests.expire(now) {
            let elapsed = now.saturating_duration_since(request.sent_at);
            self.peers.record(request.peer, request.kind, elapsed, 0);
            let ids = self.expired.entry(request.peer).or_default();
            ids.push_back(id);
            if ids.len() > EXPIRED_IDS_PER_PEER {
                ids.pop_front();
            }
            self.give_back(request.work);
        }
        self.drive(now);
    }

    /// The next output, until `None`. Drain after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Self::handle_timeout`] should be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Done {
            return None;
        }
        let now = self.now;
        // Only deadlines at which `handle_timeout` can act: a batch cannot be handed out while
        // the unacknowledged ones are at their limit (the host's `Written` comes first), and a
        // stall is only reported in the range phase. A deadline in the past would make the host
        // spin.
        let batch_may_flush = self.unacknowledged.len() < self.config.max_unacknowledged_batches;
        [
            self.requests.next_deadline(),
            self.next_progress,
            self.peers.next_mark_expiry(now),
            self.batch_started
                .filter(|_| batch_may_flush)
                .and_then(|started| started.checked_add(BATCH_MAX_AGE)),
            (!self.stall_reported && self.phase == Phase::Ranges)
                .then(|| self.last_advance.checked_add(self.config.stall_after))
                .flatten(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn drop_peer(&mut self, peer: PeerId) {
        self.peers.disconnect(peer);
        self.expired.remove(&peer);
        for (_, request) in self.requests.remove_peer(peer) {
            self.give_back(request.work);
        }
    }

    fn penalize(&mut self, peer: PeerId, reason: Misbehaviour) {
        self.drop_peer(peer);
        self.outputs.push_back(Output::Disconnect { peer, reason });
    }

    fn give_back(&mut self, work: Work) {
        match work {
            Work::Accounts { task } => {
                if let Some(task) = self.accounts.get_mut(task) {
                    task.in_flight = false;
                }
            }
            Work::Storage(jobs) => self.storage.give_back_small(jobs),
            Work::Chunk(request) => self.storage.give_back_chunk(&request),
            Work::Codes(hashes) => self.codes.give_back(&hashes),
        }
    }

    fn on_response(&mut self, now: Instant, peer: PeerId, message: SnapMessage) {
        if self.phase == Phase::Done || !self.peers.contains(peer) {
            return;
        }
        let size = message.encoded_len() as u64;
        let (id, kind) = match &message {
            SnapMessage::AccountRange(m) => (m.request_id, RequestKind::AccountRange),
            SnapMessage::StorageRanges(m) => (m.request_id, RequestKind::StorageRanges),
            SnapMessage::ByteCodes(m) => (m.request_id, RequestKind::ByteCodes),
            SnapMessage::TrieNodes(m) => (m.request_id, RequestKind::TrieNodes),
            SnapMessage::BlockAccessLists(m) => (m.request_id, RequestKind::BlockAccessLists),
            // Requests are the host's server's business, not the syncer's.
            _ => return,
        };
        let request = match self.requests.take(peer, id, kind) {
            Ok(request) => request,
            Err(Unmatched::UnknownId)
                if self.expired.get(&peer).is_some_and(|ids| ids.contains(&id)) =>
            {
                return; // a late answer to a request that already timed out
            }
            Err(Unmatched::WrongKind) => {
                return self.penalize(peer, Misbehaviour::WrongResponseKind(id));
            }
            Err(Unmatched::UnknownId | Unmatched::WrongPeer) => {
                return self.penalize(peer, Misbehaviour::Unsolicited(id));
            }
        };
        let elapsed = now.saturating_duration_since(request.sent_at);
        let work = request.work.clone();
        let outcome = match (request.work, message) {
            (Work::Accounts { task }, SnapMessage::AccountRange(m)) => {
                self.on_accounts(task, m, size)
            }
            (Work::Storage(jobs), SnapMessage::StorageRanges(m)) => {
                self.on_storage(StorageWork::Small(jobs), m, size)
            }
            (Work::Chunk(chunk), SnapMessage::StorageRanges(m)) => {
                self.on_storage(StorageWork::Chunk(chunk), m, size)
            }
            (Work::Codes(hashes), SnapMessage::ByteCodes(m)) => self.on_codes(hashes, m, size),
            (_, message) => Err(Misbehaviour::UnexpectedMessage(message.id())),
        };
        match outcome {
            Ok(Processed::Delivered(items)) => self.peers.record(peer, kind, elapsed, items),
            Ok(Processed::Unavailable) => {
                self.peers.record(peer, kind, elapsed, 0);
                self.peers.mark_unavailable(peer, kind, now);
                self.give_back(work);
            }
            Err(reason) => {
                self.give_back(work);
                self.penalize(peer, reason);
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
        if response.accounts.is_empty() && response.proof.is_empty() {
            return Ok(Processed::Unavailable);
        }
        let origin = task.next;
        let last = task.last;
        let keys: Vec<B256> = response.accounts.iter().map(|a| a.hash).collect();
        let values: Vec<Vec<u8>> =
            response.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
        let mut more = verify_range(self.target.root, origin, &keys, &values, &response.proof)
            .map_err(Misbehaviour::BadRangeProof)?;
        // Keep the verified leaf encodings: the trie generator takes them as they are.
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
        self.storage.abandon_missing(HashRange { first: origin, last: covered_to }, &present);
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
                match self.storage.want(StorageJob { account: hash, root: account.storage_root }) {
                    Some(done) => (false, done.chunked),
                    None => (true, false),
                }
            } else {
                (false, false)
            };
            let waiting = Waiting { code, storage, chunked };
            held.push(HeldAccount { hash, account, leaf, waiting });
        }
        if !to_check.is_empty() {
            let id = self.next_lookup;
            self.next_lookup += 1;
            self.outputs.push_back(Output::Lookup {
                id: LookupId(id),
                lookup: Lookup::Codes(to_check.clone()),
            });
            self.lookups.insert(id, to_check);
        }
        self.counters.account_bytes += size;
        let task = &mut self.accounts[task_index];
        task.in_flight = false;
        task.hold(held, more);
        self.forward(task_index);
        Ok(Processed::Delivered(size))
    }

    /// A storage response, for a batch of small contracts or for one chunk of a large one.
    fn on_storage(
        &mut self,
        work: StorageWork,
        response: StorageRanges,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        if response.slots.is_empty() && response.proof.is_empty() {
            return Ok(Processed::Unavailable);
        }
        let before = self.batch.storage.len();
        let (slots, proof) = (response.slots, &response.proof);
        let done = match work {
            StorageWork::Small(jobs) => {
                self.storage.on_small_response(jobs, slots, proof, &mut self.batch)?
            }
            StorageWork::Chunk(chunk) => self
                .storage
                .on_chunk_response(&chunk, slots, proof, &mut self.batch)?
                .into_iter()
                .collect(),
        };
        self.counters.slots += (self.batch.storage.len() - before) as u64;
        self.counters.slot_bytes += size;
        self.storage_done(&done);
        Ok(Processed::Delivered(size))
    }

    fn on_codes(
        &mut self,
        hashes: Vec<B256>,
        response: ByteCodes,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        if response.codes.is_empty() {
            return Ok(Processed::Unavailable);
        }
        let delivery = self.codes.deliver(&hashes, response.codes)?;
        let items = delivery.delivered.len() as u64;
        let arrived: Vec<B256> = delivery.delivered.iter().map(|(hash, _)| *hash).collect();
        self.counters.codes += items;
        self.counters.code_bytes += size;
        self.batch.codes.extend(delivery.delivered);
        self.codes_arrived(&arrived);
        Ok(Processed::Delivered(items))
    }

    /// The store answered which codes it holds: held ones release their accounts, the others
    /// are fetched from peers. Unknown ids (answers to a lookup of an earlier run) are ignored.
    fn on_lookup(&mut self, id: LookupId, answer: LookupAnswer) {
        let Some(hashes) = self.lookups.remove(&id.0) else { return };
        let LookupAnswer::Codes(held) = answer else { return };
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
    fn codes_arrived(&mut self, arrived: &[B256]) {
        if arrived.is_empty() {
            return;
        }
        for index in 0..self.accounts.len() {
            self.accounts[index].update_held(|held| {
                if held.waiting.code && arrived.contains(&held.account.code_hash) {
                    held.waiting.code = false;
                }
            });
            self.forward(index);
        }
    }

    /// Storage of these accounts completed: release them in their tasks.
    fn storage_done(&mut self, done: &[StorageDone]) {
        for completion in done {
            let Some(index) = self
                .accounts
                .iter()
                .position(|task| task.remaining().contains(&completion.account))
            else {
                continue;
            };
            self.accounts[index].update_held(|held| {
                if held.hash == completion.account && held.waiting.storage {
                    held.waiting.storage = false;
                    held.waiting.chunked = completion.chunked;
                }
            });
            self.forward(index);
        }
    }

    fn forward(&mut self, index: usize) {
        let written = self.accounts[index].forward(&mut self.batch);
        for account in &written {
            self.storage.forget_completed(account);
        }
        self.counters.accounts += written.len() as u64;
    }

    /// After every input: send what can be sent, hand out batches, report, detect the end.
    fn drive(&mut self, now: Instant) {
        if self.phase == Phase::Done {
            return; // the contract: nothing after `Done`
        }
        self.now = self.now.max(now);
        self.peers.tune(now);
        if self.phase == Phase::Ranges
            && self.unacknowledged.len() < self.config.max_unacknowledged_batches
        {
            self.assign(now);
        }
        self.note_batch(now);
        let ranges_done = self.accounts.iter().all(|task| task.done)
            && self.storage.is_idle()
            && self.codes.is_idle()
            && self.requests.is_empty();
        if self.phase == Phase::Ranges && ranges_done {
            self.set_phase(Phase::Flushing);
            self.flush();
        }
        let batch_ready = self.batch.estimated_bytes() >= self.config.batch_bytes
            || self.batch_started.is_some_and(|started| {
                started.checked_add(BATCH_MAX_AGE).is_some_and(|due| now >= due)
            });
        if batch_ready && self.unacknowledged.len() < self.config.max_unacknowledged_batches {
            self.flush();
        }
        if self.phase == Phase::Flushing && self.unacknowledged.is_empty() {
            if !self.batch.is_empty() {
                self.flush();
            } else {
                self.set_phase(Phase::Done);
                self.outputs.push_back(Output::Event(SyncEvent::Done {
                    target: self.target,
                    counters: self.counters,
                }));
                return;
            }
        }
        if self.next_progress.is_some_and(|due| now >= due) {
            // An interval too large to add means "never again".
            self.next_progress = now.checked_add(self.config.progress_interval);
            let report = self.report(now);
            self.outputs.push_back(Output::Event(SyncEvent::Progress(report)));
        }
        if !self.stall_reported
            && self.phase == Phase::Ranges
            && now.saturating_duration_since(self.last_advance) >= self.config.stall_after
        {
            self.stall_reported = true;
            self.outputs.push_back(Output::Event(SyncEvent::Stalled {
                usable_peers: self.peers.usable_count(RequestKind::AccountRange, now),
                in_flight: self.requests.len(),
            }));
        }
    }

    /// Starts the batch clock when data arrived, and notes whether the sync advanced.
    fn note_batch(&mut self, now: Instant) {
        if !self.batch.is_empty() && self.batch_started.is_none() {
            self.batch_started = Some(now);
        }
        if self.counters != self.advanced_counters {
            self.advanced_counters = self.counters;
            self.last_advance = now;
            self.stall_reported = false;
        }
    }

    fn flush(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        batch.id = BatchId(self.next_batch_id);
        self.next_batch_id += 1;
        batch.progress = Bytes::from(self.progress_record().encode_versioned());
        self.batch_started = None;
        self.unacknowledged.push_back(batch.id);
        self.outputs.push_back(Output::Write(batch));
    }

    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        self.outputs.push_back(Output::Event(SyncEvent::Phase(phase)));
    }

    fn report(&mut self, now: Instant) -> ProgressReport {
        let fraction = self.progress_record().account_fraction_done();
        let rates = self.meter.measure(now, self.counters, fraction);
        ProgressReport {
            phase: self.phase,
            fraction_done: fraction,
            counters: self.counters,
            accounts_per_second: rates.accounts_per_second,
            slots_per_second: rates.slots_per_second,
            bytes_per_second: rates.bytes_per_second,
            eta: rates.eta,
            largest_pending_contracts: self.storage.largest_pending(5),
            codes_outstanding: self.codes.outstanding(),
            peers: self.peers.len(),
            in_flight: self.requests.len(),
            elapsed: rates.elapsed,
            target: self.target,
            heal_pending: 0,
            heal_queued: 0,
        }
    }
}
