//! The host around one `Syncer`: runs the fuzzer's operations, drains and checks the outputs,
//! and keeps what the checks need (peers and what they did, outstanding requests, batches,
//! lookups, the model store, the targets given).

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use alloy_primitives::B256;
use snap_core::{
    sync::{
        BatchId, Counters, Input, Lookup, LookupAnswer, LookupId, Output, PeerId, Phase,
        ProgressRecord, SyncConfig, SyncEvent, Syncer, Target, WriteBatch,
    },
    wire::{BlockAccessLists, GetAccountRange, SnapMessage, SnapVersion},
};

use super::{
    ops::{Advance, Answer, Op, Setup},
    respond::{change, empty_like, honest, request_id, set_id},
    store::ModelStore,
    world::{Holds, World},
};

/// Most outputs one input may produce.
pub const MAX_OUTPUTS: usize = 10_000;

/// Most steps of the honest drain.
pub const DRAIN_STEPS: usize = 20_000;

/// How many timed-out request ids the syncer remembers per peer (its `EXPIRED_IDS_PER_PEER`):
/// a late answer from a peer that was sent more requests than this may be punished.
const EXPIRED_MEMORY: usize = 64;

/// Most peers the fuzzer connects at once (the honest drain adds one more).
const MAX_PEERS: usize = 8;

/// The block number of the first target.
const FIRST_BLOCK: u64 = 100;

#[derive(Debug)]
struct PeerInfo {
    connected: bool,
    versions: Vec<SnapVersion>,
    holds: Holds,
    /// Requests sent to it.
    sent: usize,
}

#[derive(Debug)]
struct Pending {
    peer: PeerId,
    request: SnapMessage,
}

/// The host's one ordered queue of store work: batches to apply and lookups to answer, each
/// answered from the store as it is after everything before it, and before anything after it.
#[derive(Debug)]
enum StoreWork {
    Batch(WriteBatch),
    Lookup { id: LookupId, lookup: Lookup },
}

/// The harness; see the module documentation of `syncer` for what it checks.
#[derive(Debug)]
pub struct Harness {
    world: &'static World,
    config: SyncConfig,
    syncer: Syncer,
    base: Instant,
    now: Duration,
    peers: BTreeMap<PeerId, PeerInfo>,
    next_peer: u64,
    pending: Vec<Pending>,
    /// Recent honest responses, for replays.
    answered: VecDeque<(PeerId, SnapMessage)>,
    /// Batches handed out and not applied, and lookups not answered, in order.
    queue: VecDeque<StoreWork>,
    /// Applied, not acknowledged.
    unacked: VecDeque<BatchId>,
    /// Batches handed out by this syncer.
    handed_out: u64,
    store: ModelStore,
    /// Every target given, first to last.
    given: Vec<Target>,
    /// The targets the syncer took (the first, and every accepted `NewTarget`): what it may
    /// request and write.
    followed: Vec<Target>,
    last_record: Option<ProgressRecord>,
    last_counters: Counters,
    done: bool,
    /// Peers penalized in the current drain, to be reported gone.
    penalized: Vec<PeerId>,
}

impl Harness {
    /// A fresh sync of the first state with the configuration `setup` describes.
    pub fn new(setup: Setup) -> Self {
        let world = World::get();
        let config = setup.config();
        #[allow(clippy::disallowed_methods)]
        let base = Instant::now();
        let target = Target { root: world.states[0].root(), number: FIRST_BLOCK };
        let syncer = Syncer::new(config.clone(), target, base);
        let mut harness = Self {
            world,
            config,
            syncer,
            base,
            now: Duration::ZERO,
            peers: BTreeMap::new(),
            next_peer: 1,
            pending: Vec::new(),
            answered: VecDeque::new(),
            queue: VecDeque::new(),
            unacked: VecDeque::new(),
            handed_out: 0,
            store: ModelStore::default(),
            given: vec![target],
            followed: vec![target],
            last_record: None,
            last_counters: Counters::default(),
            done: false,
            penalized: Vec::new(),
        };
        harness.drain_outputs(None);
        harness
    }

    fn at(&self) -> Instant {
        self.base + self.now
    }

