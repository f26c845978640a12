//! The `Syncer`: one value that downloads a state from untrusted peers. Inputs go in with `now`,
//! outputs are drained until none is left, and the next deadline is returned, never slept on.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes};

mod catchup;
mod exchange;
mod heal;
#[cfg(test)]
mod host_tests;
mod job;
mod ranges;
#[cfg(test)]
mod report_tests;
mod request;
mod targets;
#[cfg(test)]
mod tests;

use super::{
    accounts::AccountTask,
    batch_size::BatchSize,
    catchup::CatchUp,
    codes::CodeQueue,
    config::{ConfigError, SyncConfig},
    contract::{
        BatchId, CatchUpStrategy, Counters, Header, Input, Lookup, LookupAnswer, LookupId,
        Misbehaviour, Output, PeerId, Phase, ProgressReport, SyncEvent, Target, WriteBatch,
    },
    estimate::{RangeWork, WorkEstimate, estimate},
    heal::Healer,
    peers::Peers,
    progress::{ProgressDecodeError, ProgressRecord, RangeCursor},
    rates::RequestKind,
    report::ProgressMeter,
    requests::RequestTable,
    storage::{Storage, StorageConfig},
};

/// How many recently timed-out request ids are remembered per peer, so that a late answer is
/// dropped quietly instead of being punished as unsolicited.
const EXPIRED_IDS_PER_PEER: usize = 64;

/// A batch that has waited this long is handed out even when small, so a crash loses little.
const BATCH_MAX_AGE: Duration = Duration::from_secs(2);

/// How long a peer that answered empty is not asked again for the same kind of data.
const UNAVAILABLE_FOR: Duration = Duration::from_secs(30);

/// How the storage part is configured.
fn storage_config(config: &SyncConfig) -> StorageConfig {
    StorageConfig {
        max_chunks: config.max_storage_chunks.max(1),
        min_slots_per_chunk: config.min_slots_per_chunk,
    }
}

/// The snap sync state machine. See the crate documentation for the contract.
#[derive(Debug)]
pub struct Syncer {
    config: SyncConfig,
    target: Target,
    /// A newer target offered and not yet taken (see `on_new_target`).
    newer_target: Option<Target>,
    phase: Phase,
    peers: Peers,
    /// Requests in flight, each carrying the id of its job in `jobs`.
    requests: RequestTable<u64>,
    /// The work in flight, by job id (see `exchange::Job`).
    jobs: BTreeMap<u64, job::Job<Box<dyn request::AnyRequest<Self>>>>,
    next_job: u64,
    expired: BTreeMap<PeerId, VecDeque<u64>>,
    accounts: Vec<AccountTask>,
    storage: Storage,
    codes: CodeQueue,
    healer: Healer,
    catch_up: CatchUp,
    /// How many new targets were taken: catch-up work asked under an earlier epoch is stale.
    epoch: u64,
    /// How many times range work was voided (reorgs, restarts): range requests asked in an
    /// earlier generation are stale. A plain move of the target voids none: what was verified
    /// against the older root is kept, and catch-up repairs the difference.
    generation: u64,
    /// The last ticket given to an account-range request.
    tickets: u64,
    /// Code lookups asked of the host, by id.
    lookups: BTreeMap<u64, Vec<B256>>,
    next_lookup: u64,
    batch: WriteBatch,
    /// An applied batch the host gave back, cleared: the next batch's buffers.
    spare_batch: Option<WriteBatch>,
    /// The batch's size, counted as it grows.
    batch_size: BatchSize,
    batch_started: Option<Instant>,
    next_batch_id: u64,
    unacknowledged: VecDeque<BatchId>,
    outputs: VecDeque<Output>,
    counters: Counters,
    /// The counters when the range phase last started from nothing (a restart): the progress
    /// estimate counts from them.
    range_base: Counters,
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
    /// A fresh sync of `target`'s state, starting at `now`. The store must hold no state (a
    /// host clears it first): the sync trusts what it wrote itself, not what it finds.
    pub fn new(config: SyncConfig, target: Target, now: Instant) -> Self {
        let record = ProgressRecord::fresh(target, config.account_tasks);
        Self::resume(config, record, now)
    }

