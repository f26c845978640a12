//! The simulation loop: one `Syncer`, simulated peers, network and store, driven by a virtual
//! clock from one event to the next, with the chain's target moves fed at their block times,
//! invariants checked after every step, crashes at seeded steps (and now and then right after
//! a move), and the end check against the final target.

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
    chain::{Chain, ChainStats},
    config::SimConfig,
    network::{Event, EventQueue, NetConfig},
    outcome::{MoveRecord, Outcome, Probe, RequestCounts, RunOptions, Summary},
    peer::{Behaviour, Expectation, Peer, Reply},
    rng::SimRng,
    state::TargetState,
    store::{Store, StoreMode},
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

/// The target states of a configuration (the first, then one per move of the chain) and the
/// other state wrong-root peers serve, built once and runnable many times.
///
/// Every target stays in memory for the whole run: a batch may carry data fetched for any
/// target the sync was given, and the store checks it against them. Peers serve only the
/// targets within the retention window.
#[derive(Debug)]
pub struct World {
    targets: Vec<TargetState>,
    variant: Option<InMemoryState>,
    changed_nodes: Option<u64>,
    chain: ChainStats,
}

impl World {
    /// Generates (or loads) the state `config` describes, and evolves it through its moves.
    pub fn build(config: &SimConfig, options: RunOptions) -> Result<Self, String> {
        if config.moves > 0 && options.store == StoreMode::Discard {
            return Err("a discarding store runs fixed targets only (no --moves)".into());
        }
        let mut spec = config.state_spec();
        spec.node_oracle = options.node_oracle;
        let first = match &config.state_dump {
            Some(path) => load_dump(path, options.node_oracle)?,
            None => TargetState::generate(&spec)?,
        };
        let variant = if config.behaviours().contains(&Behaviour::WrongRoot) {
            Some(first.variant()?)
        } else {
            None
        };
        let mut chain = Chain::new(&first.state, 1, config.changes_per_block, config.seed);
        let mut targets = vec![first];
        for _ in 0..config.moves {
            chain.advance(config.blocks_per_move);
            targets.push(TargetState::from_state(chain.state()?, options.node_oracle)?);
        }
        let changed_nodes = match targets.as_slice() {
            [first, .., last] => last.nodes_not_in(first),
            _ => Some(0),
        };
        Ok(Self { targets, variant, changed_nodes, chain: chain.stats })
    }

    /// The first target state.
    pub fn target(&self) -> &TargetState {
        &self.targets[0]
    }

    /// The final target state (the first when the target never moves).
    pub fn final_target(&self) -> &TargetState {
        &self.targets[self.targets.len() - 1]
    }

    /// Every target state: the first, then one per move.
    pub fn targets(&self) -> &[TargetState] {
        &self.targets
    }

    /// What the chain changed over all its moves.
    pub const fn chain_stats(&self) -> ChainStats {
        self.chain
    }

