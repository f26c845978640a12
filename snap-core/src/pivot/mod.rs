//! Choosing and following the sync's target from untrusted peers, sans-IO.
//!
//! A [`PivotSelector`] decides which state the `Syncer` downloads. The target only ever comes
//! from an [`Anchor`]: the user's root or block hash, a consensus client's fork choice, or
//! headers that [`PivotConfig::quorum`] distinct peers sent alike. A header is also trusted
//! when it links by parent hash to a trusted one (a hash pins its header). What a single
//! peer claims (its Status head, a header chain only it sends, a very high head) never moves
//! the target and never holds it back.
//!
//! The host runs it beside the `Syncer` like any sans-IO value: it feeds [`PivotInput`]s with
//! `now`, drains [`PivotOutput`]s until `None` (sending header requests and probes to peers,
//! starting the `Syncer` on [`PivotOutput::Start`] and giving it every [`PivotOutput::Header`]
//! as `Input::Header`), and calls [`PivotSelector::handle_timeout`] at
//! [`PivotSelector::poll_timeout`].
//!
//! - **Start.** In [`Anchor::Peers`] mode each peer is asked for its announced head; at the
//!   quorum-th highest head less [`PivotConfig::offset`] the pivot is chosen once `quorum`
//!   peers sent the same header for that block. With [`Anchor::Consensus`] the head's header
//!   and its `offset` ancestors are fetched by hash, in as many requests of
//!   [`PivotConfig::max_headers`] as that takes (each from the parent of the lowest so far; a
//!   newer head meanwhile is followed once it is done). Before starting, snap peers are probed
//!   for the pivot's state (a proof that verifies against its root); when none serves it,
//!   the trusted head is probed instead (a node that keeps only its head state). An empty
//!   state needs no probe.
//! - **Following.** New trusted headers extend the chain; they are handed out `offset`
//!   blocks behind the trusted tip, in order; in `Peers` mode each request for newer headers
//!   starts a few blocks below the tip, so a reorg to a branch no longer than the tip is seen.
//!   A trusted branch that departs from what was handed out is handed out from its first
//!   block, at least up to the height handed out before (the `Syncer` sees the reorg by parent
//!   hash). A consensus head too far ahead to link re-anchors the sync ([`PivotOutput::Jump`]).
//! - **Peers.** Only provable violations are penalized (a reply that does not answer its
//!   request, a proof that does not verify); disagreeing is not one. Memory is bounded: each
//!   peer's votes are its latest reply, and unvoted headers are capped (the latest replies
//!   kept). A peer that lets requests time out rests longer each time, until it answers.

mod chain;
mod choose;
mod contract;
mod follow;
mod probe;
#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    time::Instant,
};

use alloy_primitives::B256;

use self::chain::{Emitted, Headers};
pub use self::contract::{
    Anchor, HeaderRequest, HeaderStart, PivotConfig, PivotEvent, PivotInput, PivotMisbehaviour,
    PivotOutput, WaitReason,
};
use crate::sync::{Header, PeerId, Target, rng::SplitMix64};

/// What the selector is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// Choosing the first target. (`Peers`: the current round, if one is under way.)
    Choosing { round: Option<Round> },
    /// Asking snap peers whether they serve a candidate's state, best candidate first.
    Probing { candidates: Vec<Header>, index: usize, asked: BTreeSet<PeerId> },
    /// Started: following the chain (or, for a fixed anchor, done).
    Following,
}

/// A round of choosing the pivot in `Peers` mode: the headers from `pivot` on are asked of
/// every peer whose head reaches it, until `quorum` agree on one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Round {
    /// Claimed heads passed over: a round whose peers all answered without agreeing passes
    /// over the highest head it was based on (one that only liars claim cannot hold the
    /// choice up).
    skip: usize,
    /// The pivot number.
    pivot: u64,
    /// The peers asked.
    asked: BTreeSet<PeerId>,
}

/// Why a request was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// The header of the peer's announced head (a claim: a vote of that peer only).
    Head(HeaderRequest),
    /// Consecutive headers by number: the peer's votes.
    Segment(HeaderRequest),
    /// Headers from a trusted hash down: trusted by linkage.
    Lineage(HeaderRequest),
    /// A trusted head and the `offset` blocks below it: the trusted chain starts over there.
    Anchor(HeaderRequest),
    /// More of an anchor's blocks, from the parent of the lowest one fetched so far.
    AnchorMore(HeaderRequest),
    /// The user's block.
    Block(HeaderRequest),
    /// Whether the peer serves this candidate's state.
    Probe(Header),
}

