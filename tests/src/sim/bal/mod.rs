//! The snap/2 simulation: one `Syncer` against peers serving an address-keyed chain whose
//! blocks carry real block access lists ([`BalChain`]), with headers fed in order (reorgs
//! included), scripted crashes and store damage, and peers that retain lists for a window, lack
//! some, cut answers short, or serve wrong or reordered lists. The store is the contract's
//! `MemoryStore`; the caller checks the end state exactly ([`check_exact`](crate::sim::check_exact)).
//!
//! Peers answer at once and in order (no network model): this runner is about catch-up logic,
//! the main simulator about transport faults.

mod world;

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes, U256};
use snap_core::{
    serve::{InMemoryState, ServeLimits, serve},
    sync::{
        CatchUpMode, CatchUpStrategy, Counters, Header, Input, Lookup, Misbehaviour, Output,
        PeerId, Phase, ProgressRecord, SyncConfig, SyncEvent, Syncer, WriteBatch,
        host::MemoryStore,
    },
    wire::{SnapMessage, SnapVersion},
};
pub use world::{Account, BalChain, BalWorld};

/// How a simulated peer serves block access lists (ranges and codes it serves honestly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalPeer {
    /// Every list it retains, in order.
    Honest,
    /// Lacks the lists of every third block (empty entries): others must be asked.
    Lacks,
    /// Answers only the first half of what is asked (allowed: truncation from the tail).
    Truncates,
    /// Swaps two lists of an answer (a protocol violation: they fail their commitments).
    Reorders,
    /// Flips a byte of a list (a protocol violation).
    Corrupts,
    /// Never answers a list request (they time out; others are asked).
    Silent,
}

impl BalPeer {
    /// Whether the syncer may penalize this peer (only with `BadBal`).
    pub const fn is_faulty(self) -> bool {
        matches!(self, Self::Reorders | Self::Corrupts)
    }
}

/// The peers and what they keep.
#[derive(Clone, Debug)]
pub struct BalSetup {
    /// Each peer's negotiated snap versions and list behaviour; peer ids are 1, 2, ...
    pub peers: Vec<(Vec<SnapVersion>, BalPeer)>,
    /// Peers serve the lists of the newest this-many blocks delivered so far (`None`: all).
    pub retain: Option<u64>,
    /// The strategy setting.
    pub catch_up: CatchUpMode,
}

impl Default for BalSetup {
    /// Three honest snap/2 peers keeping every list.
    fn default() -> Self {
        let v2 = vec![SnapVersion::V2];
        Self {
            peers: vec![
                (v2.clone(), BalPeer::Honest),
                (v2.clone(), BalPeer::Honest),
                (v2, BalPeer::Honest),
            ],
            retain: None,
            catch_up: CatchUpMode::Auto,
        }
    }
}

/// When a scripted host event happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// After this many inputs.
    Step(usize),
    /// The first time the syncer is in this phase (after the events before it).
    Phase(Phase),
    /// Once the store's progress record says the lists are applied through this block.
    Applied(u64),
}

/// A scripted host event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// Deliver these headers, in order.
    Headers(Vec<Header>),
    /// Crash: resume a new `Syncer` from the store's last progress record, reconnect the peers
    /// and resend the newest header delivered.
    Crash,
    /// Corrupt the store just before the next rebuild starts reading it: this flat account's
    /// balance changes (what a disk or host bug would do; the rebuilt root must catch it).
    Damage(B256),
}

/// What a run ended with.
#[derive(Debug)]
pub struct BalOutcome {
    /// The store.
    pub store: MemoryStore,
    /// Every event but progress reports, in order.
    pub events: Vec<SyncEvent>,
    /// The root `Done` reported.
    pub target_root: B256,
    /// Peers penalized, with the reason.
    pub penalized: Vec<(PeerId, Misbehaviour)>,
    /// The final counters.
    pub counters: Counters,
    /// Requests sent, by message name.
    pub requests: BTreeMap<String, u64>,
    /// Crashes survived.
    pub crashes: u64,
}

