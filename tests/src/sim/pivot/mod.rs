//! The pivot simulation: one `snap_core::pivot::PivotSelector` against honest peers and header
//! liars (made-up chains, very high heads, malformed replies, bad probe proofs, silence, late
//! and empty answers) while the honest chain grows and reorgs, under each anchor (peers'
//! agreement, a consensus client's fork choice, the user's block hash or root).
//!
//! After every output it checks the trust model's invariant: the target only ever moves to an
//! anchored header (one the honest chain had), handed out in linked order, and no peer that
//! behaves is penalized. At the end it checks liveness: with enough honest peers the sync
//! started and follows the honest tip `offset` blocks behind it. Memory stays bounded: the
//! headers the selector keeps never exceed a bound set by its configuration and the peers.

mod chain;
mod peer;

use std::{
    collections::{BTreeMap, BinaryHeap},
    time::{Duration, Instant},
};

use alloy_primitives::B256;
pub use chain::{HonestChain, header_hash, make_header};
pub use peer::{PeerKind, SimPeer};
use snap_core::{
    pivot::{Anchor, PivotConfig, PivotEvent, PivotInput, PivotOutput, PivotSelector},
    sync::{Header, PeerId, Target},
};

use super::SimRng;

/// Which anchor a scenario uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorKind {
    /// Peers' agreement.
    Peers,
    /// A consensus client's fork choice, updated every block.
    Consensus,
    /// A block hash given by the user (the honest block `offset` below the tip at the start).
    BlockHash,
    /// A state root given by the user.
    Root,
}

/// One scenario.
#[derive(Clone, Debug)]
pub struct PivotScenario {
    /// Seeds latencies, arrival order and the selector.
    pub seed: u64,
    /// The anchor.
    pub anchor: AnchorKind,
    /// The peers.
    pub peers: Vec<PeerKind>,
    /// The selector's configuration (`seed` is overridden by the scenario's).
    pub config: PivotConfig,
    /// Blocks the chain has at the start.
    pub initial_blocks: u64,
    /// Blocks it grows by during the run, one every `block_time`.
    pub growth: u64,
    /// Time between blocks.
    pub block_time: Duration,
    /// Every this many blocks the top `reorg_depth` blocks are replaced (0: never).
    pub reorg_every: u64,
    /// Depth of those reorgs.
    pub reorg_depth: u64,
    /// One-way latency, plus up to as much jitter.
    pub latency: Duration,
    /// Time after the last block before the end checks (the chain stands still).
    pub settle: Duration,
}

impl PivotScenario {
    /// A scenario with defaults: 300 blocks growing by 40 at 2 s, 50 ms latency.
    pub fn new(seed: u64, anchor: AnchorKind, peers: Vec<PeerKind>) -> Self {
        Self {
            seed,
            anchor,
            peers,
            config: PivotConfig {
                follow_interval: Duration::from_secs(2),
                request_timeout: Duration::from_secs(1),
                ..PivotConfig::default()
            },
            initial_blocks: 300,
            growth: 40,
            block_time: Duration::from_secs(2),
            reorg_every: 0,
            reorg_depth: 0,
            latency: Duration::from_millis(50),
            settle: Duration::from_secs(30),
        }
    }

