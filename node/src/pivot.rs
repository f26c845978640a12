//! The node's side of the core's [`PivotSelector`]: how the target is chosen (the flags), and
//! the translations between the selector and the adapter (header requests, probes, replies).
//!
//! The trust model is the core's (`snap_core::pivot`): the target comes from the user's root or
//! block hash, from a consensus client's fork choice, or from headers that `quorum` distinct
//! peers sent alike, never from what one peer claims.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use alloy_primitives::B256;
use snap_core::{
    pivot::{Anchor, HeaderRequest, HeaderStart, PivotConfig},
    sync::{Header, PeerId},
};
use snap_tokio_adapter::eth::{BlockHeaders, BlockId, GetBlockHeaders, ReceivedHeader};

use crate::engine::AnchorReceiver;

/// Where the sync's target comes from.
#[derive(Clone, Debug)]
pub enum TargetChoice {
    /// Exactly this state root (fixed; no headers needed).
    Root(B256),
    /// The state root of the block with this hash (fixed; its header is asked of every peer).
    BlockHash(B256),
    /// Headers that `quorum` distinct peers sent alike, `offset` blocks below the trusted tip,
    /// followed as the chain grows. A quorum of 1 trusts any one peer: test networks only.
    Peers {
        /// Blocks below the trusted tip.
        offset: u64,
        /// Distinct peers that must agree on a header.
        quorum: usize,
    },
    /// A consensus client's fork choice, `offset` blocks below its head, followed.
    Consensus {
        /// Blocks below the head.
        offset: u64,
        /// The Engine API's forkchoice updates.
        anchors: AnchorReceiver,
    },
}

impl TargetChoice {
    /// The core's anchor for this choice.
    pub const fn anchor(&self) -> Anchor {
        match self {
            Self::Root(root) => Anchor::Root(*root),
            Self::BlockHash(hash) => Anchor::BlockHash(*hash),
            Self::Peers { .. } => Anchor::Peers,
            Self::Consensus { .. } => Anchor::Consensus,
        }
    }

    /// The selector's configuration for this choice, re-polling the chain every `follow`.
    pub fn pivot_config(&self, follow: Duration) -> PivotConfig {
        let mut config = PivotConfig { follow_interval: follow, ..PivotConfig::default() };
        match self {
            Self::Peers { offset, quorum } => {
                config.offset = *offset;
                config.quorum = (*quorum).max(1);
            }
            Self::Consensus { offset, .. } => config.offset = *offset,
            Self::Root(_) | Self::BlockHash(_) => {}
        }
        config
    }

    /// The Engine API updates, when the target follows a consensus client.
    pub fn consensus(&self) -> Option<AnchorReceiver> {
        match self {
            Self::Consensus { anchors, .. } => Some(anchors.clone()),
            _ => None,
        }
    }
}

/// The adapter's request for a selector's header request.
pub const fn header_request(request: &HeaderRequest) -> GetBlockHeaders {
    GetBlockHeaders {
        request_id: request.id,
        start: match request.start {
            HeaderStart::Hash(hash) => BlockId::Hash(hash),
            HeaderStart::Number(number) => BlockId::Number(number),
        },
        limit: request.limit,
        skip: 0,
        reverse: request.reverse,
    }
}

/// What the core needs of a received header; its hash is the adapter's keccak of the RLP
/// received, never a value the peer stated.
pub fn core_header(received: &ReceivedHeader) -> Header {
    Header {
        number: received.header.number,
        hash: received.hash,
        parent_hash: received.header.parent_hash,
        state_root: received.header.state_root,
        // After Amsterdam the header commits to its block's access list (EIP-7928): what
        // snap/2 catch-up checks each list against.
        bal_hash: received.header.block_access_list_hash,
    }
}

/// A header reply as the selector takes it.
pub fn core_headers(reply: &BlockHeaders) -> Vec<Header> {
    reply.headers.iter().map(core_header).collect()
}

/// The selector's probes in flight: which snap replies are its, and which to forget at the
/// adapter once the selector gave up on them (the selector times out its own requests). At most
/// `capacity` are remembered; the oldest is dropped first.
#[derive(Debug)]
pub struct ProbeBook {
    probes: HashMap<u64, PeerId>,
    order: VecDeque<(Instant, u64)>,
    keep: Duration,
    capacity: usize,
}

impl ProbeBook {
    /// Probes kept for `keep` after they were sent (the selector's timeout, and a margin).
    pub fn new(keep: Duration, capacity: usize) -> Self {
        Self { probes: HashMap::new(), order: VecDeque::new(), keep, capacity: capacity.max(1) }
    }

    /// A probe `id` was sent to `peer` at `now`.
    pub fn sent(&mut self, id: u64, peer: PeerId, now: Instant) {
        while self.probes.len() >= self.capacity {
            let Some((_, old)) = self.order.pop_front() else { break };
            self.probes.remove(&old);
        }
        self.probes.insert(id, peer);
        self.order.push_back((now + self.keep, id));
    }

    /// Whether `id` from `peer` is a probe's reply (then it is no longer in flight).
    pub fn answered(&mut self, id: u64, peer: PeerId) -> bool {
        if self.probes.get(&id) == Some(&peer) {
            self.probes.remove(&id);
            return true;
        }
        false
    }

    /// The probes given up on by `now`, with their peers (each returned once).
    pub fn expired(&mut self, now: Instant) -> Vec<(u64, PeerId)> {
        let mut expired = Vec::new();
        while let Some(&(at, id)) = self.order.front() {
            if at > now {
                break;
            }
            self.order.pop_front();
            if let Some(peer) = self.probes.remove(&id) {
                expired.push((id, peer));
            }
        }
        expired
    }

    /// When [`Self::expired`] has something next.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|(at, _)| *at)
    }

    /// Forgets `peer`'s probes (it is gone).
    pub fn peer_gone(&mut self, peer: PeerId) {
        self.probes.retain(|_, p| *p != peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_book_stays_bounded_and_answers_each_probe_once() {
        let now = Instant::now();
        let mut book = ProbeBook::new(Duration::from_secs(5), 4);
        for id in 0..10 {
            book.sent(id, PeerId(id % 2), now);
        }
        assert!(book.probes.len() <= 4);
        assert!(!book.answered(0, PeerId(0)), "the oldest were dropped");
        assert!(!book.answered(9, PeerId(0)), "another peer's probe");
        assert!(book.answered(9, PeerId(1)));
        assert!(!book.answered(9, PeerId(1)), "answered once");
        let expired = book.expired(now + Duration::from_secs(5));
        assert_eq!(expired.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![6, 7, 8]);
        assert!(book.expired(now + Duration::from_secs(6)).is_empty());
    }
}
