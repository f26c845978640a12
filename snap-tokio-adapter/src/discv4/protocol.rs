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
use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};
use k256::ecdsa::SigningKey;

pub use super::config::{
    Candidate, Discv4Config, Discv4Limits, Discv4Stats, Discv4Timing, Transmit,
};
use super::{
    bounded::BoundedMap,
    lookup::Lookup,
    table::{BUCKET_SIZE, Table, is_lan},
    wire::{self, Endpoint, Enr, MAX_NEIGHBOURS_PER_PACKET, Message, NodeRecord},
};
use crate::{eth::ChainInfo, forkid::ForkId, rlpx::NodeId, session::Enode};

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
}

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

#[derive(Clone, Copy, Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// splitmix64: the node's only randomness, from the configured seed.
#[derive(Clone, Copy, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `base` scaled by a factor in [0.5, 1.5).
    fn jitter(&mut self, base: Duration) -> Duration {
        base.mul_f64(0.5 + (self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Our ENR's `eth` entry: `[[fork_hash, fork_next]]`, as geth writes it.
pub(crate) struct EthEntry(pub(crate) ForkId);

impl Encodable for EthEntry {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        RlpHeader { list: true, payload_length: self.0.length() }.encode(out);
        self.0.encode(out);
    }
}

/// Whether a node whose ENR announces `fork_id` is of our chain (any node without a chain;
/// a node without `eth` entry only with `accept_without_fork_id`). discv4 and discv5 share it.
pub(crate) fn fork_compatible(
    chain: Option<&ChainInfo>,
    fork_id: Option<ForkId>,
    accept_without_fork_id: bool,
) -> bool {
    match (chain, fork_id) {
        (Some(chain), Some(fork_id)) => {
            chain.forks.validate(fork_id, chain.head_number, chain.head_time).is_ok()
        }
        (Some(_), None) => accept_without_fork_id,
        (None, _) => true,
    }
}

/// The fork id of an ENR's `eth` entry (further list elements are ignored), whatever the
/// record's key type (discv4's k256 records, discv5's combined keys).
pub fn enr_fork_id<K: enr::EnrKey>(enr: &enr::Enr<K>) -> Option<ForkId> {
    let mut raw = enr.get_raw_rlp("eth")?;
    let header = RlpHeader::decode(&mut raw).ok()?;
    if !header.list || header.payload_length > raw.len() {
        return None;
    }
    ForkId::decode(&mut &raw[..header.payload_length]).ok()
}

/// Whether a node at `sender` may tell us about a node at `relayed` (geth's relay rule):
/// never unspecified or multicast addresses, loopback only from loopback, LAN only from LAN.
fn relay_allowed(sender: &IpAddr, relayed: &IpAddr) -> bool {
    let bad = match relayed {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    if bad || (relayed.is_loopback() && !sender.is_loopback()) {
        return false;
    }
    !is_lan(relayed) || is_lan(sender)
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
    global: TokenBucket,
    transmits: VecDeque<Transmit>,
    next_revalidate: Instant,
    next_lookup: Instant,
    next_bootstrap: Instant,
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
            global: TokenBucket { tokens: limits.global_rate, last: now },
            transmits: VecDeque::new(),
            next_revalidate: now + config.timing.revalidate_interval,
            next_lookup: now + config.timing.lookup_interval,
            next_bootstrap: now,
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
            };
        }
        bond
    }

    fn allow_source(&mut self, now: Instant, from: SocketAddr) -> bool {
        let limits = &self.limits;
        if !self.global.take(now, limits.global_rate, limits.global_rate) {
            return false;
        }
        // One budget per IP; on loopback (many local nodes share the IP) one per address.
        let key = if from.ip().is_loopback() { from } else { SocketAddr::new(from.ip(), 0) };
        let (rate, burst) = (limits.source_rate, limits.source_burst);
        self.sources
            .entry_or_insert_with(key, || TokenBucket { tokens: burst, last: now })
            .take(now, rate, burst)
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
            if matches!(p.kind, PendingKind::Ping { .. }) {
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
                    if let Some(bond) = self.bonds.get_mut(&p.id) {
                        bond.enr = EnrState::Known { seq: 0, fork_id: None, tcp: None };
                    }
                    self.consider_candidate(now, p.id);
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
        if self.table.is_empty() && now >= self.next_bootstrap && !self.bootnodes.is_empty() {
            self.next_bootstrap = now + self.timing.bootstrap_interval;
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

    fn on_ping(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        hash: B256,
        tcp: u16,
        enr_seq: Option<u64>,
    ) {
        let to = Endpoint { ip: Some(from.ip()), udp: from.port(), tcp };
        let pong = Message::Pong {
            to,
            ping_hash: hash,
            expiration: self.expiration(now),
            enr_seq: Some(self.enr.seq()),
        };
        self.send(from, &pong);
        let bond = self.bond_at(id, from, tcp);
        bond.tcp = tcp;
        bond.last_ping = Some(now);
        if enr_seq.is_some() {
            bond.enr_seq = enr_seq;
        }
        if self.verified(&id, from, now) {
            self.table.insert(NodeRecord { endpoint: to, id }, now);
            self.after_verified(now, id);
        } else {
            self.ping(now, id, from, tcp, AfterPong::Nothing);
        }
        // A FindNode waiting for this node to know us can go now.
        let (due, waiting): (Vec<_>, Vec<_>) =
            self.delayed.drain(..).partition(|d| d.1 == id && d.2 == from);
        self.delayed = waiting;
        for (_, id, addr, action) in due {
            self.run_delayed(now, id, addr, action);
        }
    }

    fn on_pong(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        ping_hash: B256,
        enr_seq: Option<u64>,
    ) {
        let position = self.pending.iter().position(|p| {
            p.id == id
                && p.addr == from
                && matches!(p.kind, PendingKind::Ping { hash, .. } if hash == ping_hash)
        });
        let Some(position) = position else {
            self.stats.unsolicited += 1;
            return;
        };
        let pending = self.pending.swap_remove(position);
        let PendingKind::Ping { tcp, then, .. } = pending.kind else { return };
        let bond = self.bond_at(id, from, tcp);
        bond.last_pong = Some(now);
        if enr_seq.is_some() {
            bond.enr_seq = enr_seq;
        }
        let record =
            NodeRecord { endpoint: Endpoint { ip: Some(from.ip()), udp: from.port(), tcp }, id };
        self.table.insert(record, now);
        if let AfterPong::FindNode(lookup) = then {
            if self.knows_us(&id, from, now) {
                if !self.find_node(now, id, from, lookup) {
                    self.lookup_request_done(lookup);
                }
            } else {
                self.delayed.push((
                    now + self.timing.findnode_delay,
                    id,
                    from,
                    Delayed::FindNode(lookup),
                ));
            }
        }
        if self.knows_us(&id, from, now) {
            self.after_verified(now, id);
        } else if !self.delayed.iter().any(|d| d.1 == id && d.3 == Delayed::Enr) {
            self.delayed.push((now + self.timing.findnode_delay, id, from, Delayed::Enr));
        }
    }

    fn on_find_node(&mut self, now: Instant, from: SocketAddr, id: NodeId, target: B512) {
        if !self.verified(&id, from, now) {
            self.stats.unsolicited += 1;
            return;
        }
        let closest = self.table.closest(&keccak256(target), BUCKET_SIZE);
        let expiration = self.expiration(now);
        let mut chunks = closest.chunks(MAX_NEIGHBOURS_PER_PACKET).peekable();
        if chunks.peek().is_none() {
            self.send(from, &Message::Neighbours { nodes: Vec::new(), expiration });
        }
        for chunk in chunks {
            self.send(from, &Message::Neighbours { nodes: chunk.to_vec(), expiration });
        }
    }

    fn on_neighbours(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        nodes: Vec<NodeRecord>,
    ) {
        let position = self.pending.iter().position(|p| {
            p.id == id && p.addr == from && matches!(p.kind, PendingKind::FindNode { .. })
        });
        let Some(position) = position else {
            self.stats.unsolicited += 1;
            return;
        };
        let PendingKind::FindNode { lookup, nodes: received } = self.pending[position].kind else {
            return;
        };
        let take = BUCKET_SIZE.saturating_sub(received).min(nodes.len());
        let total = received + take;
        if total >= BUCKET_SIZE {
            self.pending.swap_remove(position);
            self.lookup_request_done(lookup);
        } else {
            self.pending[position].kind = PendingKind::FindNode { lookup, nodes: total };
        }
        for node in nodes.into_iter().take(take) {
            let Some(ip) = node.endpoint.ip else { continue };
            if node.id == self.local_id || node.endpoint.udp == 0 || !relay_allowed(&from.ip(), &ip)
            {
                continue;
            }
            if let Some((_, l)) = self.lookups.iter_mut().find(|(l, _)| *l == lookup) {
                l.offer(node);
            }
            let addr = SocketAddr::new(ip, node.endpoint.udp);
            let queued = self.verify_queue.iter().any(|q| q.id == node.id);
            if !queued
                && !self.verified(&node.id, addr, now)
                && self.verify_queue.len() < self.limits.max_verify_queue
            {
                self.verify_queue.push_back(node);
            }
        }
    }

    fn on_enr(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        request_hash: B256,
        enr: &Enr,
    ) {
        let position = self.pending.iter().position(|p| {
            p.id == id
                && p.addr == from
                && matches!(p.kind, PendingKind::Enr { hash } if hash == request_hash)
        });
        let Some(position) = position else {
            self.stats.unsolicited += 1;
            return;
        };
        self.pending.swap_remove(position);
        if wire::enr_node_id(enr) != id {
            self.stats.invalid += 1;
            return;
        }
        let fork_id = enr_fork_id(enr);
        let tcp = if from.is_ipv4() { enr.tcp4() } else { enr.tcp6().or(enr.tcp4()) };
        if let Some(bond) = self.bonds.get_mut(&id) {
            bond.enr = EnrState::Known { seq: enr.seq(), fork_id, tcp };
        }
        self.consider_candidate(now, id);
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

fn record_of(enode: &Enode) -> NodeRecord {
    let port = enode.addr.port();
    NodeRecord {
        endpoint: Endpoint { ip: Some(enode.addr.ip()), udp: port, tcp: port },
        id: enode.id,
    }
}

/// Our ENR: endpoint and, with a chain, the `eth` entry of our fork id.
fn build_enr(key: &SigningKey, endpoint: &Endpoint, chain: Option<&ChainInfo>, seq: u64) -> Enr {
    let mut builder = enr::Enr::builder();
    builder.seq(seq);
    match endpoint.ip {
        Some(IpAddr::V4(ip)) => {
            builder.ip4(ip).udp4(endpoint.udp).tcp4(endpoint.tcp);
        }
        Some(IpAddr::V6(ip)) => {
            builder.ip6(ip).udp6(endpoint.udp).tcp6(endpoint.tcp);
        }
        None => {
            builder.udp4(endpoint.udp).tcp4(endpoint.tcp);
        }
    }
    if let Some(chain) = chain {
        let fork_id = chain.forks.fork_id(chain.head_number, chain.head_time);
        builder.add_value("eth", &EthEntry(fork_id));
    }
    builder.build(key).expect("a record of an endpoint and a fork id fits 300 bytes")
}