    /// Honest peers that can form the quorum (or, with one anchor, serve at all).
    fn enough_honest(&self) -> bool {
        let honest = self.peers.iter().filter(|k| k.is_honest_source()).count();
        let need = if self.anchor == AnchorKind::Peers { self.config.quorum.max(1) } else { 1 };
        // Someone must also serve a candidate's state: the head itself when it is not behind,
        // or the pivot within its retention (behind by its lag, through reorgs). The pivot lies
        // `offset` blocks below the head: a peer lagging further does not hold it yet (the
        // candidates are the pivot and the head, nothing lower).
        // In `Peers` mode the head is a candidate only once `quorum` peers vouch for it.
        let current = self.peers.iter().filter(|k| matches!(k, PeerKind::Honest { lag: 0, .. }));
        let head_trusted = self.anchor != AnchorKind::Peers || current.count() >= need;
        let serves = self.peers.iter().any(|kind| match kind {
            PeerKind::Honest { lag, retain } => {
                (*lag == 0 && head_trusted)
                    || (*lag <= self.config.offset
                        && *retain > self.config.offset + lag + self.reorg_depth)
            }
            _ => false,
        });
        honest >= need && serves
    }
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct PivotReport {
    /// The start, and when it came.
    pub started: Option<(Target, Duration)>,
    /// Headers handed out after the start (reorgs included), and jumps.
    pub headers: u64,
    /// Jumps.
    pub jumps: u64,
    /// Reorgs reported.
    pub reorgs: u64,
    /// Peers penalized, with the reason.
    pub penalized: Vec<(PeerId, String)>,
    /// Header requests and probes sent.
    pub requests: u64,
    /// Most headers the selector held at once.
    pub max_held: usize,
    /// The last header handed out (the start's included).
    pub last: Option<Header>,
    /// The honest tip at the end.
    pub tip: u64,
}

/// A violated invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

enum Delivery {
    Input(PivotInput),
}

struct Timed {
    at: Instant,
    seq: u64,
    delivery: Delivery,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The simulation of one scenario.
struct PivotSim {
    scenario: PivotScenario,
    rng: SimRng,
    epoch: Instant,
    now: Instant,
    chain: HonestChain,
    peers: BTreeMap<PeerId, SimPeer>,
    selector: PivotSelector,
    queue: BinaryHeap<Timed>,
    seq: u64,
    emitted: BTreeMap<u64, B256>,
    /// The block a `BlockHash` anchor names.
    fixed_number: u64,
    report: PivotReport,
}

/// Runs `scenario`, checking the invariants after every step.
pub fn run_pivot(scenario: &PivotScenario) -> Result<PivotReport, Violation> {
    #[allow(clippy::disallowed_methods)] // the simulation's one real instant: its epoch
    let epoch = Instant::now();
    let chain = HonestChain::new(scenario.initial_blocks);
    let mut config = scenario.config.clone();
    config.seed = scenario.seed;
    let anchor = match scenario.anchor {
        AnchorKind::Peers => Anchor::Peers,
        AnchorKind::Consensus => Anchor::Consensus,
        AnchorKind::BlockHash => {
            let number = chain.tip().number.saturating_sub(config.offset);
            Anchor::BlockHash(chain.at(number, 0).expect("within the chain").hash)
        }
        AnchorKind::Root => Anchor::Root(chain.tip().state_root),
    };
    let fixed_number = chain.tip().number.saturating_sub(config.offset);
    let selector = PivotSelector::new(config, anchor, epoch);
    let peers = scenario
        .peers
        .iter()
        .enumerate()
        .map(|(i, kind)| (PeerId(i as u64 + 1), SimPeer { kind: *kind, salt: i as u64 + 1 }))
        .collect();
    let mut sim = PivotSim {
        rng: SimRng::derive(scenario.seed, "pivot"),
        scenario: scenario.clone(),
        epoch,
        now: epoch,
        chain,
        peers,
        selector,
        queue: BinaryHeap::new(),
        seq: 0,
        emitted: BTreeMap::new(),
        fixed_number,
        report: PivotReport::default(),
    };
    sim.run()?;
    Ok(sim.report)
}

impl PivotSim {
    fn run(&mut self) -> Result<(), Violation> {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in ids {
            let head = self.peers[&peer].announced_head(&self.chain);
            let input = PivotInput::PeerReady { peer, head, snap: true };
            let delay = self.delay();
            self.schedule(delay, Delivery::Input(input));
        }
        let block_time = self.scenario.block_time;
        let end_of_growth = self.epoch + block_time * self.scenario.growth as u32;
        let end = end_of_growth + self.scenario.settle;
        let mut next_block = self.epoch + block_time;
        let mut grown = 0;
        self.consensus_update();
        self.drain()?;
        loop {
            let timer = self.selector.poll_timeout();
            let queued = self.queue.peek().map(|t| t.at);
            let block = (grown < self.scenario.growth).then_some(next_block);
            let Some(at) = [timer, queued, block].into_iter().flatten().min() else { break };
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            if block == Some(at) {
                grown += 1;
                next_block += block_time;
                self.grow(grown);
                continue;
            }
            if queued == Some(at) {
                let Timed { delivery: Delivery::Input(input), .. } =
                    self.queue.pop().expect("peeked");
                if std::env::var_os("SNAP_PIVOT_TRACE").is_some() {
                    let text = format!("{input:?}");
                    eprintln!(
                        "{:>8.3}s IN {}",
                        (self.now - self.epoch).as_secs_f64(),
                        &text[..text.len().min(200)]
                    );
                }
                self.selector.handle_input(self.now, input);
            } else {
                self.selector.handle_timeout(self.now);
            }
            self.drain()?;
        }
        self.report.tip = self.chain.tip().number;
        self.check_end()
    }