impl BalOutcome {
    /// The strategy chosen last.
    pub fn strategy(&self) -> Option<CatchUpStrategy> {
        self.events.iter().rev().find_map(|event| match event {
            SyncEvent::Strategy(strategy) => Some(*strategy),
            _ => None,
        })
    }

    /// Whether any event matches `matches`.
    pub fn saw(&self, matches: impl Fn(&SyncEvent) -> bool) -> bool {
        self.events.iter().any(matches)
    }
}

/// The syncer configuration the runs use: small requests and batches, so that a small chain
/// takes many steps.
pub fn config(seed: u64, catch_up: CatchUpMode) -> SyncConfig {
    SyncConfig {
        min_request_bytes: 2 * 1024,
        max_request_bytes: 12 * 1024,
        min_slots_per_chunk: 50,
        max_storage_accounts_per_request: 8,
        batch_bytes: 16 * 1024,
        min_target_step: 1,
        // The scripts place each move in a phase: every target is taken when it comes.
        max_target_lag: 0,
        catch_up,
        max_bals_per_request: 3,
        max_bals_ahead: 4,
        rebuild_lookup_entries: 97,
        seed,
        ..SyncConfig::default()
    }
}

/// What peers serve from: every state and list of every branch, and every header.
#[derive(Clone, Copy, Debug)]
pub struct Served<'a> {
    /// States by root (any branch).
    pub states: &'a [InMemoryState],
    /// Encoded lists by block hash (any branch).
    pub bals: &'a BTreeMap<B256, Bytes>,
    /// Every header of every branch (for block numbers).
    pub headers: &'a [Header],
}

/// Runs a sync from `start` (a header of `served`) until `Done`, carrying out `script`.
pub fn run(
    setup: &BalSetup,
    seed: u64,
    start: Header,
    served: Served<'_>,
    script: Vec<(When, HostEvent)>,
) -> Result<BalOutcome, String> {
    let mut host = Host::new(setup, seed, start, served);
    host.run(script)
}

struct Host<'a> {
    setup: &'a BalSetup,
    served: Served<'a>,
    seed: u64,
    now: Instant,
    syncer: Syncer,
    store: MemoryStore,
    inbox: VecDeque<Input>,
    events: Vec<SyncEvent>,
    delivered: Vec<Header>,
    penalized: Vec<(PeerId, Misbehaviour)>,
    requests: BTreeMap<String, u64>,
    numbers: BTreeMap<B256, u64>,
    code_server: InMemoryState,
    damage: Option<B256>,
    crashes: u64,
}

impl<'a> Host<'a> {
    fn new(setup: &'a BalSetup, seed: u64, start: Header, served: Served<'a>) -> Self {
        #[allow(clippy::disallowed_methods)] // the host's clock; the core only gets `now`
        let now = Instant::now();
        let codes: Vec<Bytes> = served
            .states
            .iter()
            .flat_map(|state| state.codes().values().cloned().collect::<Vec<_>>())
            .collect();
        let mut host = Self {
            setup,
            served,
            seed,
            now,
            syncer: Syncer::from_header(config(seed, setup.catch_up), start, now),
            store: MemoryStore::new(),
            inbox: VecDeque::new(),
            events: Vec::new(),
            delivered: vec![start],
            penalized: Vec::new(),
            requests: BTreeMap::new(),
            numbers: served.headers.iter().map(|h| (h.hash, h.number)).collect(),
            code_server: InMemoryState::from_sorted(vec![], Vec::new(), codes)
                .unwrap_or_else(|_| unreachable!("a state of codes only is valid")),
            damage: None,
            crashes: 0,
        };
        host.connect();
        host
    }