    /// Runs one operation.
    pub fn run(&mut self, op: Op) {
        trace(|| format!("op {op:?}"));
        match op {
            Op::Connect { versions, holds } => {
                let versions = match versions % 4 {
                    0 => vec![],
                    1 => vec![SnapVersion::V1],
                    2 => vec![SnapVersion::V2],
                    _ => vec![SnapVersion::V1, SnapVersion::V2],
                };
                if self.peers.values().filter(|p| p.connected).count() < MAX_PEERS {
                    self.connect(versions, Holds::from_byte(holds));
                }
            }
            Op::Disconnect { pick } => {
                if let Some(peer) = self.pick_peer(pick, None) {
                    self.peers.get_mut(&peer).expect("known").connected = false;
                    self.input(Input::PeerDisconnected { peer }, None);
                }
            }
            Op::Answer { pick, how } => self.answer(pick, how),
            Op::Replay { pick } => {
                let len = self.answered.len();
                if len > 0 {
                    let (peer, message) = self.answered[usize::from(pick) % len].clone();
                    self.respond(peer, message, false);
                }
            }
            Op::Junk { pick, kind } => {
                if let Some(peer) = self.pick_peer(pick, None) {
                    let message = if kind % 2 == 0 {
                        SnapMessage::GetAccountRange(GetAccountRange {
                            request_id: u64::from(kind),
                            root: self.world.states[0].root(),
                            origin: B256::ZERO,
                            limit: B256::repeat_byte(0xff),
                            response_bytes: 1000,
                        })
                    } else {
                        SnapMessage::BlockAccessLists(BlockAccessLists {
                            request_id: u64::from(kind),
                            access_lists: vec![],
                        })
                    };
                    self.respond(peer, message, false);
                }
            }
            Op::Advance(advance) => self.advance(advance),
            Op::Apply { ack } => {
                if let Some(id) = self.apply_next() {
                    if ack {
                        self.acknowledge(id);
                    } else {
                        self.unacked.push_back(id);
                    }
                }
            }
            Op::Ack => {
                if let Some(id) = self.unacked.pop_front() {
                    self.acknowledge(id);
                }
            }
            Op::Lookup { short } => self.answer_lookup(short),
            Op::NewTarget { state, step } => {
                let root = self.world.states[usize::from(state) % 2].root();
                if no_return() && root != self.syncer.target().root {
                    let left = self.followed.iter().any(|t| t.root == root);
                    if left {
                        return;
                    }
                }
                let last = self.given.iter().map(|t| t.number).max().unwrap_or(FIRST_BLOCK);
                let target = Target { root, number: last + u64::from(step % 8) };
                self.given.push(target);
                // Taken unless done, the same root, or too few blocks past the current target.
                let current = self.syncer.target();
                let taken = !self.done
                    && root != current.root
                    && target.number >= current.number + self.config.min_target_step.max(1);
                if taken {
                    self.followed.push(target);
                }
                self.input(Input::NewTarget(target), None);
                let expected = if taken { target } else { current };
                assert_eq!(self.syncer.target(), expected, "NewTarget taken or ignored wrongly");
            }
            Op::Restart => self.restart(),
        }
    }

    fn connect(&mut self, versions: Vec<SnapVersion>, holds: Holds) {
        let peer = PeerId(self.next_peer);
        self.next_peer += 1;
        let connected = !versions.is_empty();
        self.peers.insert(peer, PeerInfo { connected, versions: versions.clone(), holds, sent: 0 });
        self.input(Input::PeerConnected { peer, versions }, None);
    }