    fn delay(&mut self) -> Duration {
        let latency = self.scenario.latency;
        latency + latency.mul_f64(self.rng.below(1000) as f64 / 1000.0)
    }

    fn schedule(&mut self, delay: Duration, delivery: Delivery) {
        self.seq += 1;
        self.queue.push(Timed { at: self.now + delay, seq: self.seq, delivery });
    }

    fn grow(&mut self, grown: u64) {
        let every = self.scenario.reorg_every;
        if every > 0 && grown.is_multiple_of(every) {
            self.chain.reorg(self.scenario.reorg_depth, 0);
        } else {
            self.chain.grow();
        }
        self.consensus_update();
    }

    /// In consensus mode the client names the tip as head and the block 64 below as
    /// finalized.
    fn consensus_update(&mut self) {
        if self.scenario.anchor != AnchorKind::Consensus {
            return;
        }
        let tip = self.chain.tip();
        let finalized =
            self.chain.at(tip.number.saturating_sub(64), 0).map_or(B256::ZERO, |h| h.hash);
        self.selector
            .handle_input(self.now, PivotInput::ConsensusHead { head: tip.hash, finalized });
    }

    fn drain(&mut self) -> Result<(), Violation> {
        while let Some(output) = self.selector.poll_output() {
            if std::env::var_os("SNAP_PIVOT_TRACE").is_some() {
                eprintln!(
                    "{:>8.3}s tip {} {output:?}",
                    (self.now - self.epoch).as_secs_f64(),
                    self.chain.tip().number
                );
            }
            self.report.max_held = self.report.max_held.max(self.selector.headers_held());
            match output {
                PivotOutput::GetHeaders { peer, request } => {
                    self.report.requests += 1;
                    let Some(sim_peer) = self.peers.get(&peer) else { continue };
                    let late = sim_peer.kind == PeerKind::Late;
                    if let Some(headers) = sim_peer.headers(&self.chain, &request) {
                        let delay = self.reply_delay(late);
                        let input = PivotInput::Headers { peer, id: request.id, headers };
                        self.schedule(delay, Delivery::Input(input));
                    }
                }
                PivotOutput::Probe { peer, request } => {
                    self.report.requests += 1;
                    let Some(sim_peer) = self.peers.get(&peer) else { continue };
                    let late = sim_peer.kind == PeerKind::Late;
                    if let Some(reply) = sim_peer.probe(&self.chain, &request) {
                        let delay = self.reply_delay(late);
                        self.schedule(delay, Delivery::Input(PivotInput::Probe { peer, reply }));
                    }
                }
                PivotOutput::Start { target, header } => {
                    if self.report.started.is_some() {
                        return Err(Violation("started twice".into()));
                    }
                    self.check_anchored(target, header)?;
                    self.report.started = Some((target, self.now - self.epoch));
                    if let Some(header) = header {
                        self.emitted.insert(header.number, header.hash);
                        self.report.last = Some(header);
                    }
                }
                PivotOutput::Header(header) => {
                    self.check_anchored(header.target(), Some(header))?;
                    // Linked to what was handed out, or replacing all of it from the lowest
                    // block handed out (a branch forking below the start: the `Syncer` takes a
                    // header at its base's height as the base orphaned).
                    let replaces_all = self.emitted.keys().next() == Some(&header.number);
                    let linked = header.number == 0
                        || replaces_all
                        || self.emitted.get(&(header.number - 1)) == Some(&header.parent_hash);
                    if !linked {
                        return Err(Violation(format!(
                            "header {} does not link to what was handed out",
                            header.number
                        )));
                    }
                    self.emitted.split_off(&header.number);
                    self.emitted.insert(header.number, header.hash);
                    self.report.headers += 1;
                    self.report.last = Some(header);
                }
                PivotOutput::Jump(header) => {
                    self.check_anchored(header.target(), Some(header))?;
                    self.emitted.clear();
                    self.emitted.insert(header.number, header.hash);
                    self.report.jumps += 1;
                    self.report.last = Some(header);
                }
                PivotOutput::Penalize { peer, reason } => {
                    let Some(sim_peer) = self.peers.remove(&peer) else { continue };
                    if !sim_peer.kind.may_be_penalized() {
                        return Err(Violation(format!(
                            "{:?} peer {} penalized: {reason}",
                            sim_peer.kind, peer.0
                        )));
                    }
                    self.report.penalized.push((peer, reason.to_string()));
                    self.selector.handle_input(self.now, PivotInput::PeerGone { peer });
                }
                PivotOutput::Event(PivotEvent::Reorg { .. }) => self.report.reorgs += 1,
                PivotOutput::Event(_) => {}
            }
        }
        let bound = self.held_bound();
        if self.selector.headers_held() > bound {
            return Err(Violation(format!(
                "selector holds {} headers, over the bound {bound}",
                self.selector.headers_held()
            )));
        }
        Ok(())
    }