    fn connect(&mut self) {
        for (index, (versions, _)) in self.setup.peers.iter().enumerate() {
            let peer = PeerId(index as u64 + 1);
            if self.penalized.iter().all(|(p, _)| *p != peer) {
                let versions = versions.clone();
                self.syncer.handle_input(self.now, Input::PeerConnected { peer, versions });
            }
        }
    }

    fn run(&mut self, mut script: Vec<(When, HostEvent)>) -> Result<BalOutcome, String> {
        script.reverse();
        for step in 0..300_000usize {
            if let Some(outcome) = self.drain()? {
                return Ok(outcome);
            }
            if let Some((when, _)) = script.last() {
                let due = match *when {
                    When::Step(at) => step >= at,
                    When::Phase(phase) => self.syncer.phase() == phase,
                    When::Applied(number) => self.store.progress().is_some_and(|bytes| {
                        ProgressRecord::decode_versioned(bytes)
                            .is_ok_and(|record| record.catch_up.applied >= number)
                    }),
                };
                if due {
                    let (_, event) = script.pop().unwrap_or_else(|| unreachable!("peeked"));
                    self.host_event(event, step)?;
                    continue;
                }
            }
            self.now += Duration::from_millis(50);
            match self.inbox.pop_front() {
                Some(input) => self.syncer.handle_input(self.now, input),
                None => self.syncer.handle_timeout(self.now),
            }
        }
        let stalls = self.events.iter().filter(|e| matches!(e, SyncEvent::Stalled { .. })).count();
        let tail: Vec<&SyncEvent> = self.events.iter().rev().take(8).collect();
        let phase = self.syncer.phase();
        Err(format!(
            "no Done within the step bound (phase {phase:?}, stalls: {stalls}, last events {tail:?})"
        ))
    }

    fn host_event(&mut self, event: HostEvent, step: usize) -> Result<(), String> {
        match event {
            HostEvent::Headers(headers) => {
                for header in headers {
                    self.delivered.push(header);
                    self.syncer.handle_input(self.now, Input::Header(header));
                }
            }
            HostEvent::Damage(hash) => self.damage = Some(hash),
            HostEvent::Crash => {
                let Some(record) = self.store.progress().cloned() else { return Ok(()) };
                let config = config(self.seed + step as u64, self.setup.catch_up);
                self.syncer = Syncer::resume_from_bytes(config, &record, self.now)
                    .map_err(|error| format!("resume: {error}"))?;
                self.inbox.clear();
                self.crashes += 1;
                self.connect();
                let tip = *self.delivered.last().unwrap_or_else(|| unreachable!("the start"));
                self.syncer.handle_input(self.now, Input::Header(tip));
            }
        }
        Ok(())
    }

    /// Carries out every output; returns the outcome at `Done`.
    fn drain(&mut self) -> Result<Option<BalOutcome>, String> {
        while let Some(output) = self.syncer.poll_output() {
            match output {
                Output::Send { peer, message } => self.answer(peer, &message)?,
                Output::Write(batch) => {
                    let id = batch.id;
                    self.store.apply(batch);
                    self.inbox.push_back(Input::Written(id));
                }
                Output::Lookup { id, lookup } => {
                    // Before a rebuild's first read, so the rebuild must see it.
                    let first_read = matches!(&lookup, Lookup::Flat { from, .. }
                        if from.account == B256::ZERO && from.slot.is_none());
                    if let (Some(hash), true) = (self.damage, first_read) {
                        self.damage = None;
                        if let Some(mut account) = self.store.accounts().get(&hash).copied() {
                            account.balance += U256::from(1);
                            let progress = self.store.progress().cloned().unwrap_or_default();
                            let accounts = vec![(hash, account)];
                            self.store.apply(WriteBatch {
                                accounts,
                                progress,
                                ..WriteBatch::default()
                            });
                        }
                    }
                    let answer = self.store.answer(&lookup);
                    self.inbox.push_back(Input::LookupDone { id, answer });
                }
                Output::Disconnect { peer, reason } => {
                    let kind = self.peer_kind(peer);
                    if !(kind.is_faulty() && matches!(reason, Misbehaviour::BadBal(_))) {
                        return Err(format!("{kind:?} peer {peer:?} penalized: {reason}"));
                    }
                    self.penalized.push((peer, reason));
                }
                Output::Event(SyncEvent::Done { target, counters }) => {
                    return Ok(Some(BalOutcome {
                        store: std::mem::take(&mut self.store),
                        events: std::mem::take(&mut self.events),
                        target_root: target.root,
                        penalized: std::mem::take(&mut self.penalized),
                        counters,
                        requests: std::mem::take(&mut self.requests),
                        crashes: self.crashes,
                    }));
                }
                Output::Event(SyncEvent::Progress(_)) => {}
                Output::Event(event) => self.events.push(event),
            }
        }
        Ok(None)
    }