impl Purpose {
    const fn headers(&self) -> Option<&HeaderRequest> {
        match self {
            Self::Head(r)
            | Self::Segment(r)
            | Self::Lineage(r)
            | Self::Anchor(r)
            | Self::AnchorMore(r)
            | Self::Block(r) => Some(r),
            Self::Probe(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    peer: PeerId,
    deadline: Instant,
    purpose: Purpose,
}

#[derive(Clone, Debug)]
struct PeerState {
    head: B256,
    head_number: Option<u64>,
    snap: bool,
    busy: bool,
    /// Not asked again before this (it failed, or had nothing).
    resting_until: Option<Instant>,
    /// Its last reply was full: it has more headers, ask again without waiting for a tick.
    more: bool,
    /// Requests in a row it let time out: each doubles its rest (up to eight intervals), so a
    /// silent peer stops holding up the requests that are picked for it.
    timeouts: u32,
}

/// Chooses and follows the sync's target; see the [module docs](self).
#[derive(Debug)]
pub struct PivotSelector {
    config: PivotConfig,
    anchor: Anchor,
    rng: SplitMix64,
    peers: BTreeMap<PeerId, PeerState>,
    pending: HashMap<u64, Pending>,
    headers: Headers,
    emitted: Emitted,
    stage: Stage,
    /// The consensus client's latest head and finalized hashes.
    consensus: Option<(B256, B256)>,
    /// An anchor being fetched in several requests: the headers from the head down so far.
    anchoring: Vec<Header>,
    /// A resumed sync whose last target's header is unknown: the first anchored header is
    /// handed out as a [`PivotOutput::Jump`] instead of a start.
    resumed: bool,
    next_tick: Instant,
    outputs: VecDeque<PivotOutput>,
    last_wait: Option<WaitReason>,
}

impl PivotSelector {
    /// A selector for a new sync anchored at `anchor`. A [`Anchor::Root`] starts at once.
    pub fn new(config: PivotConfig, anchor: Anchor, now: Instant) -> Self {
        let keep = (config.offset + config.reorg_depth + config.max_headers) as usize;
        let mut selector = Self {
            rng: SplitMix64::new(config.seed),
            headers: Headers::new((config.max_backfill + config.reorg_depth) as usize),
            emitted: Emitted::new(keep),
            next_tick: now,
            config,
            anchor,
            peers: BTreeMap::new(),
            pending: HashMap::new(),
            stage: Stage::Choosing { round: None },
            consensus: None,
            anchoring: Vec::new(),
            resumed: false,
            outputs: VecDeque::new(),
            last_wait: None,
        };
        if let Anchor::Root(root) = anchor {
            selector.stage = Stage::Following;
            selector
                .outputs
                .push_back(PivotOutput::Start { target: Target { root, number: 0 }, header: None });
        }
        selector
    }

    /// A selector for a sync resumed at `header` (the last target handed out, whose header the
    /// progress record kept): following continues from it, nothing is started again.
    pub fn resume(config: PivotConfig, anchor: Anchor, header: Header, now: Instant) -> Self {
        let mut selector = Self::new(config, anchor, now);
        selector.outputs.clear();
        selector.stage = Stage::Following;
        selector.headers.reset([header]);
        selector.emitted.push(&header);
        selector
    }

    /// A selector for a sync resumed at a target whose header is unknown: a following anchor
    /// chooses a fresh pivot and hands it out as a [`PivotOutput::Jump`]; a fixed one does
    /// nothing more.
    pub fn resume_without_header(config: PivotConfig, anchor: Anchor, now: Instant) -> Self {
        let mut selector = Self::new(config, anchor, now);
        selector.outputs.clear();
        if anchor.follows() {
            selector.resumed = true;
        } else {
            selector.stage = Stage::Following;
        }
        selector
    }

    /// What anchors this selector's targets.
    pub const fn anchor(&self) -> Anchor {
        self.anchor
    }

    /// Whether a target was chosen (started, or resumed).
    pub fn started(&self) -> bool {
        self.stage == Stage::Following && !self.resumed
    }

    /// The newest trusted header (not yet handed out while it is within `offset` of the tip).
    pub fn trusted_tip(&self) -> Option<Header> {
        self.headers.tip().copied()
    }

    /// Headers kept: trusted and candidates (for tests and metrics: bounded whatever peers send).
    pub fn headers_held(&self) -> usize {
        self.headers.trusted_count() + self.headers.candidate_count()
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, now: Instant, input: PivotInput) {
        match input {
            PivotInput::PeerReady { peer, head, snap } => {
                let state = PeerState {
                    head,
                    head_number: None,
                    snap,
                    busy: false,
                    resting_until: None,
                    more: false,
                    timeouts: 0,
                };
                if self.peers.insert(peer, state).is_some() {
                    self.forget_peer(peer);
                }
                self.step(now);
            }
            PivotInput::PeerGone { peer } => {
                self.peers.remove(&peer);
                self.forget_peer(peer);
                self.step(now);
            }
            PivotInput::Headers { peer, id, headers } => self.on_headers(now, peer, id, headers),
            PivotInput::Failed { peer, id } => {
                if self.pending.get(&id).is_some_and(|p| p.peer == peer) {
                    self.fail(now, id);
                    self.step(now);
                }
            }
            PivotInput::Probe { peer, reply } => self.on_probe(now, peer, reply),
            PivotInput::ConsensusHead { head, finalized } => {
                if self.anchor == Anchor::Consensus && self.consensus != Some((head, finalized)) {
                    self.consensus = Some((head, finalized));
                    self.step(now);
                }
            }
            PivotInput::ConsensusHeader(header) => {
                if self.anchor == Anchor::Consensus {
                    self.headers.add_lineage(&[header]);
                    self.step(now);
                }
            }
        }
    }

    /// Fires what is due at `now`: late requests fail, and on every follow interval peers
    /// are asked for newer headers and a stalled step is tried again.
    pub fn handle_timeout(&mut self, now: Instant) {
        let late: Vec<u64> =
            self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        for id in late {
            self.fail(now, id);
        }
        if now >= self.next_tick {
            self.next_tick = now + self.config.follow_interval;
            if let Stage::Choosing { round } = &mut self.stage {
                // A new round asks every peer again.
                *round = None;
            }
            self.tick(now);
        }
        self.step(now);
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<PivotOutput> {
        self.outputs.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let requests = self.pending.values().map(|p| p.deadline).min();
        let tick =
            (self.anchor.follows() || self.stage != Stage::Following).then_some(self.next_tick);
        requests.into_iter().chain(tick).min()
    }

    fn forget_peer(&mut self, peer: PeerId) {
        let theirs: Vec<u64> =
            self.pending.iter().filter(|(_, p)| p.peer == peer).map(|(id, _)| *id).collect();
        for id in theirs {
            self.pending.remove(&id);
        }
        self.headers.forget_votes(peer);
    }

    /// A request that failed or timed out: its peer rests for a follow interval.
    fn fail(&mut self, now: Instant, id: u64) {
        let Some(pending) = self.pending.remove(&id) else { return };
        self.rest(now, pending.peer);
        let interval = self.config.follow_interval;
        if let Some(state) = self.peers.get_mut(&pending.peer) {
            state.timeouts = state.timeouts.saturating_add(1);
            let rest = interval.saturating_mul(1 << (state.timeouts - 1).min(3));
            state.resting_until = Some(now + rest);
        }
    }

    fn rest(&mut self, now: Instant, peer: PeerId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.busy = false;
            state.resting_until = Some(now + self.config.follow_interval);
        }
    }

    fn wait(&mut self, reason: WaitReason) {
        if self.last_wait != Some(reason) {
            self.last_wait = Some(reason);
            self.outputs.push_back(PivotOutput::Event(PivotEvent::Waiting(reason)));
        }
    }

    /// Peers that can be asked now (ready, not busy, not resting), optionally snap peers only.
    fn idle_peers(&self, now: Instant, snap_only: bool) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, s)| !s.busy && s.resting_until.is_none_or(|until| until <= now))
            .filter(|(_, s)| s.snap || !snap_only)
            .map(|(peer, _)| *peer)
            .collect()
    }