    fn reply_delay(&mut self, late: bool) -> Duration {
        let delay = self.delay() + self.delay();
        if late { delay + self.scenario.config.request_timeout * 2 } else { delay }
    }

    /// Every peer's latest reply, the lineage cap and the trusted window.
    fn held_bound(&self) -> usize {
        let c = &self.scenario.config;
        (self.scenario.peers.len() as u64 * c.max_headers
            + c.max_backfill
            + 2 * (c.reorg_depth + c.offset + c.max_headers)) as usize
    }

    fn check_anchored(&self, target: Target, header: Option<Header>) -> Result<(), Violation> {
        let anchored = match header {
            Some(header) => self.chain.ever_had(&header),
            None => self.scenario.anchor == AnchorKind::Root,
        };
        if anchored {
            Ok(())
        } else {
            Err(Violation(format!(
                "the target moved to an unanchored header: block {} root {}",
                target.number, target.root
            )))
        }
    }

    fn check_end(&self) -> Result<(), Violation> {
        if !self.scenario.enough_honest() {
            return Ok(());
        }
        let Some((target, _)) = self.report.started else {
            return Err(Violation("never started with enough honest peers".into()));
        };
        let tip = self.chain.tip();
        match self.scenario.anchor {
            AnchorKind::Root => Ok(()),
            AnchorKind::BlockHash => {
                let expected = self.fixed_number;
                (target.number == expected).then_some(()).ok_or_else(|| {
                    Violation(format!("started at {} not {expected}", target.number))
                })
            }
            AnchorKind::Peers | AnchorKind::Consensus => {
                let last = self.report.last.expect("started");
                // Honest peers that lag know the chain only that far: allow the largest lag.
                let lag = (self.scenario.peers.iter())
                    .filter_map(|kind| match kind {
                        PeerKind::Honest { lag, .. } => Some(*lag),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                let behind = tip.number.saturating_sub(self.scenario.config.offset + lag);
                if !self.chain.is_canonical(&last) || last.number < behind {
                    return Err(Violation(format!(
                        "the target is block {} ({}canonical); the tip is {}, so it should be \
                         at least {behind}",
                        last.number,
                        if self.chain.is_canonical(&last) { "" } else { "not " },
                        tip.number
                    )));
                }
                Ok(())
            }
        }
    }
}
