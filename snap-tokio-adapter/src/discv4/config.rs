//! What a discv4 node is configured with, what it sends, proposes and counts.

use std::{net::SocketAddr, time::Duration};

use k256::SecretKey;

use super::wire::Endpoint;
use crate::{eth::ChainInfo, forkid::ForkId, session::Enode};

/// Bounds on what discovery keeps; each holds whatever remote nodes send.
#[derive(Clone, Debug)]
pub struct Discv4Limits {
    /// Remote nodes we keep bond state for.
    pub max_bonds: usize,
    /// Requests in flight.
    pub max_pending: usize,
    /// Candidates waiting for the dialler.
    pub max_queued_candidates: usize,
    /// Nodes remembered as proposed (not re-proposed for `repropose_after`).
    pub max_proposed: usize,
    /// Nodes reported bad (never proposed again while remembered).
    pub max_banned: usize,
    /// Source addresses with a token bucket (and as many source IPs).
    pub max_sources: usize,
    /// Found nodes waiting for their endpoint proof.
    pub max_verify_queue: usize,
    /// Packets waiting to be sent.
    pub max_transmits: usize,
    /// Packets a source address (IP and port) may send at once.
    pub source_burst: f64,
    /// Packets a source address may send per second, sustained.
    pub source_rate: f64,
    /// Packets all addresses of one IP together may send at once (loopback unlimited): room
    /// for several nodes behind one NAT, while one host cannot take the global budget.
    pub ip_burst: f64,
    /// Packets all addresses of one IP together may send per second, sustained.
    pub ip_rate: f64,
    /// Packets all sources together may send per second, sustained (and at once).
    pub global_rate: f64,
}

impl Default for Discv4Limits {
    fn default() -> Self {
        Self {
            max_bonds: 4096,
            max_pending: 256,
            max_queued_candidates: 256,
            max_proposed: 8192,
            max_banned: 4096,
            max_sources: 1024,
            max_verify_queue: 256,
            max_transmits: 1024,
            source_burst: 64.0,
            source_rate: 32.0,
            ip_burst: 512.0,
            ip_rate: 256.0,
            global_rate: 2000.0,
        }
    }
}

/// Timers.
#[derive(Clone, Debug)]
pub struct Discv4Timing {
    /// How long a request waits for its answer.
    pub request_timeout: Duration,
    /// How long an endpoint proof lasts.
    pub bond_expiry: Duration,
    /// Mean interval between table liveness checks.
    pub revalidate_interval: Duration,
    /// Interval between lookups while the dialler wants candidates.
    pub lookup_interval: Duration,
    /// Longest interval between bootnode pings while the table is empty: retries start after
    /// `request_timeout` and double up to it.
    pub bootstrap_interval: Duration,
    /// When a proposed node may be proposed again.
    pub repropose_after: Duration,
    /// Wait after a first Pong before FindNode or ENRRequest, so the remote can ping back
    /// and bond (it answers neither before).
    pub findnode_delay: Duration,
    /// How long an address that did not answer a Ping is not pinged again (bootnodes
    /// excepted): a forged endpoint costs its owner one Ping per this interval.
    pub unresponsive_backoff: Duration,
    /// Lifetime written into our packets.
    pub packet_lifetime: Duration,
}

impl Default for Discv4Timing {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_millis(800),
            bond_expiry: Duration::from_secs(24 * 3600),
            revalidate_interval: Duration::from_secs(5),
            lookup_interval: Duration::from_secs(5),
            bootstrap_interval: Duration::from_secs(30),
            repropose_after: Duration::from_secs(30 * 60),
            findnode_delay: Duration::from_millis(300),
            unresponsive_backoff: Duration::from_secs(10 * 60),
            packet_lifetime: Duration::from_secs(20),
        }
    }
}

/// How a discv4 node starts.
#[derive(Clone, Debug)]
pub struct Discv4Config {
    /// The node key (the same as RLPx's: one node id).
    pub key: SecretKey,
    /// Our endpoint as others should see it (IP, UDP port, TCP port).
    pub endpoint: Endpoint,
    /// Nodes to start from.
    pub bootnodes: Vec<Enode>,
    /// Our chain: its fork id goes into our ENR's `eth` entry and filters candidates. `None`:
    /// no `eth` entry and no filter.
    pub chain: Option<ChainInfo>,
    /// Whether to propose nodes whose ENR has no `eth` entry (or that have no ENR).
    pub accept_without_fork_id: bool,
    /// Seed of the node's randomness (lookup targets, timer jitter).
    pub seed: u64,
    /// Bounds.
    pub limits: Discv4Limits,
    /// Timers.
    pub timing: Discv4Timing,
}

impl Discv4Config {
    /// A configuration with default limits and timers.
    pub fn new(key: SecretKey, endpoint: Endpoint, chain: Option<ChainInfo>) -> Self {
        Self {
            key,
            endpoint,
            bootnodes: Vec::new(),
            chain,
            accept_without_fork_id: false,
            seed: 0,
            limits: Discv4Limits::default(),
            timing: Discv4Timing::default(),
        }
    }
}

/// A packet to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub to: SocketAddr,
    /// What.
    pub packet: Vec<u8>,
}

/// A node worth dialling: endpoint proven, and (unless configured otherwise) an ENR whose
/// `eth` fork id is compatible with our chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Its RLPx address: the proven IP, the TCP port of its ENR (or of its Ping).
    pub enode: Enode,
    /// The fork id of its ENR's `eth` entry.
    pub fork_id: Option<ForkId>,
}

/// Counters and sizes, for tests and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discv4Stats {
    /// Nodes in the table.
    pub table: usize,
    /// Nodes in the table's replacement lists.
    pub replacements: usize,
    /// Remote nodes with bond state.
    pub bonds: usize,
    /// Requests in flight.
    pub pending: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Candidates waiting.
    pub queued_candidates: usize,
    /// Candidates proposed so far.
    pub proposed: u64,
    /// Source addresses tracked.
    pub sources: usize,
    /// Nodes waiting for an endpoint proof.
    pub verify_queue: usize,
    /// Packets waiting to be sent.
    pub transmits: usize,
    /// Packets dropped by a rate limit.
    pub rate_limited: u64,
    /// Responses nobody asked for, and requests from nodes without endpoint proof.
    pub unsolicited: u64,
    /// Packets that do not decode or verify.
    pub invalid: u64,
    /// Packets past their expiration.
    pub expired: u64,
    /// Nodes not proposed because their fork id is not of our chain (or missing).
    pub other_chain: u64,
}