    fn peer_kind(&self, peer: PeerId) -> BalPeer {
        self.setup.peers.get(peer.0 as usize - 1).map_or(BalPeer::Honest, |(_, kind)| *kind)
    }

    fn answer(&mut self, peer: PeerId, message: &SnapMessage) -> Result<(), String> {
        *self.requests.entry(format!("{:?}", message.id())).or_default() += 1;
        let Some((versions, kind)) = self.setup.peers.get(peer.0 as usize - 1) else {
            return Err(format!("a request to unknown peer {peer:?}"));
        };
        let needs = match message {
            SnapMessage::GetBlockAccessLists(_) => Some(SnapVersion::V2),
            SnapMessage::GetTrieNodes(_) => Some(SnapVersion::V1),
            _ => None,
        };
        if needs.is_some_and(|version| !versions.contains(&version)) {
            return Err(format!("{message:?} sent to {peer:?} speaking {versions:?}"));
        }
        let root = match message {
            SnapMessage::GetAccountRange(m) => Some(m.root),
            SnapMessage::GetStorageRanges(m) => Some(m.root),
            SnapMessage::GetTrieNodes(m) => Some(m.root),
            _ => None,
        };
        let state = root
            .and_then(|root| self.served.states.iter().find(|s| s.root() == root))
            .unwrap_or(&self.code_server);
        // The lists this peer holds: the retention window behind the newest header delivered.
        let tip = self.delivered.last().map_or(0, |h| h.number);
        let oldest = self.setup.retain.map_or(0, |retain| tip.saturating_sub(retain));
        let held: BTreeMap<B256, Bytes> = self
            .served
            .bals
            .iter()
            .filter(|(hash, _)| {
                let number = self.numbers.get(*hash).copied().unwrap_or(0);
                number >= oldest
                    && !(*kind == BalPeer::Lacks && (number + peer.0).is_multiple_of(3))
            })
            .map(|(hash, list)| (*hash, list.clone()))
            .collect();
        if *kind == BalPeer::Silent && matches!(message, SnapMessage::GetBlockAccessLists(_)) {
            return Ok(());
        }
        let mut reply = serve(message, state, &held, &ServeLimits::default())
            .map_err(|error| format!("serving {message:?}: {error}"))?;
        if let SnapMessage::BlockAccessLists(answer) = &mut reply {
            let lists = &mut answer.access_lists;
            let full: Vec<usize> = (0..lists.len()).filter(|&i| !lists[i].is_empty()).collect();
            match (*kind, full.as_slice()) {
                (BalPeer::Truncates, _) => lists.truncate(lists.len().div_ceil(2)),
                (BalPeer::Reorders, [first, second, ..]) => lists.swap(*first, *second),
                (BalPeer::Reorders | BalPeer::Corrupts, [only, ..]) => {
                    let mut bytes = lists[*only].to_vec();
                    if let Some(last) = bytes.last_mut() {
                        *last ^= 1;
                    }
                    lists[*only] = Bytes::from(bytes);
                }
                _ => {}
            }
        }
        self.inbox.push_back(Input::Response { peer, message: reply });
        Ok(())
    }
}