    fn next_id(&mut self) -> u64 {
        loop {
            let id = self.rng.next_u64();
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
    }

    fn send_headers(
        &mut self,
        now: Instant,
        peer: PeerId,
        start: HeaderStart,
        limit: u64,
        reverse: bool,
        purpose: fn(HeaderRequest) -> Purpose,
    ) {
        let request = HeaderRequest { id: self.next_id(), start, limit: limit.max(1), reverse };
        self.track(now, peer, request.id, purpose(request));
        self.outputs.push_back(PivotOutput::GetHeaders { peer, request });
    }

    fn track(&mut self, now: Instant, peer: PeerId, id: u64, purpose: Purpose) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.busy = true;
        }
        self.pending
            .insert(id, Pending { peer, deadline: now + self.config.request_timeout, purpose });
    }

    /// Whether a request with this purpose kind is in flight.
    fn pending_any(&self, matches: impl Fn(&Purpose) -> bool) -> bool {
        self.pending.values().any(|p| matches(&p.purpose))
    }

    /// One idle peer, drawn with the seeded generator (spreads load; no peer is favoured).
    fn pick_peer(&mut self, now: Instant) -> Option<PeerId> {
        let idle = self.idle_peers(now, false);
        (!idle.is_empty()).then(|| idle[(self.rng.next_u64() % idle.len() as u64) as usize])
    }

    /// The periodic work of a follow interval.
    fn tick(&mut self, now: Instant) {
        match (self.anchor, &self.stage) {
            (Anchor::Peers, Stage::Choosing { .. }) => {
                for peer in self.idle_peers(now, false) {
                    if self.peers[&peer].head_number.is_none() {
                        let head = self.peers[&peer].head;
                        self.send_headers(
                            now,
                            peer,
                            HeaderStart::Hash(head),
                            1,
                            false,
                            Purpose::Head,
                        );
                    }
                }
            }
            (Anchor::Peers, Stage::Following) => self.ask_newer(now, |_| true),
            (Anchor::BlockHash(hash), Stage::Choosing { .. }) => {
                for peer in self.idle_peers(now, false) {
                    self.send_headers(now, peer, HeaderStart::Hash(hash), 1, false, Purpose::Block);
                }
                if self.pending.is_empty() {
                    self.wait(WaitReason::HeaderUnknown);
                }
            }
            (_, Stage::Probing { .. }) => {
                if let Stage::Probing { asked, .. } = &mut self.stage {
                    asked.clear();
                }
            }
            _ => {}
        }
    }

    /// Moves on as far as what is known allows.
    fn step(&mut self, now: Instant) {
        match (&self.stage, self.anchor) {
            (Stage::Choosing { .. }, Anchor::Peers) => self.choose_by_peers(now),
            (Stage::Choosing { .. }, Anchor::Consensus) => self.choose_by_consensus(now),
            (Stage::Choosing { .. }, Anchor::BlockHash(hash))
                if !self.pending_any(|p| matches!(p, Purpose::Block(_))) =>
            {
                for peer in self.idle_peers(now, false) {
                    self.send_headers(now, peer, HeaderStart::Hash(hash), 1, false, Purpose::Block);
                }
            }
            (Stage::Probing { .. }, _) => {
                self.link(now);
                self.probe(now);
            }
            (Stage::Following, anchor) if anchor.follows() => {
                let tip = self.headers.tip().map(|h| h.number);
                self.link(now);
                self.emit();
                if anchor == Anchor::Peers && self.headers.tip().map(|h| h.number) > tip {
                    // The chain moved on and some peers sent full replies: they have more,
                    // catch up without waiting for the next interval.
                    self.ask_newer(now, |state| state.more);
                }
            }
            _ => {}
        }
    }

    fn on_headers(&mut self, now: Instant, peer: PeerId, id: u64, headers: Vec<Header>) {
        // Unknown ids (late answers to failed requests, or requests of another part of the
        // host) are ignored: only the host's transport knows whether they were solicited.
        let Some(pending) = self.pending.get(&id).filter(|p| p.peer == peer).copied() else {
            return;
        };
        self.pending.remove(&id);
        let Some(request) = pending.purpose.headers().copied() else { return };
        if let Err(why) = check_reply(&request, &headers) {
            self.rest(now, peer);
            self.outputs.push_back(PivotOutput::Penalize {
                peer,
                reason: PivotMisbehaviour::BadHeaders(why),
            });
            return;
        }
        if headers.is_empty() {
            self.rest(now, peer);
            self.step(now);
            return;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.busy = false;
            state.timeouts = 0;
        }
        match pending.purpose {
            Purpose::Head(_) => {
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.head_number = Some(headers[0].number);
                }
                self.headers.vote(peer, &headers);
            }
            Purpose::Segment(request) => {
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.more = headers.len() as u64 == request.limit;
                }
                self.headers.vote(peer, &headers);
            }
            Purpose::Lineage(_) => self.headers.add_lineage(&headers),
            Purpose::Anchor(_) => self.on_anchor(now, headers, false),
            Purpose::AnchorMore(_) => self.on_anchor(now, headers, true),
            Purpose::Block(_) => {
                if self.stage != Stage::Following {
                    self.start(headers[0]);
                }
            }
            Purpose::Probe(_) => {}
        }
        self.step(now);
    }
}

/// Checks that `headers` answer `request`: at most `limit`, the first the one asked for, and
/// consecutive blocks linked by parent hash in the request's direction.
fn check_reply(request: &HeaderRequest, headers: &[Header]) -> Result<(), &'static str> {
    if headers.len() as u64 > request.limit {
        return Err("more headers than asked");
    }
    let Some(first) = headers.first() else { return Ok(()) };
    let first_ok = match request.start {
        HeaderStart::Hash(hash) => first.hash == hash,
        HeaderStart::Number(number) => first.number == number,
    };
    if !first_ok {
        return Err("the first header is not the one asked for");
    }
    for pair in headers.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let linked = if request.reverse {
            a.number.checked_sub(1) == Some(b.number) && a.parent_hash == b.hash
        } else {
            a.number.checked_add(1) == Some(b.number) && b.parent_hash == a.hash
        };
        if !linked {
            return Err("headers are not consecutive blocks linked by parent hash");
        }
    }
    Ok(())
}
