//! The sans-IO discv4 node: packets in (with `now` and their source address), packets out,
//! a timer to wake at, and candidate peers whose ENR `eth` entry matches our chain.
//!
//! Endpoint proof as geth: we answer FindNode and ENRRequest only from nodes that answered
//! our Ping at their current address in the last 24 hours, and ask FindNode only of nodes
//! that pinged us (after Ping/Pong both ways). Only such proven nodes enter the table.
//! Responses nobody asked for are dropped before their signature is checked; every source
//! address has a token bucket, and every map is bounded.

use std::{
    collections::VecDeque,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, B512, keccak256};
use k256::ecdsa::SigningKey;

pub use super::config::{
    Candidate, Discv4Config, Discv4Limits, Discv4Stats, Discv4Timing, Transmit,
};
use super::{
    bounded::BoundedMap,
    lookup::Lookup,
    table::{BUCKET_SIZE, Table},
    wire::{self, Endpoint, Enr, MAX_NEIGHBOURS_PER_PACKET, Message, NodeRecord},
};
use crate::{eth::ChainInfo, forkid::ForkId, rlpx::NodeId, session::Enode};

mod handlers;
mod parts;

pub use parts::enr_fork_id;
pub(crate) use parts::{EthEntry, fork_compatible};
use parts::{Rng, TokenBucket, build_enr, record_of, relay_allowed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EnrState {
    Unknown,
    Requested,
    Known { seq: u64, fork_id: Option<ForkId>, tcp: Option<u16> },
}

#[derive(Clone, Copy, Debug)]
struct Bond {
    addr: SocketAddr,
    tcp: u16,
    last_pong: Option<Instant>,
    last_ping: Option<Instant>,
    enr_seq: Option<u64>,
    enr: EnrState,
    /// ENR requests sent since the last answer.
    enr_attempts: u8,
}

/// ENR requests a node may leave unanswered in a row before it counts as having none: a
/// lost request or response (or one sent before the remote knew us) is asked again.
const ENR_ATTEMPTS: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterPong {
    Nothing,
    Revalidate,
    FindNode(u64),
}

/// What waits for the remote to have bonded with us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delayed {
    FindNode(u64),
    Enr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PendingKind {
    Ping { hash: B256, tcp: u16, then: AfterPong },
    FindNode { lookup: u64, nodes: usize },
    Enr { hash: B256 },
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    id: NodeId,
    addr: SocketAddr,
    deadline: Instant,
    kind: PendingKind,
}

/// A discv4 node.
#[derive(Debug)]
pub struct Discv4 {
    signing: SigningKey,
    local_id: NodeId,
    endpoint: Endpoint,
    enr: Enr,
    chain: Option<ChainInfo>,
    accept_without_fork_id: bool,
    limits: Discv4Limits,
    timing: Discv4Timing,
    rng: Rng,
    start: Instant,
    unix_at_start: u64,
    bootnodes: Vec<Enode>,
    table: Table,
    bonds: BoundedMap<NodeId, Bond>,
    pending: Vec<Pending>,
    lookups: Vec<(u64, Lookup)>,
    next_lookup_id: u64,
    delayed: Vec<(Instant, NodeId, SocketAddr, Delayed)>,
    unresponsive: BoundedMap<SocketAddr, Instant>,
    verify_queue: VecDeque<NodeRecord>,
    candidates: VecDeque<Candidate>,
    proposed: BoundedMap<NodeId, Instant>,
    banned: BoundedMap<NodeId, ()>,
    sources: BoundedMap<SocketAddr, TokenBucket>,
    source_ips: BoundedMap<IpAddr, TokenBucket>,
    global: TokenBucket,
    transmits: VecDeque<Transmit>,
    next_revalidate: Instant,
    next_lookup: Instant,
    next_bootstrap: Instant,
    /// Wait before the next bootstrap while the table stays empty: from `request_timeout`,
    /// doubling up to `bootstrap_interval`, so a lost first Ping or Pong costs a second.
    bootstrap_backoff: Duration,
    stats: Discv4Stats,
}

impl Discv4 {
    /// A node started at `now`, when the Unix time is `unix_now` (seconds); it pings its
    /// bootnodes and looks itself up through them.
    pub fn new(config: Discv4Config, now: Instant, unix_now: u64) -> Self {
        let signing = SigningKey::from(&config.key);
        let local_id = crate::rlpx::node_id(&config.key.public_key());
        let enr = build_enr(&signing, &config.endpoint, config.chain.as_ref(), 1);
        let limits = config.limits;
        let mut node = Self {
            table: Table::new(&local_id),
            signing,
            local_id,
            endpoint: config.endpoint,
            enr,
            chain: config.chain,
            accept_without_fork_id: config.accept_without_fork_id,
            rng: Rng(config.seed ^ 0x5eed),
            start: now,
            unix_at_start: unix_now,
            bootnodes: config.bootnodes,
            bonds: BoundedMap::new(limits.max_bonds),
            pending: Vec::new(),
            lookups: Vec::new(),
            next_lookup_id: 0,
            delayed: Vec::new(),
            unresponsive: BoundedMap::new(limits.max_bonds),
            verify_queue: VecDeque::new(),
            candidates: VecDeque::new(),
            proposed: BoundedMap::new(limits.max_proposed),
            banned: BoundedMap::new(limits.max_banned),
            sources: BoundedMap::new(limits.max_sources),
            source_ips: BoundedMap::new(limits.max_sources),
            global: TokenBucket { tokens: limits.global_rate, last: now },
            transmits: VecDeque::new(),
            next_revalidate: now + config.timing.revalidate_interval,
            next_lookup: now + config.timing.lookup_interval,
            next_bootstrap: now,
            bootstrap_backoff: config.timing.request_timeout,
            stats: Discv4Stats::default(),
            limits,
            timing: config.timing,
        };
        node.handle_timeout(now);
        node
    }

    /// Our node id.
    pub const fn local_id(&self) -> NodeId {
        self.local_id
    }

    /// Our node record.
    pub const fn local_enr(&self) -> &Enr {
        &self.enr
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Discv4Stats {
        Discv4Stats {
            table: self.table.len(),
            replacements: self.table.replacements(),
            bonds: self.bonds.len(),
            pending: self.pending.len(),
            lookups: self.lookups.len(),
            queued_candidates: self.candidates.len(),
            sources: self.sources.len(),
            verify_queue: self.verify_queue.len(),
            transmits: self.transmits.len(),
            ..self.stats.clone()
        }
    }

    /// The table, read-only.
    pub const fn table(&self) -> &Table {
        &self.table
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next candidate to dial.
    pub fn poll_candidate(&mut self) -> Option<Candidate> {
        self.candidates.pop_front()
    }

    /// Whether a candidate is waiting.
    pub fn has_candidate(&self) -> bool {
        !self.candidates.is_empty()
    }

    /// Stops proposing `id` (a peer that failed the dialler: wrong chain, no snap, never
    /// served); drops it from the waiting candidates too.
    pub fn ban(&mut self, id: NodeId) {
        self.banned.insert(id, ());
        self.candidates.retain(|c| c.enode.id != id);
    }

    /// Updates our head: the fork id of our ENR and of the filter follow it.
    pub fn set_head(&mut self, number: u64, time: u64) {
        let Some(chain) = self.chain.as_mut() else { return };
        chain.head_number = number;
        chain.head_time = time;
        let seq = self.enr.seq() + 1;
        self.enr = build_enr(&self.signing, &self.endpoint, self.chain.as_ref(), seq);
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.iter().map(|p| p.deadline);
        let delayed = self.delayed.iter().map(|d| d.0);
        let mut next = [self.next_revalidate, self.next_lookup]
            .into_iter()
            .chain(pending)
            .chain(delayed)
            .min();
        if self.table.is_empty() && !self.bootnodes.is_empty() {
            next = next.min(Some(self.next_bootstrap));
        }
        next
    }

    fn unix(&self, now: Instant) -> u64 {
        self.unix_at_start + now.saturating_duration_since(self.start).as_secs()
    }

    fn expiration(&self, now: Instant) -> u64 {
        self.unix(now) + self.timing.packet_lifetime.as_secs()
    }

    fn send(&mut self, to: SocketAddr, message: &Message) -> B256 {
        let (packet, hash) = wire::encode(&self.signing, message);
        if self.transmits.len() < self.limits.max_transmits {
            self.transmits.push_back(Transmit { to, packet });
        }
        hash
    }

    fn verified(&self, id: &NodeId, addr: SocketAddr, now: Instant) -> bool {
        self.bonds.get(id).is_some_and(|bond| {
            bond.addr == addr
                && bond.last_pong.is_some_and(|t| now.duration_since(t) < self.timing.bond_expiry)
        })
    }

    fn knows_us(&self, id: &NodeId, addr: SocketAddr, now: Instant) -> bool {
        self.bonds.get(id).is_some_and(|bond| {
            bond.addr == addr
                && bond.last_ping.is_some_and(|t| now.duration_since(t) < self.timing.bond_expiry)
        })
    }

    fn bond_at(&mut self, id: NodeId, addr: SocketAddr, tcp: u16) -> &mut Bond {
        let bond = self.bonds.entry_or_insert_with(id, || Bond {
            addr,
            tcp,
            last_pong: None,
            last_ping: None,
            enr_seq: None,
            enr: EnrState::Unknown,
            enr_attempts: 0,
        });
        if bond.addr != addr {
            // Another address: whatever was proven was proven elsewhere.
            *bond = Bond {
                addr,
                tcp,
                last_pong: None,
                last_ping: None,
                enr_seq: None,
                enr: EnrState::Unknown,
                enr_attempts: 0,
            };
        }
        bond
    }

    /// Whether a datagram from `from` is within budget: its address's, its IP's, everyone's.
    fn allow_source(&mut self, now: Instant, from: SocketAddr) -> bool {
        let limits = &self.limits;
        // One budget per address: a noisy socket silences itself, not the other nodes at its
        // IP (behind one NAT, or on loopback)...
        let (rate, burst) = (limits.source_rate, limits.source_burst);
        let bucket = TokenBucket { tokens: burst, last: now };
        if !self.sources.entry_or_insert_with(from, || bucket).take(now, rate, burst) {
            return false;
        }
        // ...and a larger one per IP, so one host's many ports cannot take everyone's budget
        // (loopback excepted: every local node shares it).
        let (rate, burst) = (limits.ip_rate, limits.ip_burst);
        let bucket = TokenBucket { tokens: burst, last: now };
        if !from.ip().is_loopback()
            && !self.source_ips.entry_or_insert_with(from.ip(), || bucket).take(now, rate, burst)
        {
            return false;
        }
        self.global.take(now, limits.global_rate, limits.global_rate)
    }

    /// Pings `id` at `addr` unless a Ping to it is in flight; false when none could be sent.
    fn ping(
        &mut self,
        now: Instant,
        id: NodeId,
        addr: SocketAddr,
        tcp: u16,
        then: AfterPong,
    ) -> bool {
        let in_flight = |p: &Pending| {
            (p.id == id || p.addr == addr) && matches!(p.kind, PendingKind::Ping { .. })
        };
        if self.pending.iter().any(in_flight) {
            return false;
        }
        let backoff = self.timing.unresponsive_backoff;
        if self.unresponsive.get(&addr).is_some_and(|t| now.duration_since(*t) < backoff)
            && !self.bootnodes.iter().any(|b| b.addr == addr)
        {
            return false;
        }
        if self.pending.len() >= self.limits.max_pending {
            return false;
        }
        let message = Message::Ping {
            version: 4,
            from: self.endpoint,
            to: Endpoint { ip: Some(addr.ip()), udp: addr.port(), tcp },
            expiration: self.expiration(now),
            enr_seq: Some(self.enr.seq()),
        };
        let hash = self.send(addr, &message);
        let deadline = now + self.timing.request_timeout;
        self.pending.push(Pending {
            id,
            addr,
            deadline,
            kind: PendingKind::Ping { hash, tcp, then },
        });
        true
    }

    fn find_node(&mut self, now: Instant, id: NodeId, addr: SocketAddr, lookup: u64) -> bool {
        if self.pending.len() >= self.limits.max_pending {
            return false;
        }
        let Some(target) = self.lookups.iter().find(|(l, _)| *l == lookup).map(|(_, l)| l.target)
        else {
            return false;
        };
        self.send(addr, &Message::FindNode { target, expiration: self.expiration(now) });
        let deadline = now + self.timing.request_timeout;
        self.pending.push(Pending {
            id,
            addr,
            deadline,
            kind: PendingKind::FindNode { lookup, nodes: 0 },
        });
        true
    }

    fn lookup_request_done(&mut self, lookup: u64) {
        if let Some((_, l)) = self.lookups.iter_mut().find(|(id, _)| *id == lookup) {
            l.request_done();
        }
    }

    fn start_lookup(&mut self, now: Instant, target: B512) {
        let mut seeds = self.table.closest(&keccak256(target), BUCKET_SIZE);
        if seeds.is_empty() {
            seeds = self.bootnodes.iter().map(record_of).collect();
        }
        let id = self.next_lookup_id;
        self.next_lookup_id += 1;
        self.lookups.push((id, Lookup::new(target, seeds)));
        self.advance_lookups(now);
    }

    fn advance_lookups(&mut self, now: Instant) {
        let mut asks = Vec::new();
        for (id, lookup) in &mut self.lookups {
            while let Some(node) = lookup.next_to_ask() {
                asks.push((*id, node));
            }
        }
        for (lookup, node) in asks {
            let Some(ip) = node.endpoint.ip else {
                self.lookup_request_done(lookup);
                continue;
            };
            let addr = SocketAddr::new(ip, node.endpoint.udp);
            let sent = if self.verified(&node.id, addr, now) && self.knows_us(&node.id, addr, now) {
                self.find_node(now, node.id, addr, lookup)
            } else {
                self.ping(now, node.id, addr, node.endpoint.tcp, AfterPong::FindNode(lookup))
            };
            if !sent {
                self.lookup_request_done(lookup);
            }
        }
        self.lookups.retain(|(_, lookup)| !lookup.is_done());
    }

    fn random_target(&mut self) -> B512 {
        let mut bytes = [0u8; 64];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next().to_be_bytes());
        }
        B512::from(bytes)
    }

    /// Advances timers: expired requests, liveness checks, lookups, bootstrap.
    pub fn handle_timeout(&mut self, now: Instant) {
        let (expired, live): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(|p| p.deadline <= now);
        self.pending = live;
        for p in expired {
            if let PendingKind::Ping { tcp, then, .. } = p.kind {
                // A node that pinged us just now is there: our Ping or its Pong was lost. The
                // Ping that bonds back is sent once more (not again while the address is
                // marked unresponsive), or the node would never be verified.
                let backoff = self.timing.unresponsive_backoff;
                let marked = self
                    .unresponsive
                    .get(&p.addr)
                    .is_some_and(|t| now.duration_since(*t) < backoff);
                let recent = 2 * self.timing.request_timeout;
                let pinged_us = self.bonds.get(&p.id).is_some_and(|b| {
                    b.addr == p.addr && b.last_ping.is_some_and(|t| now.duration_since(t) <= recent)
                });
                if then == AfterPong::Nothing && pinged_us && !marked {
                    self.ping(now, p.id, p.addr, tcp, then);
                }
                self.unresponsive.insert(p.addr, now);
            }
            match p.kind {
                PendingKind::Ping { then: AfterPong::Revalidate, .. } => {
                    if let Some(promoted) = self.table.remove(&p.id) {
                        self.revalidate(now, promoted);
                    }
                }
                PendingKind::Ping { then: AfterPong::FindNode(lookup), .. }
                | PendingKind::FindNode { lookup, .. } => self.lookup_request_done(lookup),
                PendingKind::Ping { then: AfterPong::Nothing, .. } => {}
                PendingKind::Enr { .. } => {
                    let verified = self.verified(&p.id, p.addr, now);
                    let Some(bond) = self.bonds.get_mut(&p.id) else { continue };
                    if verified && bond.enr_attempts < ENR_ATTEMPTS {
                        bond.enr = EnrState::Unknown;
                        self.after_verified(now, p.id);
                    } else {
                        bond.enr = EnrState::Known { seq: 0, fork_id: None, tcp: None };
                        self.consider_candidate(now, p.id);
                    }
                }
            }
        }
        let (due, waiting): (Vec<_>, Vec<_>) = self.delayed.drain(..).partition(|d| d.0 <= now);
        self.delayed = waiting;
        for (_, id, addr, action) in due {
            self.run_delayed(now, id, addr, action);
        }
        if now >= self.next_revalidate {
            self.next_revalidate = now + self.rng.jitter(self.timing.revalidate_interval);
            let pick = self.rng.next() as usize;
            if let Some(node) = self.table.stalest(pick) {
                self.revalidate(now, node);
            }
        }
        // A lookup whose last request just expired ends now, so a bootstrap can follow it.
        self.lookups.retain(|(_, lookup)| !lookup.is_done());
        if !self.table.is_empty() {
            self.bootstrap_backoff = self.timing.request_timeout;
        } else if now >= self.next_bootstrap && !self.bootnodes.is_empty() {
            self.next_bootstrap = now + self.bootstrap_backoff;
            self.bootstrap_backoff =
                (self.bootstrap_backoff * 2).min(self.timing.bootstrap_interval);
            if self.lookups.is_empty() {
                self.start_lookup(now, self.local_id);
            }
        }
        if now >= self.next_lookup {
            self.next_lookup = now + self.rng.jitter(self.timing.lookup_interval);
            let wanted = self.candidates.len() < self.limits.max_queued_candidates / 2;
            if wanted && self.lookups.len() < 2 && !self.table.is_empty() {
                let target = self.random_target();
                self.start_lookup(now, target);
            }
        }
        self.drain_verify_queue(now);
        self.advance_lookups(now);
    }

    fn run_delayed(&mut self, now: Instant, id: NodeId, addr: SocketAddr, action: Delayed) {
        match action {
            Delayed::FindNode(lookup) => {
                if !self.find_node(now, id, addr, lookup) {
                    self.lookup_request_done(lookup);
                }
            }
            Delayed::Enr => self.after_verified(now, id),
        }
    }

    fn revalidate(&mut self, now: Instant, node: NodeRecord) {
        if let Some(ip) = node.endpoint.ip {
            let addr = SocketAddr::new(ip, node.endpoint.udp);
            self.ping(now, node.id, addr, node.endpoint.tcp, AfterPong::Revalidate);
        }
    }

    fn drain_verify_queue(&mut self, now: Instant) {
        while self.pending.len() < self.limits.max_pending / 2 {
            let Some(node) = self.verify_queue.pop_front() else { break };
            let Some(ip) = node.endpoint.ip else { continue };
            let addr = SocketAddr::new(ip, node.endpoint.udp);
            if !self.verified(&node.id, addr, now) {
                self.ping(now, node.id, addr, node.endpoint.tcp, AfterPong::Nothing);
            }
        }
    }

    /// Handles one datagram from `from`.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if bytes.len() > wire::MAX_PACKET_SIZE || bytes.len() < 98 {
            self.stats.invalid += 1;
            return;
        }
        if !self.allow_source(now, from) {
            self.stats.rate_limited += 1;
            return;
        }
        // A response nobody at that address was asked for is dropped unverified.
        let kind = bytes[97];
        let expected: Option<fn(&PendingKind) -> bool> = match kind {
            wire::PONG => Some(|k| matches!(k, PendingKind::Ping { .. })),
            wire::NEIGHBOURS => Some(|k| matches!(k, PendingKind::FindNode { .. })),
            wire::ENR_RESPONSE => Some(|k| matches!(k, PendingKind::Enr { .. })),
            _ => None,
        };
        if let Some(expected) = expected
            && !self.pending.iter().any(|p| p.addr == from && expected(&p.kind))
        {
            self.stats.unsolicited += 1;
            return;
        }
        let packet = match wire::decode(bytes) {
            Ok(packet) => packet,
            Err(_) => {
                self.stats.invalid += 1;
                return;
            }
        };
        let id = packet.node_id;
        if id == self.local_id {
            return;
        }
        self.unresponsive.remove(&from);
        if packet.message.expiration().is_some_and(|e| e < self.unix(now)) {
            self.stats.expired += 1;
            return;
        }
        match packet.message {
            Message::Ping { from: claimed, enr_seq, .. } => {
                self.on_ping(now, from, id, packet.hash, claimed.tcp, enr_seq);
            }
            Message::Pong { ping_hash, enr_seq, .. } => {
                self.on_pong(now, from, id, ping_hash, enr_seq)
            }
            Message::FindNode { target, .. } => self.on_find_node(now, from, id, target),
            Message::Neighbours { nodes, .. } => self.on_neighbours(now, from, id, nodes),
            Message::EnrRequest { .. } => {
                if !self.verified(&id, from, now) {
                    self.stats.unsolicited += 1;
                    return;
                }
                let enr = Box::new(self.enr.clone());
                self.send(from, &Message::EnrResponse { request_hash: packet.hash, enr });
            }
            Message::EnrResponse { request_hash, enr } => {
                self.on_enr(now, from, id, request_hash, &enr)
            }
        }
        self.drain_verify_queue(now);
        self.advance_lookups(now);
    }

    /// A node's endpoint is proven: fetch its ENR if we lack the current one, else consider it.
    fn after_verified(&mut self, now: Instant, id: NodeId) {
        let Some(bond) = self.bonds.get(&id).copied() else { return };
        let stale = match bond.enr {
            EnrState::Requested => return,
            EnrState::Unknown => true,
            EnrState::Known { seq, .. } => bond.enr_seq.is_some_and(|s| s > seq),
        };
        if !stale {
            self.consider_candidate(now, id);
            return;
        }
        if self.pending.len() >= self.limits.max_pending {
            return;
        }
        let hash = self.send(bond.addr, &Message::EnrRequest { expiration: self.expiration(now) });
        let deadline = now + self.timing.request_timeout;
        self.pending.push(Pending {
            id,
            addr: bond.addr,
            deadline,
            kind: PendingKind::Enr { hash },
        });
        if let Some(bond) = self.bonds.get_mut(&id) {
            bond.enr = EnrState::Requested;
            bond.enr_attempts = bond.enr_attempts.saturating_add(1);
        }
    }

    fn consider_candidate(&mut self, now: Instant, id: NodeId) {
        let Some(bond) = self.bonds.get(&id).copied() else { return };
        let EnrState::Known { fork_id, tcp, .. } = bond.enr else { return };
        if self.banned.contains(&id) {
            return;
        }
        if self
            .proposed
            .get(&id)
            .is_some_and(|t| now.duration_since(*t) < self.timing.repropose_after)
        {
            return;
        }
        if !fork_compatible(self.chain.as_ref(), fork_id, self.accept_without_fork_id) {
            self.stats.other_chain += 1;
            return;
        }
        let port = tcp.unwrap_or(bond.tcp);
        if port == 0 {
            return;
        }
        self.proposed.insert(id, now);
        self.stats.proposed += 1;
        self.candidates.retain(|c| c.enode.id != id);
        if self.candidates.len() >= self.limits.max_queued_candidates {
            self.candidates.pop_front();
        }
        let enode = Enode { id, addr: SocketAddr::new(bond.addr.ip(), port) };
        self.candidates.push_back(Candidate { enode, fork_id });
    }
}