    /// Stored trie nodes of the final target that the first does not hold (`None` without
    /// the node oracle).
    pub const fn changed_nodes(&self) -> Option<u64> {
        self.changed_nodes
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
        if let Err(error) = config.sync_config().validate() {
            return Outcome {
                config: config.clone(),
                result: Err(format!("the syncer refuses the configuration: {error}")),
                peers: Vec::new(),
                trace: 0,
                wall: started.elapsed(),
                setup: Duration::ZERO,
            };
        }
        let behaviours = config.behaviours();
        let mut sim = Sim::new(config, options, self, &behaviours, started);
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
    world: &'a World,
    /// The index of the newest target fed (0: the first).
    current: usize,
    /// The index of the target the sync finished at (the newest fed, or one at most
    /// `finish_within` blocks older).
    finished: usize,
    /// Every move fed, with the syncer's phase at that moment.
    moves: Vec<MoveRecord>,
    /// The counters of the final done event.
    final_counters: Counters,
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
    /// The progress reports of the current step, for the observer.
    step_reports: Vec<ProgressReport>,
    stalls: u64,
}

impl<'a> Sim<'a> {
    fn new(
        config: &'a SimConfig,
        options: RunOptions,
        world: &'a World,
        behaviours: &[Behaviour],
        base: Instant,
    ) -> Self {
        let mut version_rng = SimRng::derive(config.seed, "versions");
        let mut peers: Vec<PeerSlot> = behaviours
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
        // Healing asks for trie nodes, which only snap/1 serves: the first peer serving them
        // faithfully speaks it (a network of snap/2-only peers cannot heal).
        let v1 = snap_core::wire::SnapVersion::V1;
        let healer = |slot: &PeerSlot| slot.peer.behaviour.serves_trie_nodes();
        if !peers.iter().any(|slot| healer(slot) && slot.peer.version == v1)
            && let Some(slot) = peers.iter_mut().find(|slot| healer(slot))
        {
            slot.peer.version = v1;
            slot.peer.stats.version = 1;
        }
        let mut crash_rng = SimRng::derive(config.seed, "crash");
        let next_crash = next_crash_step(&mut crash_rng, 0, config.crash_every);
        let sync_config = config.sync_config();
        let syncer = Syncer::new(sync_config.clone(), target_of(world, config, 0), base);
        Self {
            config,
            net: config.network(),
            sync_config,
            world,
            current: 0,
            finished: 0,
            moves: Vec::new(),
            final_counters: Counters::default(),
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
            step_reports: Vec::new(),
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
            observe(&Probe {
                syncer: self.syncer.as_ref(),
                queue: &self.queue,
                reports: &self.step_reports,
            });
            self.step_reports.clear();
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
        let last = &self.world.targets[self.finished];
        let counters = self.final_counters;
        self.store.check_complete(last, &counters)?;
        let (mut accounts, mut slots, codes) = self.store.totals();
        if !self.store.keeps_data() {
            // Written counts: healing's rewrites are not further items.
            accounts = accounts.saturating_sub(counters.healed_accounts);
            slots = slots.saturating_sub(counters.healed_slots);
        }
        let changed_nodes = if self.finished == self.world.targets.len() - 1 {
            self.world.changed_nodes
        } else {
            last.nodes_not_in(self.world.target())
        };
        Ok(Summary {
            root: last.root(),
            accounts,
            slots,
            codes,
            nodes: self.store.node_count() as u64,
            heal_nodes: counters.nodes,
            healed_accounts: counters.healed_accounts,
            healed_slots: counters.healed_slots,
            moves: self.moves.clone(),
            changed_nodes,
            deleted_after_download: self
                .store
                .pruned_with_storage()
                .iter()
                .filter(|hash| last.account(hash).is_none())
                .copied()
                .collect(),
            pruned: self.store.written.pruned,
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

    /// Advances to the earliest of the next move of the chain, the next event and the
    /// syncer's deadline, and handles it.
    fn step(&mut self) -> Result<(), String> {
        let deadline = self
            .syncer
            .as_ref()
            .and_then(Syncer::poll_timeout)
            .map(|at| at.saturating_duration_since(self.base));
        let next_event = self.queue.next_time();
        let next_move = ((self.current as u64) < self.config.moves)
            .then(|| self.config.move_time(self.current as u64 + 1));
        if let Some(at) = next_move
            && deadline.is_none_or(|deadline| at <= deadline)
            && next_event.is_none_or(|next| at <= next)
        {
            self.now = self.now.max(at);
            self.make_move();
            return self.drain();
        }
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

    /// The chain moved: feeds the next target, and now and then schedules a crash right after.
    fn make_move(&mut self) {
        self.current += 1;
        let target = target_of(self.world, self.config, self.current);
        let phase = self.syncer.as_ref().map_or(Phase::Ranges, Syncer::phase);
        self.moves.push(MoveRecord {
            number: target.number,
            phase,
            at: self.now,
            kinds: self.kinds,
            written: self.store.written,
            crash_after: false,
        });
        self.mix(&[8]);
        self.mix(&target.number.to_be_bytes());
        // Progress may restart against the new target (healing does): a report before the
        // move is no bound for the ones after.
        self.last_report = None;
        self.input(Input::NewTarget(target));
        if self.config.crash_every > 0
            && self.crashes < self.config.max_crashes
            && self.crash_rng.chance(0.25)
        {
            self.next_crash = self.next_crash.min(self.steps);
            if let Some(record) = self.moves.last_mut() {
                record.crash_after = true;
            }
        }
    }

    /// The states peers retain at this moment (every target whose block is at most
    /// `retain_blocks` behind the chain's head), and every state the chain had up to its head
    /// (whose codes peers still serve); oldest first.
    fn retained(&self) -> (Vec<&'a InMemoryState>, Vec<&'a InMemoryState>) {
        let head = self.config.head_block(self.now);
        let world = self.world;
        let (mut retained, mut history) = (Vec::new(), Vec::new());
        for (index, target) in world.targets.iter().enumerate() {
            let number = target_of(world, self.config, index).number;
            if number <= head {
                history.push(&target.state);
                if head - number < self.config.retain_blocks {
                    retained.push(&target.state);
                }
            }
        }
        (retained, history)
    }

    /// The targets the sync was given so far, first to current.
    fn given(&self) -> Vec<&'a TargetState> {
        self.world.targets[..=self.current].iter().collect()
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
            Event::Lookup { id, lookup } => {
                let answer = match lookup {
                    Lookup::Codes(codes) => LookupAnswer::Codes(
                        codes.iter().map(|hash| self.store.has_code(hash)).collect(),
                    ),
                    Lookup::Nodes(nodes) => LookupAnswer::Nodes(
                        nodes.iter().map(|query| self.store.has_node(query)).collect(),
                    ),
                    other => return Err(format!("unexpected lookup {other:?}")),
                };
                self.mix(&[7]);
                self.input(Input::LookupDone { id, answer });
            }
            Event::Apply(batch) => {
                let id = batch.id;
                if self.outstanding.front() != Some(&id) {
                    return Err(format!("batch {} applied out of order", id.0));
                }
                self.outstanding.pop_front();
                self.mix(&[4]);
                self.mix(&batch.progress);
                let given = self.given();
                self.store.apply(*batch, &given)?;
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
        let (retained, history) = self.retained();
        let variant = self.world.variant.as_ref();
        let replies = self.peers[peer].peer.answer(&request, &retained, &history, variant);
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
                        SnapMessage::GetTrieNodes(_) => self.kinds.nodes += 1,
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
                Output::Lookup { id, lookup } => {
                    // Answered from what the store has applied, after its delay, in order with
                    // the batches before it.
                    let at = (self.now + self.config.store_delay).max(self.last_apply);
                    self.queue.push(at, Event::Lookup { id, lookup });
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
                    let expected = target_of(self.world, self.config, self.current);
                    let lag = expected.number.saturating_sub(target.number);
                    let finished = (0..=self.current)
                        .rev()
                        .find(|&index| target_of(self.world, self.config, index) == target)
                        .filter(|_| lag <= self.config.finish_within);
                    let Some(finished) = finished else {
                        return Err(format!(
                            "done with target {} at block {}, the current one is {} at block {} (finish within {} blocks)",
                            target.root,
                            target.number,
                            expected.root,
                            expected.number,
                            self.config.finish_within
                        ));
                    };
                    self.finished = finished;
                    // Done may come before the chain stopped: the sync is then over (the core
                    // takes no target after `Done`; a node would go on with full sync), and
                    // the end check is against the last target it was given.
                    self.mix(&counters.accounts.to_be_bytes());
                    self.check_final_counters(&counters)?;
                    self.final_counters = counters;
                    self.done = true;
                }
                Output::Event(SyncEvent::Progress(report)) => {
                    self.reports += 1;
                    self.check_report(&report)?;
                    self.step_reports.push(report);
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
            && (fraction + 1e-12 < before || report.counters.first_below(&counters).is_some())
        {
            return Err(format!(
                "progress report went backwards: {before} {counters:?} -> {fraction} {:?}",
                report.counters
            ));
        }
        self.last_report = Some((fraction, report.counters));
        Ok(())
    }

    /// With a fixed target the totals are exact: every account and slot written once by the
    /// range phase (healing's rewrites count apart); codes at least once each (exactly once
    /// without crashes, since a restart forgets which were stored). With moves, only the
    /// codes are bounded: at least those of the last target that the first one lacks.
    fn check_final_counters(&self, counters: &Counters) -> Result<(), String> {
        let target = &self.world.targets[self.finished];
        let state = &target.state;
        if self.finished > 0 {
            let first = self.world.target().state.codes();
            let new_codes = state.codes().keys().filter(|hash| !first.contains_key(*hash)).count();
            if counters.codes < new_codes as u64 {
                return Err(format!(
                    "final counters: {} codes fetched, the final state has {new_codes} codes the first lacks",
                    counters.codes
                ));
            }
            return Ok(());
        }
        let exact = (counters.accounts, counters.slots);
        let expected = (state.account_list().len() as u64, target.slot_count as u64);
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
        let current = target_of(self.world, self.config, self.current);
        let syncer = match self.store.progress() {
            Some(record) => Syncer::resume_from_bytes(self.sync_config.clone(), record, now)
                .map_err(|error| format!("stored progress record does not decode: {error}"))?,
            None => Syncer::new(self.sync_config.clone(), current, now),
        };
        let behind = syncer.target() != current;
        self.syncer = Some(syncer);
        if behind {
            // The host knows the chain's head: the resumed sync follows it from the start.
            self.input(Input::NewTarget(current));
        }
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

/// The sync target of target state `index` (0: the first, block 1; then one per move).
fn target_of(world: &World, config: &SimConfig, index: usize) -> Target {
    Target { root: world.targets[index].root(), number: 1 + index as u64 * config.blocks_per_move }
}

/// The state held by a geth state dump.
fn load_dump(path: &str, node_oracle: bool) -> Result<TargetState, String> {
    let json = std::fs::read_to_string(path).map_err(|error| format!("reading {path}: {error}"))?;
    let dump = snap_core::dump::StateDump::from_geth_dump(&json)
        .map_err(|error| format!("parsing {path}: {error}"))?;
    TargetState::from_state(dump.to_state(), node_oracle)
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