    /// A connected peer other than `except`, by index.
    fn pick_peer(&self, pick: u8, except: Option<PeerId>) -> Option<PeerId> {
        let connected: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, info)| info.connected && Some(**id) != except)
            .map(|(id, _)| *id)
            .collect();
        (!connected.is_empty()).then(|| connected[usize::from(pick) % connected.len()])
    }

    fn answer(&mut self, pick: u8, how: Answer) {
        if self.pending.is_empty() {
            return;
        }
        let Pending { peer, request } = self.pending.remove(usize::from(pick) % self.pending.len());
        let holds = self.peers[&peer].holds;
        let truth = honest(self.world, holds, &request);
        match how {
            Answer::Drop => {}
            Answer::Honest => self.respond_honest(peer, truth),
            Answer::SmallerBudget(bytes) => {
                let mut smaller = request;
                match &mut smaller {
                    SnapMessage::GetAccountRange(m) => m.response_bytes = u64::from(bytes),
                    SnapMessage::GetStorageRanges(m) => m.response_bytes = u64::from(bytes),
                    SnapMessage::GetByteCodes(m) => m.response_bytes = u64::from(bytes),
                    SnapMessage::GetTrieNodes(m) => m.response_bytes = u64::from(bytes),
                    _ => {}
                }
                let answer = honest(self.world, holds, &smaller);
                self.respond_honest(peer, answer);
            }
            Answer::Empty => self.respond(peer, empty_like(&truth), true),
            Answer::Twice => {
                self.respond_honest(peer, truth.clone());
                self.respond(peer, truth, false);
            }
            Answer::ByOtherPeer(other) => match self.pick_peer(other, Some(peer)) {
                Some(other) => self.respond(other, truth, false),
                None => self.respond_honest(peer, truth),
            },
            Answer::ForOtherRequest(other) => {
                let mut relabelled = truth;
                if !self.pending.is_empty() {
                    // That request counts as answered: a later honest answer to it would be a
                    // second one.
                    let other = self.pending.remove(usize::from(other) % self.pending.len());
                    set_id(&mut relabelled, request_id(&other.request));
                }
                self.respond(peer, relabelled, false);
            }
            Answer::RandomId(id) => {
                let mut relabelled = truth;
                set_id(&mut relabelled, id);
                self.pending.retain(|p| request_id(&p.request) != id);
                self.respond(peer, relabelled, false);
            }
            how => {
                // What a peer holding the other state would answer: the request with the other
                // root, or bytecodes from the other state.
                let mut other_request = request;
                let other_holds = match &mut other_request {
                    SnapMessage::GetAccountRange(m) => {
                        m.root = self.other_root(m.root);
                        Holds::Both
                    }
                    SnapMessage::GetStorageRanges(m) => {
                        m.root = self.other_root(m.root);
                        Holds::Both
                    }
                    SnapMessage::GetTrieNodes(m) => {
                        m.root = self.other_root(m.root);
                        Holds::Both
                    }
                    _ if holds == Holds::First => Holds::Second,
                    _ => Holds::First,
                };
                let other = honest(self.world, other_holds, &other_request);
                let (changed, still_honest) = change(&truth, how, other);
                if still_honest {
                    self.respond_honest(peer, changed);
                } else {
                    self.respond(peer, changed, false);
                }
            }
        }
    }

    fn other_root(&self, root: B256) -> B256 {
        match self.world.index_of(&root) {
            Some(0) => self.world.states[1].root(),
            _ => self.world.states[0].root(),
        }
    }

    fn respond_honest(&mut self, peer: PeerId, message: SnapMessage) {
        self.answered.push_back((peer, message.clone()));
        if self.answered.len() > 8 {
            self.answered.pop_front();
        }
        self.respond(peer, message, true);
    }

    /// Delivers a response from `peer`. Only a connected peer whose response is not known to be
    /// honest may be penalized for it.
    fn respond(&mut self, peer: PeerId, message: SnapMessage, honest: bool) {
        let info = &self.peers[&peer];
        let certain = honest && info.sent <= EXPIRED_MEMORY;
        let may_penalize = (info.connected && !certain).then_some(peer);
        self.input(Input::Response { peer, message }, may_penalize);
    }

    fn advance(&mut self, advance: Advance) {
        let step = match advance {
            Advance::Millis(ms) => Duration::from_millis(u64::from(ms)),
            Advance::Seconds(s) => Duration::from_secs(u64::from(s)),
            Advance::ToDeadline => self
                .syncer
                .poll_timeout()
                .map_or(Duration::ZERO, |at| at.saturating_duration_since(self.at())),
            Advance::Huge => Duration::from_secs(86_400 * 30),
        };
        self.now += step;
        let now = self.at();
        self.syncer.handle_timeout(now);
        self.drain_outputs(None);
        if let Some(next) = self.syncer.poll_timeout() {
            assert!(next > now, "after handle_timeout the deadline is not in the future (spin)");
        }
    }

    /// Applies the oldest batch handed out; returns its id.
    fn apply_next(&mut self) -> Option<BatchId> {
        let Some(StoreWork::Batch(_)) = self.queue.front() else { return None };
        let Some(StoreWork::Batch(mut batch)) = self.queue.pop_front() else { return None };
        let id = batch.id;
        self.store.apply(&batch);
        // As the node does: the applied batch's buffers go back to the core.
        batch.clear();
        self.syncer.recycle_batch(batch);
        Some(id)
    }

    fn acknowledge(&mut self, id: BatchId) {
        self.input(Input::Written(id), None);
    }

    fn answer_lookup(&mut self, short: bool) {
        // Batches and lookups form one queue: the batches before the lookup are applied first.
        while let Some(id) = self.apply_next() {
            self.unacked.push_back(id);
        }
        let Some(StoreWork::Lookup { id, lookup }) = self.queue.pop_front() else { return };
        let mut answer = match &lookup {
            Lookup::Codes(hashes) => {
                LookupAnswer::Codes(hashes.iter().map(|hash| self.store.has_code(hash)).collect())
            }
            Lookup::Nodes(queries) => {
                LookupAnswer::Nodes(queries.iter().map(|q| self.store.has_node(q)).collect())
            }
            other => panic!("unknown lookup {other:?}"),
        };
        if short {
            match &mut answer {
                LookupAnswer::Codes(held) | LookupAnswer::Nodes(held) => {
                    held.truncate(held.len() / 2)
                }
                _ => {}
            }
        }
        self.input(Input::LookupDone { id, answer }, None);
    }

    /// The host crashed: everything in flight, unapplied or unanswered is lost, and a new
    /// syncer resumes from the last applied progress record; no peer is connected to it.
    fn restart(&mut self) {
        if self.done {
            return;
        }
        let now = self.at();
        self.syncer = match &self.store.progress {
            Some(record) => Syncer::resume_from_bytes(self.config.clone(), record, now)
                .expect("an applied progress record decodes"),
            None => Syncer::new(self.config.clone(), self.given[0], now),
        };
        for info in self.peers.values_mut() {
            info.connected = false;
        }
        self.pending.clear();
        self.answered.clear();
        self.queue.clear();
        self.unacked.clear();
        self.handed_out = 0;
        self.last_record = self.store.record();
        self.last_counters = self.last_record.as_ref().map(|r| r.counters).unwrap_or_default();
        self.drain_outputs(None);
    }

    /// Feeds one input and drains; `may_penalize` is the one peer a `Disconnect` may name.
    fn input(&mut self, input: Input, may_penalize: Option<PeerId>) {
        trace(|| format!(" input {}", describe_input(&input)));
        let now = self.at();
        self.syncer.handle_input(now, input);
        self.drain_outputs(may_penalize);
    }

    /// Drains every output, checking each, then the invariants; reports penalized peers gone.
    fn drain_outputs(&mut self, may_penalize: Option<PeerId>) {
        let mut count = 0;
        while let Some(output) = self.syncer.poll_output() {
            count += 1;
            assert!(count <= MAX_OUTPUTS, "more than {MAX_OUTPUTS} outputs for one input");
            assert!(!self.done, "output after Done: {output:?}");
            trace(|| format!("  -> {}", describe(&output)));
            match output {
                Output::Send { peer, message } => self.on_send(peer, message),
                Output::Write(batch) => self.on_write(batch),
                Output::Lookup { id, lookup } => {
                    self.queue.push_back(StoreWork::Lookup { id, lookup });
                }
                Output::Disconnect { peer, reason } => {
                    assert_eq!(
                        may_penalize,
                        Some(peer),
                        "peer {} penalized ({reason}) without misbehaving",
                        peer.0
                    );
                    let info = self.peers.get_mut(&peer).expect("a known peer");
                    assert!(info.connected, "penalized peer {} is not connected", peer.0);
                    info.connected = false;
                    self.penalized.push(peer);
                }
                Output::Event(event) => self.on_event(event),
            }
        }
        self.check_invariants();
        // The host closes the connection of a penalized peer and reports it gone.
        for peer in std::mem::take(&mut self.penalized) {
            self.input(Input::PeerDisconnected { peer }, None);
        }
    }

    fn on_send(&mut self, peer: PeerId, message: SnapMessage) {
        let info = self.peers.get_mut(&peer).expect("request to an unknown peer");
        assert!(info.connected, "request to disconnected peer {}: {message:?}", peer.0);
        let id = message.id();
        assert!(id.is_request(), "the syncer sent a {id:?}");
        assert!(
            info.versions.iter().any(|version| version.supports(id)),
            "{id:?} sent to a peer speaking {:?}",
            info.versions
        );
        let root = match &message {
            SnapMessage::GetAccountRange(m) => {
                assert!(m.origin <= m.limit, "account request from {} to {}", m.origin, m.limit);
                Some(m.root)
            }
            SnapMessage::GetStorageRanges(m) => Some(m.root),
            SnapMessage::GetTrieNodes(m) => Some(m.root),
            _ => None,
        };
        if let Some(root) = root {
            assert!(
                self.followed.iter().any(|t| t.root == root),
                "request for a root never followed: {root}"
            );
        }
        info.sent += 1;
        // The server must accept it (it panics on a malformed request).
        honest(self.world, Holds::Both, &message);
        self.pending.push(Pending { peer, request: message });
    }

    fn on_write(&mut self, batch: WriteBatch) {
        self.handed_out += 1;
        assert_eq!(batch.id, BatchId(self.handed_out), "batch ids are consecutive from 1");
        self.check_batch(&batch);
        self.queue.push_back(StoreWork::Batch(batch));
    }

    /// Nothing unverified in the batch, and its progress record only moves forward.
    fn check_batch(&mut self, batch: &WriteBatch) {
        let world = self.world;
        let states: Vec<usize> =
            self.followed.iter().filter_map(|t| world.index_of(&t.root)).collect();
        let in_a_state = |check: &dyn Fn(usize) -> bool| states.iter().any(|&index| check(index));
        for (hash, account) in &batch.accounts {
            assert!(
                in_a_state(&|i| world.states[i].account(hash) == Some(account)),
                "batch {}: account {hash} is in no target state",
                batch.id.0
            );
        }
        for (owner, slot, value) in &batch.storage {
            assert!(
                in_a_state(&|i| world.states[i].slot(owner, slot) == Some(value)),
                "batch {}: slot {slot} of {owner} is in no target state",
                batch.id.0
            );
        }
        for (hash, code) in &batch.codes {
            assert!(world.is_code(hash, code), "batch {}: code {hash} is in no state", batch.id.0);
        }
        for (key, node) in &batch.nodes.writes {
            assert!(
                in_a_state(&|i| world.states[i].node(&key.owner, &key.path).as_ref() == Some(node)),
                "batch {}: node of {} at {:?} is no target state's node at that path",
                batch.id.0,
                key.owner,
                key.path
            );
        }
        let record = ProgressRecord::decode_versioned(&batch.progress).unwrap_or_else(|error| {
            panic!("batch {}: record does not decode: {error}", batch.id.0)
        });
        assert!(
            self.followed.iter().any(|t| t.root == record.target.root),
            "batch {}: record for an unknown root",
            batch.id.0
        );
        if let Some(previous) = &self.last_record {
            let (before, after) =
                (previous.account_fraction_done(), record.account_fraction_done());
            assert!(after + 1e-12 >= before, "fraction done went backwards: {before} -> {after}");
            assert!(
                counters_le(&previous.counters, &record.counters),
                "record counters went backwards: {:?} -> {:?}",
                previous.counters,
                record.counters
            );
        }
        self.last_record = Some(record);
    }

    fn on_event(&mut self, event: SyncEvent) {
        match event {
            SyncEvent::Done { target, counters } => {
                assert_eq!(self.syncer.phase(), Phase::Done);
                assert!(
                    self.unacked.is_empty()
                        && !self.queue.iter().any(|w| matches!(w, StoreWork::Batch(_))),
                    "Done with batches unacknowledged"
                );
                assert_eq!(target, self.syncer.target(), "Done for another target than followed");
                assert!(counters_le(&self.last_counters, &counters));
                let index = self.world.index_of(&target.root).expect("a given root");
                self.store.assert_complete(&self.world.states[index]);
                self.done = true;
            }
            SyncEvent::NewTarget(target) => {
                assert!(self.given.contains(&target), "followed a target never given");
                assert_eq!(self.syncer.target(), target);
            }
            SyncEvent::Progress(report) => {
                assert!(
                    (0.0..=1.0).contains(&report.fraction_done),
                    "fraction {}",
                    report.fraction_done
                );
                assert!(report.in_flight <= self.config.max_requests);
            }
            _ => {}
        }
    }

    fn check_invariants(&mut self) {
        let syncer = &self.syncer;
        let config = &self.config;
        let connected = self.peers.values().filter(|info| info.connected).count();
        let in_flight = syncer.in_flight();
        assert!(in_flight <= config.max_requests, "{in_flight} requests in flight");
        assert!(
            in_flight <= config.max_requests_per_peer * connected,
            "{in_flight} requests in flight to {connected} peers"
        );
        let unacknowledged = syncer.unacknowledged_batches();
        assert!(
            unacknowledged <= config.max_unacknowledged_batches + 1,
            "{unacknowledged} batches out"
        );
        assert_eq!(
            unacknowledged,
            self.queue.iter().filter(|w| matches!(w, StoreWork::Batch(_))).count()
                + self.unacked.len(),
            "the syncer's count of unacknowledged batches is not the host's"
        );
        let counters = syncer.counters();
        assert!(
            counters_le(&self.last_counters, &counters),
            "counters went backwards: {:?} -> {counters:?}",
            self.last_counters
        );
        self.last_counters = counters;
        assert!(
            self.followed.contains(&syncer.target()),
            "the syncer follows a target it never took"
        );
        if self.done {
            assert_eq!(syncer.phase(), Phase::Done);
        }
    }

    /// The honest drain: an honest peer holding both states joins, and every request, batch
    /// and lookup is answered honestly, with time moving to each deadline when nothing else is
    /// left, until `Done`, which must come within [`DRAIN_STEPS`] steps.
    pub fn honest_drain(&mut self) {
        if self.done {
            return;
        }
        self.connect(vec![SnapVersion::V1, SnapVersion::V2], Holds::Both);
        for _ in 0..DRAIN_STEPS {
            if self.done {
                return;
            }
            // Requests to peers gone are never answered.
            self.pending.retain(|p| self.peers[&p.peer].connected);
            if !self.pending.is_empty() {
                self.answer_index(0);
                continue;
            }
            if let Some(id) = self.unacked.pop_front() {
                self.acknowledge(id);
            } else if let Some(id) = self.apply_next() {
                self.acknowledge(id);
            } else if !self.queue.is_empty() {
                self.answer_lookup(false);
            } else {
                let deadline = self.syncer.poll_timeout();
                assert!(deadline.is_some(), "honest drain stuck: nothing to do and no deadline");
                self.advance(Advance::ToDeadline);
            }
        }
        panic!(
            "honest drain: not done after {DRAIN_STEPS} steps (phase {:?}, {} in flight) {:#?}",
            self.syncer.phase(),
            self.syncer.in_flight(),
            self.syncer.progress_record()
        );
    }

    fn answer_index(&mut self, index: usize) {
        let Pending { peer, request } = self.pending.remove(index);
        let truth = honest(self.world, self.peers[&peer].holds, &request);
        self.respond_honest(peer, truth);
    }
}

