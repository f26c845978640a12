//! The protocol's small parts: token buckets, the seeded randomness, the relay rule, and
//! our ENR with its `eth` entry.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};
use k256::ecdsa::SigningKey;

use crate::{
    discv4::{
        table::is_lan,
        wire::{Endpoint, Enr, NodeRecord},
    },
    eth::ChainInfo,
    forkid::ForkId,
    session::Enode,
};

#[derive(Clone, Copy, Debug)]
pub(super) struct TokenBucket {
    pub(super) tokens: f64,
    pub(super) last: Instant,
}

impl TokenBucket {
    pub(super) fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
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
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `base` scaled by a factor in [0.5, 1.5).
    pub(super) fn jitter(&mut self, base: Duration) -> Duration {
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
pub(super) fn relay_allowed(sender: &IpAddr, relayed: &IpAddr) -> bool {
    let bad = match relayed {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    if bad || (relayed.is_loopback() && !sender.is_loopback()) {
        return false;
    }
    !is_lan(relayed) || is_lan(sender)
}

pub(super) fn record_of(enode: &Enode) -> NodeRecord {
    let port = enode.addr.port();
    NodeRecord {
        endpoint: Endpoint { ip: Some(enode.addr.ip()), udp: port, tcp: port },
        id: enode.id,
    }
}

/// Our ENR: endpoint and, with a chain, the `eth` entry of our fork id.
pub(super) fn build_enr(
    key: &SigningKey,
    endpoint: &Endpoint,
    chain: Option<&ChainInfo>,
    seq: u64,
) -> Enr {
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