    /// [`Self::new`], refusing a configuration no sync can run with.
    pub fn try_new(config: SyncConfig, target: Target, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::new(config, target, now))
    }

    /// Continues a sync from the progress record of the last batch the host applied.
    pub fn resume(config: SyncConfig, record: ProgressRecord, now: Instant) -> Self {
        let storage_config = storage_config(&config);
        Self {
            peers: Peers::new(config.rates.clone(), UNAVAILABLE_FOR),
            requests: RequestTable::new(
                config.seed,
                config.max_requests_per_peer,
                config.max_requests,
            ),
            jobs: BTreeMap::new(),
            next_job: 0,
            expired: BTreeMap::new(),
            accounts: record
                .account_tasks
                .iter()
                .map(|cursor| AccountTask::new(*cursor, record.target.root))
                .collect(),
            storage: Storage::resume(
                storage_config,
                &record.storage_tasks,
                &record.storage_completed,
            ),
            codes: CodeQueue::new(config.known_code_cache),
            healer: Healer::new(record.target.root),
            catch_up: CatchUp::from_record(&record.catch_up),
            epoch: 0,
            generation: 0,
            tickets: 0,
            lookups: BTreeMap::new(),
            next_lookup: 1,
            batch: WriteBatch::default(),
            spare_batch: None,
            batch_size: BatchSize::default(),
            batch_started: None,
            next_batch_id: 1,
            unacknowledged: VecDeque::new(),
            outputs: VecDeque::new(),
            counters: record.counters,
            range_base: Counters::default(),
            meter: ProgressMeter::new(now, record.counters),
            next_progress: Some(now),
            last_advance: now,
            advanced_counters: record.counters,
            stall_reported: false,
            now,
            target: record.target,
            newer_target: None,
            phase: Phase::Ranges,
            config,
        }
    }

    /// A fresh sync of `header`'s state that follows the header stream from there (the way
    /// snap/2 catch-up needs: it applies every later block's access list).
    pub fn from_header(config: SyncConfig, header: Header, now: Instant) -> Self {
        let mut syncer = Self::new(config, header.target(), now);
        syncer.catch_up = CatchUp::starting_at(&header);
        syncer
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
                .map(|task| RangeCursor { next: task.next, last: task.last })
                .collect(),
            storage_tasks: self.storage.records(),
            storage_completed: self.storage.completed_accounts(),
            counters: self.counters,
            catch_up: self.catch_up.record(),
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
            Input::NewTarget(target) => self.on_new_target(target),
            Input::Header(header) => self.on_header(header),
        }
        // A measurement can bring other requests' deadlines forward, past `now`: expire them
        // here, or the next deadline would already be gone (the host would spin).
        self.expire_requests(now);
        self.drive(now);
    }

    /// Lets time pass: requests past their deadline are given to other peers, timers fire.
    /// Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_requests(now);
        self.drive(now);
    }

    /// Gives back the buffers of a batch the host has applied, emptied with
    /// [`WriteBatch::clear`] (optional). The next batch reuses them: a batch's lists take
    /// megabytes, and fresh memory costs the host a page fault and a zeroed page per 4 KiB it
    /// touches. One batch is kept; a batch that is not empty is dropped.
    pub fn recycle_batch(&mut self, batch: WriteBatch) {
        if batch.is_empty() && batch.progress.is_empty() {
            self.spare_batch = Some(batch);
        }
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
            // Never in the past: a deadline brought forward by a new measurement is acted on
            // at the next call (requests due are expired on every call).
            self.requests
                .next_deadline(|peer, kind| self.peers.timeout_for(peer, kind))
                .map(|deadline| deadline.max(now + Duration::from_millis(1))),
            self.next_hedge().map(|at| at.max(now + Duration::from_millis(1))),
            self.next_progress,
            self.peers.next_mark_expiry(now),
            self.batch_started
                .filter(|_| batch_may_flush)
                .and_then(|started| started.checked_add(BATCH_MAX_AGE)),
            (!self.stall_reported && self.is_fetching())
                .then(|| self.last_advance.checked_add(self.config.stall_after))
                .flatten(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Stops using a peer that broke the protocol and tells the host to disconnect it.
    fn penalize(&mut self, peer: PeerId, reason: Misbehaviour) {
        self.drop_peer(peer);
        self.outputs.push_back(Output::Disconnect { peer, reason });
    }

    /// Asks the store a question; the answer comes back as [`Input::LookupDone`] with the id.
    fn ask(&mut self, lookup: Lookup) -> u64 {
        let id = self.next_lookup;
        self.next_lookup += 1;
        self.outputs.push_back(Output::Lookup { id: LookupId(id), lookup });
        id
    }

    /// The store answered a lookup: the phase that asked uses it. Unknown ids (answers to a
    /// lookup of an earlier run or an abandoned step) are ignored.
    fn on_lookup(&mut self, id: LookupId, answer: LookupAnswer) {
        match answer {
            LookupAnswer::Codes(held) => self.on_codes_held(id, &held),
            LookupAnswer::Nodes(held) => {
                self.heal(|healer, ctx| healer.on_lookup(id.0, &held, ctx))
            }
            LookupAnswer::Accounts(accounts) => self.on_accounts_read(id, accounts),
            LookupAnswer::Flat(entries) => self.on_flat_read(id, entries),
        }
    }

    /// Whether the sync is downloading or catching up, as opposed to flushing or done.
    fn is_fetching(&self) -> bool {
        matches!(self.phase, Phase::Ranges | Phase::Healing | Phase::Applying | Phase::Rebuilding)
    }

    /// After every input: send what can be sent, hand out batches, report, detect the end.
    fn drive(&mut self, now: Instant) {
        if self.phase == Phase::Done {
            return; // the contract: nothing after `Done`
        }
        self.now = self.now.max(now);
        self.peers.tune(now);
        if self.is_fetching() && self.unacknowledged.len() < self.config.max_unacknowledged_batches
        {
            // Account ranges, then storage, then the heal walk, then bytecodes: the best
            // capacity goes to the work that unblocks the most.
            self.assign_accounts(now);
            self.assign_storage(now);
            self.assign_healing(now);
            self.assign_codes(now);
        }
        let ranges_done = self.accounts.iter().all(|task| task.done)
            && self.storage.is_idle()
            && self.codes.is_idle()
            && self.requests.is_empty();
        if self.phase == Phase::Ranges && ranges_done {
            // Catch up to the newest state offered, whatever the ranges were fetched against.
            self.take_newer_target();
            let next = match self.decide_strategy() {
                CatchUpStrategy::Bal => Phase::Applying,
                _ => Phase::Healing,
            };
            self.set_phase(next);
        }
        if self.phase == Phase::Healing {
            self.drive_healing();
        }
        if self.phase == Phase::Applying {
            self.drive_applying();
        }
        if self.phase == Phase::Rebuilding {
            self.drive_rebuild();
        }
        if matches!(self.phase, Phase::Applying | Phase::Rebuilding)
            && self.unacknowledged.len() < self.config.max_unacknowledged_batches
        {
            self.assign_catch_up(now);
        }
        self.note_batch(now);
        let batch_ready = self.batch_size.estimated_bytes(&self.batch) >= self.config.batch_bytes
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
            && self.is_fetching()
            && now.saturating_duration_since(self.last_advance) >= self.config.stall_after
        {
            self.stall_reported = true;
            self.outputs.push_back(Output::Event(SyncEvent::Stalled {
                usable_peers: self.peers.usable_count(
                    match self.phase {
                        Phase::Healing => RequestKind::TrieNodes,
                        Phase::Applying => RequestKind::BlockAccessLists,
                        _ => RequestKind::AccountRange,
                    },
                    now,
                ),
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
        // The next batch takes the buffers of an applied batch the host gave back, or starts
        // with the room this one needed: growing a batch's lists from empty copied each of them
        // about twice over (a batch holds tens of thousands of nodes).
        let next = match self.spare_batch.take() {
            Some(spare) => spare,
            None => self.batch.empty_like(),
        };
        let mut batch = std::mem::replace(&mut self.batch, next);
        self.batch_size = BatchSize::default();
        batch.id = BatchId(self.next_batch_id);
        self.next_batch_id += 1;
        batch.progress = Bytes::from(self.progress_record().encode_versioned());
        self.batch_started = None;
        self.unacknowledged.push_back(batch.id);
        self.outputs.push_back(Output::Write(batch));
    }

    fn set_phase(&mut self, phase: Phase) {
        if phase == Phase::Ranges {
            self.meter.ranges_again();
        }
        self.phase = phase;
        self.outputs.push_back(Output::Event(SyncEvent::Phase(phase)));
    }

    /// How much of the range phase's work is done (see `estimate`); all of it after the phase.
    fn range_estimate(&self) -> WorkEstimate {
        if self.phase != Phase::Ranges {
            return WorkEstimate::COMPLETE;
        }
        let (mut left, mut held, mut storage_pending, mut storage_settled) = (0.0, 0, 0, 0);
        for task in &self.accounts {
            let unfetched = task.unfetched();
            left += unfetched.space;
            held += unfetched.held;
            storage_pending += unfetched.storage_pending;
            storage_settled += unfetched.storage_settled + task.written_with_storage;
        }
        let large = self.storage.large_contracts();
        let written = self.counters.accounts.saturating_sub(self.range_base.accounts);
        estimate(&RangeWork {
            accounts_done: self.accounts.iter().all(|task| task.done),
            account_fraction: 1.0 - left,
            accounts: written.saturating_add(held),
            storage_pending,
            storage_settled,
            slots: self.counters.slots.saturating_sub(self.range_base.slots),
            codes: self.counters.codes.saturating_sub(self.range_base.codes),
            codes_left: self.codes.outstanding() as u64,
            large: &large,
        })
    }

    fn report(&mut self, now: Instant) -> ProgressReport {
        let estimate = self.range_estimate();
        let rates = self.meter.measure(now, self.counters, estimate);
        ProgressReport {
            phase: self.phase,
            fraction_done: rates.fraction,
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
            heal_pending: self.healer.pending(),
            heal_queued: self.healer.queued(),
            bals_left: match self.catch_up.strategy {
                CatchUpStrategy::Bal => self.target.number.saturating_sub(self.catch_up.applied),
                _ => 0,
            },
            rebuild_fraction: match (&self.catch_up.rebuild, self.phase) {
                (Some(rebuild), _) => rebuild.fraction_read(),
                (None, Phase::Flushing | Phase::Done)
                    if self.catch_up.strategy == CatchUpStrategy::Bal =>
                {
                    1.0
                }
                _ => 0.0,
            },
        }
    }
}