fn counters_le(a: &Counters, b: &Counters) -> bool {
    b.first_below(a).is_none()
}

/// With `SYNCER_FUZZ_NO_RETURN` set, no new target goes back to a root the sync already left
/// (A -> B -> A): for fuzzing past an open finding of that shape (there is none now: the
/// A -> B -> A healing finding is fixed and its input is `corpus/syncer/seed-crash-heal-aba-*`).
fn no_return() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SYNCER_FUZZ_NO_RETURN").is_some())
}

/// With `SYNCER_FUZZ_TRACE` set, prints every operation, input and output to stderr (to read
/// what a crashing input does: `SYNCER_FUZZ_TRACE=1 cargo +nightly fuzz run syncer <file>`).
fn trace(line: impl FnOnce() -> String) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("SYNCER_FUZZ_TRACE").is_some()) {
        eprintln!("{}", line());
    }
}

fn describe(output: &Output) -> String {
    match output {
        Output::Write(batch) => format!(
            "Write #{} ({} accounts, {} slots, {} codes, {} nodes, {} deletes, {} pruned)",
            batch.id.0,
            batch.accounts.len(),
            batch.storage.len(),
            batch.codes.len(),
            batch.nodes.writes.len(),
            batch.nodes.deletes.len(),
            batch.pruned.len()
        ),
        other => format!("{other:?}"),
    }
}

fn describe_input(input: &Input) -> String {
    match input {
        Input::Response { peer, message } => {
            let summary = match message {
                SnapMessage::AccountRange(m) => format!(
                    "AccountRange id {} {:?}, {} proof nodes",
                    m.request_id,
                    m.accounts.iter().map(|a| a.hash).collect::<Vec<_>>(),
                    m.proof.len()
                ),
                SnapMessage::StorageRanges(m) => format!(
                    "StorageRanges id {} lists {:?}, {} proof nodes",
                    m.request_id,
                    m.slots.iter().map(Vec::len).collect::<Vec<_>>(),
                    m.proof.len()
                ),
                SnapMessage::ByteCodes(m) => {
                    format!("ByteCodes id {} ({})", m.request_id, m.codes.len())
                }
                SnapMessage::TrieNodes(m) => {
                    format!("TrieNodes id {} ({})", m.request_id, m.nodes.len())
                }
                other => format!("{other:?}"),
            };
            format!("Response from {}: {summary}", peer.0)
        }
        other => format!("{other:?}"),
    }
}
