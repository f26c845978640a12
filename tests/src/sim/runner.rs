//! The simulation loop: one `Syncer`, simulated peers, network and store, driven by a virtual
//! clock from one event to the next, with invariants checked after every step, crashes at
//! seeded steps, and the end check.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use snap_core::{
    serve::InMemoryState,
    sync::{
        BatchId, Counters, Input, Lookup, LookupAnswer, Output, PeerId, Phase, ProgressReport,
        SyncConfig, SyncEvent, Syncer, Target,
    },
    wire::{Limits, SnapMessage},
};

use super::{
    config::SimConfig,
    network::{Event, EventQueue, NetConfig},
    outcome::{Outcome, Probe, RequestCounts, RunOptions, Summary},
    peer::{Behaviour, Expectation, Peer, Reply},
    rng::SimRng,
    state::TargetState,
    store::Store,
};

/// Runs one simulation.
pub fn run(config: &SimConfig) -> Outcome {
    run_with(config, RunOptions::default(), |_| {})
}

/// Runs one simulation; `observe` is called after every step with the syncer (when one is
/// alive), for measurements.
pub fn run_with(
    config: &SimConfig,
    options: RunOptions,
    mut observe: impl FnMut(&Probe<'_>),
) -> Outcome {
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    match World::build(config, options) {
        Ok(world) => {
            let setup = started.elapsed();
            let mut outcome = world.run(config, options, &mut observe);
            outcome.setup = setup;
            outcome.wall = started.elapsed();
            outcome
        }
        Err(reason) => Outcome {
            config: config.clone(),
            result: Err(reason),
            peers: Vec::new(),
            trace: 0,
            wall: started.elapsed(),
            setup: started.elapsed(),
        },
    }
}

/// The target state (and the other state wrong-root peers serve) of a configuration, built
/// once and runnable many times.
#[derive(Debug)]
pub struct World {
    target: TargetState,
    variant: Option<InMemoryState>,
}

impl World {
    /// Generates (or loads) the state `config` describes.
    pub fn build(config: &SimConfig, options: RunOptions) -> Result<Self, String> {
        let mut spec = config.state_spec();
        spec.node_oracle = options.node_oracle;
        let target = match &config.state_dump {
            Some(path) => load_dump(path, options.node_oracle)?,
            None => TargetState::generate(&spec)?,
        };
        let variant = if config.behaviours().contains(&Behaviour::WrongRoot) {
            Some(target.variant()?)
        } else {
            None
        };
        Ok(Self { target, variant })
    }

    /// The target state.
    pub const fn target(&self) -> &TargetState {
        &self.target
    }

    /// Runs the sync of `config` (whose state this world must be) from scratch.
    pub fn run(
        &self,
        config: &SimConfig,
        options: RunOptions,
        observe: &mut impl FnMut(&Probe<'_>),
    ) -> Outcome {
        #[allow(clippy::disallowed_methods)]
        let started = Instant::now();
        let behaviours = config.behaviours();
        let mut sim =
            Sim::new(config, options, &self.target, self.variant.as_ref(), &behaviours, started);
        let result = sim.run(observe);
        Outcome {
            config: config.clone(),
            result,
            peers: sim
                .peers
                .iter()
                .map(|slot| (slot.peer.behaviour, slot.peer.stats.clone()))
                .collect(),
            trace: sim.trace,
            wall: started.elapsed(),
            setup: Duration::ZERO,
        }
    }
}

#[derive(Debug)]
struct PeerSlot {
    peer: Peer,
    conn: u64,
    connected: bool,
    banned: bool,
}

struct Sim<'a> {
    config: &'a SimConfig,
    sync_config: SyncConfig,
    net: NetConfig,
    target: &'a TargetState,
    variant: Option<&'a InMemoryState>,
    peers: Vec<PeerSlot>,
    queue: EventQueue,
    store: Store,
    syncer: Option<Syncer>,
    base: Instant,
    now: Duration,
    net_rng: SimRng,
    crash_rng: SimRng,
    next_crash: u64,
    crashes: u64,
    steps: u64,
    idle_steps: u64,
    last_progress: (u64, u64, u64, u64),
    next_batch: u64,
    outstanding: VecDeque<BatchId>,
    last_apply: Duration,
    requests: u64,
    kinds: RequestCounts,
    bytes: u64,
    done: bool,
    trace: u64,
    /// The last progress report of this syncer incarnation (fraction, counters).
    last_report: Option<(f64, Counters)>,
    /// Progress events seen, and stall events.
    reports: u64,
    stalls: u64,
}

impl<'a> Sim<'a> {
    fn new(
        config: &'a SimConfig,
        options: RunOptions,
        target: &'a TargetState,
        variant: Option<&'a InMemoryState>,
        behaviours: &[Behaviour],
        base: Instant,
    ) -> Self {
        let mut version_rng = SimRng::derive(config.seed, "versions");
        let peers = behaviours
            .iter()
            .enumerate()
            .map(|(index, &behaviour)| {
                let version = if version_rng.chance(0.5) {
                    snap_core::wire::SnapVersion::V1
                } else {
                    snap_core::wire::SnapVersion::V2
                };
                PeerSlot {
                    peer: Peer::new(PeerId(index as u64), behaviour, version, config.seed),
                    conn: 0,
                    connected: false,
                    banned: false,
                }
            })
            .collect();
        let mut crash_rng = SimRng::derive(config.seed, "crash");
        let next_crash = next_crash_step(&mut crash_rng, 0, config.crash_every);
        let sync_config = config.sync_config();
        let syncer =
            Syncer::new(sync_config.clone(), Target { root: target.root(), number: 1 }, base);
        Self {
            config,
            net: config.network(),
            sync_config,
            target,
            variant,
            peers,
            queue: EventQueue::default(),
            store: Store::new(options.store),
            syncer: Some(syncer),
            base,
            now: Duration::ZERO,
            net_rng: SimRng::derive(config.seed, "net"),
            crash_rng,
            next_crash,
            crashes: 0,
            steps: 0,
            idle_steps: 0,
            last_progress: (0, 0, 0, 0),
            next_batch: 1,
            outstanding: VecDeque::new(),
            last_apply: Duration::ZERO,
            requests: 0,
            kinds: RequestCounts::default(),
            bytes: 0,
            done: false,
            trace: 0xcbf2_9ce4_8422_2325,
            last_report: None,
            reports: 0,
            stalls: 0,
        }
    }

    fn run(&mut self, observe: &mut impl FnMut(&Probe<'_>)) -> Result<Summary, String> {
        for peer in 0..self.peers.len() {
            self.queue.push(Duration::ZERO, Event::Connect { peer });
        }
        while !self.done {
            self.step()?;
            self.check_invariants()?;
            observe(&Probe { syncer: self.syncer.as_ref(), queue: &self.queue });
            self.steps += 1;
            self.note_progress()?;
            if self.config.crash_every > 0
                && self.steps >= self.next_crash
                && self.crashes < self.config.max_crashes
                && !self.done
            {
                self.crash()?;
            }
        }
        self.store.check_complete(self.target)?;
        let (accounts, slots, codes) = self.store.totals();
        Ok(Summary {
            root: self.target.root(),
            accounts,
            slots,
            codes,
            nodes: self.store.node_count() as u64,
            requests: self.requests,
            kinds: self.kinds,
            bytes: self.bytes,
            sim: self.now,
            steps: self.steps,
            crashes: self.crashes,
            batches: self.store.written.batches,
            reports: self.reports,
            stalls: self.stalls,
        })
    }

    fn syncer(&mut self) -> &mut Syncer {
        self.syncer.as_mut().expect("a syncer is alive between crashes")
    }

    fn at(&self) -> Instant {
        self.base + self.now
    }

    /// Advances to the earliest of the next event and the syncer's deadline, and handles it.
    fn step(&mut self) -> Result<(), String> {
        let deadline = self
            .syncer
            .as_ref()
            .and_then(Syncer::poll_timeout)
            .map(|at| at.saturating_duration_since(self.base));
        let next_event = self.queue.next_time();
        match (deadline, next_event) {
            (None, None) => return Err("deadlock: no event pending and no syncer deadline".into()),
            (Some(deadline), next) if next.is_none_or(|next| deadline <= next) => {
                self.now = self.now.max(deadline);
                let now = self.at();
                self.syncer().handle_timeout(now);
            }
            _ => {
                let (at, event) = self.queue.pop().expect("an event is pending");
                self.now = self.now.max(at);
                self.handle_event(event)?;
            }
        }
        self.drain()
    }

    fn input(&mut self, input: Input) {
        let now = self.at();
        self.syncer().handle_input(now, input);
    }

    fn handle_event(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Connect { peer } => {
                let slot = &mut self.peers[peer];
                if slot.connected || slot.banned {
                    return Ok(());
                }
                slot.connected = true;
                slot.conn += 1;
                let versions = vec![slot.peer.version];
                self.mix(&[1, peer as u8]);
                self.input(Input::PeerConnected { peer: PeerId(peer as u64), versions });
            }
            Event::PeerGone { peer, conn } => {
                let slot = &mut self.peers[peer];
                if !slot.connected || slot.conn != conn {
                    return Ok(());
                }
                slot.connected = false;
                slot.conn += 1;
                slot.peer.stats.own_disconnects += 1;
                self.mix(&[2, peer as u8]);
                self.input(Input::PeerDisconnected { peer: PeerId(peer as u64) });
                let back = Duration::from_millis(self.net_rng.between(500, 2000));
                self.queue.push(self.now + back, Event::Connect { peer });
            }
            Event::ToPeer { peer, conn, id, bytes } => {
                self.deliver_request(peer, conn, id, &bytes)?
            }
            Event::ToHost { peer, conn, id, bytes } => {
                let slot = &self.peers[peer];
                if !slot.connected || slot.conn != conn {
                    return Ok(()); // the connection it came on is gone
                }
                let version = slot.peer.version;
                self.bytes += bytes.len() as u64;
                self.mix(&[3, peer as u8, id]);
                self.mix(&bytes);
                match SnapMessage::decode(version, id, &bytes, &Limits::default()) {
                    Ok(message) => {
                        self.input(Input::Response { peer: PeerId(peer as u64), message });
                    }
                    Err(_) => {
                        // What a host does with a message that does not decode: drop the peer.
                        let slot = &mut self.peers[peer];
                        slot.connected = false;
                        slot.banned = true;
                        slot.conn += 1;
                        slot.peer.stats.decode_disconnects += 1;
                        self.input(Input::PeerDisconnected { peer: PeerId(peer as u64) });
                    }
                }
            }
            Event::Lookup { id, codes } => {
                let held = codes.iter().map(|hash| self.store.has_code(hash)).collect();
                self.mix(&[7]);
                self.input(Input::LookupDone { id, answer: LookupAnswer::Codes(held) });
            }
            Event::Apply(batch) => {
                let id = batch.id;
                if self.outstanding.front() != Some(&id) {
                    return Err(format!("batch {} applied out of order", id.0));
                }
                self.outstanding.pop_front();
                self.mix(&[4]);
                self.mix(&batch.progress);
                self.store.apply(*batch, self.target)?;
                self.input(Input::Written(id));
            }
        }
        Ok(())
    }

    fn deliver_request(
        &mut self,
        peer: usize,
        conn: u64,
        id: u8,
        bytes: &[u8],
    ) -> Result<(), String> {
        let slot = &mut self.peers[peer];
        if !slot.connected || slot.conn != conn {
            return Ok(());
        }
        let request = SnapMessage::decode(slot.peer.version, id, bytes, &Limits::default())
            .map_err(|error| format!("a request of ours does not decode: {error}"))?;
        let replies = slot.peer.answer(&request, &self.target.state, self.variant);
        for reply in replies {
            match reply {
                Reply::Message { id, bytes, delay } => {
                    if let Some(transit) = self.net.transit(bytes.len(), &mut self.net_rng) {
                        let at = self.now + delay + transit;
                        self.queue.push(at, Event::ToHost { peer, conn, id, bytes });
                    }
                }
                Reply::Disconnect => {
                    let at = self.now + self.net.latency;
                    self.queue.push(at, Event::PeerGone { peer, conn });
                }
            }
        }
        Ok(())
    }

    /// Drains the syncer's outputs into the network, the store and the peers' records.
    fn drain(&mut self) -> Result<(), String> {
        while let Some(output) = self.syncer.as_mut().and_then(Syncer::poll_output) {
            match output {
                Output::Send { peer, message } => {
                    let index = peer.0 as usize;
                    let slot = self
                        .peers
                        .get(index)
                        .ok_or_else(|| format!("request to unknown peer {}", peer.0))?;
                    if !slot.connected {
                        return Err(format!("request to disconnected peer {}", peer.0));
                    }
                    if !message.id().is_request() {
                        return Err(format!("syncer sent a {:?}", message.id()));
                    }
                    let conn = slot.conn;
                    let bytes = message.to_vec();
                    self.requests += 1;
                    match &message {
                        SnapMessage::GetAccountRange(_) => self.kinds.accounts += 1,
                        SnapMessage::GetStorageRanges(m) => {
                            self.kinds.storage += 1;
                            if !m.origin.is_empty() || !m.limit.is_empty() {
                                self.kinds.chunks += 1;
                            }
                        }
                        SnapMessage::GetByteCodes(_) => self.kinds.codes += 1,
                        _ => {}
                    }
                    self.mix(&[5, index as u8]);
                    self.mix(&bytes);
                    if let Some(transit) = self.net.transit(bytes.len(), &mut self.net_rng) {
                        let at = self.now + transit;
                        let id = message.id() as u8;
                        self.queue.push(at, Event::ToPeer { peer: index, conn, id, bytes });
                    }
                }
                Output::Write(batch) => {
                    if batch.id.0 != self.next_batch {
                        return Err(format!(
                            "batch id {} where {} was due",
                            batch.id.0, self.next_batch
                        ));
                    }
                    self.next_batch += 1;
                    self.outstanding.push_back(batch.id);
                    let at = (self.now + self.config.store_delay).max(self.last_apply);
                    self.last_apply = at;
                    self.queue.push(at, Event::Apply(Box::new(batch)));
                }
                Output::Lookup { id, lookup: Lookup::Codes(codes) } => {
                    // Answered from what the store has applied, after its delay, in order with
                    // the batches before it.
                    let at = (self.now + self.config.store_delay).max(self.last_apply);
                    self.queue.push(at, Event::Lookup { id, codes });
                }
                Output::Lookup { lookup, .. } => {
                    return Err(format!("unexpected lookup {lookup:?}"));
                }
                Output::Disconnect { peer, reason } => {
                    let index = peer.0 as usize;
                    let Some(slot) = self.peers.get_mut(index) else {
                        return Err(format!("disconnect of unknown peer {}", peer.0));
                    };
                    self.trace = fnv(self.trace, &[6, index as u8]);
                    slot.peer.stats.syncer_disconnects += 1;
                    slot.peer.stats.first_reason.get_or_insert_with(|| reason.to_string());
                    if slot.peer.behaviour.expectation() == Expectation::NeverDisconnected {
                        return Err(format!(
                            "{} peer {index} disconnected: {reason}",
                            slot.peer.behaviour
                        ));
                    }
                    slot.connected = false;
                    slot.banned = true;
                    slot.conn += 1;
                }
                Output::Event(SyncEvent::Done { target, counters }) => {
                    if target.root != self.target.root() {
                        return Err(format!("done with root {}", target.root));
                    }
                    self.check_final_counters(&counters)?;
                    self.mix(&counters.accounts.to_be_bytes());
                    self.done = true;
                }
                Output::Event(SyncEvent::Progress(report)) => {
                    self.reports += 1;
                    self.check_report(&report)?;
                }
                Output::Event(SyncEvent::Stalled { .. }) => self.stalls += 1,
                Output::Event(_) => {}
            }
        }
        Ok(())
    }

    /// Progress reports are sane and never go backwards within one syncer's life.
    fn check_report(&mut self, report: &ProgressReport) -> Result<(), String> {
        let fraction = report.fraction_done;
        if !(0.0..=1.0).contains(&fraction) {
            return Err(format!("progress report fraction {fraction} out of range"));
        }
        let rates = [report.accounts_per_second, report.slots_per_second, report.bytes_per_second];
        if rates.iter().any(|rate| !rate.is_finite() || *rate < 0.0) {
            return Err(format!("progress report rates {rates:?}"));
        }
        if report.in_flight > self.sync_config.max_requests {
            return Err(format!("progress report in_flight {}", report.in_flight));
        }
        if let Some((before, counters)) = self.last_report
            && (fraction + 1e-12 < before || !counters_le(&counters, &report.counters))
        {
            return Err(format!(
                "progress report went backwards: {before} {counters:?} -> {fraction} {:?}",
                report.counters
            ));
        }
        self.last_report = Some((fraction, report.counters));
        Ok(())
    }

    /// At the end the totals are exact: every account and slot written once; codes at least
    /// once each (exactly once without crashes, since a restart forgets which were stored).
    fn check_final_counters(&self, counters: &Counters) -> Result<(), String> {
        let state = &self.target.state;
        let exact = (counters.accounts, counters.slots);
        let expected = (state.account_list().len() as u64, self.target.slot_count as u64);
        let codes = state.codes().len() as u64;
        // The syncer asks the store which codes it holds, so even across crashes every code is
        // fetched and counted once; only a store that keeps nothing cannot tell it.
        let codes_ok = if self.crashes == 0 || self.store.keeps_data() {
            counters.codes == codes
        } else {
            counters.codes >= codes
        };
        if exact != expected || !codes_ok {
            return Err(format!(
                "final counters (accounts, slots, codes) = ({}, {}, {}), target ({}, {}, {codes})",
                counters.accounts, counters.slots, counters.codes, expected.0, expected.1
            ));
        }
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), String> {
        let Some(syncer) = &self.syncer else { return Ok(()) };
        let config = &self.sync_config;
        if syncer.in_flight() > config.max_requests {
            return Err(format!(
                "{} requests in flight, bound {}",
                syncer.in_flight(),
                config.max_requests
            ));
        }
        let connected = self.peers.iter().filter(|slot| slot.connected).count();
        if syncer.in_flight() > config.max_requests_per_peer.max(1) * connected {
            return Err(format!(
                "{} requests in flight to {connected} peers, {} per peer allowed",
                syncer.in_flight(),
                config.max_requests_per_peer
            ));
        }
        let bound = config.max_unacknowledged_batches + 1;
        if syncer.unacknowledged_batches() > bound || self.outstanding.len() > bound {
            return Err(format!(
                "{} batches unacknowledged ({} by the host), bound {bound}",
                syncer.unacknowledged_batches(),
                self.outstanding.len()
            ));
        }
        if syncer.unacknowledged_batches() != self.outstanding.len() {
            return Err(format!(
                "syncer counts {} unacknowledged batches, host {}",
                syncer.unacknowledged_batches(),
                self.outstanding.len()
            ));
        }
        if self.done && syncer.phase() != Phase::Done {
            return Err("done event outside the done phase".into());
        }
        Ok(())
    }

    /// Resets the livelock bound when data was written.
    fn note_progress(&mut self) -> Result<(), String> {
        let written = &self.store.written;
        let now = (written.accounts, written.slots, written.codes, written.nodes);
        if now != self.last_progress {
            self.last_progress = now;
            self.idle_steps = 0;
            return Ok(());
        }
        self.idle_steps += 1;
        if self.idle_steps > self.config.idle_steps {
            let (in_flight, phase) = self
                .syncer
                .as_ref()
                .map(|s| (s.in_flight(), format!("{:?}", s.phase())))
                .unwrap_or_default();
            let connected = self.peers.iter().filter(|slot| slot.connected).count();
            return Err(format!(
                "livelock: nothing written in {} steps (phase={phase} in_flight={in_flight} connected_peers={connected} sim_ms={})",
                self.idle_steps,
                self.now.as_millis()
            ));
        }
        Ok(())
    }

    /// Drops the syncer and everything in flight, then resumes from the store's record.
    fn crash(&mut self) -> Result<(), String> {
        self.crashes += 1;
        self.next_crash = next_crash_step(&mut self.crash_rng, self.steps, self.config.crash_every);
        self.syncer = None;
        self.queue.clear();
        self.outstanding.clear();
        self.last_apply = self.now;
        self.next_batch = 1;
        self.mix(&[7]);
        let now = self.at();
        let syncer = match self.store.progress() {
            Some(record) => Syncer::resume_from_bytes(self.sync_config.clone(), record, now)
                .map_err(|error| format!("stored progress record does not decode: {error}"))?,
            None => Syncer::new(
                self.sync_config.clone(),
                Target { root: self.target.root(), number: 1 },
                now,
            ),
        };
        self.syncer = Some(syncer);
        self.last_report = None;
        for (index, slot) in self.peers.iter_mut().enumerate() {
            slot.connected = false;
            slot.banned = false;
            slot.conn += 1;
            let at = self.now + Duration::from_millis(self.crash_rng.below(100));
            self.queue.push(at, Event::Connect { peer: index });
        }
        // A resumed syncer may already be done (nothing left) and say so at once.
        self.drain()
    }

    fn mix(&mut self, bytes: &[u8]) {
        self.trace = fnv(self.trace, bytes);
    }
}

/// The state held by a geth state dump.
fn load_dump(path: &str, node_oracle: bool) -> Result<TargetState, String> {
    let json = std::fs::read_to_string(path).map_err(|error| format!("reading {path}: {error}"))?;
    let dump = snap_core::dump::StateDump::from_geth_dump(&json)
        .map_err(|error| format!("parsing {path}: {error}"))?;
    TargetState::from_state(InMemoryState::from_dump(&dump), node_oracle)
}

fn counters_le(a: &Counters, b: &Counters) -> bool {
    a.accounts <= b.accounts
        && a.account_bytes <= b.account_bytes
        && a.slots <= b.slots
        && a.slot_bytes <= b.slot_bytes
        && a.codes <= b.codes
        && a.code_bytes <= b.code_bytes
        && a.nodes <= b.nodes
        && a.node_bytes <= b.node_bytes
}

fn next_crash_step(rng: &mut SimRng, now: u64, every: u64) -> u64 {
    if every == 0 {
        return u64::MAX;
    }
    now + rng.between(every / 2 + 1, every + every / 2)
}

/// FNV-1a over `bytes`, continuing from `hash`.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
